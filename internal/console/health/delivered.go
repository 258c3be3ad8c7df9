package health

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/console/access"
	"github.com/policyherald/policy-herald/internal/filter"
	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/routing"
)

// Delivery is a NotificationTarget or TargetChannel that selects a result: "Delivered to".
type Delivery struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Ready is its Ready condition's status: it only sends while True.
	Ready metav1.ConditionStatus `json:"ready"`
	// Suspended: it selects the result but sends nothing until resumed.
	Suspended bool `json:"suspended,omitempty"`
}

// Item is a result to tell the deliveries of, with its report.
type Item struct {
	Report *report.Report
	Result *report.Result
}

// Routing is what deciding deliveries takes besides the objects: the operator's
// --platform-namespace and the namespaces' labels (for filters' namespaceSelector).
type Routing struct {
	PlatformNamespace string
	NamespaceLabels   filter.NamespaceLabels
}

// WithRouting lets l answer DeliveredTo; call it before l is used.
func (l *Lister) WithRouting(r Routing) *Lister {
	l.routing = r
	l.routes = &routeCache{}
	return l
}

// DeliveredTo returns, for each item, the targets and channels that u may get and that select
// it, as the operator decides it (package routing), suspended and not-ready ones included and
// marked; warnings say which questions about u failed (those objects are left out).
func (l *Lister) DeliveredTo(ctx context.Context, u access.User, items []Item) ([][]Delivery, []string, error) {
	out := make([][]Delivery, len(items))
	if l.routes == nil || len(items) == 0 {
		return out, nil, nil
	}
	cands, err := l.candidates(ctx)
	if err != nil {
		return nil, nil, err
	}
	hits, used := match(cands, items, l.routing.NamespaceLabels)
	may, warnings := l.mayGet(ctx, u, cands, used)
	for i := range items {
		for _, c := range hits[i] {
			if may[c] {
				out[i] = append(out[i], cands[c].d)
			}
		}
	}
	return out, warnings, nil
}

// match returns, per item, the candidates that select it, and every candidate that selects
// one: only those are asked about.
func match(cands []candidate, items []Item, nsLabels filter.NamespaceLabels) ([][]int, map[int]bool) {
	hits := make([][]int, len(items))
	used := map[int]bool{}
	for i, it := range items {
		for c := range cands {
			if cands[c].route.Delivers(it.Report, it.Result, nsLabels) {
				hits[i] = append(hits[i], c)
				used[c] = true
			}
		}
	}
	return hits, used
}

// mayGet asks, kind by kind, which of the used candidates u may get (Lister.allowed).
func (l *Lister) mayGet(ctx context.Context, u access.User, cands []candidate, used map[int]bool) (map[int]bool, []string) {
	may := map[int]bool{}
	var warnings []string
	for _, k := range kinds[:2] {
		var objs []Object
		for c := range used {
			if cands[c].d.Kind == k.name {
				objs = append(objs, Object{Kind: k.name, Namespace: cands[c].d.Namespace, Name: cands[c].d.Name})
			}
		}
		allowed, w := l.allowed(ctx, u, k.resource, objs)
		warnings = append(warnings, w...)
		ok := map[types.NamespacedName]bool{}
		for _, o := range allowed {
			ok[types.NamespacedName{Namespace: o.Namespace, Name: o.Name}] = true
		}
		for c := range used {
			d := cands[c].d
			if d.Kind == k.name && ok[types.NamespacedName{Namespace: d.Namespace, Name: d.Name}] {
				may[c] = true
			}
		}
	}
	return may, warnings
}

// candidate is a target or channel with its compiled route.
type candidate struct {
	d     Delivery
	route *routing.Route
}

