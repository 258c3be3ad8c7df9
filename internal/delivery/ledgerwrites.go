package delivery

import (
	"context"
	"errors"
	"time"

	"github.com/policyherald/policy-herald/internal/ledger"
)

// Sending depends on the ledger being written: nothing is sent before the pipeline's first
// write of its ledger (which claims the ledger for this replica, see the ledger's fencing),
// sending pauses while the ledger could not be written for PauseAfter, and stops for good once
// another replica claimed the ledger (a newer leader delivers to the destination now).

// flushLoop writes the ledger at once (the claim), then every FlushInterval, and once more when
// the pipeline stops.
func (p *pipeline) flushLoop(ctx context.Context) {
	p.flush(ctx)
	p.periodically(ctx, p.e.opts.FlushInterval, 10*time.Second, p.flush)
}

func (p *pipeline) flush(ctx context.Context) {
	err := p.ledger.Flush(ctx, p.e.client, p.e.reader)
	deposed := errors.Is(err, ledger.ErrDeposed)
	p.mu.Lock()
	wasPaused, wasDeposed := p.pausedLocked(), p.deposed
	p.deposed = wasDeposed || deposed
	if err != nil && p.unflushed.IsZero() {
		p.unflushed = p.e.now()
	}
	if err == nil {
		p.unflushed = time.Time{}
		p.claimOnce.Do(func() { close(p.claimed) })
	}
	changed := wasPaused != p.pausedLocked()
	p.mu.Unlock()
	switch {
	case deposed && !wasDeposed:
		p.metrics.write.Inc()
		p.log.Error(err, "another replica leads this destination now: this one sends nothing more and leaves the ledger to it")
	case err != nil && !deposed:
		p.metrics.write.Inc()
		p.log.Error(err, "writing the ledger; will retry")
	}
	if changed {
		p.e.health.notify(p.config().Key())
	}
}

// pausedLocked tells whether sending waits for the ledger: it could not be written for
// PauseAfter, or another replica took it over. The caller holds p.mu.
func (p *pipeline) pausedLocked() bool {
	return p.deposed || (!p.unflushed.IsZero() && p.e.now().Sub(p.unflushed) >= p.e.opts.PauseAfter)
}

func (p *pipeline) paused() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pausedLocked()
}

// waitForLedger blocks until the ledger was written once, then while sending is paused, until
// the ledger is written or the pipeline stops.
func (p *pipeline) waitForLedger() error {
	select {
	case <-p.claimed:
	case <-p.ctx.Done():
		return p.ctx.Err()
	}
	for p.paused() {
		select {
		case <-p.ctx.Done():
			return p.ctx.Err()
		case <-time.After(p.e.opts.FlushInterval / 4):
		}
	}
	return nil
}
