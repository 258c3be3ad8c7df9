package health

import (
	"context"
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/routing"
	"github.com/policyherald/policy-herald/internal/scheme"
)

// TestRouteCache: a route is compiled once per generation of its object (and of a channel's
// target), and the cache keeps only the objects the last listing saw.
func TestRouteCache(t *testing.T) {
	c := &routeCache{}
	compiled := 0
	spec := func() routing.Spec { compiled++; return routing.Spec{Namespace: "team-a"} }
	list := func(objs map[types.UID][2]int64) {
		b := c.begin(len(objs))
		for uid, gen := range objs {
			if b.route(uid, gen[0], gen[1], spec) == nil {
				t.Fatalf("%s: no route", uid)
			}
		}
		c.end(b)
	}
	for _, step := range []struct {
		objs map[types.UID][2]int64
		want int // compiled in total
	}{
		{map[types.UID][2]int64{"t": {1, 0}, "c/t": {1, 1}}, 2},
		{map[types.UID][2]int64{"t": {1, 0}, "c/t": {1, 1}}, 2}, // unchanged: nothing compiled
		{map[types.UID][2]int64{"t": {2, 0}, "c/t": {1, 2}}, 4}, // the target changed: both
		{map[types.UID][2]int64{"c/t": {1, 2}}, 4},              // the target deleted
		{map[types.UID][2]int64{"t": {2, 0}, "c/t": {1, 2}}, 5}, // and re-listed: compiled again
	} {
		list(step.objs)
		if compiled != step.want || len(c.prev) != len(step.objs) {
			t.Errorf("after %v: %d compiled, %d cached; want %d and %d", step.objs, compiled, len(c.prev), step.want, len(step.objs))
		}
	}
}

// BenchmarkDeliveredTo measures telling what delivers a full page (250 results in 25
// namespaces) with 100 targets and 100 channels, routes cached: listing them from a client and
// matching every result against each (the authorization is measured by package access).
func BenchmarkDeliveredTo(b *testing.B) {
	var objs []client.Object
	for i := range 100 {
		ns := fmt.Sprintf("team-%02d", i%25)
		min := []v1alpha1.Severity{"", v1alpha1.SeverityMedium, v1alpha1.SeverityHigh}[i%3]
		objs = append(objs,
			&v1alpha1.NotificationTarget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("t-%d", i), UID: types.UID(fmt.Sprint("t", i)), Generation: 1},
				Spec: v1alpha1.NotificationTargetSpec{MinimumSeverity: min}},
			&v1alpha1.TargetChannel{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("c-%d", i), UID: types.UID(fmt.Sprint("c", i)), Generation: 1},
				Spec: v1alpha1.TargetChannelSpec{TargetRef: v1alpha1.TargetReference{Name: fmt.Sprintf("t-%d", i)},
					Filter: &v1alpha1.ResultFilter{Policies: &v1alpha1.MatchList{Include: []string{"require-*"}}}}})
	}
	l := New(fake.NewClientBuilder().WithScheme(scheme.New()).WithObjects(objs...).Build(), nil).
		WithRouting(Routing{PlatformNamespace: "team-00"})
	items := make([]Item, 250)
	for i := range items {
		rep := &report.Report{Kind: "PolicyReport", Namespace: fmt.Sprintf("team-%02d", i%25), Name: fmt.Sprint("r", i)}
		res := &report.Result{Hash: uint64(i), Check: &report.Check{Policy: "require-labels", Source: "kyverno", Status: v1alpha1.StatusFail,
			Severity: []v1alpha1.Severity{v1alpha1.SeverityLow, v1alpha1.SeverityHigh}[i%2]}}
		items[i] = Item{Report: rep, Result: res}
	}
	ctx := context.Background()
	// list: reading the objects (the fake client copies through JSON: an informer cache's
	// deep copies cost less) and their cached routes; match: every result against each route.
	b.Run("list", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if cands, err := l.candidates(ctx); err != nil || len(cands) != 200 {
				b.Fatal(len(cands), err)
			}
		}
	})
	cands, err := l.candidates(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("match", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if hits, _ := match(cands, items, nil); len(hits[1]) == 0 {
				b.Fatal("result 1 is delivered to nothing")
			}
		}
	})
}
