package delivery

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/go-logr/logr"

	"github.com/policyherald/policy-herald/internal/ledger"
	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/sender"
)

// item is one batch on its way to a destination.
type item struct {
	batch sender.Batch
	ids   []string
}

// pipeline delivers the new results of one destination: it finds them, queues them in its own
// bounded queue, and sends them with its own workers, so a slow or dead destination never
// delays another.
type pipeline struct {
	e      *Engine
	log    logr.Logger
	ledger *ledger.Ledger
	queue  chan item
	stats  *Stats

	mu       sync.Mutex
	dest     *Destination
	inflight map[string]struct{} // queued or being sent
	backlog  int                 // new results that did not fit the queue at the last offer

	ctx    context.Context
	cancel context.CancelFunc
	done   sync.WaitGroup

	runnerMu   sync.Mutex
	stopRunner func() // stops the current sender's background work
}

func (p *pipeline) config() *Destination {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dest
}

// visible tells whether the destination may see a report at all (tenancy).
func (d *Destination) visible(rep *report.Report) bool {
	if d.AllNamespaces {
		return true
	}
	return rep.Namespace != "" && rep.Namespace == d.Namespace
}

// newResults returns the results of rep that the destination has not handled and wants.
func (p *pipeline) newResults(rep *report.Report, d *Destination) []report.Result {
	if !d.visible(rep) {
		return nil
	}
	var out []report.Result
	var taken map[string]struct{} // IDs already in out: a producer may write a result twice
	for i := range rep.Results {
		res := &rep.Results[i]
		if _, busy := p.inflight[res.ID]; busy || p.ledger.Has(res.ID) {
			continue
		}
		if _, dup := taken[res.ID]; dup {
			continue
		}
		if !d.Filter.Match(rep, res, p.e.namespaceLabels) {
			continue
		}
		if taken == nil {
			taken = map[string]struct{}{}
		}
		taken[res.ID] = struct{}{}
		out = append(out, *res)
	}
	return out
}

// absorb records every result the destination wants as handled without sending it: what
// "skipExistingOnStartup" means for results that exist when a destination starts for the
// first time or changes what it selects. Reports created after existedAt are left alone: their
// results are new even if the operator only sees them now. (Creation times have one-second
// resolution; a report of the same second as the destination counts as existing.)
func (p *pipeline) absorb(reports []*report.Report, existedAt time.Time) int {
	if existedAt.IsZero() {
		existedAt = p.e.now()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, rep := range reports {
		if rep.Created.After(existedAt) {
			continue
		}
		for _, res := range p.newResults(rep, p.dest) {
			p.ledger.Add(res.ID)
			n++
		}
	}
	return n
}

// offer queues the new results of reports. When the queue is full the rest stay unqueued and
// unrecorded; the next sweep offers them again, so nothing is lost.
func (p *pipeline) offer(reports ...*report.Report) {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := p.dest
	max := d.Sender.MaxBatch()
	if max < 1 {
		max = 1
	}
	for ri, rep := range reports {
		results := p.newResults(rep, d)
		for len(results) > 0 {
			n := min(max, len(results))
			it := item{batch: sender.Batch{Report: refOf(rep), Results: results[:n:n], CustomFields: d.CustomFields}}
			for _, r := range results[:n] {
				it.ids = append(it.ids, r.ID)
			}
			select {
			case p.queue <- it:
				for _, id := range it.ids {
					p.inflight[id] = struct{}{}
				}
				results = results[n:]
			default:
				p.backlog = len(results) + p.countNew(reports[ri+1:], d)
				p.stats.setPending(int64(len(p.inflight) + p.backlog))
				return
			}
		}
	}
	p.backlog = 0
	p.stats.setPending(int64(len(p.inflight)))
}

func (p *pipeline) countNew(reports []*report.Report, d *Destination) int {
	n := 0
	for _, rep := range reports {
		n += len(p.newResults(rep, d))
	}
	return n
}

// work sends queued batches until ctx ends.
func (p *pipeline) work(ctx context.Context) {
	defer p.done.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case it := <-p.queue:
			p.deliver(ctx, &it)
			if ctx.Err() != nil {
				return
			}
		}
	}
}

