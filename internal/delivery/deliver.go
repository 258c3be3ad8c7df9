package delivery

import (
	"context"
	"errors"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/policyherald/policy-herald/internal/ledger"
	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/sender"
)

// defaultDropAfter is how long an undeliverable result is retried when the destination says
// nothing else.
const defaultDropAfter = 24 * time.Hour

// errOutage stops a batch's fast retries when the destination as a whole is failing: the batch
// is parked for the slow retries instead.
var errOutage = errors.New("the destination is failing; parked for the slow retries")

// parkedResult is a result waiting for a slow retry: a key into the report store, so a parked
// result costs a map entry, not a copy of the result.
type parkedResult struct {
	report string
	since  time.Time // when it first failed
}

// work sends queued batches until ctx ends.
func (p *pipeline) work(ctx context.Context) {
	defer p.workersDone.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case it := <-p.queue:
			p.queued.Add(-int64(len(it.keys)))
			p.deliver(&it)
		}
	}
}

// deliver sends one batch and records the outcome: delivered (also when delivery is stopping:
// the request finished), refused for good, or parked for the slow retries. When a batch of
// several results is refused, each result is tried on its own, so one result the destination
// refuses does not take the others down with it.
func (p *pipeline) deliver(it *item) {
	if !it.probe && !it.resolve && p.stats.outage() {
		p.park(it) // the destination is down: no attempt per batch, the probe finds out
		return
	}
	err := p.send(it)
	switch {
	case err == nil:
		p.release(it, outcomeSent)
	case p.ctx.Err() != nil:
		// Stopping before the batch went out: neither sent nor recorded, so it is offered again
		// by whichever replica leads next.
		p.release(it, outcomeNone)
	case len(it.keys) > 1 && !sender.IsRetryable(err) && !errors.Is(err, errOutage):
		for i := range it.keys {
			single := item{batch: it.batch, keys: it.keys[i : i+1], resolve: it.resolve, since: it.since}
			single.batch.Results = it.batch.Results[i : i+1]
			p.deliver(&single)
		}
	case !sender.IsRetryable(err) && !errors.Is(err, errOutage):
		p.log.Error(err, "the destination refused results for good", p.named(it)...)
		p.release(it, outcomeFailed)
	case it.resolve:
		p.log.Error(err, "giving up on resolving results", p.named(it)...)
		p.release(it, outcomeFailed)
	default:
		p.park(it)
	}
}

// named returns log values naming a batch's results.
func (p *pipeline) named(it *item) []any {
	ids := make([]string, len(it.batch.Results))
	for i := range it.batch.Results {
		ids[i] = it.batch.Results[i].ID()
	}
	r := it.batch.Report
	return []any{"report", report.Key(r.Kind, r.Namespace, r.Name), "results", ids}
}

