package delivery

import (
	"time"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
)

// Step 3a: the gate. Before a worker sends a batch (send.go), the gate takes out what is not
// sent as it is, in this order, each in its own file:
//
//   - controlled.go: results about a resource a controller owns are skipped (recorded, counted);
//   - silence.go: results a silence matches are muted (recorded, counted per silence);
//   - digest.go: with a digest, the rest are collected, in flight, for the group's next digest;
//   - ratelimit.go: with a rate limit, results beyond it are held for the next summary.
//
// What is left is sent now. Resolutions pass the gate untouched; so do parked results coming
// back (they passed it before), except for the rate limit: after an outage they would
// otherwise all go at once.

// Notify is how a target or channel turns new results into messages, resolved by its
// controller from the API's Notifications (a channel's fields over its target's).
type Notify struct {
	// SkipControlled skips results about resources a controller owns (controlledResources: skip).
	SkipControlled bool
	// Digest, when set, collects results into digests (chat destinations).
	Digest *DigestPolicy
	// RateLimit, when set, caps the messages of results (chat destinations).
	RateLimit *RateLimitPolicy
	// NotifyResolved announces results that were delivered and passed or left (chat destinations;
	// the sender is then a sender.Resolver).
	NotifyResolved bool
	// Silences in effect (the target's and the channel's), expired ones included (for status).
	Silences []v1alpha1.Silence
}

// DigestPolicy is a digest's settings.
type DigestPolicy struct {
	Interval time.Duration
	GroupBy  []v1alpha1.DigestGroup
	MaxItems int
}

// RateLimitPolicy allows Messages messages per Per.
type RateLimitPolicy struct {
	Messages int
	Per      time.Duration
}

// gate takes out of a batch what is not sent as it is now; it returns false when nothing is
// left to send.
func (p *pipeline) gate(it *item) bool {
	if it.resolve {
		return true
	}
	if !it.since.IsZero() {
		return p.limit(it)
	}
	return p.skipControlled(it) && p.mute(it) && p.collect(it) && p.limit(it)
}

// take records the results of it for which out returns true with outcome o, and leaves the
// others in it; it returns false when none is left.
func (p *pipeline) take(it *item, o outcome, out func(i int) bool) bool {
	var taken item
	kept := 0
	for i := range it.hashes {
		if out(i) {
			taken.hashes = append(taken.hashes, it.hashes[i])
			taken.batch.Results = append(taken.batch.Results, it.batch.Results[i])
			continue
		}
		it.hashes[kept], it.batch.Results[kept] = it.hashes[i], it.batch.Results[i]
		kept++
	}
	if len(taken.hashes) > 0 {
		taken.batch.Report, taken.batch.CustomFields = it.batch.Report, it.batch.CustomFields
		p.release(&taken, o)
	}
	it.hashes, it.batch.Results = it.hashes[:kept], it.batch.Results[:kept]
	return kept > 0
}
