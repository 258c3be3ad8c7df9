package main

import (
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/policyherald/policy-herald/internal/testing/harness"
)

// Receiver behaviours a scenario switches between while it runs.
const (
	modeOK       = iota // 204 to every result
	modeDown            // 503 to every request: the destination is in an outage
	modeThrottle        // 429 with Retry-After: 1 to every other request
)

// receiver is a loopback webhook destination that counts what it accepted: only a 2xx answer
// is a delivery, so a result refused during an outage is not counted until it comes back.
type receiver struct {
	url     string
	srv     *http.Server
	mode    atomic.Int32
	latency atomic.Int64 // nanoseconds each accepted request takes to answer
	flip    atomic.Int64 // request counter for modeThrottle

	mu       sync.Mutex
	want     map[uint64]bool // expected results, by harness key
	got      map[uint64]int  // accepted deliveries per harness key
	ids      map[string]int  // accepted deliveries per operator id
	refused  int             // requests answered 503 or 429
	stray    int             // accepted documents of no expected result
	bad      int             // requests that were not a JSON document
	last     time.Time       // last accepted delivery of an expected result
	accepted int
}

func startReceiver(latency time.Duration) (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("starting the receiver: %w", err)
	}
	r := &receiver{want: map[uint64]bool{}, got: map[uint64]int{}, ids: map[string]int{}}
	r.latency.Store(int64(latency))
	r.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(r.serve)}
	go func() { _ = r.srv.Serve(ln) }()
	r.url = "http://" + ln.Addr().String() + "/faults"
	return r, nil
}

func (r *receiver) close() { _ = r.srv.Close() }

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	switch r.mode.Load() {
	case modeDown:
		r.refuse(w, http.StatusServiceUnavailable)
		return
	case modeThrottle:
		if r.flip.Add(1)%2 == 0 {
			w.Header().Set("Retry-After", "1")
			r.refuse(w, http.StatusTooManyRequests)
			return
		}
	}
	d, err := harness.Decode(req.Body)
	if err != nil {
		r.mu.Lock()
		r.bad++
		r.mu.Unlock()
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if d.ID == "" { // a keepalive heartbeat, not a result
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if l := time.Duration(r.latency.Load()); l > 0 {
		time.Sleep(l)
	}
	// Counted when the answer is about to go: a sender killed before it reads the answer may
	// send the result again, and that is a duplicate the destination really sees.
	k := d.Hash()
	r.mu.Lock()
	r.accepted++
	r.ids[d.ID]++
	if r.want[k] {
		r.got[k]++
		r.last = time.Now()
	} else {
		r.stray++
	}
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) refuse(w http.ResponseWriter, code int) {
	r.mu.Lock()
	r.refused++
	r.mu.Unlock()
	http.Error(w, http.StatusText(code), code)
}

// expect registers results before the call that creates them, so no delivery can be early.
func (r *receiver) expect(keys []uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range keys {
		r.want[k] = true
	}
}

// tally is what the receiver has seen so far.
type tally struct {
	expected, delivered, dups, refused, stray, accepted int
	last                                                time.Time
}

func (r *receiver) tally() tally {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := tally{expected: len(r.want), delivered: len(r.got), refused: r.refused, stray: r.stray, accepted: r.accepted, last: r.last}
	for _, n := range r.ids {
		t.dups += n - 1
	}
	return t
}
