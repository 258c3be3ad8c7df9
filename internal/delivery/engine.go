// Package delivery finds the new results of every destination and delivers them. It runs on the
// elected leader only. Reports come in through informers of whichever report APIs are
// installed; each destination (a NotificationTarget or TargetChannel that its controller found
// valid) has a pipeline with its own ledger, bounded queue and workers.
package delivery

import (
	"context"
	"sync"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/filter"
	"github.com/policyherald/policy-herald/internal/ledger"
	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/sender"
)

// RetryPolicy says how long a batch is retried.
type RetryPolicy struct {
	InitialInterval time.Duration
	MaxInterval     time.Duration
	// MaxAttempts per batch, the first included.
	MaxAttempts uint
	// MaxRetryAfter caps a destination's Retry-After.
	MaxRetryAfter time.Duration
}

// Options tune the engine.
type Options struct {
	QueueSize      int
	Workers        int
	Retry          RetryPolicy
	SweepInterval  time.Duration // how often every destination re-checks every report
	FlushInterval  time.Duration // how often a changed ledger is written
	StatusInterval time.Duration // how often changed delivery counts are written
	// Retention is how long a result that left the cluster is remembered, so a report that is
	// emptied and refilled, or a result that flaps, is not sent twice.
	Retention time.Duration
}

// DefaultOptions are the production defaults.
func DefaultOptions() Options {
	return Options{
		QueueSize: 1000,
		Workers:   2,
		Retry: RetryPolicy{
			InitialInterval: time.Second, MaxInterval: 2 * time.Minute, MaxAttempts: 10, MaxRetryAfter: 10 * time.Minute,
		},
		SweepInterval:  time.Minute,
		FlushInterval:  2 * time.Second,
		StatusInterval: 5 * time.Second,
		Retention:      6 * time.Hour,
	}
}

// Destination is a valid, resolved destination as its controller configured it.
type Destination struct {
	UID       types.UID
	Kind      string // NotificationTarget or TargetChannel
	Namespace string
	Name      string
	// LedgerName is the name of the ledger ConfigMap, in Namespace.
	LedgerName string
	Owner      metav1.OwnerReference
	Sender     sender.Sender
	Filter     *filter.Filter
	// Scope identifies what the destination selects (filters and visibility); when it changes,
	// a destination that skips existing results absorbs what newly comes into view.
	Scope        string
	CustomFields map[string]string
	// Created is when the destination object was created: results of reports created later are
	// never "existing" to it, even when the operator first sees them after a downtime.
	Created time.Time
	// AllNamespaces lets a destination of the platform namespace see every namespace and
	// cluster-scoped reports; any other sees only reports of its own namespace.
	AllNamespaces bool
	SkipExisting  bool
	// Delivery is the status the object had, so counts continue across restarts.
	Delivery *v1alpha1.DeliveryStatus
	// Fingerprint changes whenever anything above changes (credentials included, hashed);
	// configuring an unchanged destination again is skipped by its controller.
	Fingerprint string
}

// Engine owns every pipeline. It implements manager.Runnable and needs leader election.
type Engine struct {
	client client.Client
	reader client.Reader // uncached reads (ledgers)
	cache  cache.Cache
	scheme *runtime.Scheme
	opts   Options
	log    logr.Logger
	now    func() time.Time

	mu        sync.RWMutex
	ctx       context.Context // set by Start
	synced    bool
	reports   map[string]*report.Report
	nsLabels  map[string]labels.Set
	pipelines map[Key]*pipeline
	pending   map[Key]Destination // configured before the engine was ready
}

// New returns an engine; start it with a manager.
func New(c client.Client, reader client.Reader, ca cache.Cache, opts Options, log logr.Logger) *Engine {
	return &Engine{
		client: c, reader: reader, cache: ca, scheme: c.Scheme(), opts: opts, log: log, now: time.Now,
		reports:   map[string]*report.Report{},
		nsLabels:  map[string]labels.Set{},
		pipelines: map[Key]*pipeline{},
		pending:   map[Key]Destination{},
	}
}

// NeedLeaderElection makes only the leader deliver.
func (e *Engine) NeedLeaderElection() bool { return true }

