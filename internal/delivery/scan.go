package delivery

import (
	"context"
	"sync"
	"time"

	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/routing"
)

// Step 1: finding new results. What exists when a target or channel starts is decided first
// (baseline); then every report change marks its report dirty, and one scanner looks at dirty
// reports, oldest change first, and queues their new results (queue.go).

// baseline decides what counts as existing when a target or channel starts: on its very first start
// (no ledger yet), or when what it selects changed, a target or channel that skips existing results
// records the results it sees now as handled.
func (p *pipeline) baseline(ranBefore bool) {
	d := p.config()
	switch {
	case !d.SkipExisting:
	case !ranBefore:
		n := p.absorb(d.Created)
		p.log.Info("existing results will not be sent", "results", n)
	case p.ledger.Scope() != d.Scope:
		// What the target or channel selects changed: what now comes into view existed before.
		n := p.absorb(p.now())
		p.log.Info("results newly selected by the changed destination will not be sent", "results", n)
	}
	p.ledger.SetScope(d.Scope)
	if p.lc != nil {
		p.lc.seed(p, p.store.Snapshot())
	}
}

// absorb records every result the target or channel wants as handled without sending it: what
// "skipExistingOnStartup" means for results that exist when a target or channel starts for the
// first time or changes what it selects. Reports created after existedAt are left alone: their
// results are new even if the operator only sees them now. (Creation times have one-second
// resolution; a report of the same second as the target or channel counts as existing.)
func (p *pipeline) absorb(existedAt time.Time) int {
	if existedAt.IsZero() {
		existedAt = p.now()
	}
	n := 0
	for _, rep := range p.store.Snapshot() {
		if rep.Created.After(existedAt) {
			continue
		}
		p.mu.Lock()
		for _, res := range p.newResults(rep, p.cfg, false, 0) {
			p.ledger.Add(res.Hash)
			n++
		}
		p.mu.Unlock()
	}
	return n
}

// dirtySet holds the reports that changed and were not looked at yet, oldest change first.
type dirtySet struct {
	mu      sync.Mutex
	changed map[string]int64 // when each dirty report was first marked (Unix nanoseconds)
	order   []string         // dirty report keys, oldest change first
	looking bool             // the scanner is looking at a report it took from order
	wake    chan struct{}
}

func newDirtySet() *dirtySet {
	return &dirtySet{changed: map[string]int64{}, wake: make(chan struct{}, 1)}
}

// mark notes that report key changed at now, and wakes the scanner.
func (s *dirtySet) mark(key string, now int64) {
	s.mu.Lock()
	if _, ok := s.changed[key]; !ok {
		s.changed[key] = now
		s.order = append(s.order, key)
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// next takes the report that changed first, with when it was marked; the scanner looks at it
// until it calls doneLooking.
func (s *dirtySet) next() (string, int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.order) == 0 {
		return "", 0, false
	}
	k := s.order[0]
	changed := s.changed[k]
	s.order[0] = ""
	s.order = s.order[1:]
	if len(s.order) == 0 {
		s.order = nil // let the backing array go after a burst
	}
	delete(s.changed, k)
	s.looking = true
	return k, changed, true
}

func (s *dirtySet) doneLooking() {
	s.mu.Lock()
	s.looking = false
	s.mu.Unlock()
}

// busy tells whether a report waits to be looked at or is being looked at.
func (s *dirtySet) busy() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.order) > 0 || s.looking
}

// markDirty notes that report key changed; the scanner looks at it.
func (p *pipeline) markDirty(key string) { p.dirty.mark(key, p.now().UnixNano()) }

// markAll makes the scanner look at every report (start, reconfiguration, sweep).
func (p *pipeline) markAll() {
	for _, k := range p.store.Keys() {
		p.markDirty(k)
	}
	if p.lc != nil {
		for _, k := range p.lc.reports() {
			p.markDirty(k) // deleted reports with delivered results, to resolve them
		}
	}
}

// scan looks at dirty reports until ctx ends.
func (p *pipeline) scan(ctx context.Context) {
	for ctx.Err() == nil {
		key, changed, ok := p.dirty.next()
		if !ok {
			select {
			case <-ctx.Done():
			case <-p.dirty.wake:
			}
			continue
		}
		p.look(ctx, key, changed)
		p.dirty.doneLooking()
	}
}

// look queues the new results of one report, and the resolutions of results it no longer
// has. It blocks while the queue is full. changed is when the report was marked dirty.
func (p *pipeline) look(ctx context.Context, key string, changed int64) {
	rep := p.store.Get(key)
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
	p.prefetchOwners(rep, results, d)
	p.enqueue(ctx, refOf(rep), results, d, false)
}

// visible tells whether the target or channel may see a report at all (tenancy).
func (d *Config) visible(rep *report.Report) bool {
	return routing.Sees(d.AllNamespaces, d.Namespace, rep)
}

// newResults returns the results of rep that the target or channel has not handled and wants; with
// claim they are marked in flight, found when their report changed at changed (Unix
// nanoseconds). The caller holds p.mu.
func (p *pipeline) newResults(rep *report.Report, d *Config, claim bool, changed int64) []report.Result {
	if !d.visible(rep) {
		return nil
	}
	var out []report.Result
	var taken map[uint64]struct{} // hashes already in out: a producer may write a result twice
	for i := range rep.Results {
		res := &rep.Results[i]
		if _, busy := p.inflight[res.Hash]; busy || p.ledger.Has(res.Hash) {
			continue
		}
		if _, dup := taken[res.Hash]; dup {
			continue
		}
		if !d.Filter.Match(rep, res, p.store.NamespaceLabels) {
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
