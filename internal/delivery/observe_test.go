package delivery

import (
	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/ledger"
)

// What tests observe of a pipeline, without reaching into it.

// settled tells whether the pipeline has looked at every dirty report and has nothing queued
// or in flight.
func (p *pipeline) settled() bool {
	if p.dirty.busy() {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.queue) == 0 && len(p.inflight) == 0
}

// waiting returns how many results wait in digest groups or for a summary.
func (p *pipeline) waiting() int64 {
	var n int
	p.digests.mu.Lock()
	for _, g := range p.digests.groups {
		n += len(g.hashes)
	}
	p.digests.mu.Unlock()
	p.limits.mu.Lock()
	n += len(p.limits.held.hashes)
	p.limits.mu.Unlock()
	return int64(n)
}

// stopping tells whether stop has begun.
func (p *pipeline) stopping() bool { return p.workers.ctx.Err() != nil }

// holding tells whether a send waits because sending is paused.
func (p *pipeline) holding() bool { return p.held.Load() > 0 }

// recorded tells whether the ledger holds result k as handled.
func (p *pipeline) recorded(k uint64) bool { return p.ledger.Has(k) }

// recordedCounts returns the counts the ledger holds.
func (p *pipeline) recordedCounts() ledger.Counts {
	c, _ := p.ledger.Counts()
	return c
}

// delivery returns the live delivery counts.
func (p *pipeline) delivery() v1alpha1.DeliveryStatus { return p.stats.Snapshot() }
