package delivery

import (
	"context"
	"testing"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/filter"
	"github.com/policyherald/policy-herald/internal/report"
)

// controlledNames is an Owners that knows which resources (by name) a controller owns; the
// real lookup (internal/owners) is tested against an API server there and in controllers/.
type controlledNames map[string]bool

func (c controlledNames) Controlled(_ context.Context, r *report.Resource) bool { return c[r.Name] }

func (controlledNames) Prefetch(*report.Resource) {}

func about(r report.Result, res *report.Resource) report.Result { r.Resource = res; return r }

func TestSkipsResultsAboutControlledResources(t *testing.T) {
	pod := &report.Resource{APIVersion: "v1", Kind: "Pod", Namespace: "team-a", Name: "carts-5d8f-x2"}
	deploy := &report.Resource{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "team-a", Name: "carts"}
	for _, c := range []struct {
		name string
		skip bool
		want []string
	}{
		{"skip", true, []string{"deployment"}},
		{"include", false, []string{"pod", "deployment", "owner"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			opts := testOptions()
			opts.Owners = controlledNames{pod.Name: true}
			e, _ := startEngine(t, newClient(), opts)
			rec := &recorder{max: 10}
			d := testConfig(t, rec, filter.Spec{}, "s")
			d.Notify.SkipControlled = c.skip
			e.Configure(d)
			p := e.pipelineOf(t, d)

			// "owner" names no resource: its report's owner (the Pod) is what it is about.
			rep := policyReport("team-a", "r", about(res("pod", v1alpha1.StatusFail), pod), about(res("deployment", v1alpha1.StatusFail), deploy), res("owner", v1alpha1.StatusFail))
			rep.Owner = pod
			e.upsertReport(rep)
			settle(t, p)
			if got := rec.delivered(); !sameIDs(got, c.want...) {
				t.Fatalf("delivered %v, want %v", got, c.want)
			}
			skipped := int64(3 - len(c.want))
			if st := e.stats(t, d.Ref()); st.Sent != int64(len(c.want)) || st.Skipped != skipped || st.Pending != 0 {
				t.Errorf("stats = %+v, want sent %d, skipped %d", st, len(c.want), skipped)
			}

			// Skipped results are recorded: a re-scan sends nothing.
			again := *rep
			e.upsertReport(&again)
			settle(t, p)
			if got := rec.delivered(); len(got) != len(c.want) {
				t.Errorf("after a re-scan delivered %v, want %v", got, c.want)
			}
		})
	}
}

func TestNoOwnersSendsEverything(t *testing.T) {
	e, _ := startEngine(t, newClient(), testOptions()) // no Owners: every resource uncontrolled
	rec := &recorder{max: 10}
	d := testConfig(t, rec, filter.Spec{}, "s")
	d.Notify.SkipControlled = true
	e.Configure(d)
	p := e.pipelineOf(t, d)
	e.upsertReport(policyReport("team-a", "r", about(res("a", v1alpha1.StatusFail), &report.Resource{Kind: "Pod", Name: "x"})))
	settle(t, p)
	if got := rec.delivered(); !sameIDs(got, "a") {
		t.Errorf("delivered %v, want a", got)
	}
}
