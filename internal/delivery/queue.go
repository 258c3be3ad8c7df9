package delivery

import (
	"context"

	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/sender"
)

// Step 2: queueing. The scanner (and the slow retries, for parked results) queue batches;
// the queue is bounded, so a burst waits in the report store; workers take batches off it and
// deliver them (send.go).

// enqueue queues results of one report in batches the destination takes, blocking while the
// queue is full, until ctx ends; resolve says they are resolutions.
func (p *pipeline) enqueue(ctx context.Context, ref sender.ReportRef, results []report.Result, d *Config, resolve bool) {
	size := batchSize(d.Sender)
	for len(results) > 0 {
		n := min(size, len(results))
		it := item{batch: sender.Batch{Report: ref, Results: results[:n:n], CustomFields: d.CustomFields}, resolve: resolve}
		it.hashes = make([]uint64, n)
		for i := range results[:n] {
			it.hashes[i] = results[i].Hash
		}
		if !p.put(ctx, it) {
			return
		}
		results = results[n:]
	}
}

// put queues one batch, blocking while the queue is full; it returns false when ctx ended
// first. The queue depth (and the resolutions waiting) count it from now on.
func (p *pipeline) put(ctx context.Context, it item) bool {
	n := int64(len(it.hashes))
	p.queued.Add(n)
	if it.resolve {
		p.resolving.Add(n)
	}
	select {
	case p.queue <- it:
		return true
	case <-ctx.Done():
		p.queued.Add(-n)
		if it.resolve {
			p.resolving.Add(-n)
		}
		return false
	}
}

// work delivers queued batches until ctx ends.
func (p *pipeline) work(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case it := <-p.queue:
			p.queued.Add(-int64(len(it.hashes)))
			if p.gate(&it) {
				p.deliver(&it)
			}
		}
	}
}
