package delivery

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/filter"
	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/sender"
	"github.com/policyherald/policy-herald/internal/store"
	"github.com/policyherald/policy-herald/internal/testing/wait"
)

// switchable fails every attempt with a retryable error while down.
type switchable struct {
	recorder
	down     atomic.Bool
	attempts atomic.Int64
}

func newSwitchable(max int) *switchable {
	s := &switchable{recorder: recorder{max: max}}
	s.fail = func(int, sender.Batch) error {
		s.attempts.Add(1)
		if s.down.Load() {
			return &sender.Error{Reason: "dial tcp: connection refused", Retryable: true}
		}
		return nil
	}
	return s
}

func manyReports(e *Engine, reports, results int) []string {
	var names []string
	for i := range reports {
		var rs []report.Result
		for j := range results {
			n := "r" + strconv.Itoa(i) + "-" + strconv.Itoa(j)
			rs = append(rs, res(n, v1alpha1.StatusFail))
			names = append(names, n)
		}
		e.upsertReport(policyReport("team-a", "rep"+strconv.Itoa(i), rs...))
	}
	return names
}

// Defect: a batch that exhausted its retries was recorded as handled, so an outage longer than
// the retry budget lost results. Now results wait for the destination, and while it is down
// each batch costs no attempts of its own: one probe per slow retry finds out.
func TestOutageLongerThanTheRetriesLosesNothing(t *testing.T) {
	e, _ := startEngine(t, newClient(), testOptions())
	snd := newSwitchable(1)
	snd.down.Store(true)
	d := testConfig(t, snd, filter.Spec{}, "s")
	e.Configure(d)
	p := e.pipelineOf(t, d)
	names := manyReports(e, 10, 10)
	wait.For(t, patience, "every result parked", func() bool { return e.stats(t, d.Ref()).Pending == 100 && len(p.parkedByReport()) == 10 })
	// Ten slow retries, each a probe of one attempt, while every batch waits.
	probed := snd.attempts.Load() + 10
	wait.For(t, patience, "ten probes", func() bool { return snd.attempts.Load() >= probed })
	if n := snd.attempts.Load(); n > 30 {
		t.Errorf("%d attempts while the destination was down: batches must wait for a probe, not retry each", n)
	}
	if st := e.stats(t, d.Ref()); st.Failed != 0 || st.Dropped != 0 || st.Sent != 0 {
		t.Errorf("stats during the outage = %+v", st)
	}
	snd.down.Store(false)
	settle(t, p)
	if got := snd.delivered(); !sameIDs(got, names...) {
		t.Errorf("delivered %d results, want each of the 100 once", len(got))
	}
	if st := e.stats(t, d.Ref()); st.Sent != 100 || st.Pending != 0 {
		t.Errorf("stats = %+v", st)
	}
}

// A result that cannot be delivered within dropAfter is dropped: counted, recorded so it is
// not sent later, and the rest goes on.
func TestUndeliverableResultsAreDroppedAfterDropAfter(t *testing.T) {
	e, _ := startEngine(t, newClient(), testOptions())
	snd := newSwitchable(1)
	snd.down.Store(true)
	d := testConfig(t, snd, filter.Spec{}, "s")
	d.DropAfter = 100 * time.Millisecond
	e.Configure(d)
	p := e.pipelineOf(t, d)
	e.upsertReport(policyReport("team-a", "r", res("a", v1alpha1.StatusFail), res("b", v1alpha1.StatusFail)))
	wait.For(t, patience, "both dropped", func() bool { return e.stats(t, d.Ref()).Dropped == 2 })
	snd.down.Store(false)
	e.upsertReport(policyReport("team-a", "r", res("a", v1alpha1.StatusFail), res("b", v1alpha1.StatusFail), res("c", v1alpha1.StatusFail)))
	settle(t, p)
	if got := snd.delivered(); !sameIDs(got, "c") {
		t.Errorf("delivered %v, want only c: dropped results are not sent later", got)
	}
	if !p.recorded(keyOf("a")) || !p.recorded(keyOf("b")) {
		t.Error("dropped results are not in the ledger")
	}
	if c := p.recordedCounts(); c.Dropped != 2 {
		t.Errorf("ledger counts = %+v", c)
	}
}

// A throttling destination (429 with Retry-After) is alive: its batches keep their own
// retries and are not parked behind a probe.
func TestThrottlingDoesNotPark(t *testing.T) {
	e, _ := startEngine(t, newClient(), testOptions())
	var mu sync.Mutex
	throttled := map[string]int{}
	rec := &recorder{max: 1, fail: func(_ int, b sender.Batch) error {
		mu.Lock()
		defer mu.Unlock()
		n := nameOf(&b.Results[0])
		if throttled[n] < 2 {
			throttled[n]++
			return &sender.Error{Reason: "429 Too Many Requests", Retryable: true, RetryAfter: time.Millisecond}
		}
		return nil
	}}
	d := testConfig(t, rec, filter.Spec{}, "s")
	e.Configure(d)
	p := e.pipelineOf(t, d)
	names := manyReports(e, 5, 4)
	settle(t, p)
	if got := rec.delivered(); !sameIDs(got, names...) {
		t.Errorf("delivered %v", got)
	}
	if n := len(p.parkedByReport()); n != 0 {
		t.Errorf("%d reports parked behind a throttling destination", n)
	}
}

