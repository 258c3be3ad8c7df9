package delivery

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/policyherald/policy-herald/internal/sender"
)

// Step 3c: flood control. With a rate limit of Messages per Per, a token bucket (Messages at
// once, then one every Per/Messages) caps the messages of a pipeline. Every message takes a
// token: a batch of results (one Send), a digest and a summary. A batch or a due digest that
// finds no token is not sent: its results are held, in flight (pending), for the summary, one
// sender.Digest of kind summary ("412 more results: 300 fail, 112 warn in 9 namespaces"); the
// summary reserves the next token and goes as soon as the limit allows (a timer, not the next
// batch), and while it waits every new result joins it, so at most one summary waits and
// nothing overtakes it. Its results are recorded as summarised once it is sent; through an
// outage it stays and is tried again every SlowRetryInterval, never dropped.
//
// A batch counts as one message, as chat senders send it (Slack, Teams, Discord and Google
// Chat put a batch in one message; Telegram sends one message per result of a batch of up to
// ten, so there the limit counts batches).

// rateLimit is a pipeline's flood control.
type rateLimit struct {
	mu     sync.Mutex
	policy RateLimitPolicy
	lim    *rate.Limiter // nil until the first message under a rate limit
	held   tally         // the results held for the next summary
	// due is when the summary's reserved token is there (zero: none reserved yet); retryAt,
	// after a failed summary, when it is tried again.
	due, retryAt time.Time
	wake         chan struct{}
}

// limiterLocked returns the limiter of policy pol, made anew when the policy changed. The
// caller holds r.mu.
func (r *rateLimit) limiterLocked(pol RateLimitPolicy) *rate.Limiter {
	if r.lim == nil || r.policy != pol {
		r.lim = rate.NewLimiter(rate.Every(pol.Per/time.Duration(max(1, pol.Messages))), max(1, pol.Messages))
		r.policy, r.due = pol, time.Time{}
	}
	return r.lim
}

// allowMessage takes a token for a message now, when the limit has one and no summary waits
// (it goes first); it is always true without a rate limit.
func (p *pipeline) allowMessage(d *Config, now time.Time) bool {
	pol := d.Notify.RateLimit
	if pol == nil {
		return true
	}
	r := &p.limits
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.held.hashes) == 0 && r.limiterLocked(*pol).AllowN(now, 1)
}

// chargeMessage takes a token for a message that goes whatever the limit (a probe of a
// destination in an outage): when none is there, the next message waits for it.
func (p *pipeline) chargeMessage(d *Config, now time.Time) {
	if pol := d.Notify.RateLimit; pol != nil {
		r := &p.limits
		r.mu.Lock()
		r.limiterLocked(*pol).ReserveN(now, 1)
		r.mu.Unlock()
	}
}

// limit holds the results of it for the next summary when the rate limit allows no message
// now; it returns false when none is left to send now.
func (p *pipeline) limit(it *item) bool {
	d := p.config()
	if len(it.hashes) == 0 || !isDigester(d.Sender) {
		return len(it.hashes) > 0
	}
	now := p.now()
	if p.allowMessage(d, now) {
		return true
	}
	var t tally
	for i := range it.batch.Results {
		t.add(it.batch.Report, &it.batch.Results[i], now)
	}
	p.summarise(&t)
	it.hashes, it.batch.Results = nil, nil
	return false
}

// summarise holds the results of t for the next summary.
func (p *pipeline) summarise(t *tally) {
	r := &p.limits
	r.mu.Lock()
	r.held.merge(t)
	r.mu.Unlock()
	r.wakeUp()
}

// wakeUp makes the summary loop look now.
func (r *rateLimit) wakeUp() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// summaryLoop sends the summary as soon as the limit allows, until ctx ends.
func (p *pipeline) summaryLoop(ctx context.Context) { lookAgain(ctx, p.limits.wake, p.sendSummary) }

// sendSummary sends the summary when its token is there and returns how long to wait for the
// next look.
func (p *pipeline) sendSummary() time.Duration {
	d := p.config()
	pol := d.Notify.RateLimit
	now := p.now()
	r := &p.limits
	r.mu.Lock()
	if len(r.held.hashes) == 0 {
		r.mu.Unlock()
		return time.Hour
	}
	if pol == nil || !isDigester(d.Sender) {
		// The rate limit was turned off: what was held is found again and sent as it is.
		held := r.held
		r.held, r.due, r.retryAt = tally{}, time.Time{}, time.Time{}
		r.mu.Unlock()
		p.release(&item{hashes: held.hashes}, outcomeNone)
		p.markAll()
		return time.Hour
	}
	if r.retryAt.After(now) {
		r.mu.Unlock()
		return min(r.retryAt.Sub(now), digestTick)
	}
	lim := r.limiterLocked(*pol)
	if r.due.IsZero() {
		r.due = now.Add(lim.ReserveN(now, 1).DelayFrom(now))
	}
	if r.due.After(now) {
		r.mu.Unlock()
		return min(r.due.Sub(now), digestTick)
	}
	held := r.held
	r.held, r.due, r.retryAt = tally{}, time.Time{}, time.Time{}
	r.mu.Unlock()

	msg := held.message(sender.KindSummary, d.CustomFields)
	if p.sendMessage(&msg, &held, outcomeSummarised) {
		return time.Millisecond // look again: results may have been held meanwhile
	}
	if p.workers.ctx.Err() != nil {
		return time.Hour
	}
	r.mu.Lock()
	held.merge(&r.held)
	r.held, r.retryAt = held, p.now().Add(p.opts.SlowRetryInterval)
	r.mu.Unlock()
	return min(p.opts.SlowRetryInterval, digestTick)
}