// send delivers one batch, retrying with exponential backoff (doubling) and jitter while the
// error says a retry may succeed, and honouring Retry-After. A probe makes one attempt. Results
// a destination reports as delivered before a failure (a batch split into several messages) are
// recorded at once and dropped from the batch, so a retry sends only the rest.
func (p *pipeline) send(it *item) error {
	policy := p.e.opts.Retry
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.Multiplier = policy.InitialInterval, policy.MaxInterval, 2
	tries := policy.MaxAttempts
	if it.probe {
		tries = 1
	}
	var last error // the sender's own error, also when the retry library wraps it
	attempts := 0
	_, err := backoff.Retry(p.ctx, func() (struct{}, error) {
		if len(it.keys) == 0 {
			return struct{}{}, nil // everything went out before the last failure
		}
		if attempts++; attempts > 1 || !it.since.IsZero() {
			p.metrics.retries.Inc() // a fast retry, or a slow retry of parked results
		}
		err := p.attempt(it)
		if err == nil {
			return struct{}{}, nil
		}
		last = err
		if p.stats.attemptFailed(err) {
			p.e.health.notify(p.config().Key())
		}
		var se *sender.Error
		if errors.As(err, &se) && se.Sent > 0 {
			n := min(se.Sent, len(it.keys))
			done := item{batch: it.batch, keys: it.keys[:n], resolve: it.resolve}
			done.batch.Results = it.batch.Results[:n]
			p.release(&done, outcomeSent)
			it.keys, it.batch.Results = it.keys[n:], it.batch.Results[n:]
		}
		switch {
		case errors.As(err, &se) && !se.Retryable:
			return struct{}{}, backoff.Permanent(err)
		case !it.probe && !it.resolve && p.stats.outage():
			last = errOutage
			return struct{}{}, backoff.Permanent(errOutage)
		case errors.As(err, &se) && se.RetryAfter > 0:
			return struct{}{}, &backoff.RetryAfterError{Duration: min(se.RetryAfter, policy.MaxRetryAfter)}
		}
		return struct{}{}, err
	}, backoff.WithBackOff(b), backoff.WithMaxTries(tries), backoff.WithMaxElapsedTime(0))
	if err == nil {
		if p.stats.succeeded() {
			p.e.health.notify(p.config().Key())
			p.wakeRetries() // back: the parked results go now, not at the next slow retry
		}
		return nil
	}
	if last != nil && p.ctx.Err() == nil {
		return last
	}
	return err
}

// attempt makes one try with the current sender (a Secret rotation swaps it between attempts).
// It waits first while the ledger could not be written for PauseAfter: what is sent then
// could not be recorded, and would be sent again after a restart.
func (p *pipeline) attempt(it *item) error {
	if err := p.waitForLedger(); err != nil {
		return err
	}
	s := p.config().Sender
	if it.resolve {
		r, ok := s.(sender.Resolver)
		if !ok {
			return nil // the destination no longer resolves: nothing to do
		}
		return r.Resolve(p.sendCtx, it.batch)
	}
	return s.Send(p.sendCtx, it.batch)
}

type outcome int

const (
	outcomeNone    outcome = iota // not tried to the end: stays unrecorded
	outcomeSent                   // delivered
	outcomeFailed                 // refused for good
	outcomeDropped                // not delivered within DropAfter
)

// release forgets a batch as in flight and records its outcome: in the ledger, with the
// counts in the same write, so status follows the ledger after a crash.
func (p *pipeline) release(it *item, o outcome) {
	if it.resolve {
		p.resolving.Add(-int64(len(it.keys)))
		if o != outcomeNone {
			p.lc.resolved(it)
		}
		return
	}
	now := p.e.now().UnixNano()
	p.mu.Lock()
	for _, k := range it.keys {
		if changed, ok := p.inflight[k]; ok && o == outcomeSent {
			p.metrics.latency.Observe(time.Duration(now - changed).Seconds())
		}
		delete(p.inflight, k)
		delete(p.parked, k)
	}
	n := int64(len(it.keys))
	var c ledger.Counts
	switch o {
	case outcomeSent:
		c.Sent = n
	case outcomeFailed:
		c.Failed = n
	case outcomeDropped:
		c.Dropped = n
	}
	if o != outcomeNone {
		p.ledger.Add(it.keys...)
		p.ledger.AddCounts(c)
		p.stats.count(c)
		p.metrics.counted(o, len(it.keys))
	}
	p.stats.setPending(int64(len(p.inflight)))
	p.mu.Unlock()
	if o == outcomeSent && p.lc != nil {
		p.lc.delivered(it)
	}
}

// park keeps a batch's results in flight (so they are neither queued again nor recorded) for
// the slow retries.
func (p *pipeline) park(it *item) {
	since := it.since
	if since.IsZero() {
		since = p.e.now()
	}
	r := it.batch.Report
	key := report.Key(r.Kind, r.Namespace, r.Name)
	p.mu.Lock()
	for _, k := range it.keys {
		p.parked[k] = parkedResult{report: key, since: since}
	}
	p.mu.Unlock()
}

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
	defer p.workersDone.Done()
	t := time.NewTicker(p.e.opts.SlowRetryInterval)
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
			p.e.health.notify(p.config().Key())
		}
	}
}

