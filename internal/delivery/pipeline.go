package delivery

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/policyherald/policy-herald/internal/ledger"
	"github.com/policyherald/policy-herald/internal/sender"
	"github.com/policyherald/policy-herald/internal/store"
)

// A pipeline delivers the new results of one target or channel. A result takes these steps, one file
// each, in this order:
//
//   - scan.go: a report change marks the report dirty; one scanner looks at dirty reports and
//     finds their new results (not in the ledger, not in flight, wanted by the filter).
//   - queue.go: the scanner queues them in batches, blocking while the queue is full, so a burst
//     waits in the report store rather than in memory; workers take batches off the queue.
//   - send.go: a worker sends a batch, with fast retries, once the ledger allows sending.
//   - park.go: through an outage, batches are parked; the slow retries probe the destination,
//     queue them again once it is back, and drop what waited longer than DropAfter.
//   - record.go: an outcome is recorded in the ledger with the counts, and the ledger and the
//     status are written periodically; sending pauses while the ledger cannot be written.
//
// This file holds the pipeline itself: what it is made of, how it starts, is reconfigured and
// stops.

// env is what a pipeline takes from its engine: the reports, the API server (ledger and status
// writes), the options and the clock, and where its health changes go.
type env struct {
	store     *store.Store
	client    client.Client
	reader    client.Reader // uncached reads (ledgers)
	newObject func(kind string) (client.Object, error)
	opts      Options
	now       func() time.Time
	notify    func(ObjectRef) // its health may have changed
}

// item is one batch on its way to a destination.
type item struct {
	batch  sender.Batch
	hashes []uint64
	// resolve says the batch's results left the cluster or passed, for a Resolver.
	resolve bool
	// probe is the one attempt of a slow retry that finds out whether the destination is back.
	probe bool
	// since is when the batch's results first failed (zero: never).
	since time.Time
	// digest, when set, is the message about the results of hashes (a digest or a rate
	// limit's summary) sent instead of batch (digest.go).
	digest *sender.Digest
}

// pipeline delivers the new results of one target or channel, in the steps above.
type pipeline struct {
	env
	log    logr.Logger
	ledger *ledger.Ledger
	stats  *Stats
	lc     *lifecycle // nil unless the sender resolves results
	// metrics are its counters; queued counts the results in queue, resolving
	// the results of resolutions queued or being sent.
	metrics   *pipelineMetrics
	queued    atomic.Int64
	resolving atomic.Int64

	dirty     *dirtySet // reports to look at (scan.go)
	queue     chan item
	retryWake chan struct{} // a slow retry now (park.go)
	flushWake chan struct{} // a ledger write now (record.go)
	digests   digestState   // digest.go
	limits    rateLimit     // ratelimit.go

	muting atomic.Pointer[silenceSet] // the silences of the current configuration (silence.go)

	mu  sync.Mutex
	cfg *Config
	// inflight holds the results found new and not yet recorded (being queued, queued, sent or
	// parked), each with when its report changed before it was found (Unix nanoseconds).
	inflight map[uint64]int64
	parked   map[uint64]parkedResult
	// unflushed is when writing the ledger started failing (zero while it succeeds).
	unflushed time.Time
	// deposed says another replica claimed the ledger: this one sends nothing more.
	deposed bool
	// claimed is closed, under mu, once the ledger was written (claimed) by this pipeline:
	// nothing is sent before (see record.go).
	claimed chan struct{}
	// held counts the sends waiting while sending is paused (see waitForLedger).
	held atomic.Int32

	// The pipeline stops in three stages (see stop): workers ends its work (scanning, taking
	// batches, waiting between retries); requests, a little later, the requests in flight;
	// writers, last, the ledger and status writers, which write once more when it ends.
	workers, requests, writers stage

	// runnerMu is apart from mu: stopping a runner waits for it, and it reads the config.
	runnerMu   sync.Mutex
	stopRunner func() // stops the current sender's background work
}

func newPipeline(env env, log logr.Logger, d *Config, l *ledger.Ledger) *pipeline {
	counts, ok := l.Counts()
	p := &pipeline{
		env:       env,
		log:       log.WithValues("kind", d.Kind, "namespace", d.Namespace, "name", d.Name),
		ledger:    l,
		stats:     newStats(d.Delivery, counts, ok, env.opts.FailingAfter, env.now),
		metrics:   newPipelineMetrics(d),
		dirty:     newDirtySet(),
		queue:     make(chan item, max(1, env.opts.QueueResults/batchSize(d.Sender))),
		retryWake: make(chan struct{}, 1),
		flushWake: make(chan struct{}, 1),
		cfg:       d,
		inflight:  map[uint64]int64{},
		parked:    map[uint64]parkedResult{},
		claimed:   make(chan struct{}),
	}
	p.digests.init(l.Windows(), env.now(), env.opts.SweepInterval)
	p.limits.wake = make(chan struct{}, 1)
	if resolves(d.Sender) {
		p.lc = newLifecycle()
	}
	p.stats.continueSilences(d.Silences)
	return p
}