// Start watches reports and namespaces, starts the pipelines once every installed report API is
// listed, and sweeps until ctx ends.
func (e *Engine) Start(ctx context.Context) error {
	if err := e.watchNamespaces(ctx); err != nil {
		return err
	}
	if err := e.watchReports(ctx); err != nil {
		return err
	}
	e.mu.Lock()
	e.ctx, e.synced = ctx, true
	waiting := e.pending
	e.pending = map[Key]Destination{}
	e.mu.Unlock()
	for _, d := range waiting {
		e.Configure(d)
	}
	e.log.Info("delivery engine started", "reports", e.reportCount())

	t := time.NewTicker(e.opts.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			e.stopAll()
			return nil
		case <-t.C:
			e.sweep()
		}
	}
}

// Key names a destination object.
type Key struct{ Kind, Namespace, Name string }

// Key returns the key of the destination's object.
func (d *Destination) Key() Key { return Key{d.Kind, d.Namespace, d.Name} }

// Configure starts or updates the pipeline of a destination.
func (e *Engine) Configure(d Destination) {
	e.mu.Lock()
	if !e.synced {
		e.pending[d.Key()] = d
		e.mu.Unlock()
		return
	}
	p, ok := e.pipelines[d.Key()]
	e.mu.Unlock()
	if ok && p.config().UID != d.UID {
		// Deleted and created again under the same name: a new destination.
		e.Remove(d.Key())
		ok = false
	}
	if ok {
		e.update(p, d)
		return
	}
	if err := e.start(d); err != nil {
		e.log.Error(err, "starting delivery", "kind", d.Kind, "namespace", d.Namespace, "name", d.Name)
	}
}

// Remove stops the pipeline of a destination (deleted, invalid or suspended). Queued results
// stay unrecorded, so they are sent if the destination comes back.
func (e *Engine) Remove(k Key) {
	e.mu.Lock()
	delete(e.pending, k)
	p, ok := e.pipelines[k]
	delete(e.pipelines, k)
	e.mu.Unlock()
	if ok {
		p.stop()
	}
}

// Running tells whether the pipeline of destination k runs (it waits while the engine has not
// listed the reports yet).
func (e *Engine) Running(k Key) bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	_, ok := e.pipelines[k]
	return ok
}

// Fingerprint returns the fingerprint of the running (or waiting) destination k, "" if none.
func (e *Engine) Fingerprint(k Key) string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if p, ok := e.pipelines[k]; ok {
		return p.config().Fingerprint
	}
	return e.pending[k].Fingerprint
}

// Stats returns the live delivery counts of a destination, if it runs.
func (e *Engine) Stats(k Key) (v1alpha1.DeliveryStatus, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if p, ok := e.pipelines[k]; ok {
		return p.stats.Snapshot(), true
	}
	return v1alpha1.DeliveryStatus{}, false
}

func (e *Engine) start(d Destination) error {
	e.mu.RLock()
	ctx := e.ctx
	e.mu.RUnlock()
	l, err := ledger.Load(ctx, e.reader, d.Namespace, d.LedgerName, d.Owner)
	if err != nil && l == nil {
		return err
	}
	if err != nil {
		e.log.Error(err, "ledger reset", "kind", d.Kind, "namespace", d.Namespace, "name", d.Name)
	}
	pctx, cancel := context.WithCancel(ctx)
	p := &pipeline{
		e:        e,
		log:      e.log.WithValues("kind", d.Kind, "namespace", d.Namespace, "name", d.Name),
		ledger:   l,
		queue:    make(chan item, e.opts.QueueSize),
		stats:    newStats(d.Delivery, e.now),
		dest:     &d,
		inflight: map[string]struct{}{},
		cancel:   cancel,
	}
	// Decide what existed before the pipeline is registered, so no report event can queue an
	// existing result first; events in between are picked up by the offer below.
	p.baseline(e.snapshot(), l.Exists())
	e.mu.Lock()
	if old, ok := e.pipelines[d.Key()]; ok {
		e.mu.Unlock()
		cancel()
		e.update(old, d)
		return nil
	}
	e.pipelines[d.Key()] = p
	e.mu.Unlock()

	p.ctx = pctx
	p.done.Add(e.opts.Workers + 2)
	for range e.opts.Workers {
		go p.work(pctx)
	}
	go p.flushLoop(pctx)
	go p.statusLoop(pctx)
	p.runnerMu.Lock()
	p.startRunner(d.Sender)
	p.runnerMu.Unlock()
	p.offer(e.snapshot()...)
	return nil
}

