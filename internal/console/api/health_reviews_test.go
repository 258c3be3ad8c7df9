package api_test

import (
	"context"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"

	"github.com/policyherald/policy-herald/internal/console/access"
	"github.com/policyherald/policy-herald/internal/console/health"
)

// TestHealthReviews: the health page asks the broadest question first and remembers answers.
// The fixtures hold NotificationTargets in team-a and team-b (two), a TargetChannel and a
// MetricsProfile in team-a; no EmailReportSchedule or BlockReportPolicy, about which nobody is
// asked.
func TestHealthReviews(t *testing.T) {
	w := cluster(t)
	sars, err := access.NewReviews(w.Cfg)
	if err != nil {
		t.Fatal(err)
	}
	sa := func(name string) access.User {
		return access.User{Name: "system:serviceaccount:people:" + name, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:people", "system:authenticated"}}
	}
	for _, c := range []struct {
		person  string
		reviews int
		objects int
	}{
		{"carol", 3, 5}, // every object of each kind with objects: one question per kind
		// Per kind, everything (3), then each namespace holding objects (NT: team-a, team-b;
		// TC and MP: team-a), then each object of the namespace refused (NT: hook-b, other-b).
		{"alice", 3 + 4 + 2, 3},
	} {
		counting := &counting[*authorizationv1.SubjectAccessReview]{inner: sars}
		l := health.New(w.Cache, access.New(counting, access.Options{}))
		a, err := l.List(context.Background(), sa(c.person))
		if err != nil {
			t.Fatal(err)
		}
		if len(a.Objects) != c.objects || counting.count() != c.reviews {
			t.Errorf("%s: %d objects with %d reviews, want %d with %d", c.person, len(a.Objects), counting.count(), c.objects, c.reviews)
		}
		if _, err := l.List(context.Background(), sa(c.person)); err != nil || counting.count() != c.reviews {
			t.Errorf("%s again: %d reviews in all, want the answers remembered (%d), %v", c.person, counting.count(), c.reviews, err)
		}
	}
}
