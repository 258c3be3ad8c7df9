// Package delivery finds the new results of every NotificationTarget and TargetChannel and
// delivers them. It runs on the elected leader only and reads reports from the report store.
// Each target or channel that its controller found valid has a pipeline with its own ledger,
// bounded queue and workers, so one slow or dead destination never delays another.
package delivery

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/consolelink"
	"github.com/policyherald/policy-herald/internal/filter"
	"github.com/policyherald/policy-herald/internal/ledger"
	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/sender"
	"github.com/policyherald/policy-herald/internal/store"
)

// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;create;update;delete

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
	// QueueResults bounds the results each target or channel holds queued or in flight; a burst
	// beyond it waits in the report store (backpressure) instead of in memory.
	QueueResults int
	Workers      int
	Retry        RetryPolicy
	// FailingAfter is how many failed attempts in a row make the delivery of a target or channel failing.
	// While it fails for other reasons than throttling, batches are parked at their first
	// failure instead of each spending its fast retries, and one probe per SlowRetryInterval
	// finds out when the destination is back.
	FailingAfter int64
	// SlowRetryInterval is how often results that exhausted their fast retries are tried again.
	SlowRetryInterval time.Duration
	// PauseAfter stops sending while the ledger could not be written for this long, so an API
	// server outage (or a lost lease) repeats at most FlushInterval+PauseAfter of deliveries.
	PauseAfter time.Duration
	// ShutdownGrace is how long requests in flight may finish (and be recorded) when delivery
	// stops, so a graceful handover sends nothing twice.
	ShutdownGrace  time.Duration
	SweepInterval  time.Duration // how often every target or channel re-checks every report (a safety net)
	FlushInterval  time.Duration // how often a changed ledger is written
	StatusInterval time.Duration // how often changed delivery counts are written
	// Retention is how long a result that left the cluster is remembered, so a report that is
	// emptied and refilled, or a result that flaps, is not sent twice.
	Retention time.Duration
	// Owners tells which resources a controller owns, for controlledResources: skip
	// (internal/owners, shared by every pipeline). Nil: every resource counts as uncontrolled.
	Owners Owners
}

// Owners tells which controller owns a resource.
type Owners interface {
	// Controller returns the group and kind of r's controller; false when none does, when it
	// cannot tell and when ctx ends first: such results are sent, never lost.
	Controller(ctx context.Context, r *report.Resource) (schema.GroupKind, bool)
	// Prefetch starts finding out in the background, without waiting, so that Controller has
	// the answer when a worker asks.
	Prefetch(r *report.Resource)
}

// DefaultOptions are the production defaults.
func DefaultOptions() Options {
	return Options{
		QueueResults: 10000,
		Workers:      4,
		Retry: RetryPolicy{
			InitialInterval: time.Second, MaxInterval: 2 * time.Minute, MaxAttempts: 10, MaxRetryAfter: 10 * time.Minute,
		},
		FailingAfter:      3,
		SlowRetryInterval: time.Minute,
		PauseAfter:        10 * time.Second,
		ShutdownGrace:     10 * time.Second,
		SweepInterval:     time.Minute,
		FlushInterval:     2 * time.Second,
		StatusInterval:    5 * time.Second,
		Retention:         6 * time.Hour,
	}
}

// Config is how the engine delivers for one valid, resolved NotificationTarget or TargetChannel,
// as its controller configured it (Engine.Configure).
type Config struct {
	UID       types.UID
	Kind      string // NotificationTarget or TargetChannel
	Namespace string
	Name      string
	// LedgerName is the name of the ledger ConfigMap, in Namespace.
	LedgerName string
	Owner      metav1.OwnerReference
	Sender     sender.Sender
	Filter     *filter.Filter
	// Scope identifies what the target or channel selects (filters and visibility); when it changes,
	// a target or channel that skips existing results absorbs what newly comes into view.
	Scope        string
	CustomFields map[string]string
	// Created is when the object was created: results of reports created later are
	// never "existing" to it, even when the operator first sees them after a downtime.
	Created time.Time
	// AllNamespaces lets a target or channel of the platform namespace see every namespace and
	// cluster-scoped reports; any other sees only reports of its own namespace.
	AllNamespaces bool
	SkipExisting  bool
	// DropAfter is how long an undeliverable result is retried before it is dropped (0: 24h).
	DropAfter time.Duration
	// Notify is how new results become messages (see gate.go).
	Notify Notify
	// ConsoleURL is the console's address (--console-url) that digests link to; empty: no links.
	ConsoleURL consolelink.Base
	// Delivery is the status the object had; counts continue from it when the ledger has none.
	Delivery *v1alpha1.DeliveryStatus
	// Silences is the status.silences the object had; the silences' counts continue from it.
	Silences []v1alpha1.SilenceStatus
	// Fingerprint changes whenever anything above changes (credentials included, hashed);
	// configuring an unchanged target or channel again is skipped by its controller.
	Fingerprint string
}

