// Package owners tells which controller owns a Kubernetes object (its ownerReference with
// controller: true), so delivery can skip results about Pods of ReplicaSets, ReplicaSets of
// Deployments and Jobs of CronJobs: Kyverno reports the same policy on the controller.
//
// It reads the object's metadata only (the metadata API: no spec, no status), remembers the
// answer in a bounded LRU cache shared by every pipeline, makes one request for concurrent
// questions about the same object, and keeps a bounded number of requests in flight. An object
// that cannot be read (not found, forbidden, a kind the API server does not serve, a timeout)
// has no controller as far as delivery knows, so its results are sent, never lost; that answer is remembered
// briefly only, but a refusal (RBAC) for the whole resource type and as long as any answer.
package owners

import (
	"cmp"
	"context"
	"errors"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sync/singleflight"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/metadata"
	"k8s.io/utils/lru"

	"github.com/policyherald/policy-herald/internal/report"
)

// The kinds whose controllers delivery looks for (docs/delivery.md: the only kinds Kubernetes'
// workload controllers control); the metadata API needs get. Objects of other kinds have no
// controller as far as the operator can tell.
// +kubebuilder:rbac:groups="",resources=pods,verbs=get
// +kubebuilder:rbac:groups=apps,resources=replicasets,verbs=get
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get

// Options bound the lookup.
type Options struct {
	// Size is how many objects' answers are remembered (least recently used go first).
	Size int
	// TTL is how long an answer read from the API server is remembered. Owner references
	// rarely change once set (a controller adopts or releases an object).
	TTL time.Duration
	// FailedTTL is how long "no controller" is remembered for an object that could not be read,
	// so a burst does not ask again and again, and a transient failure soon is asked again.
	FailedTTL time.Duration
	// Timeout bounds one request, and the wait for a slot among InFlight before it.
	Timeout time.Duration
	// InFlight is how many requests may be in flight at once, across every pipeline.
	InFlight int
	// Ahead is how many lookups Prefetch may have started and not finished; beyond it, Prefetch
	// does nothing (the result's worker looks its resource up when it comes to it).
	Ahead int
}

// DefaultOptions are the production defaults: 10,000 answers (about 250 bytes each, 2.5 MB; see
// TestBytesPerEntry), remembered 5 minutes (Policy Reporter: 1 minute), failures 10 seconds;
// 32 requests in flight (make load: 8 left results waiting about 1 s in a burst) and 1,000
// prefetches under way (a goroutine of a few KB each).
func DefaultOptions() Options {
	return Options{Size: 10000, TTL: 5 * time.Minute, FailedTTL: 10 * time.Second, Timeout: 5 * time.Second, InFlight: 32, Ahead: 1000}
}

// Lookup answers which controller owns an object. It is safe for concurrent use.
type Lookup struct {
	meta    metadata.Interface
	mapper  meta.RESTMapper
	opts    Options
	log     logr.Logger
	now     func() time.Time
	cache   *lru.Cache // key → answer
	flights singleflight.Group
	slots   chan struct{} // one per request in flight
	ahead   chan struct{} // one per lookup Prefetch started
}

// key names an object; its strings are shared with the report's Resource, so an entry holds
// no copy of them.
type key struct{ apiVersion, kind, namespace, name string }

// keyOf returns the key of r; false when r names no object.
func keyOf(r *report.Resource) (key, bool) {
	if r == nil || r.Kind == "" || r.Name == "" {
		return key{}, false
	}
	return key{r.APIVersion, r.Kind, r.Namespace, r.Name}, true
}

func (k key) String() string { return k.apiVersion + "/" + k.kind + "/" + k.namespace + "/" + k.name }

// forbidden is the cache's key for a resource type the operator may not read: that is a fact
// about RBAC, not about one object, and RBAC rarely changes, so it is remembered for TTL and
// other objects of the type are not asked about meanwhile (most reports are about Deployments,
// which the operator is not granted).
type forbidden schema.GroupResource

type answer struct {
	controller schema.GroupKind // empty: none, or unknown
	expires    int64            // Unix nanoseconds
}

// New returns a lookup reading metadata through md, mapping kinds to resources with mapper.
// Zero fields of opts take their DefaultOptions value.
func New(md metadata.Interface, mapper meta.RESTMapper, opts Options, log logr.Logger) *Lookup {
	d := DefaultOptions()
	opts = Options{
		Size: cmp.Or(opts.Size, d.Size), TTL: cmp.Or(opts.TTL, d.TTL), FailedTTL: cmp.Or(opts.FailedTTL, d.FailedTTL),
		Timeout: cmp.Or(opts.Timeout, d.Timeout), InFlight: cmp.Or(opts.InFlight, d.InFlight), Ahead: cmp.Or(opts.Ahead, d.Ahead),
	}
	return &Lookup{
		meta: md, mapper: mapper, opts: opts, log: log, now: time.Now,
		cache: lru.New(opts.Size), slots: make(chan struct{}, opts.InFlight), ahead: make(chan struct{}, opts.Ahead),
	}
}

