// Package access decides what each person may see in the console, as Kubernetes RBAC decides it:
// the reports of a namespace when they may list that report kind there, cluster-scoped reports
// when they may list the cluster-scoped kind, a Policy Herald object when they may get it. It
// asks the API server with SubjectAccessReviews for the person's user, groups and attributes,
// so the console shows what `kubectl get` would show them, and remembers answers briefly.
package access

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/cache"
	"k8s.io/utils/clock"
)

// Options tune an Authorizer; zero values take the defaults.
type Options struct {
	// TTL is how long an answer is remembered (default 10s): how long a changed RoleBinding
	// may take to show in the console.
	TTL time.Duration
	// MaxEntries bounds the answers remembered (default 65,536: a person bound in a few of
	// 2,000 namespaces with both report APIs needs about 4,000), least recently used first out.
	MaxEntries int
	// InFlight bounds the SubjectAccessReviews one Scope or MayGet has in flight (default 16).
	InFlight int
	// Timeout bounds one Scope or MayGet, and each review (default 10s).
	Timeout time.Duration
	// Bindings, when not nil, spares the reviews about namespaces where no RoleBinding names
	// the person (see Bindings); nil asks about every namespace that holds reports.
	Bindings *Bindings
	// Clock is for tests; the real clock by default.
	Clock clock.PassiveClock
}

func (o Options) withDefaults() Options {
	if o.TTL <= 0 {
		o.TTL = 10 * time.Second
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = 1 << 16
	}
	if o.InFlight <= 0 {
		o.InFlight = 16
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	return o
}

// Authorizer answers what people may see. It is safe for concurrent use.
type Authorizer struct {
	reviews   SubjectAccessReviews
	decisions *decisions
	opts      Options
}

// New returns an Authorizer asking reviews (see NewReviews).
func New(reviews SubjectAccessReviews, opts Options) *Authorizer {
	opts = opts.withDefaults()
	return &Authorizer{reviews: reviews, decisions: newDecisions(opts.MaxEntries, opts.TTL, cache.Clock(opts.Clock)), opts: opts}
}

// MayGet says whether u may get the object name of group/resource in namespace ("" for a
// cluster-scoped object). An error from the API server is returned with false.
func (a *Authorizer) MayGet(ctx context.Context, u User, group, resource, namespace, name string) (bool, error) {
	if err := u.validate(); err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(ctx, a.opts.Timeout)
	defer cancel()
	return a.decide(ctx, u, u.identity(), question{verb: "get", group: group, resource: resource, namespace: namespace, name: name})
}

// Scope returns which reports u may see, for the report kinds held says are installed. It
// first asks whether u may list each kind cluster-wide; only for a namespaced kind they may not,
// it asks about each namespace held lists for that kind (with Options.Bindings, each where a
// RoleBinding names u, and one other unless the view is a repeat within the TTL). The API
// server's errors are Warnings of the Scope, each counted as not allowed; an error is returned
// only for bad input.
func (a *Authorizer) Scope(ctx context.Context, u User, held Holdings) (*Scope, error) {
	if err := u.validate(); err != nil {
		return nil, err
	}
	if err := held.validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, a.opts.Timeout)
	defer cancel()
	id := u.identity()
	s := newScope()

	kinds := held.kinds()
	wide := make([]question, len(kinds))
	for i, kind := range kinds {
		api := reportAPIs[kind]
		wide[i] = question{verb: "list", group: api.group, resource: api.resource}
		s.kinds[kind] = &kindScope{api: api, namespaces: map[string]struct{}{}}
	}
	bound, pruning := a.opts.Bindings.boundIn(u)
	wideAnswers, asked := a.askAll(ctx, u, id, wide)
	// A view that asked nothing cluster-wide is a repeat within the TTL: it probes nothing,
	// so that it costs no review.
	narrow := narrowing{probe: asked > 0}
	for i, ans := range wideAnswers {
		k := s.kinds[kinds[i]]
		k.record(ans, "")
		if k.all || !k.api.namespaced {
			continue
		}
		// Pruning is sound only after a clean "no" cluster-wide: then no ClusterRoleBinding
		// grants the kind anywhere, and only a RoleBinding in a namespace can.
		narrow.add(wide[i], k, uniqueNamespaces(held[kinds[i]]), pruning && ans.err == nil, bound, a.opts.Bindings)
	}
	if a.askNarrow(ctx, u, id, narrow.asked) {
		a.opts.Bindings.contradicted("a review allowed listing reports in a namespace where no RoleBinding names the person")
	}
	if len(narrow.pruned) > 0 && !a.opts.Bindings.Pruning() {
		a.askNarrow(ctx, u, id, narrow.pruned) // contradicted meanwhile: this Scope too asks about all
	}
	s.warn()
	return s, nil
}