// ObjectRef names the NotificationTarget or TargetChannel a pipeline delivers for; the engine
// keys its pipelines and health by it.
type ObjectRef struct{ Kind, Namespace, Name string }

// Ref returns the reference of the object d configures.
func (d *Config) Ref() ObjectRef { return ObjectRef{d.Kind, d.Namespace, d.Name} }

// Engine owns every pipeline. It implements manager.Runnable and needs leader election.
type Engine struct {
	client client.Client
	reader client.Reader // uncached reads (ledgers)
	store  *store.Store
	scheme *runtime.Scheme
	opts   Options
	log    logr.Logger
	now    func() time.Time
	health *healthNotifier

	began   atomic.Bool   // Start was called (this replica led)
	stopped chan struct{} // closed when Start returns, every pipeline stopped

	mu        sync.RWMutex
	ctx       context.Context // set by Start
	started   bool
	pipelines map[ObjectRef]*pipeline
	pending   map[ObjectRef]Config // configured before the engine was ready
	failed    map[ObjectRef]error  // targets and channels whose pipeline could not start
}

// New returns an engine reading reports from st; start it with a manager.
func New(c client.Client, reader client.Reader, st *store.Store, opts Options, log logr.Logger) *Engine {
	e := &Engine{
		client: c, reader: reader, store: st, scheme: c.Scheme(), opts: opts, log: log, now: time.Now,
		health:    newHealthNotifier(),
		stopped:   make(chan struct{}),
		pipelines: map[ObjectRef]*pipeline{},
		pending:   map[ObjectRef]Config{},
		failed:    map[ObjectRef]error{},
	}
	st.Subscribe(e)
	return e
}

// NeedLeaderElection makes only the leader deliver.
func (e *Engine) NeedLeaderElection() bool { return true }

// Start starts the pipelines once the report store is synced, and sweeps until ctx ends.
func (e *Engine) Start(ctx context.Context) error {
	e.began.Store(true)
	defer close(e.stopped)
	go e.health.run(ctx, e.newObject)
	if !e.store.WaitForSync(ctx) {
		return nil
	}
	e.begin(ctx)
	e.log.Info("delivery engine started", "reports", e.store.Len(), "results", e.store.Results())

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

// WaitStopped waits until the engine stopped every pipeline (requests in flight finished and
// ledgers written), at most timeout. When leadership is lost the manager does not wait for its
// runnables; the process calls this before it exits, so what can be written is.
func (e *Engine) WaitStopped(timeout time.Duration) bool {
	if !e.began.Load() {
		return true // never led: nothing to stop
	}
	select {
	case <-e.stopped:
		return true
	case <-time.After(timeout):
		return false
	}
}

// begin starts the targets and channels configured while the store was syncing.
func (e *Engine) begin(ctx context.Context) {
	e.mu.Lock()
	e.ctx, e.started = ctx, true
	waiting := e.pending
	e.pending = map[ObjectRef]Config{}
	e.mu.Unlock()
	for _, d := range waiting {
		e.Configure(d)
	}
}

// Configure starts or updates the pipeline of a target or channel.
func (e *Engine) Configure(d Config) {
	e.mu.Lock()
	if !e.started {
		e.pending[d.Ref()] = d
		e.mu.Unlock()
		return
	}
	p, ok := e.pipelines[d.Ref()]
	e.mu.Unlock()
	if ok && (p.config().UID != d.UID || resolves(p.config().Sender) != resolves(d.Sender)) {
		// Deleted and created again under the same name: a new target or channel. Or its
		// sender starts or stops resolving (notifyResolved): the pipeline keeps open results for
		// a Resolver only, from its start.
		e.Remove(d.Ref())
		ok = false
	}
	if ok {
		p.update(d)
		return
	}
	err := e.start(d)
	e.mu.Lock()
	if err != nil {
		e.failed[d.Ref()] = err
	} else {
		delete(e.failed, d.Ref())
	}
	e.mu.Unlock()
	if err != nil {
		e.log.Error(err, "starting delivery", "kind", d.Kind, "namespace", d.Namespace, "name", d.Name)
	}
	e.health.notify(d.Ref())
}

// Remove stops the pipeline of a target or channel (deleted, invalid or suspended). Queued results
// stay unrecorded, so they are sent if the target or channel comes back.
func (e *Engine) Remove(k ObjectRef) {
	e.mu.Lock()
	delete(e.pending, k)
	delete(e.failed, k)
	p, ok := e.pipelines[k]
	delete(e.pipelines, k)
	e.mu.Unlock()
	if ok {
		p.stop()
	}
}

// Fingerprint returns the fingerprint of the running (or waiting) target or channel k, "" if none.
func (e *Engine) Fingerprint(k ObjectRef) string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if p, ok := e.pipelines[k]; ok {
		return p.config().Fingerprint
	}
	return e.pending[k].Fingerprint
}

