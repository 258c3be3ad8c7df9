package access_test

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/policyherald/policy-herald/internal/console/access"
)

// Bad input is refused before any question is asked (the reviews here would panic if asked).
func TestBadInputIsRefused(t *testing.T) {
	g := NewWithT(t)
	a := access.New(&countingReviews{}, access.Options{})
	_, err := a.Scope(context.Background(), access.User{}, held)
	g.Expect(err).To(MatchError("the user has neither a name nor groups"))
	_, err = a.MayGet(context.Background(), access.User{}, "", "pods", "default", "web")
	g.Expect(err).To(MatchError("the user has neither a name nor groups"))
	_, err = a.Scope(context.Background(), alice, access.Holdings{"PolicyReport": nil, "policyreports": {"team-a"}})
	g.Expect(err).To(MatchError(`unknown report kind "policyreports" (want one of PolicyReport, Report, ClusterPolicyReport, ClusterReport)`))
}

// With no report API installed there is nothing to ask and nothing to see, and the console says so.
func TestNoReportAPIInstalled(t *testing.T) {
	g := NewWithT(t)
	s, err := access.New(&countingReviews{}, access.Options{}).Scope(context.Background(), alice, access.Holdings{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(s.Empty()).To(BeTrue())
	g.Expect(s.Reason()).To(Equal("no report API (wgpolicyk8s.io or openreports.io) is installed"))
	g.Expect(s.Allows("PolicyReport", "team-a")).To(BeFalse())
}