// narrowing is the per-namespace questions of a Scope: those asked, and those spared by
// the RoleBinding index.
type narrowing struct {
	probe         bool // ask about one pruned namespace per kind
	asked, pruned []narrowQuestion
}

type narrowQuestion struct {
	q     question
	k     *kindScope
	probe bool // a pruned namespace asked about anyway, to catch another authorizer
}

// add adds the questions about namespaces nss for the kind k asked cluster-wide by wide: all of
// them, or when prune, those where the person is bound and one probe of the others.
func (n *narrowing) add(wide question, k *kindScope, nss []string, prune bool, bound map[string]bool, b *Bindings) {
	var pruned []string
	for _, ns := range nss {
		q := wide
		q.namespace = ns
		if prune && !bound[ns] {
			pruned = append(pruned, ns)
			continue
		}
		n.asked = append(n.asked, narrowQuestion{q: q, k: k})
	}
	if len(pruned) == 0 {
		return
	}
	probe := ""
	if n.probe {
		probe = b.probe(wide.resource, pruned)
	}
	for _, ns := range pruned {
		q := wide
		q.namespace = ns
		if ns == probe {
			n.asked = append(n.asked, narrowQuestion{q: q, k: k, probe: true})
		} else {
			n.pruned = append(n.pruned, narrowQuestion{q: q, k: k})
		}
	}
}

// askNarrow asks nqs and records the answers; it says whether a probe was allowed.
func (a *Authorizer) askNarrow(ctx context.Context, u User, id string, nqs []narrowQuestion) (probeAllowed bool) {
	qs := make([]question, len(nqs))
	for i, nq := range nqs {
		qs[i] = nq.q
	}
	answers, _ := a.askAll(ctx, u, id, qs)
	for i, ans := range answers {
		nqs[i].k.record(ans, qs[i].namespace)
		probeAllowed = probeAllowed || nqs[i].probe && ans.allowed
	}
	return probeAllowed
}

// answer is the outcome of one question.
type answer struct {
	allowed bool
	err     error
}

// record adds the answer to the question about namespace ("" for the cluster-wide one).
func (k *kindScope) record(ans answer, namespace string) {
	switch {
	case ans.err != nil:
		k.failures = append(k.failures, failure{namespace: namespace, err: ans.err})
	case !ans.allowed:
	case namespace == "":
		k.all = true
	default:
		k.namespaces[namespace] = struct{}{}
	}
}

// uniqueNamespaces drops duplicates and "" (no namespaced report lives there).
func uniqueNamespaces(nss []string) []string {
	seen := make(map[string]struct{}, len(nss))
	out := nss[:0:0]
	for _, ns := range nss {
		if _, dup := seen[ns]; ns == "" || dup {
			continue
		}
		seen[ns] = struct{}{}
		out = append(out, ns)
	}
	return out
}

// askAll answers qs for u, remembered answers at once and the others with at most InFlight
// reviews in flight; asked is how many were not remembered.
func (a *Authorizer) askAll(ctx context.Context, u User, id string, qs []question) (out []answer, asked int) {
	out = make([]answer, len(qs))
	var open []int
	for i, q := range qs {
		if allowed, ok := a.decisions.get(q.key(id)); ok {
			out[i].allowed = allowed
			continue
		}
		open = append(open, i)
	}
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(a.opts.InFlight, len(open)) {
		wg.Go(func() {
			for i := range work {
				out[i].allowed, out[i].err = a.decide(ctx, u, id, qs[i])
			}
		})
	}
	for _, i := range open {
		work <- i
	}
	close(work)
	wg.Wait()
	return out, len(open)
}

// decide answers one question, from the cache or with one review bounded by Timeout.
func (a *Authorizer) decide(ctx context.Context, u User, id string, q question) (bool, error) {
	return a.decisions.decide(ctx, q.key(id), func(ctx context.Context) (bool, error) {
		ctx, cancel := context.WithTimeout(ctx, a.opts.Timeout)
		defer cancel()
		allowed, reason, err := ask(ctx, a.reviews, u, q)
		if allowed && q.verb == "list" && q.namespace != "" && !strings.HasPrefix(reason, "RBAC:") {
			a.opts.Bindings.contradicted(fmt.Sprintf("list %s in %s allowed: %q", q.resource, q.namespace, reason))
		}
		return allowed, err
	})
}