// Controller returns the group and kind of the controller that owns r; false when none does,
// when r cannot be read, and when ctx ends first (the caller tells that case apart by
// ctx.Err()).
func (l *Lookup) Controller(ctx context.Context, r *report.Resource) (schema.GroupKind, bool) {
	k, ok := keyOf(r)
	if !ok {
		return schema.GroupKind{}, false
	}
	if a, ok := l.cached(k); ok {
		return a.controller, !a.controller.Empty()
	}
	// The request runs apart from any one caller's ctx, so a caller that stops does not fail
	// the others waiting on the same object; Timeout bounds it.
	ch := l.flights.DoChan(k.String(), l.fetcher(k))
	select {
	case res := <-ch:
		gk := res.Val.(schema.GroupKind)
		return gk, !gk.Empty()
	case <-ctx.Done():
		return schema.GroupKind{}, false
	}
}

// Prefetch starts looking r up in the background unless its answer is known or Ahead lookups
// are under way already; it never waits. Delivery calls it when it queues results, so that
// lookups run while earlier results are being sent, InFlight at a time, instead of one at a
// time in front of each worker's send.
func (l *Lookup) Prefetch(r *report.Resource) {
	k, ok := keyOf(r)
	if !ok {
		return
	}
	if _, ok := l.cached(k); ok {
		return
	}
	select {
	case l.ahead <- struct{}{}:
	default:
		return
	}
	go func() {
		defer func() { <-l.ahead }()
		_, _, _ = l.flights.Do(k.String(), l.fetcher(k))
	}()
}

// fetcher returns the one request that answers for k, for the flights.
func (l *Lookup) fetcher(k key) func() (any, error) {
	return func() (any, error) { return l.fetch(k), nil }
}

// cached returns the answer the cache holds for k, unless there is none or it expired.
func (l *Lookup) cached(k lru.Key) (answer, bool) {
	v, ok := l.cache.Get(k)
	if !ok {
		return answer{}, false
	}
	a := v.(answer)
	return a, a.expires > l.now().UnixNano()
}

// fetch reads k's metadata and remembers the answer. Waiting for a slot among InFlight and the
// request are bounded by Timeout each; an answer that never got a slot is not remembered, so
// the next question asks again.
func (l *Lookup) fetch(k key) schema.GroupKind {
	m, err := l.mapping(k)
	var controller schema.GroupKind
	if err == nil {
		wait := time.NewTimer(l.opts.Timeout)
		defer wait.Stop()
		select {
		case l.slots <- struct{}{}:
			defer func() { <-l.slots }()
		case <-wait.C:
			l.log.V(1).Info("no slot among the owner lookups in flight in time: the object's results count as uncontrolled", "object", k.String())
			return schema.GroupKind{}
		}
		ctx, cancel := context.WithTimeout(context.Background(), l.opts.Timeout)
		defer cancel()
		controller, err = l.get(ctx, k, m)
	}
	ttl := l.opts.TTL
	if err != nil {
		ttl = l.opts.FailedTTL
		l.log.V(1).Info("cannot read an object's owners: its results count as uncontrolled", "object", k.String(), "error", err.Error())
	}
	l.cache.Add(k, answer{controller: controller, expires: l.now().Add(ttl).UnixNano()})
	return controller
}

// mapping returns the resource of k's kind; an error when the API server serves no such kind
// or the operator may not read it.
func (l *Lookup) mapping(k key) (*meta.RESTMapping, error) {
	gv, err := schema.ParseGroupVersion(k.apiVersion)
	if err != nil {
		return nil, err
	}
	m, err := l.mapper.RESTMapping(gv.WithKind(k.kind).GroupKind(), gv.Version)
	if err != nil {
		return nil, err
	}
	if _, ok := l.cached(forbidden(m.Resource.GroupResource())); ok {
		return nil, errors.New("the operator may not get " + m.Resource.GroupResource().String())
	}
	return m, nil
}

// get reads k's metadata and returns its controller's group and kind.
func (l *Lookup) get(ctx context.Context, k key, m *meta.RESTMapping) (schema.GroupKind, error) {
	var get metadata.ResourceInterface = l.meta.Resource(m.Resource)
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		get = l.meta.Resource(m.Resource).Namespace(k.namespace)
	}
	obj, err := get.Get(ctx, k.name, metav1.GetOptions{})
	if apierrors.IsForbidden(err) {
		l.cache.Add(forbidden(m.Resource.GroupResource()), answer{expires: l.now().Add(l.opts.TTL).UnixNano()})
	}
	if err != nil {
		return schema.GroupKind{}, err
	}
	c := metav1.GetControllerOfNoCopy(obj)
	if c == nil {
		return schema.GroupKind{}, nil
	}
	gv, err := schema.ParseGroupVersion(c.APIVersion)
	if err != nil {
		return schema.GroupKind{}, err
	}
	return schema.GroupKind{Group: gv.Group, Kind: c.Kind}, nil
}