func batchSize(s sender.Sender) int { return max(1, s.MaxBatch()) }

func (p *pipeline) config() *Config {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cfg
}

// healthChanged tells the controller of the target or channel to look at its health again.
func (p *pipeline) healthChanged() { p.notify(p.config().Ref()) }

// run starts the pipeline's goroutines.
func (p *pipeline) run(ctx context.Context) {
	p.workers.begin(ctx)
	p.requests.begin(context.WithoutCancel(ctx))
	p.writers.begin(context.WithoutCancel(ctx))
	p.workers.spawn(p.scan)
	for range p.opts.Workers {
		p.workers.spawn(p.work)
	}
	p.workers.spawn(p.retryLoop)
	p.workers.spawn(p.digestLoop)
	p.workers.spawn(p.summaryLoop)
	p.writers.spawn(p.flushLoop)
	p.writers.spawn(func(ctx context.Context) {
		p.periodically(ctx, p.opts.StatusInterval, 5*time.Second, p.writeStatus)
	})
	p.runnerMu.Lock()
	p.startRunner(p.config().Sender)
	p.runnerMu.Unlock()
	live.add(p)
}

// startRunner runs the background work of a sender (the webhook keepalive) until the sender is
// replaced or the pipeline stops. The caller holds runnerMu.
func (p *pipeline) startRunner(s sender.Sender) {
	if p.stopRunner != nil {
		p.stopRunner()
		p.stopRunner = nil
	}
	var work []func(context.Context)
	if r, ok := s.(sender.Runner); ok {
		work = append(work, r.Run)
	}
	if r, ok := s.(sender.Refresher); ok && p.lc != nil {
		work = append(work, func(ctx context.Context) { p.refresh(ctx, r) })
	}
	if len(work) == 0 {
		return
	}
	ctx, cancel := context.WithCancel(p.workers.ctx)
	var done sync.WaitGroup
	for _, w := range work {
		done.Go(func() { w(ctx) })
	}
	p.stopRunner = func() { cancel(); done.Wait() }
}

// refresh tells a sender.Refresher every open result again, every interval, until ctx ends.
// It goes around the queue: a refresh is no new delivery, and is not counted as one.
func (p *pipeline) refresh(ctx context.Context, r sender.Refresher) {
	t := time.NewTicker(max(time.Second, r.RefreshInterval()))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		d := p.config()
		n, failed, logged := 0, 0, false
		for _, o := range p.lc.openResults() {
			for len(o.results) > 0 {
				k := min(len(o.results), batchSize(d.Sender))
				b := sender.Batch{Report: o.ref, Results: o.results[:k], CustomFields: d.CustomFields}
				o.results = o.results[k:]
				n += k
				if err := r.Refresh(p.requests.ctx, b); err != nil {
					failed += k
					if !logged {
						p.log.Error(err, "refreshing open results; tried again at the next interval")
						logged = true
					}
				}
				if ctx.Err() != nil {
					return
				}
			}
		}
		p.log.V(1).Info("refreshed open results", "results", n, "failed", failed)
	}
}

func (p *pipeline) update(d Config) {
	p.mu.Lock()
	old := p.cfg
	p.cfg = &d
	p.mu.Unlock()
	if old.Scope != d.Scope {
		p.baseline(true)
	}
	if old.Sender != d.Sender {
		p.runnerMu.Lock()
		p.startRunner(d.Sender)
		p.runnerMu.Unlock()
		closeSender(old.Sender)
		p.wakeRetries() // new settings (a rotated Secret, a fixed CA) may reach it: probe now
	}
	p.markAll()
	p.wakeDigests() // a digest or rate limit turned off lets what it holds go
	p.limits.wakeUp()
}

// stop ends the pipeline: no new work; requests in flight may finish within ShutdownGrace and
// are recorded; then the ledger and status are written a last time.
func (p *pipeline) stop() {
	p.workers.cancel()
	grace := time.AfterFunc(p.opts.ShutdownGrace, p.requests.cancel)
	p.workers.wait()
	grace.Stop()
	p.requests.cancel()
	p.writers.cancel()
	p.writers.wait()
	p.runnerMu.Lock()
	if p.stopRunner != nil {
		p.stopRunner()
	}
	p.runnerMu.Unlock()
	closeSender(p.config().Sender)
	live.remove(p)
	p.metrics.delete()
}

// stage is goroutines that end together: cancel ends their context, wait waits for them.
type stage struct {
	ctx    context.Context
	cancel context.CancelFunc
	done   sync.WaitGroup
}

func (s *stage) begin(parent context.Context) { s.ctx, s.cancel = context.WithCancel(parent) }

func (s *stage) spawn(f func(context.Context)) { s.done.Go(func() { f(s.ctx) }) }

func (s *stage) wait() { s.done.Wait() }

func closeSender(s sender.Sender) {
	if c, ok := s.(interface{ Close() }); ok {
		c.Close()
	}
}
