package delivery

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"

	"github.com/policyherald/policy-herald/internal/ledger"
	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/routing"
	"github.com/policyherald/policy-herald/internal/sender"
)

// item is one batch on its way to a destination.
type item struct {
	batch sender.Batch
	keys  []uint64
	// resolve says the batch's results left the cluster or passed, for a Resolver.
	resolve bool
	// probe is the one attempt of a slow retry that finds out whether the destination is back.
	probe bool
	// since is when the batch's results first failed (zero: never).
	since time.Time
}

// pipeline delivers the new results of one destination. Report changes only mark reports
// dirty; one scanner goroutine looks at dirty reports, finds their new results and queues
// them, blocking while the queue is full, so a burst flows at the destination's speed and
// waits in the report store rather than in memory; workers send what is queued.
type pipeline struct {
	e      *Engine
	log    logr.Logger
	ledger *ledger.Ledger
	queue  chan item
	stats  *Stats
	lc     *lifecycle // nil unless the sender resolves results
	// metrics are the destination's counters; queued counts the results in queue, resolving
	// the results of resolutions queued or being sent.
	metrics   *pipelineMetrics
	queued    atomic.Int64
	resolving atomic.Int64

	mu   sync.Mutex
	dest *Destination
	// inflight holds the results found new and not yet recorded (being queued, queued, sent or
	// parked), each with when its report changed before it was found (Unix nanoseconds).
	inflight map[uint64]int64
	parked   map[uint64]parkedResult
	// unflushed is when writing the ledger started failing (zero while it succeeds).
	unflushed time.Time
	// deposed says another replica claimed the ledger: this one sends nothing more.
	deposed bool
	// claimed is closed once the ledger was written (claimed) by this pipeline: nothing is
	// sent before (see ledgerwrites.go).
	claimed   chan struct{}
	claimOnce sync.Once

	dirtyMu sync.Mutex
	dirty   map[string]int64 // when each dirty report was first marked (Unix nanoseconds)
	order   []string         // dirty report keys, oldest change first
	looking bool             // the scanner is looking at a report it took from order
	wake    chan struct{}

	// ctx ends the pipeline's work (scanning, taking batches, waiting between retries);
	// sendCtx, a little later, the requests in flight; bgCtx, last, the ledger and status
	// writers, which write once more when it ends.
	ctx         context.Context
	cancel      context.CancelFunc
	sendCtx     context.Context
	cancelSend  context.CancelFunc
	bgCtx       context.Context
	cancelBG    context.CancelFunc
	workersDone sync.WaitGroup
	bgDone      sync.WaitGroup
	retryWake   chan struct{}

	runnerMu   sync.Mutex
	stopRunner func() // stops the current sender's background work
}

func newPipeline(e *Engine, d *Destination, l *ledger.Ledger) *pipeline {
	counts, ok := l.Counts()
	p := &pipeline{
		e:         e,
		log:       e.log.WithValues("kind", d.Kind, "namespace", d.Namespace, "name", d.Name),
		ledger:    l,
		queue:     make(chan item, max(1, e.opts.QueueResults/batchSize(d.Sender))),
		stats:     newStats(d.Delivery, counts, ok, e.opts.FailingAfter, e.now),
		dest:      d,
		metrics:   newPipelineMetrics(d),
		inflight:  map[uint64]int64{},
		parked:    map[uint64]parkedResult{},
		dirty:     map[string]int64{},
		wake:      make(chan struct{}, 1),
		retryWake: make(chan struct{}, 1),
		claimed:   make(chan struct{}),
	}
	if _, ok := d.Sender.(sender.Resolver); ok {
		p.lc = newLifecycle()
	}
	return p
}

func batchSize(s sender.Sender) int { return max(1, s.MaxBatch()) }

func (p *pipeline) config() *Destination {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dest
}

