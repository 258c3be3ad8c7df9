package delivery

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/ledger"
	"github.com/policyherald/policy-herald/internal/sender"
	"github.com/policyherald/policy-herald/internal/textcut"
)

// Stats counts the deliveries of one target or channel. Sent and failed start from the counts in
// the ledger (written with the handled results, so they agree after a crash), or from the
// object's status for a ledger that has none yet.
type Stats struct {
	mu      sync.Mutex
	s       v1alpha1.DeliveryStatus
	written v1alpha1.DeliveryStatus
	down    bool // the last failure says the destination is unreachable or broken, not throttling or refusing
	// ended says an outage ended with nothing left waiting (see endIdleOutage): not failing,
	// though the failures in a row still count, so the next failure makes it failing again.
	ended        bool
	failingAfter int64
	now          func() time.Time

	// silenced counts what each silence muted, by name (silence.go); writtenSilences is the
	// status.silences last written (or the object had).
	silenced        map[string]int64
	writtenSilences []v1alpha1.SilenceStatus
}

func newStats(initial *v1alpha1.DeliveryStatus, counts ledger.Counts, fromLedger bool, failingAfter int64, now func() time.Time) *Stats {
	st := &Stats{now: now, failingAfter: failingAfter, silenced: map[string]int64{}}
	if initial != nil {
		st.s = *initial.DeepCopy()
		st.s.Pending = 0
		st.written = *st.s.DeepCopy()
	}
	if fromLedger {
		st.s.Sent, st.s.Failed, st.s.Dropped = counts.Sent, counts.Failed, counts.Dropped
		st.s.Skipped, st.s.Muted, st.s.Digested, st.s.Summarised = counts.Skipped, counts.Muted, counts.Digested, counts.Summarised
	}
	return st
}

// count adds recorded outcomes.
func (s *Stats) count(c ledger.Counts) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.s.Sent += c.Sent
	s.s.Failed += c.Failed
	s.s.Dropped += c.Dropped
	s.s.Skipped += c.Skipped
	s.s.Muted += c.Muted
	s.s.Digested += c.Digested
	s.s.Summarised += c.Summarised
}

// continueSilences takes the muted counts of status.silences as the object had it.
func (s *Stats) continueSilences(l []v1alpha1.SilenceStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.silenced = make(map[string]int64, len(l))
	for _, v := range l {
		s.silenced[v.Name] = v.Muted
	}
	s.writtenSilences = slices.Clone(l)
}

// muted adds what silences muted, by name.
func (s *Stats) muted(by map[string]int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, n := range by {
		s.silenced[name] += n
	}
}

// keepSilences forgets the counts of silences not in l.
func (s *Stats) keepSilences(l []v1alpha1.Silence) {
	s.mu.Lock()
	defer s.mu.Unlock()
	maps.DeleteFunc(s.silenced, func(name string, _ int64) bool {
		return !slices.ContainsFunc(l, func(v v1alpha1.Silence) bool { return v.Name == name })
	})
}

// mutedBySilence returns what each silence muted, by name.
func (s *Stats) mutedBySilence() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.silenced)
}

// succeeded records a successful attempt; it returns true when delivery stopped failing.
func (s *Stats) succeeded() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := metav1.NewTime(s.now())
	s.s.LastSuccessTime = &t
	was := s.isFailing()
	s.s.ConsecutiveFailures = 0
	s.ended = false
	return was
}

// attemptFailed records a failed attempt; it returns true when the health it shows changed:
// delivery turned failing, or failing it fails for another reason.
func (s *Stats) attemptFailed(err error) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	was, reason := s.isFailing(), s.s.LastFailureReason
	t := metav1.NewTime(s.now())
	s.s.LastFailureTime = &t
	s.s.LastFailureReason = FailureReason(err)
	s.s.ConsecutiveFailures++
	s.ended = false
	// A 429 with Retry-After says the destination is alive and when to come back; a 4xx that
	// no retry can fix says it is up and refuses this batch. Neither is an outage.
	var se *sender.Error
	s.down = !errors.As(err, &se) || (se.Retryable && se.RetryAfter == 0)
	return s.isFailing() && (!was || reason != s.s.LastFailureReason)
}

func (s *Stats) isFailing() bool {
	return !s.ended && int64(s.s.ConsecutiveFailures) >= s.failingAfter
}

// endIdleOutage ends an outage that has nothing left waiting; it returns true when it did.
// A probe needs a batch (every request a destination takes delivers something), so such an
// outage could only end with the next result: until then it would show failing however long
// ago the destination came back. The next result is sent at once and is the probe: one failed
// attempt makes the destination failing again.
func (s *Stats) endIdleOutage() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.isFailing() || !s.down {
		return false
	}
	s.ended = true
	return true
}

// outage tells whether the destination is failing and its last failure says it is down: then
// batches are parked at once and a probe finds out when it is back. A throttling or refusing
// destination is up, so its batches keep their own retries.
func (s *Stats) outage() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.isFailing() && s.down
}

// failing tells whether delivery is failing and why the last attempt failed.
func (s *Stats) failing() (bool, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.isFailing(), s.s.LastFailureReason
}

func (s *Stats) setPending(n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.s.Pending = n
}

// Snapshot returns the current counts.
func (s *Stats) Snapshot() v1alpha1.DeliveryStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return *s.s.DeepCopy()
}

// FailureReason says why an attempt failed without credentials or full URLs: senders build
// their errors that way, anything else is reduced to a generic reason.
func FailureReason(err error) string {
	var se *sender.Error
	if errors.As(err, &se) {
		return textcut.Cut(se.Reason, 256)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "request timed out"
	}
	return "delivery failed"
}