// idle tells whether nothing waits for the destination: no result queued, being sent or
// parked, and no resolution queued or being sent.
func (p *pipeline) idle() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.inflight) == 0 && p.resolving.Load() == 0
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
	for key, keys := range byReport {
		it, ok := p.parkedItem(key, keys, true)
		if !ok {
			continue
		}
		p.deliver(&it) // parkedItem took the probe's results out of keys: the rest stay to requeue
		return !p.stats.outage()
	}
	return false
}

// requeue queues the parked results of one report again, as they are now in the store.
func (p *pipeline) requeue(ctx context.Context, key string, keys map[uint64]time.Time) {
	for len(keys) > 0 {
		it, ok := p.parkedItem(key, keys, false)
		if !ok {
			return
		}
		p.queued.Add(int64(len(it.keys)))
		select {
		case p.queue <- it:
		case <-ctx.Done():
			p.queued.Add(-int64(len(it.keys)))
			return
		}
	}
}

// parkedItem takes up to a batch of the parked results of report key off the parked list, as
// they are in the store's current copy of the report. Parked results that left the report are
// forgotten: not delivered, not recorded (if they come back, they are new).
func (p *pipeline) parkedItem(key string, keys map[uint64]time.Time, probe bool) (item, bool) {
	d := p.config()
	rep := p.e.store.Get(key)
	index := map[uint64]int{}
	if rep != nil {
		for i := range rep.Results {
			index[rep.Results[i].Hash] = i
		}
	}
	var results []report.Result
	var since time.Time
	p.mu.Lock()
	for k, s := range keys {
		i, ok := index[k]
		switch {
		case !ok:
			delete(p.parked, k)
			delete(p.inflight, k)
			delete(keys, k)
		case len(results) < batchSize(d.Sender):
			results = append(results, rep.Results[i])
			if since.IsZero() || s.Before(since) {
				since = s
			}
			delete(p.parked, k)
			delete(keys, k)
		}
	}
	p.stats.setPending(int64(len(p.inflight)))
	p.mu.Unlock()
	if len(results) == 0 {
		return item{}, false
	}
	it := item{batch: sender.Batch{Report: refOf(rep), Results: results, CustomFields: d.CustomFields}, probe: probe, since: since}
	it.keys = make([]uint64, len(results))
	for i := range results {
		it.keys[i] = results[i].Hash
	}
	return it, true
}

// dropExpired drops the parked results that waited longer than the destination's DropAfter:
// recorded, so they are never sent again, counted and logged with their IDs.
func (p *pipeline) dropExpired() {
	d := p.config()
	after := d.DropAfter
	if after <= 0 {
		after = defaultDropAfter
	}
	cutoff := p.e.now().Add(-after)
	expired := map[string][]uint64{}
	p.mu.Lock()
	for k, pr := range p.parked {
		if pr.since.Before(cutoff) {
			expired[pr.report] = append(expired[pr.report], k)
		}
	}
	p.mu.Unlock()
	for key, keys := range expired {
		it := item{batch: sender.Batch{Report: refOfKey(p.e.store.Get(key), key)}, keys: keys}
		ids := make([]string, len(keys))
		for i, k := range keys {
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

// periodically calls write every interval until ctx ends, and once more at the end (with its
// own timeout): the ledger and status writers.
func (p *pipeline) periodically(ctx context.Context, interval, final time.Duration, write func(context.Context)) {
	defer p.bgDone.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			last, cancel := context.WithTimeout(context.WithoutCancel(ctx), final)
			write(last)
			cancel()
			return
		case <-t.C:
			write(ctx)
		}
	}
}