// candidates lists every target and channel from the cache with its route. A channel whose
// target is missing or does not admit it, or whose filter does not compile, delivers nothing
// and is left out.
func (l *Lister) candidates(ctx context.Context) ([]candidate, error) {
	ctx, cancel := context.WithTimeout(ctx, listTimeout)
	defer cancel()
	var targets v1alpha1.NotificationTargetList
	if err := l.reader.List(ctx, &targets); err != nil && !apimeta.IsNoMatchError(err) {
		return nil, fmt.Errorf("listing NotificationTargets: %w", err)
	}
	var channels v1alpha1.TargetChannelList
	if err := l.reader.List(ctx, &channels); err != nil && !apimeta.IsNoMatchError(err) {
		return nil, fmt.Errorf("listing TargetChannels: %w", err)
	}
	byName := make(map[types.NamespacedName]*v1alpha1.NotificationTarget, len(targets.Items))
	b := l.routes.begin(len(targets.Items) + len(channels.Items))
	defer l.routes.end(b)
	var out []candidate
	for i := range targets.Items {
		t := &targets.Items[i]
		byName[types.NamespacedName{Namespace: t.Namespace, Name: t.Name}] = t
		rt := b.route(t.UID, t.Generation, 0, func() routing.Spec { return routing.Target(t, l.routing.PlatformNamespace) })
		out = appendCandidate(out, rt, "NotificationTarget", &t.ObjectMeta, t.Status.Conditions, t.Spec.Suspend)
	}
	for i := range channels.Items {
		c := &channels.Items[i]
		t := byName[types.NamespacedName{Namespace: c.TargetNamespace(), Name: c.Spec.TargetRef.Name}]
		if t == nil || !routing.Admits(t, c.Namespace, l.routing.NamespaceLabels) {
			continue
		}
		rt := b.route(c.UID+"/"+t.UID, c.Generation, t.Generation, func() routing.Spec { return routing.Channel(c, t, l.routing.PlatformNamespace) })
		out = appendCandidate(out, rt, "TargetChannel", &c.ObjectMeta, c.Status.Conditions, c.Spec.Suspend)
	}
	// In the health page's order: targets, then channels, by namespace and name.
	slices.SortFunc(out, func(x, y candidate) int {
		return cmp.Or(cmp.Compare(kindRank(x.d.Kind), kindRank(y.d.Kind)), cmp.Compare(x.d.Namespace, y.d.Namespace), cmp.Compare(x.d.Name, y.d.Name))
	})
	return out, nil
}

func appendCandidate(out []candidate, rt *routing.Route, kind string, m *metav1.ObjectMeta, conds []metav1.Condition, suspended bool) []candidate {
	if rt == nil {
		return out
	}
	o := newObject(kind, m, 0, conds)
	return append(out, candidate{route: rt, d: Delivery{Kind: kind, Namespace: m.Namespace, Name: m.Name, Ready: o.Ready, Suspended: suspended}})
}

// routeCache keeps compiled routes per object (and, for a channel, its target) and
// generation, so a page compiles only what changed. Each listing keeps only the objects it
// saw, so it holds at most one route per existing target and channel.
type routeCache struct {
	mu   sync.Mutex
	prev map[types.UID]cachedRoute
}

type cachedRoute struct {
	gen, targetGen int64
	route          *routing.Route // nil: the filter does not compile
}

// routeBuild is one listing's pass over the cache.
type routeBuild struct {
	prev, next map[types.UID]cachedRoute
}

// begin starts a listing of n objects; concurrent listings take turns (compiling is cheap and
// holds no I/O).
func (c *routeCache) begin(n int) *routeBuild {
	c.mu.Lock()
	return &routeBuild{prev: c.prev, next: make(map[types.UID]cachedRoute, n)}
}

func (c *routeCache) end(b *routeBuild) {
	c.prev = b.next
	c.mu.Unlock()
}

// route returns the cached route of uid at these generations, else compiles spec's.
func (b *routeBuild) route(uid types.UID, gen, targetGen int64, spec func() routing.Spec) *routing.Route {
	r, ok := b.prev[uid]
	if !ok || r.gen != gen || r.targetGen != targetGen {
		r = cachedRoute{gen: gen, targetGen: targetGen}
		r.route, _ = spec().Compile() // the operator reports the error on the object
	}
	b.next[uid] = r
	return r.route
}
