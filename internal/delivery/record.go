package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/ledger"
)

// Step 5: recording. An outcome goes into the ledger, with the counts in the same write; the
// ledger and the status are written periodically.
//
// Sending depends on the ledger being written: nothing is sent before the pipeline's first
// write of its ledger (which claims the ledger for this replica, see the ledger's fencing),
// sending pauses while the ledger could not be written for PauseAfter, and stops for good once
// another replica claimed the ledger (a newer leader delivers to the destination now).

type outcome int

const (
	outcomeNone       outcome = iota // not tried to the end: stays unrecorded
	outcomeSent                      // delivered
	outcomeFailed                    // refused for good
	outcomeDropped                   // not delivered within DropAfter
	outcomeSkipped                   // about a resource a controller owns (gate.go)
	outcomeMuted                     // silenced (gate.go)
	outcomeDigested                  // delivered in a digest
	outcomeSummarised                // delivered as part of a rate limit's summary
)

func (o outcome) String() string {
	return [...]string{"none", "sent", "failed", "dropped", "skipped", "muted", "digested", "summarised"}[o]
}

// counts returns what n results of outcome o add to the counts.
func (o outcome) counts(n int64) ledger.Counts {
	var c ledger.Counts
	switch o {
	case outcomeSent:
		c.Sent = n
	case outcomeFailed:
		c.Failed = n
	case outcomeDropped:
		c.Dropped = n
	case outcomeSkipped:
		c.Skipped = n
	case outcomeMuted:
		c.Muted = n
	case outcomeDigested:
		c.Sent, c.Digested = n, n
	case outcomeSummarised:
		c.Sent, c.Summarised = n, n
	}
	return c
}

// delivered tells whether results of outcome o reached the destination.
func (o outcome) delivered() bool {
	return o == outcomeSent || o == outcomeDigested || o == outcomeSummarised
}

// release forgets a batch as in flight and records its outcome: in the ledger, with the
// counts in the same write, so status follows the ledger after a crash.
func (p *pipeline) release(it *item, o outcome) {
	if it.resolve {
		p.resolving.Add(-int64(len(it.hashes)))
		if o != outcomeNone {
			p.lc.resolved(it)
		}
		return
	}
	now := p.now().UnixNano()
	p.mu.Lock()
	for _, k := range it.hashes {
		if changed, ok := p.inflight[k]; ok && o.delivered() {
			p.metrics.latency.Observe(time.Duration(now - changed).Seconds())
		}
		delete(p.inflight, k)
		delete(p.parked, k)
	}
	c := o.counts(int64(len(it.hashes)))
	if o != outcomeNone {
		p.ledger.Add(it.hashes...)
		p.ledger.AddCounts(c)
		p.stats.count(c)
		p.metrics.counted(o, len(it.hashes))
	}
	p.stats.setPending(int64(len(p.inflight)))
	p.mu.Unlock()
	if o == outcomeSent && p.lc != nil {
		p.lc.delivered(it)
	}
}

// flushLoop writes the ledger at once (the claim), then FlushInterval after each write, or
// sooner when woken (after a digest or a summary): wokenFlushAfter after the last write at the
// earliest, so woken writes come together and there is at most one write a wokenFlushAfter.
// It writes once more when the pipeline stops.
func (p *pipeline) flushLoop(ctx context.Context) {
	p.flush(ctx)
	t := time.NewTimer(p.opts.FlushInterval)
	defer t.Stop()
	last := time.Now()
	var soon <-chan time.Time // the woken write, when one is due
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			p.flush(final)
			cancel()
			return
		case <-p.flushWake:
			if soon == nil {
				soon = time.After(time.Until(last.Add(min(p.opts.FlushInterval/2, wokenFlushAfter))))
			}
			continue
		case <-t.C:
		case <-soon:
		}
		p.flush(ctx)
		last, soon = time.Now(), nil
		t.Reset(p.opts.FlushInterval)
	}
}

// wokenFlushAfter is the least time between a write and a woken write (at most
// FlushInterval/2); a variable for benchmarks.
var wokenFlushAfter = time.Second

// wakeFlush makes the flush loop write the ledger soon: after a digest or a summary was sent,
// so a crash repeats it only if it comes before this write.
func (p *pipeline) wakeFlush() {
	select {
	case p.flushWake <- struct{}{}:
	default:
	}
}

func (p *pipeline) flush(ctx context.Context) {
	err := p.ledger.Flush(ctx, p.client, p.reader)
	deposed := errors.Is(err, ledger.ErrDeposed)
	p.mu.Lock()
	wasPaused, wasDeposed := p.pausedLocked(), p.deposed
	p.deposed = wasDeposed || deposed
	if err != nil && p.unflushed.IsZero() {
		p.unflushed = p.now()
	}
	if err == nil {
		p.unflushed = time.Time{}
		select {
		case <-p.claimed:
		default:
			close(p.claimed) // the first write: every closer holds mu, so once
		}
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
		p.healthChanged()
	}
}

// pausedLocked tells whether sending waits for the ledger: it could not be written for
// PauseAfter, or another replica took it over. The caller holds p.mu.
func (p *pipeline) pausedLocked() bool {
	return p.deposed || (!p.unflushed.IsZero() && p.now().Sub(p.unflushed) >= p.opts.PauseAfter)
}

func (p *pipeline) paused() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pausedLocked()
}

// writeStatus writes status.delivery and status.silences when they changed; it runs every
// StatusInterval, so a busy target or channel does not write its status on every result, and
// a silence shows Expired at most StatusInterval after its until. No one else writes them.
func (p *pipeline) writeStatus(ctx context.Context) {
	st := p.stats
	silences := p.silenceStatus(p.now())
	st.mu.Lock()
	if equalDelivery(&st.s, &st.written) && equalSilences(silences, st.writtenSilences) {
		st.mu.Unlock()
		return
	}
	snapshot := *st.s.DeepCopy()
	st.mu.Unlock()

	d := p.config()
	obj, err := p.newObject(d.Kind)
	if err != nil {
		p.log.Error(err, "writing delivery status")
		return
	}
	obj.SetNamespace(d.Namespace)
	obj.SetName(d.Name)
	// A merge patch replaces the list whole; null (no silences) removes it.
	patch, _ := json.Marshal(map[string]any{"status": map[string]any{"delivery": snapshot, "silences": silences}})
	if err := p.client.Status().Patch(ctx, obj, client.RawPatch(types.MergePatchType, patch)); err != nil {
		if client.IgnoreNotFound(err) != nil {
			p.log.Error(err, "writing delivery status; will retry")
		}
		return
	}
	st.mu.Lock()
	st.written, st.writtenSilences = snapshot, silences
	st.mu.Unlock()
}

func equalDelivery(a, b *v1alpha1.DeliveryStatus) bool {
	return a.Sent == b.Sent && a.Failed == b.Failed && a.Dropped == b.Dropped && a.Pending == b.Pending &&
		a.Skipped == b.Skipped && a.Muted == b.Muted && a.Digested == b.Digested && a.Summarised == b.Summarised &&
		a.ConsecutiveFailures == b.ConsecutiveFailures && a.LastFailureReason == b.LastFailureReason &&
		timeEqual(a.LastSuccessTime, b.LastSuccessTime) && timeEqual(a.LastFailureTime, b.LastFailureTime)
}

func timeEqual(a, b *metav1.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(b)
}

// periodically calls write every interval until ctx ends, and once more at the end (with its
// own timeout): the status writer.
func (p *pipeline) periodically(ctx context.Context, interval, final time.Duration, write func(context.Context)) {
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