// Defect: deliveries went unrecorded while the API server was unreachable, and a restart sent
// them again. Sending pauses once the ledger could not be written for PauseAfter, and goes on
// when it can be written again.
func TestSendingPausesWhileTheLedgerCannotBeWritten(t *testing.T) {
	var apiDown atomic.Bool
	c := interceptor.NewClient(newClient(), interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.CreateOption) error {
			if _, ok := o.(*corev1.ConfigMap); ok && apiDown.Load() {
				return errors.New("connection refused")
			}
			return c.Create(ctx, o, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.UpdateOption) error {
			if _, ok := o.(*corev1.ConfigMap); ok && apiDown.Load() {
				return errors.New("connection refused")
			}
			return c.Update(ctx, o, opts...)
		},
	})
	opts := testOptions()
	opts.FlushInterval, opts.PauseAfter = 10*time.Millisecond, 50*time.Millisecond
	e, _ := startEngine(t, c, opts)
	rec := &recorder{max: 1}
	d := testConfig(t, rec, filter.Spec{}, "s")
	e.Configure(d)
	p := e.pipelineOf(t, d)
	e.upsertReport(policyReport("team-a", "r", res("before", v1alpha1.StatusFail)))
	settle(t, p)

	apiDown.Store(true)
	e.upsertReport(policyReport("team-a", "r", res("before", v1alpha1.StatusFail), res("during", v1alpha1.StatusFail)))
	wait.For(t, patience, "during to be sent (the pause begins only after PauseAfter)", func() bool { return len(rec.delivered()) == 2 })
	wait.For(t, patience, "the pause", p.paused)
	if h := e.Health(d.Ref()); !h.Paused {
		t.Errorf("health = %+v, want paused", h)
	}
	e.upsertReport(policyReport("team-a", "r", res("before", v1alpha1.StatusFail), res("during", v1alpha1.StatusFail), res("paused", v1alpha1.StatusFail)))
	wait.For(t, patience, "the send of paused to wait for the ledger", p.holding)
	if got := rec.delivered(); len(got) != 2 {
		t.Fatalf("delivered %v while the ledger could not be written", got)
	}
	apiDown.Store(false)
	settle(t, p)
	if got := rec.delivered(); !sameIDs(got, "before", "during", "paused") {
		t.Errorf("delivered %v", got)
	}
}

// Defect: a graceful handover repeated the requests in flight. A request in flight when
// delivery stops may finish and is recorded, so the next leader does not send it again.
func TestGracefulStopRecordsTheRequestsInFlight(t *testing.T) {
	c := newClient()
	e1, stop1 := startEngine(t, c, testOptions())
	rec := &recorder{max: 1}
	rec.hold()
	d := testConfig(t, rec, filter.Spec{}, "s")
	e1.Configure(d)
	e1.upsertReport(policyReport("team-a", "r", res("in-flight", v1alpha1.StatusFail)))
	wait.For(t, patience, "the request to be in flight", func() bool { return rec.inSend() == 1 })
	p1 := e1.pipelineOf(t, d)
	go func() {
		if wait.Until(patience, p1.stopping) {
			rec.release()
		}
	}()
	stop1()
	if got := rec.delivered(); !sameIDs(got, "in-flight") {
		t.Fatalf("delivered %v", got)
	}

	e2, _ := startEngine(t, c, testOptions())
	rec2 := &recorder{max: 1}
	d.Sender = rec2
	e2.upsertReport(policyReport("team-a", "r", res("in-flight", v1alpha1.StatusFail)))
	e2.Configure(d)
	settle(t, e2.pipelineOf(t, d))
	if got := rec2.delivered(); len(got) != 0 {
		t.Errorf("the next leader sent %v again", got)
	}
}

// The log line of results given up on names them (IDs and report), so an operator can find
// what was not delivered.
func TestRefusedResultsAreNamedInTheLog(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	log := funcr.New(func(prefix, args string) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, args)
	}, funcr.Options{})
	c := newClient()
	e := New(c, c, store.New(nil, nil, logr.Discard()), testOptions(), log)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { e.stopAll(); cancel() })
	e.begin(ctx)
	rec := &recorder{max: 1, fail: func(int, sender.Batch) error {
		return &sender.Error{Reason: "POST to x: 400 Bad Request", Retryable: false}
	}}
	d := testConfig(t, rec, filter.Spec{}, "s")
	e.Configure(d)
	e.upsertReport(policyReport("team-a", "r", res("refused", v1alpha1.StatusFail)))
	settle(t, e.pipelineOf(t, d))
	want := report.IDOf(keyOf("refused"))
	mu.Lock()
	defer mu.Unlock()
	for _, l := range lines {
		if strings.Contains(l, "refused results for good") && strings.Contains(l, want) && strings.Contains(l, "PolicyReport/team-a/r") {
			return
		}
	}
	t.Errorf("no log line names the refused result %s of PolicyReport/team-a/r: %q", want, lines)
}

// A destination that comes back refusing the results (a 4xx no retry fixes) is up: the
// results are refused for good (failed), not parked until they are dropped.
func TestARefusalAfterAnOutageIsAFailureNotAWait(t *testing.T) {
	e, _ := startEngine(t, newClient(), testOptions())
	var attempts atomic.Int64
	rec := &recorder{max: 2, fail: func(int, sender.Batch) error {
		if attempts.Add(1) <= 3 {
			return &sender.Error{Reason: "503 Service Unavailable", Retryable: true}
		}
		return &sender.Error{Reason: "400 Bad Request", Retryable: false}
	}}
	d := testConfig(t, rec, filter.Spec{}, "s")
	e.Configure(d)
	p := e.pipelineOf(t, d)
	e.upsertReport(policyReport("team-a", "r", res("a", v1alpha1.StatusFail), res("b", v1alpha1.StatusFail)))
	wait.For(t, patience, "both refused", func() bool { return e.stats(t, d.Ref()).Failed == 2 })
	settle(t, p)
	if st := e.stats(t, d.Ref()); st.Dropped != 0 || st.Pending != 0 {
		t.Errorf("stats = %+v", st)
	}
}
