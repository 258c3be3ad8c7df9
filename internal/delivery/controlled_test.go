package delivery

import (
	"context"
	"slices"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/filter"
	"github.com/policyherald/policy-herald/internal/report"
)

// controlledNames is an Owners that knows the controllers of resources (by name), and records
// what it was asked to prefetch; the real lookup (internal/owners) is tested against an API
// server there and in controllers/.
type controlledNames struct {
	controllers map[string]schema.GroupKind
	mu          sync.Mutex
	prefetched  []string
}

func (c *controlledNames) Controller(_ context.Context, r *report.Resource) (schema.GroupKind, bool) {
	gk, ok := c.controllers[r.Name]
	return gk, ok
}

func (c *controlledNames) Prefetch(r *report.Resource) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.prefetched = append(c.prefetched, r.Name)
}

func (c *controlledNames) prefetchedNames() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.prefetched)
}

// from makes r a result of source about res (nil: it names none).
func from(source string, r report.Result, res *report.Resource) report.Result {
	r.Source, r.Resource = source, res
	return r
}

func TestSkipsResultsAboutControlledResources(t *testing.T) {
	pod := &report.Resource{APIVersion: "v1", Kind: "Pod", Namespace: "team-a", Name: "carts-5d8f-x2"}
	deploy := &report.Resource{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "team-a", Name: "carts"}
	mirror := &report.Resource{APIVersion: "v1", Kind: "Pod", Namespace: "team-a", Name: "etcd-node-1"}
	for _, c := range []struct {
		name string
		skip bool
		want []string
	}{
		{"skip", true, []string{"deployment", "trivy", "mirror"}},
		{"include", false, []string{"pod", "deployment", "owner", "trivy", "mirror"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			opts := testOptions()
			owners := &controlledNames{controllers: map[string]schema.GroupKind{
				pod.Name:    {Group: "apps", Kind: "ReplicaSet"},
				mirror.Name: {Kind: "Node"}, // a static Pod's mirror: no report on its Node repeats it
			}}
			opts.Owners = owners
			e, _ := startEngine(t, newClient(), opts)
			rec := &recorder{max: 10}
			d := testConfig(t, rec, filter.Spec{}, "s")
			d.Notify.SkipControlled = c.skip
			e.Configure(d)
			p := e.pipelineOf(t, d)

			// "owner" names no resource: its report's owner (the Pod) is what it is about. "trivy"
			// is about the Pod too, but Trivy reports nothing on the Pod's owner: it is sent.
			rep := policyReport("team-a", "r",
				from("kyverno", res("pod", v1alpha1.StatusFail), pod), from("kyverno", res("deployment", v1alpha1.StatusFail), deploy),
				from("Kyverno", res("owner", v1alpha1.StatusFail), nil), from("Trivy", res("trivy", v1alpha1.StatusFail), pod),
				from("kyverno", res("mirror", v1alpha1.StatusFail), mirror))
			rep.Owner = pod
			e.upsertReport(rep)
			settle(t, p)
			if got := rec.delivered(); !sameIDs(got, c.want...) {
				t.Fatalf("delivered %v, want %v", got, c.want)
			}
			// Looked up as they were queued: each resource once (results about one resource in a
			// row are asked about once).
			wantPrefetched := []string{pod.Name, deploy.Name, pod.Name, mirror.Name}
			if !c.skip {
				wantPrefetched = nil
			}
			if got := owners.prefetchedNames(); !slices.Equal(got, wantPrefetched) {
				t.Errorf("prefetched %v, want %v", got, wantPrefetched)
			}
			skipped := int64(5 - len(c.want))
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
	e.upsertReport(policyReport("team-a", "r", from("kyverno", res("a", v1alpha1.StatusFail), &report.Resource{Kind: "Pod", Name: "x"})))
	settle(t, p)
	if got := rec.delivered(); !sameIDs(got, "a") {
		t.Errorf("delivered %v, want a", got)
	}
}
