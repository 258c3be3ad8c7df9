package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	wgpolicyv1alpha2 "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
	"github.com/policyherald/policy-herald/internal/testing/wait"
)

// spelledReport is a report of n failing results from source spelled so.
func spelledReport(ns, name, source string, n int) *wgpolicyv1alpha2.PolicyReport {
	r := &wgpolicyv1alpha2.PolicyReport{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	for i := range n {
		r.Results = append(r.Results, wgpolicyv1alpha2.PolicyReportResult{
			Source: source, Policy: "require-labels", Result: "fail", Message: fmt.Sprint(i),
			Resources: []corev1.ObjectReference{{APIVersion: "v1", Kind: "Pod", Namespace: ns, Name: fmt.Sprintf("%s-%d", name, i)}},
		})
	}
	return r
}

// The store names a source by its most common spelling among the reports it holds, and follows
// the reports as they change and go.
func TestStoreNamesSourcesByTheirMostCommonSpelling(t *testing.T) {
	s, _, c := startStore(t)
	ctx := context.Background()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-spell"}}); err != nil {
		t.Fatal(err)
	}
	old, recent := spelledReport("team-spell", "old", "Kyverno", 6), spelledReport("team-spell", "recent", "kyverno", 1)
	for _, r := range []*wgpolicyv1alpha2.PolicyReport{old, recent} {
		if err := c.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	// Other tests count every report of the API server.
	t.Cleanup(func() { _ = c.Delete(ctx, old) })
	names := s.SourceNames()
	wait.For(t, 30*time.Second, "both reports", func() bool {
		return s.Get("PolicyReport/team-spell/old") != nil && s.Get("PolicyReport/team-spell/recent") != nil
	})
	if got := names.Name("kyverno"); got != "Kyverno" {
		t.Errorf("Name(kyverno) = %q, want Kyverno (6 results to 1)", got)
	}

	gen := names.Generation()
	updated := spelledReport("team-spell", "recent", "kyverno", 7)
	updated.ResourceVersion = recent.ResourceVersion
	if err := c.Update(ctx, updated); err != nil {
		t.Fatal(err)
	}
	wait.For(t, 30*time.Second, "kyverno to be the most common", func() bool { return names.Name("Kyverno") == "kyverno" })
	if names.Generation() == gen {
		t.Error("the name flipped and the generation did not change")
	}

	if err := c.Delete(ctx, updated); err != nil {
		t.Fatal(err)
	}
	wait.For(t, 30*time.Second, "Kyverno again once the report is gone", func() bool { return names.Name("kyverno") == "Kyverno" })
}
