package delivery

import (
	"errors"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/sender"
)

// Step 3: sending. A worker sends a batch with fast retries; the outcome is recorded
// (record.go) or, through an outage, the batch is parked for the slow retries (park.go).

// errOutage stops a batch's fast retries when the destination as a whole is failing: the batch
// is parked for the slow retries instead.
var errOutage = errors.New("the destination is failing; parked for the slow retries")

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
	case p.workers.ctx.Err() != nil:
		// Stopping before the batch went out: neither sent nor recorded, so it is offered again
		// by whichever replica leads next.
		p.release(it, outcomeNone)
	case len(it.hashes) > 1 && !sender.IsRetryable(err) && !errors.Is(err, errOutage):
		for i := range it.hashes {
			single := item{batch: it.batch, hashes: it.hashes[i : i+1], resolve: it.resolve, since: it.since}
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
	policy := p.opts.Retry
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.Multiplier = policy.InitialInterval, policy.MaxInterval, 2
	tries := policy.MaxAttempts
	if it.probe {
		tries = 1
	}
	var last error // the sender's own error, also when the retry library wraps it
	attempts := 0
	_, err := backoff.Retry(p.workers.ctx, func() (struct{}, error) {
		if len(it.hashes) == 0 {
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
			p.healthChanged()
		}
		var se *sender.Error
		if errors.As(err, &se) && se.Sent > 0 && it.digest == nil {
			n := min(se.Sent, len(it.hashes))
			done := item{batch: it.batch, hashes: it.hashes[:n], resolve: it.resolve}
			done.batch.Results = it.batch.Results[:n]
			p.release(&done, outcomeSent)
			it.hashes, it.batch.Results = it.hashes[n:], it.batch.Results[n:]
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
			p.healthChanged()
			p.wakeRetries() // back: the parked results go now, not at the next slow retry
		}
		return nil
	}
	if last != nil && p.workers.ctx.Err() == nil {
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
	if it.digest != nil {
		d, ok := s.(sender.Digester)
		if !ok {
			return &sender.Error{Reason: "the destination sends no digests"}
		}
		return d.SendDigest(p.requests.ctx, *it.digest)
	}
	b := p.withThreads(it)
	if it.resolve {
		r, ok := s.(sender.Resolver)
		if !ok {
			return nil // the destination no longer resolves: nothing to do
		}
		return r.Resolve(p.requests.ctx, b)
	}
	return s.Send(p.requests.ctx, b)
}

// waitForLedger blocks until the ledger was written once, then while sending is paused (see
// record.go), until the ledger is written or the pipeline stops.
func (p *pipeline) waitForLedger() error {
	select {
	case <-p.claimed:
	case <-p.workers.ctx.Done():
		return p.workers.ctx.Err()
	}
	if !p.paused() {
		return nil
	}
	p.held.Add(1)
	defer p.held.Add(-1)
	for p.paused() {
		select {
		case <-p.workers.ctx.Done():
			return p.workers.ctx.Err()
		case <-time.After(p.opts.FlushInterval / 4):
		}
	}
	return nil
}
