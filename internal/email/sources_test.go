package email

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	wgpolicyv1alpha2 "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
	"github.com/policyherald/policy-herald/internal/report"
)

// kyvernoSpellings is team-a with six results of an older Kyverno ("Kyverno") and one of
// Kyverno 1.13+ ("kyverno").
func kyvernoSpellings() []*report.Report {
	r := &wgpolicyv1alpha2.PolicyReport{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "polr"}}
	for i, name := range []string{"a", "b", "c", "d", "e", "f"} {
		r.Results = append(r.Results, res("Kyverno", "require-labels", "check-team", []string{"fail", "pass"}[i%2], "medium", "label 'team' is required", pod("team-a", name)))
	}
	recent := &wgpolicyv1alpha2.PolicyReport{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "recent"}}
	recent.Results = append(recent.Results, res("kyverno", "disallow-latest-tag", "validate-image-tag", "fail", "low", "latest", pod("team-a", "g")))
	return []*report.Report{report.FromPolicyReport(r), report.FromPolicyReport(recent)}
}

// One source whatever its letter case: one group, named by its most common spelling.
func TestSourceSpellingsAreOneGroup(t *testing.T) {
	items := itemsOf(kyvernoSpellings())
	for _, typ := range []Type{Summary, Violations} {
		r, err := Render(Options{Type: typ, Now: fixedNow}, items)
		if err != nil {
			t.Fatal(err)
		}
		want := "Kyverno (7 results)"
		if typ == Violations {
			want = "Kyverno (4 violations)"
		}
		if !strings.Contains(r.Text, "\n"+want+"\n") || strings.Contains(r.Text, "kyverno (") {
			t.Errorf("%s: want one group %q:\n%s", typ, want, r.Text)
		}
		if strings.Contains(r.HTML, ">kyverno <") || !strings.Contains(r.HTML, ">Kyverno <") {
			t.Errorf("%s: the HTML does not name the source Kyverno once", typ)
		}
	}
}

// The names a reader is given win: the spelling most common in the cluster, even when the
// results rendered (a tenant's, a filter's) have another majority.
func TestSourceNamesFromTheCluster(t *testing.T) {
	reps := kyvernoSpellings()
	cluster := report.NewSourceNames()
	for _, r := range reps {
		cluster.Replace(nil, r)
	}
	cluster.Replace(nil, report.FromPolicyReport(&wgpolicyv1alpha2.PolicyReport{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: "polr"},
		Results: []wgpolicyv1alpha2.PolicyReportResult{
			res("kyverno", "p", "r", "pass", "", "1", nil), res("kyverno", "p", "r", "pass", "", "2", nil),
			res("kyverno", "p", "r", "pass", "", "3", nil), res("kyverno", "p", "r", "pass", "", "4", nil),
			res("kyverno", "p", "r", "pass", "", "5", nil), res("kyverno", "p", "r", "pass", "", "6", nil),
		},
	}))
	r, err := Render(Options{Type: Summary, Now: fixedNow, Sources: cluster}, itemsOf(reps))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.Text, "\nkyverno (7 results)\n") || strings.Contains(r.Text, "Kyverno") {
		t.Errorf("want the cluster's spelling kyverno:\n%s", r.Text)
	}
}