// run starts the pipeline's goroutines.
func (p *pipeline) run(ctx context.Context) {
	p.ctx, p.cancel = context.WithCancel(ctx)
	p.sendCtx, p.cancelSend = context.WithCancel(context.WithoutCancel(ctx))
	p.bgCtx, p.cancelBG = context.WithCancel(context.WithoutCancel(ctx))
	p.workersDone.Add(p.e.opts.Workers + 2)
	for range p.e.opts.Workers {
		go p.work(p.ctx)
	}
	go p.scan(p.ctx)
	go p.retryLoop(p.ctx)
	p.bgDone.Add(2)
	go p.flushLoop(p.bgCtx)
	go p.periodically(p.bgCtx, p.e.opts.StatusInterval, 5*time.Second, p.writeStatus)
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
	ctx, cancel := context.WithCancel(p.ctx)
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
				if err := r.Refresh(p.sendCtx, b); err != nil {
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

func (p *pipeline) update(d Destination) {
	p.mu.Lock()
	old := p.dest
	p.dest = &d
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
}

// stop ends the pipeline: no new work; requests in flight may finish within ShutdownGrace and
// are recorded; then the ledger and status are written a last time.
func (p *pipeline) stop() {
	p.cancel()
	grace := time.AfterFunc(p.e.opts.ShutdownGrace, p.cancelSend)
	p.workersDone.Wait()
	grace.Stop()
	p.cancelSend()
	p.cancelBG()
	p.bgDone.Wait()
	p.runnerMu.Lock()
	if p.stopRunner != nil {
		p.stopRunner()
	}
	p.runnerMu.Unlock()
	closeSender(p.config().Sender)
	live.remove(p)
	p.metrics.delete()
}

func closeSender(s sender.Sender) {
	if c, ok := s.(interface{ Close() }); ok {
		c.Close()
	}
}

// visible tells whether the destination may see a report at all (tenancy).
func (d *Destination) visible(rep *report.Report) bool {
	return routing.Sees(d.AllNamespaces, d.Namespace, rep)
}

// newResults returns the results of rep that the destination has not handled and wants; with
// claim they are marked in flight, found when their report changed at changed (Unix
// nanoseconds). The caller holds p.mu.
func (p *pipeline) newResults(rep *report.Report, d *Destination, claim bool, changed int64) []report.Result {
	if !d.visible(rep) {
		return nil
	}
	var out []report.Result
	var taken map[uint64]struct{} // keys already in out: a producer may write a result twice
	for i := range rep.Results {
		res := &rep.Results[i]
		if _, busy := p.inflight[res.Hash]; busy || p.ledger.Has(res.Hash) {
			continue
		}
		if _, dup := taken[res.Hash]; dup {
			continue
		}
		if !d.Filter.Match(rep, res, p.e.store.NamespaceLabels) {
			continue
		}
		if taken == nil {
			taken = map[uint64]struct{}{}
		}
		taken[res.Hash] = struct{}{}
		out = append(out, *res)
	}
	if claim {
		for i := range out {
			p.inflight[out[i].Hash] = changed
		}
		p.stats.setPending(int64(len(p.inflight)))
	}
	return out
}

// absorb records every result the destination wants as handled without sending it: what
// "skipExistingOnStartup" means for results that exist when a destination starts for the
// first time or changes what it selects. Reports created after existedAt are left alone: their
// results are new even if the operator only sees them now. (Creation times have one-second
// resolution; a report of the same second as the destination counts as existing.)
func (p *pipeline) absorb(existedAt time.Time) int {
	if existedAt.IsZero() {
		existedAt = p.e.now()
	}
	n := 0
	for _, rep := range p.e.store.Snapshot() {
		if rep.Created.After(existedAt) {
			continue
		}
		p.mu.Lock()
		for _, res := range p.newResults(rep, p.dest, false, 0) {
			p.ledger.Add(res.Hash)
			n++
		}
		p.mu.Unlock()
	}
	return n
}

// baseline decides what counts as existing when a destination starts: on its very first start
// (no ledger yet), or when what it selects changed, a destination that skips existing results
// records the results it sees now as handled.
func (p *pipeline) baseline(ranBefore bool) {
	d := p.config()
	switch {
	case !d.SkipExisting:
	case !ranBefore:
		n := p.absorb(d.Created)
		p.log.Info("existing results will not be sent", "results", n)
	case p.ledger.Scope() != d.Scope:
		// What the destination selects changed: what now comes into view existed before.
		n := p.absorb(p.e.now())
		p.log.Info("results newly selected by the changed destination will not be sent", "results", n)
	}
	p.ledger.SetScope(d.Scope)
	if p.lc != nil {
		p.lc.seed(p, p.e.store.Snapshot())
	}
}

// markDirty notes that report key changed; the scanner looks at it.
func (p *pipeline) markDirty(key string) {
	now := p.e.now().UnixNano()
	p.dirtyMu.Lock()
	if _, ok := p.dirty[key]; !ok {
		p.dirty[key] = now
		p.order = append(p.order, key)
	}
	p.dirtyMu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// markAll makes the scanner look at every report (start, reconfiguration, sweep).
func (p *pipeline) markAll() {
	for _, k := range p.e.store.Keys() {
		p.markDirty(k)
	}
	if p.lc != nil {
		for _, k := range p.lc.reports() {
			p.markDirty(k) // deleted reports with delivered results, to resolve them
		}
	}
}

func (p *pipeline) nextDirty() (string, int64, bool) {
	p.dirtyMu.Lock()
	defer p.dirtyMu.Unlock()
	if len(p.order) == 0 {
		return "", 0, false
	}
	k := p.order[0]
	changed := p.dirty[k]
	p.order[0] = ""
	p.order = p.order[1:]
	if len(p.order) == 0 {
		p.order = nil // let the backing array go after a burst
	}
	delete(p.dirty, k)
	p.looking = true
	return k, changed, true
}

func (p *pipeline) doneLooking() {
	p.dirtyMu.Lock()
	p.looking = false
	p.dirtyMu.Unlock()
}

// scan looks at dirty reports until ctx ends.
func (p *pipeline) scan(ctx context.Context) {
	defer p.workersDone.Done()
	for ctx.Err() == nil {
		key, changed, ok := p.nextDirty()
		if !ok {
			select {
			case <-ctx.Done():
			case <-p.wake:
			}
			continue
		}
		p.look(ctx, key, changed)
		p.doneLooking()
	}
}

// look queues the new results of one report, and the resolutions of results it no longer
// has. It blocks while the queue is full. changed is when the report was marked dirty.
func (p *pipeline) look(ctx context.Context, key string, changed int64) {
	rep := p.e.store.Get(key)
	d := p.config()
	if p.lc != nil {
		if gone, ok := p.lc.gone(key, rep); ok {
			p.enqueue(ctx, gone.ref, gone.results, d, true)
		}
	}
	if rep == nil {
		return
	}
	p.mu.Lock()
	results := p.newResults(rep, d, true, changed)
	p.mu.Unlock()
	p.enqueue(ctx, refOf(rep), results, d, false)
}

func (p *pipeline) enqueue(ctx context.Context, ref sender.ReportRef, results []report.Result, d *Destination, resolve bool) {
	p.enqueueSince(ctx, ref, results, d, resolve, time.Time{})
}

func (p *pipeline) enqueueSince(ctx context.Context, ref sender.ReportRef, results []report.Result, d *Destination, resolve bool, since time.Time) {
	size := batchSize(d.Sender)
	for len(results) > 0 {
		n := min(size, len(results))
		it := item{batch: sender.Batch{Report: ref, Results: results[:n:n], CustomFields: d.CustomFields}, resolve: resolve, since: since}
		it.keys = make([]uint64, n)
		for i := range results[:n] {
			it.keys[i] = results[i].Hash
		}
		p.queued.Add(int64(n))
		if resolve {
			p.resolving.Add(int64(n))
		}
		select {
		case p.queue <- it:
			results = results[n:]
		case <-ctx.Done():
			p.queued.Add(-int64(n))
			if resolve {
				p.resolving.Add(-int64(n))
			}
			return
		}
	}
}