// deliver sends one batch and records the outcome. When a batch of several results fails for
// good, each result is tried on its own, so one result the destination refuses does not take
// the others down with it.
func (p *pipeline) deliver(ctx context.Context, it *item) {
	err := p.send(ctx, it)
	if ctx.Err() != nil {
		// Shutting down: what is left is neither sent nor recorded, so it is offered again by
		// whichever replica leads next.
		p.release(it.ids, false)
		return
	}
	if err != nil && len(it.ids) > 1 && !sender.IsRetryable(err) {
		for i := range it.ids {
			single := item{batch: it.batch, ids: it.ids[i : i+1]}
			single.batch.Results = it.batch.Results[i : i+1]
			p.deliver(ctx, &single)
		}
		return
	}
	if err != nil {
		p.log.Error(err, "giving up on delivery", "results", len(it.ids))
		p.stats.failedBatch(len(it.ids))
	} else {
		p.stats.sentBatch(len(it.ids))
	}
	p.release(it.ids, true)
}

// send delivers one batch, retrying with exponential backoff and jitter while the error says a
// retry may succeed, and honouring Retry-After. Results a destination reports as delivered
// before a failure (a batch split into several messages) are recorded at once and dropped from
// the batch, so a retry sends only the rest.
func (p *pipeline) send(ctx context.Context, it *item) error {
	policy := p.e.opts.Retry
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval = policy.InitialInterval, policy.MaxInterval
	var last error // the sender's own error, also when the retry library wraps it
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		if len(it.ids) == 0 {
			return struct{}{}, nil // everything went out before the last failure
		}
		s := p.config().Sender // a Secret rotation swaps the sender between attempts
		err := s.Send(ctx, it.batch)
		if err == nil {
			return struct{}{}, nil
		}
		last = err
		p.stats.attemptFailed(err)
		var se *sender.Error
		if errors.As(err, &se) && se.Sent > 0 {
			n := min(se.Sent, len(it.ids))
			p.stats.sentBatch(n)
			p.release(it.ids[:n], true)
			it.ids, it.batch.Results = it.ids[n:], it.batch.Results[n:]
		}
		switch {
		case errors.As(err, &se) && !se.Retryable:
			return struct{}{}, backoff.Permanent(err)
		case errors.As(err, &se) && se.RetryAfter > 0:
			return struct{}{}, &backoff.RetryAfterError{Duration: min(se.RetryAfter, policy.MaxRetryAfter)}
		}
		return struct{}{}, err
	}, backoff.WithBackOff(b), backoff.WithMaxTries(policy.MaxAttempts), backoff.WithMaxElapsedTime(0))
	if err == nil {
		p.stats.succeeded()
		return nil
	}
	if last != nil && ctx.Err() == nil {
		return last
	}
	return err
}

// release forgets batch IDs as in flight; record adds them to the ledger.
func (p *pipeline) release(ids []string, record bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range ids {
		delete(p.inflight, id)
	}
	if record {
		p.ledger.Add(ids...)
	}
	p.stats.setPending(int64(len(p.inflight) + p.backlog))
}

// flushLoop writes the ledger at most every interval while it changes, and once more at the end.
func (p *pipeline) flushLoop(ctx context.Context) {
	defer p.done.Done()
	t := time.NewTicker(p.e.opts.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			p.flush(final)
			cancel()
			return
		case <-t.C:
			p.flush(ctx)
		}
	}
}

func (p *pipeline) flush(ctx context.Context) {
	if err := p.ledger.Flush(ctx, p.e.client, p.e.reader); err != nil {
		p.log.Error(err, "writing the ledger; will retry")
	}
}

func refOf(rep *report.Report) sender.ReportRef {
	return sender.ReportRef{Kind: rep.Kind, Namespace: rep.Namespace, Name: rep.Name, Labels: rep.Labels}
}