// startRunner runs the background work of a sender (the webhook keepalive) until the sender is
// replaced or the pipeline stops. The caller holds runnerMu.
func (p *pipeline) startRunner(s sender.Sender) {
	if p.stopRunner != nil {
		p.stopRunner()
		p.stopRunner = nil
	}
	r, ok := s.(sender.Runner)
	if !ok {
		return
	}
	ctx, cancel := context.WithCancel(p.ctx)
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	p.stopRunner = func() { cancel(); <-done }
}

// baseline decides what counts as existing when a destination starts: on its very first start
// (no ledger yet), or when what it selects changed, a destination that skips existing results
// records the results it sees now as handled.
func (p *pipeline) baseline(reports []*report.Report, ranBefore bool) {
	d := p.config()
	switch {
	case !d.SkipExisting:
	case !ranBefore:
		n := p.absorb(reports, d.Created)
		p.log.Info("existing results will not be sent", "results", n)
	case p.ledger.Scope() != d.Scope:
		// What the destination selects changed: what now comes into view existed before.
		n := p.absorb(reports, p.e.now())
		p.log.Info("results newly selected by the changed destination will not be sent", "results", n)
	}
	p.ledger.SetScope(d.Scope)
}

func (e *Engine) update(p *pipeline, d Destination) {
	p.mu.Lock()
	old := p.dest
	p.dest = &d
	p.mu.Unlock()
	if old.Scope != d.Scope {
		p.baseline(e.snapshot(), true)
	}
	if old.Sender != d.Sender {
		p.runnerMu.Lock()
		p.startRunner(d.Sender)
		p.runnerMu.Unlock()
		if c, ok := old.Sender.(interface{ Close() }); ok {
			c.Close()
		}
	}
	p.offer(e.snapshot()...)
}

func (p *pipeline) stop() {
	p.cancel()
	p.done.Wait()
	p.runnerMu.Lock()
	if p.stopRunner != nil {
		p.stopRunner()
	}
	p.runnerMu.Unlock()
	if c, ok := p.config().Sender.(interface{ Close() }); ok {
		c.Close()
	}
}

func (e *Engine) stopAll() {
	e.mu.Lock()
	ps := e.pipelines
	e.pipelines = map[Key]*pipeline{}
	e.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Add(1)
		go func() { defer wg.Done(); p.stop() }()
	}
	wg.Wait()
}

// sweep offers every report to every pipeline again (results that did not fit a full queue),
// and lets ledgers forget results that left the cluster long ago.
func (e *Engine) sweep() {
	reports := e.snapshot()
	present := make(map[string]struct{})
	for _, r := range reports {
		for i := range r.Results {
			present[r.Results[i].ID] = struct{}{}
		}
	}
	e.mu.RLock()
	ps := make([]*pipeline, 0, len(e.pipelines))
	for _, p := range e.pipelines {
		ps = append(ps, p)
	}
	e.mu.RUnlock()
	now := e.now()
	for _, p := range ps {
		p.ledger.Sweep(func(id string) bool { _, ok := present[id]; return ok }, now, e.opts.Retention)
		p.offer(reports...)
	}
}

// upsertReport stores a report and offers it to every pipeline.
func (e *Engine) upsertReport(rep *report.Report) {
	e.mu.Lock()
	e.reports[rep.Key()] = rep
	ps := make([]*pipeline, 0, len(e.pipelines))
	for _, p := range e.pipelines {
		ps = append(ps, p)
	}
	e.mu.Unlock()
	for _, p := range ps {
		p.offer(rep)
	}
}

func (e *Engine) deleteReport(key string) {
	e.mu.Lock()
	delete(e.reports, key)
	e.mu.Unlock()
}

func (e *Engine) snapshot() []*report.Report {
	e.mu.RLock()
	defer e.mu.RUnlock()
	out := make([]*report.Report, 0, len(e.reports))
	for _, r := range e.reports {
		out = append(out, r)
	}
	return out
}

func (e *Engine) reportCount() int {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return len(e.reports)
}

func (e *Engine) namespaceLabels(ns string) (labels.Set, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	l, ok := e.nsLabels[ns]
	return l, ok
}

func (e *Engine) newObject(kind string) (client.Object, error) {
	o, err := e.scheme.New(v1alpha1.GroupVersion.WithKind(kind))
	if err != nil {
		return nil, err
	}
	return o.(client.Object), nil
}
