package delivery

import (
	"context"
	"errors"
	"time"

	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/sender"
)

// Step 4: parking through an outage. A batch that cannot be delivered now stays in flight,
// parked; the slow retries probe the destination with one parked batch, queue every parked
// result again (queue.go) once it answers, and drop what waited longer than DropAfter
// (recorded as dropped, record.go).

// defaultDropAfter is how long an undeliverable result is retried when the destination says
// nothing else.
const defaultDropAfter = 24 * time.Hour

// parkedResult is a result waiting for a slow retry: a key into the report store, so a parked
// result costs a map entry, not a copy of the result.
type parkedResult struct {
	report string
	since  time.Time // when it first failed
}

// park keeps a batch's results in flight (so they are neither queued again nor recorded) for
// the slow retries.
func (p *pipeline) park(it *item) {
	since := it.since
	if since.IsZero() {
		since = p.now()
	}
	r := it.batch.Report
	key := report.Key(r.Kind, r.Namespace, r.Name)
	p.mu.Lock()
	for _, k := range it.hashes {
		p.parked[k] = parkedResult{report: key, since: since}
	}
	p.mu.Unlock()
}

// wakeRetries makes the slow retries run now.
func (p *pipeline) wakeRetries() {
	select {
	case p.retryWake <- struct{}{}:
	default:
	}
}

// retryLoop runs the slow retries: every SlowRetryInterval (or when a send succeeds after
// failures) it drops what waited longer than DropAfter, and then, while the destination is
// failing, probes it with one parked batch; once it answers, every parked result is queued
// again. An outage left with nothing waiting ends (see Stats.endIdleOutage).
func (p *pipeline) retryLoop(ctx context.Context) {
	t := time.NewTicker(p.opts.SlowRetryInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-p.retryWake:
		}
		p.dropExpired()
		byReport := p.parkedByReport()
		switch {
		case len(byReport) == 0:
		case p.stats.outage() && !p.probe(byReport):
		default:
			for key, results := range byReport {
				p.requeue(ctx, key, results)
			}
		}
		// Dropped, left the cluster (found by the probe) or given up on: maybe nothing waits.
		if p.idle() && p.stats.endIdleOutage() {
			p.healthChanged()
		}
	}
}

// dropExpired drops the parked results that waited longer than the destination's DropAfter:
// recorded, so they are never sent again, counted and logged with their IDs.
func (p *pipeline) dropExpired() {
	d := p.config()
	after := d.DropAfter
	if after <= 0 {
		after = defaultDropAfter
	}
	cutoff := p.now().Add(-after)
	expired := map[string][]uint64{}
	p.mu.Lock()
	for k, pr := range p.parked {
		if pr.since.Before(cutoff) {
			expired[pr.report] = append(expired[pr.report], k)
		}
	}
	p.mu.Unlock()
	for key, hashes := range expired {
		it := item{batch: sender.Batch{Report: refOfKey(p.store.Get(key), key)}, hashes: hashes}
		ids := make([]string, len(hashes))
		for i, k := range hashes {
			ids[i] = report.IDOf(k)
		}
		p.log.Error(errors.New("not delivered within dropAfter"), "dropping results", "report", key, "results", ids, "dropAfter", after.String())
		p.release(&it, outcomeDropped)
	}
}

func refOfKey(rep *report.Report, key string) sender.ReportRef {
	if rep != nil {
		return refOf(rep)
	}
	return sender.ReportRef{Name: key}
}

// parkedByReport groups the parked results by report.
func (p *pipeline) parkedByReport() map[string]map[uint64]time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]map[uint64]time.Time{}
	for k, pr := range p.parked {
		if out[pr.report] == nil {
			out[pr.report] = map[uint64]time.Time{}
		}
		out[pr.report][k] = pr.since
	}
	return out
}

// probe tries one batch of parked results once; it tells whether the destination took it.
func (p *pipeline) probe(byReport map[string]map[uint64]time.Time) bool {
	for key, hashes := range byReport {
		it, ok := p.parkedItem(key, hashes, true)
		if !ok {
			continue
		}
		p.chargeMessage(p.config(), p.now())
		p.deliver(&it) // parkedItem took the probe's results out of hashes: the rest stay to requeue
		return !p.stats.outage()
	}
	return false
}

// requeue queues the parked results of one report again, as they are now in the store.
func (p *pipeline) requeue(ctx context.Context, key string, hashes map[uint64]time.Time) {
	for len(hashes) > 0 {
		it, ok := p.parkedItem(key, hashes, false)
		if !ok || !p.put(ctx, it) {
			return
		}
	}
}

// parkedItem takes up to a batch of the parked results of report key off the parked list, as
// they are in the store's current copy of the report. Parked results that left the report are
// forgotten: not delivered, not recorded (if they come back, they are new).
func (p *pipeline) parkedItem(key string, hashes map[uint64]time.Time, probe bool) (item, bool) {
	d := p.config()
	rep := p.store.Get(key)
	index := map[uint64]int{}
	if rep != nil {
		for i := range rep.Results {
			index[rep.Results[i].Hash] = i
		}
	}
	var results []report.Result
	var since time.Time
	p.mu.Lock()
	for k, s := range hashes {
		i, ok := index[k]
		switch {
		case !ok:
			delete(p.parked, k)
			delete(p.inflight, k)
			delete(hashes, k)
		case len(results) < batchSize(d.Sender):
			results = append(results, rep.Results[i])
			if since.IsZero() || s.Before(since) {
				since = s
			}
			delete(p.parked, k)
			delete(hashes, k)
		}
	}
	p.stats.setPending(int64(len(p.inflight)))
	p.mu.Unlock()
	if len(results) == 0 {
		return item{}, false
	}
	it := item{batch: sender.Batch{Report: refOf(rep), Results: results, CustomFields: d.CustomFields}, probe: probe, since: since}
	it.hashes = make([]uint64, len(results))
	for i := range results {
		it.hashes[i] = results[i].Hash
	}
	return it, true
}

// idle tells whether nothing waits for the destination: no result queued, being sent or
// parked, and no resolution queued or being sent.
func (p *pipeline) idle() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.inflight) == 0 && p.resolving.Load() == 0
}