func (e *Engine) start(d Config) error {
	e.mu.RLock()
	ctx := e.ctx
	e.mu.RUnlock()
	l, err := ledger.Load(ctx, e.reader, d.Namespace, d.LedgerName, d.Owner)
	if err != nil && l == nil {
		return fmt.Errorf("reading the ledger ConfigMap %s: %w", d.LedgerName, err)
	}
	if err != nil {
		e.log.Error(err, "ledger reset", "kind", d.Kind, "namespace", d.Namespace, "name", d.Name)
	}
	p := newPipeline(e.env(), e.log, &d, l)
	// Decide what existed before the pipeline is registered, so no report event can queue an
	// existing result first; events in between mark their reports dirty and are looked at.
	p.baseline(l.Exists())
	e.mu.Lock()
	if old, ok := e.pipelines[d.Ref()]; ok {
		e.mu.Unlock()
		old.update(d)
		return nil
	}
	e.pipelines[d.Ref()] = p
	e.mu.Unlock()
	p.run(ctx)
	p.markAll()
	return nil
}

func (e *Engine) stopAll() {
	e.mu.Lock()
	ps := e.pipelines
	e.pipelines = map[ObjectRef]*pipeline{}
	e.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Add(1)
		go func() { defer wg.Done(); p.stop() }()
	}
	wg.Wait()
}

func (e *Engine) pipelineList() []*pipeline {
	e.mu.RLock()
	defer e.mu.RUnlock()
	ps := make([]*pipeline, 0, len(e.pipelines))
	for _, p := range e.pipelines {
		ps = append(ps, p)
	}
	return ps
}

// ReportChanged marks the report dirty in every pipeline; each looks at it on its own pace.
// It never blocks the store's watch.
func (e *Engine) ReportChanged(key string) {
	for _, p := range e.pipelineList() {
		p.markDirty(key)
	}
}

// sweep is the safety net: every pipeline looks at every report again, and ledgers forget
// results that left the cluster long ago.
func (e *Engine) sweep() {
	reports := e.store.Snapshot()
	present := make(map[uint64]struct{}, e.store.Results())
	for _, r := range reports {
		for i := range r.Results {
			present[r.Results[i].Hash] = struct{}{}
		}
	}
	now := e.now()
	for _, p := range e.pipelineList() {
		p.ledger.Sweep(func(k uint64) bool { _, ok := present[k]; return ok }, now, e.opts.Retention)
		p.markAll()
	}
}

// env is what the engine gives its pipelines.
func (e *Engine) env() env {
	return env{
		store: e.store, client: e.client, reader: e.reader, newObject: e.newObject,
		opts: e.opts, now: e.now, notify: e.health.notify,
	}
}

func (e *Engine) newObject(kind string) (client.Object, error) {
	o, err := e.scheme.New(v1alpha1.GroupVersion.WithKind(kind))
	if err != nil {
		return nil, err
	}
	return o.(client.Object), nil
}

// resolves tells whether s resolves results (is a sender.Resolver).
func resolves(s sender.Sender) bool {
	_, ok := s.(sender.Resolver)
	return ok
}

// refOf names the report of a batch.
func refOf(rep *report.Report) sender.ReportRef {
	return sender.ReportRef{Kind: rep.Kind, Namespace: rep.Namespace, Name: rep.Name, Labels: rep.Labels}
}
