package main

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/policyherald/policy-herald/internal/testing/harness"
)

// Phases of a run: the main phase (live creation or sync) and the churn phase.
const (
	phaseMain = iota
	phaseChurn
	phases
)

// result is what the harness knows about one expected result.
type result struct {
	phase     int
	issued    time.Time // when the create or update call that carries it was issued
	seen      time.Time // when the bare informer (the floor) first saw it
	delivered time.Time // when the receiver first got it
}

// tracker is shared by the creators, the floor informer and the receiver. One mutex is enough:
// each event is a map lookup, far cheaper than the HTTP request or watch event around it.
type tracker struct {
	mu         sync.Mutex
	want       map[uint64]*result
	expected   [phases]int
	seen       [phases]int
	delivered  [phases]int
	ids        map[string]int // deliveries per webhook id
	requests   int            // result documents received
	unexpected int            // documents of results the harness did not expect (pass, replaced, unknown)
	heartbeats int
	bad        int // requests that were not a JSON document
	last       time.Time
}

func newTracker() *tracker {
	return &tracker{want: map[uint64]*result{}, ids: map[string]int{}}
}

// expect registers results before the call that creates them, so no delivery can be early.
func (t *tracker) expect(phase int, keys []uint64, issued time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range keys {
		if _, ok := t.want[k]; !ok {
			t.want[k] = &result{phase: phase, issued: issued}
			t.expected[phase]++
		}
	}
}

// reissue moves the issue time of already-registered results to the moment the call was
// actually made (registration happens just before it).
func (t *tracker) reissue(keys []uint64, issued time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range keys {
		if r, ok := t.want[k]; ok {
			r.issued = issued
		}
	}
}

// saw records that the floor informer has seen the result.
func (t *tracker) saw(k uint64, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if r, ok := t.want[k]; ok && r.seen.IsZero() {
		r.seen = now
		t.seen[r.phase]++
	}
}

// got records a delivered document.
func (t *tracker) got(id string, k uint64, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.requests++
	t.last = now
	t.ids[id]++
	r, ok := t.want[k]
	if !ok {
		t.unexpected++
		return
	}
	if r.delivered.IsZero() {
		r.delivered = now
		t.delivered[r.phase]++
	}
}

// counts returns expected, seen and delivered of a phase and the time of the last delivery.
func (t *tracker) counts(phase int) (expected, seen, delivered int, last time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.expected[phase], t.seen[phase], t.delivered[phase], t.last
}

// duplicates counts deliveries beyond the first of each id, and the distinct ids.
func (t *tracker) duplicates() (dups, distinct int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, n := range t.ids {
		dups += n - 1
	}
	return dups, len(t.ids)
}

// phaseStats summarises one phase.
type phaseStats struct {
	expected, seen, delivered int
	lastSeen, lastDelivered   time.Duration // relative to the phase start
	vsFloor                   []time.Duration
	sinceIssue                []time.Duration
	floorSinceIssue           []time.Duration
}

func (t *tracker) stats(phase int, start time.Time) phaseStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := phaseStats{expected: t.expected[phase], seen: t.seen[phase], delivered: t.delivered[phase]}
	for _, r := range t.want {
		if r.phase != phase {
			continue
		}
		if !r.seen.IsZero() {
			s.lastSeen = max(s.lastSeen, r.seen.Sub(start))
			s.floorSinceIssue = append(s.floorSinceIssue, r.seen.Sub(r.issued))
		}
		if !r.delivered.IsZero() {
			s.lastDelivered = max(s.lastDelivered, r.delivered.Sub(start))
			s.sinceIssue = append(s.sinceIssue, r.delivered.Sub(r.issued))
			if !r.seen.IsZero() {
				s.vsFloor = append(s.vsFloor, r.delivered.Sub(r.seen))
			}
		}
	}
	return s
}

// none is the percentile of no values. Durations may be negative: the floor shares the
// harness process with the creators and the receiver, so under load it can see a result after
// the operator has already delivered it.
const none = time.Duration(math.MinInt64)

// percentile returns the p-th percentile (0..100) of ds (nearest rank), or none when empty.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return none
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	i := int(p/100*float64(len(ds))+0.5) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}

// startReceiver serves the webhook endpoint on a free loopback port and returns its URL.
func startReceiver(t *tracker, latency time.Duration) (url string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("starting the receiver: %w", err)
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now() // arrival, before decoding, so the harness's own work is not counted
		d, err := harness.Decode(r.Body)
		if err != nil {
			t.mu.Lock()
			t.bad++
			t.mu.Unlock()
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if d.ID == "" { // a keepalive heartbeat, not a result
			t.mu.Lock()
			t.heartbeats++
			t.mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
			return
		}
		t.got(d.ID, d.Hash(), now)
		if latency > 0 {
			time.Sleep(latency)
		}
		w.WriteHeader(http.StatusNoContent)
	})}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String() + "/load", func() { _ = srv.Close() }, nil
}
