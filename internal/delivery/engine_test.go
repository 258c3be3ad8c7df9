package delivery

import (
	"context"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/filter"
	"github.com/policyherald/policy-herald/internal/ledger"
	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/scheme"
	"github.com/policyherald/policy-herald/internal/sender"
	"github.com/policyherald/policy-herald/internal/store"
	"github.com/policyherald/policy-herald/internal/testing/wait"
)

// recorder is a Sender that records what it delivered. fail, when set, decides the outcome of
// each attempt; gate, when set, holds every Send until it is closed (or ctx ends).
type recorder struct {
	max int

	mu       sync.Mutex
	sent     []string // IDs, in delivery order
	attempts int
	fail     func(attempt int, b sender.Batch) error
	gate     chan struct{}
	entered  int // calls of Send, counted before the gate
}

func (r *recorder) MaxBatch() int { return r.max }

func (r *recorder) Send(ctx context.Context, b sender.Batch) error {
	r.mu.Lock()
	gate := r.gate
	r.entered++
	r.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempts++
	if r.fail != nil {
		if err := r.fail(r.attempts, b); err != nil {
			return err
		}
	}
	for i := range b.Results {
		r.sent = append(r.sent, nameOf(&b.Results[i]))
	}
	return nil
}

// nameOf returns the name a test result was made with (see res).
func nameOf(r *report.Result) string { return strings.TrimPrefix(r.Message, "m ") }

func (r *recorder) delivered() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.sent)
}

// inSend returns how many calls of Send began.
func (r *recorder) inSend() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.entered
}

func (r *recorder) hold() {
	r.mu.Lock()
	r.gate = make(chan struct{})
	r.mu.Unlock()
}

func (r *recorder) release() {
	r.mu.Lock()
	close(r.gate)
	r.gate = nil
	r.mu.Unlock()
}

func testOptions() Options {
	opts := DefaultOptions()
	opts.QueueResults = 100
	opts.SweepInterval, opts.FlushInterval, opts.StatusInterval = time.Hour, time.Hour, time.Hour
	opts.Retry = RetryPolicy{InitialInterval: time.Millisecond, MaxInterval: 5 * time.Millisecond, MaxAttempts: 3, MaxRetryAfter: 10 * time.Millisecond}
	opts.SlowRetryInterval, opts.ShutdownGrace = 20*time.Millisecond, time.Second
	return opts
}

func newClient() client.WithWatch {
	return fake.NewClientBuilder().WithScheme(scheme.New()).Build()
}

// startEngine returns a started engine over a store without informers (reports are put into
// the store directly). stop stops every pipeline, writing their ledgers, as a leader that
// steps down does.
func startEngine(t *testing.T, c client.Client, opts Options) (e *Engine, stop func()) {
	t.Helper()
	e = New(c, c, store.New(nil, nil, logr.Discard()), opts, logr.Discard())
	ctx, cancel := context.WithCancel(context.Background())
	go e.health.run(ctx, e.newObject)
	e.begin(ctx)
	var once sync.Once
	stop = func() { once.Do(func() { e.stopAll(); cancel() }) }
	t.Cleanup(stop)
	return e, stop
}

func testConfig(t *testing.T, snd sender.Sender, spec filter.Spec, scope string) Config {
	t.Helper()
	f, err := filter.Compile(spec)
	if err != nil {
		t.Fatal(err)
	}
	return Config{
		UID: "uid-1", Kind: "NotificationTarget", Namespace: "team-a", Name: "nt1",
		LedgerName: ledger.Name("nt", "nt1"),
		Owner:      metav1.OwnerReference{APIVersion: v1alpha1.GroupVersion.String(), Kind: "NotificationTarget", Name: "nt1", UID: "uid-1"},
		Sender:     snd, Filter: f, Scope: scope, Fingerprint: scope,
		Created: reportsCreated.Add(time.Hour),
	}
}

// res is a result named name (its key is a hash of the name) with the given status.
func res(name string, status v1alpha1.ResultStatus) report.Result {
	return report.Result{Hash: keyOf(name), Check: &report.Check{Policy: "p", Rule: "r", Status: status, Severity: v1alpha1.SeverityHigh}, Message: "m " + name}
}

func keyOf(name string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(name))
	return h.Sum64()
}

// upsertReport puts a report into the store, as its informer would.
func (e *Engine) upsertReport(rep *report.Report) { e.store.Put(rep) }

// stats returns the live delivery counts of destination k.
func (e *Engine) stats(t *testing.T, k ObjectRef) v1alpha1.DeliveryStatus {
	t.Helper()
	e.mu.RLock()
	p, ok := e.pipelines[k]
	e.mu.RUnlock()
	if !ok {
		t.Fatalf("no pipeline for %v", k)
	}
	return p.delivery()
}

// reportsCreated is when the reports of these tests were created: before their destinations.
var reportsCreated = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func policyReport(ns, name string, results ...report.Result) *report.Report {
	return &report.Report{Kind: "PolicyReport", Namespace: ns, Name: name, Created: reportsCreated, Results: results}
}

func (e *Engine) pipelineOf(t *testing.T, d Config) *pipeline {
	t.Helper()
	e.mu.RLock()
	defer e.mu.RUnlock()
	p, ok := e.pipelines[d.Ref()]
	if !ok {
		t.Fatalf("no pipeline for %v", d.Ref())
	}
	return p
}

// patience is how long a test waits for what it expects before it fails.
const patience = 10 * time.Second

// settle waits until the pipeline has looked at every dirty report and has nothing queued or
// in flight.
func settle(t *testing.T, p *pipeline) {
	t.Helper()
	wait.For(t, patience, "the pipeline to settle", p.settled)
}

func sameIDs(got []string, want ...string) bool {
	got, want = slices.Clone(got), slices.Clone(want)
	slices.Sort(got)
	slices.Sort(want)
	return slices.Equal(got, want)
}

func TestDeliversEachNewResultOnce(t *testing.T) {
	e, _ := startEngine(t, newClient(), testOptions())
	rec := &recorder{max: 1}
	d := testConfig(t, rec, filter.Spec{}, "s")
	d.SkipExisting = true
	e.Configure(d)
	p := e.pipelineOf(t, d)

	e.upsertReport(policyReport("team-a", "r", res("a", v1alpha1.StatusFail), res("b", v1alpha1.StatusWarn), res("pass", v1alpha1.StatusPass)))
	settle(t, p)
	if got := rec.delivered(); !sameIDs(got, "a", "b") {
		t.Fatalf("delivered %v, want a and b (pass is not sent by default)", got)
	}

	// The same report again, as a re-scan that finds nothing new: nothing more.
	e.upsertReport(policyReport("team-a", "r", res("a", v1alpha1.StatusFail), res("b", v1alpha1.StatusWarn), res("pass", v1alpha1.StatusPass)))
	settle(t, p)
	e.upsertReport(policyReport("team-a", "r", res("b", v1alpha1.StatusWarn), res("c", v1alpha1.StatusError)))
	settle(t, p)
	if got := rec.delivered(); !sameIDs(got, "a", "b", "c") {
		t.Fatalf("delivered %v, want a, b and c once each", got)
	}
	st := e.stats(t, d.Ref())
	if st.Sent != 3 || st.Failed != 0 || st.Pending != 0 || st.LastSuccessTime == nil {
		t.Errorf("stats = %+v", st)
	}
}

func TestOnlyVisibleReports(t *testing.T) {
	e, _ := startEngine(t, newClient(), testOptions())
	rec := &recorder{max: 10}
	d := testConfig(t, rec, filter.Spec{}, "s")
	e.Configure(d)
	p := e.pipelineOf(t, d)
	e.upsertReport(policyReport("team-b", "other", res("b", v1alpha1.StatusFail)))
	e.upsertReport(&report.Report{Kind: "ClusterPolicyReport", Name: "cluster", Created: reportsCreated, Results: []report.Result{res("c", v1alpha1.StatusFail)}})
	e.upsertReport(policyReport("team-a", "own", res("a", v1alpha1.StatusFail)))
	settle(t, p)
	if got := rec.delivered(); !sameIDs(got, "a") {
		t.Errorf("a tenant's destination delivered %v, want only its own namespace's a", got)
	}
}

func TestSkipExistingOnFirstStart(t *testing.T) {
	for _, skip := range []bool{true, false} {
		e, _ := startEngine(t, newClient(), testOptions())
		e.upsertReport(policyReport("team-a", "r", res("old", v1alpha1.StatusFail)))
		rec := &recorder{max: 1}
		d := testConfig(t, rec, filter.Spec{}, "s")
		d.SkipExisting = skip
		e.Configure(d)
		p := e.pipelineOf(t, d)
		settle(t, p)
		e.upsertReport(policyReport("team-a", "r", res("old", v1alpha1.StatusFail), res("new", v1alpha1.StatusFail)))
		settle(t, p)
		want := []string{"new"}
		if !skip {
			want = append(want, "old")
		}
		if got := rec.delivered(); !sameIDs(got, want...) {
			t.Errorf("skipExisting=%v: delivered %v, want %v", skip, got, want)
		}
	}
}

// On a first start, the results of reports created after the destination are new even though
// the operator only sees them now (it was down when they appeared).
func TestSkipExistingSendsReportsCreatedLater(t *testing.T) {
	e, _ := startEngine(t, newClient(), testOptions())
	rec := &recorder{max: 1}
	d := testConfig(t, rec, filter.Spec{}, "s")
	d.SkipExisting = true
	later := policyReport("team-a", "later", res("later", v1alpha1.StatusFail))
	later.Created = d.Created.Add(time.Minute)
	e.upsertReport(policyReport("team-a", "earlier", res("earlier", v1alpha1.StatusFail)))
	e.upsertReport(later)
	e.Configure(d)
	settle(t, e.pipelineOf(t, d))
	if got := rec.delivered(); !sameIDs(got, "later") {
		t.Errorf("delivered %v, want only the result of the report created after the destination", got)
	}
}

// A leader that steps down writes its ledger; the next one sends only what is new, including
// what appeared while none ran, and nothing twice.
func TestRestartResumesFromTheLedger(t *testing.T) {
	c := newClient()
	e1, stop1 := startEngine(t, c, testOptions())
	rec1 := &recorder{max: 1}
	d := testConfig(t, rec1, filter.Spec{}, "s")
	d.SkipExisting = true
	e1.Configure(d)
	e1.upsertReport(policyReport("team-a", "r", res("a", v1alpha1.StatusFail)))
	settle(t, e1.pipelineOf(t, d))
	stop1()
	if got := rec1.delivered(); !sameIDs(got, "a") {
		t.Fatalf("first leader delivered %v", got)
	}

	e2, _ := startEngine(t, c, testOptions())
	e2.upsertReport(policyReport("team-a", "r", res("a", v1alpha1.StatusFail), res("while-down", v1alpha1.StatusFail)))
	rec2 := &recorder{max: 1}
	d.Sender = rec2
	e2.Configure(d)
	settle(t, e2.pipelineOf(t, d))
	if got := rec2.delivered(); !sameIDs(got, "while-down") {
		t.Errorf("second leader delivered %v, want only the result that appeared while none ran", got)
	}
}

// A destination whose selection changes absorbs what newly comes into view when it skips
// existing results, and sends what is new from then on.
func TestScopeChangeRebaselines(t *testing.T) {
	e, _ := startEngine(t, newClient(), testOptions())
	rec := &recorder{max: 1}
	failOnly := filter.Spec{Filter: &v1alpha1.ResultFilter{Statuses: &v1alpha1.StatusList{Include: []v1alpha1.ResultStatus{v1alpha1.StatusFail}}}}
	d := testConfig(t, rec, failOnly, "fail-only")
	d.SkipExisting = true
	e.Configure(d)
	p := e.pipelineOf(t, d)
	e.upsertReport(policyReport("team-a", "r", res("f1", v1alpha1.StatusFail), res("w1", v1alpha1.StatusWarn)))
	settle(t, p)

	d2 := testConfig(t, rec, filter.Spec{}, "default")
	d2.SkipExisting = true
	e.Configure(d2)
	settle(t, p)
	e.upsertReport(policyReport("team-a", "r", res("f1", v1alpha1.StatusFail), res("w1", v1alpha1.StatusWarn), res("w2", v1alpha1.StatusWarn)))
	settle(t, p)
	if got := rec.delivered(); !sameIDs(got, "f1", "w2") {
		t.Errorf("delivered %v, want f1 and w2 (w1 existed when it came into view)", got)
	}
}

func TestInFlightResultsAreNotQueuedAgain(t *testing.T) {
	e, _ := startEngine(t, newClient(), testOptions())
	rec := &recorder{max: 1}
	rec.hold()
	d := testConfig(t, rec, filter.Spec{}, "s")
	e.Configure(d)
	p := e.pipelineOf(t, d)
	r := policyReport("team-a", "r", res("a", v1alpha1.StatusFail), res("b", v1alpha1.StatusFail), res("c", v1alpha1.StatusFail))
	e.upsertReport(r)
	e.upsertReport(r)
	e.sweep()
	wait.For(t, patience, "three pending", func() bool { return e.stats(t, d.Ref()).Pending == 3 })
	rec.release()
	settle(t, p)
	if got := rec.delivered(); !sameIDs(got, "a", "b", "c") {
		t.Errorf("delivered %v, want each once", got)
	}
}

// A burst far beyond the queue flows at the destination's pace: the scanner waits for room
// instead of leaving results to the next sweep (which never runs in this test).
func TestBurstBeyondTheQueueFlows(t *testing.T) {
	opts := testOptions()
	opts.QueueResults, opts.Workers = 1, 1
	e, _ := startEngine(t, newClient(), opts)
	rec := &recorder{max: 1}
	rec.hold()
	d := testConfig(t, rec, filter.Spec{}, "s")
	e.Configure(d)
	p := e.pipelineOf(t, d)
	ids := []string{"a", "b", "c", "d", "e"}
	var results []report.Result
	for _, id := range ids {
		results = append(results, res(id, v1alpha1.StatusFail))
	}
	e.upsertReport(policyReport("team-a", "r", results...))
	wait.For(t, patience, "the report's results to be pending", func() bool { return e.stats(t, d.Ref()).Pending == 5 })
	rec.release()
	settle(t, p)
	if got := rec.delivered(); !sameIDs(got, ids...) {
		t.Errorf("delivered %v, want each once", got)
	}
	if st := e.stats(t, d.Ref()); st.Pending != 0 || st.Sent != 5 {
		t.Errorf("stats = %+v", st)
	}
}

func TestRetriesAndGivingUp(t *testing.T) {
	e, _ := startEngine(t, newClient(), testOptions())
	rec := &recorder{max: 1, fail: func(attempt int, b sender.Batch) error {
		switch nameOf(&b.Results[0]) {
		case "flaky": // fails twice, then succeeds on the third and last attempt
			if attempt <= 2 {
				return &sender.Error{Reason: "503", Retryable: true}
			}
		case "rejected":
			return &sender.Error{Reason: "POST to x: 400 Bad Request", Retryable: false}
		}
		return nil
	}}
	d := testConfig(t, rec, filter.Spec{}, "s")
	e.Configure(d)
	p := e.pipelineOf(t, d)
	e.upsertReport(policyReport("team-a", "r1", res("flaky", v1alpha1.StatusFail)))
	settle(t, p)
	e.upsertReport(policyReport("team-a", "r2", res("rejected", v1alpha1.StatusFail)))
	settle(t, p)
	st := e.stats(t, d.Ref())
	if st.Sent != 1 || st.Failed != 1 {
		t.Errorf("sent %d, failed %d; want 1 and 1", st.Sent, st.Failed)
	}
	if st.LastFailureReason != "POST to x: 400 Bad Request" || st.ConsecutiveFailures != 1 {
		t.Errorf("failure = %q x%d", st.LastFailureReason, st.ConsecutiveFailures)
	}
	// A result given up on is recorded: it is not sent again.
	e.sweep()
	settle(t, p)
	if !p.recorded(keyOf("rejected")) {
		t.Error("the rejected result is not in the ledger")
	}
	rec.mu.Lock()
	attempts := rec.attempts
	rec.mu.Unlock()
	if attempts != 4 {
		t.Errorf("attempts = %d, want 4 (3 for flaky, 1 for rejected)", attempts)
	}
}

// A destination deleted and created again under the same name is a new destination: the old
// pipeline stops and the new one starts from an empty ledger.
func TestRecreatedDestinationStartsOver(t *testing.T) {
	c := newClient()
	e, _ := startEngine(t, c, testOptions())
	e.upsertReport(policyReport("team-a", "r", res("a", v1alpha1.StatusFail)))
	rec1 := &recorder{max: 1}
	d := testConfig(t, rec1, filter.Spec{}, "s")
	e.Configure(d)
	settle(t, e.pipelineOf(t, d))

	rec2 := &recorder{max: 1}
	d2 := d
	d2.UID, d2.Owner.UID, d2.Sender = types.UID("uid-2"), types.UID("uid-2"), rec2
	e.Configure(d2)
	p2 := e.pipelineOf(t, d2)
	settle(t, p2)
	if p2.config().UID != "uid-2" {
		t.Fatalf("the pipeline runs %s", p2.config().UID)
	}
	if got := rec2.delivered(); !sameIDs(got, "a") {
		t.Errorf("the new destination delivered %v, want a (it never handled it)", got)
	}
}

// Two results of one report with the same ID (a producer that writes a result twice, exactly
// alike) are one result: sent once.
func TestDuplicateResultsInOneReportAreSentOnce(t *testing.T) {
	e, _ := startEngine(t, newClient(), testOptions())
	rec := &recorder{max: 1}
	d := testConfig(t, rec, filter.Spec{}, "s")
	e.Configure(d)
	p := e.pipelineOf(t, d)
	e.upsertReport(policyReport("team-a", "r", res("same", v1alpha1.StatusFail), res("same", v1alpha1.StatusFail)))
	settle(t, p)
	if got := rec.delivered(); len(got) != 1 {
		t.Errorf("duplicates within one report must be sent once: delivered %v", got)
	}
}

// keepaliveSender is a Sender with background work, like the webhook's keepalive.
type keepaliveSender struct {
	recorder
	mu      sync.Mutex
	running bool
}

func (k *keepaliveSender) Run(ctx context.Context) {
	k.mu.Lock()
	k.running = true
	k.mu.Unlock()
	<-ctx.Done()
	k.mu.Lock()
	k.running = false
	k.mu.Unlock()
}

func (k *keepaliveSender) isRunning() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.running
}

// When a destination's sender is replaced (a changed URL, a rotated Secret), the heartbeats of
// the old one must stop and those of the new one start.
func TestReplacedSenderRunsInsteadOfTheOld(t *testing.T) {
	e, _ := startEngine(t, newClient(), testOptions())
	old := &keepaliveSender{recorder: recorder{max: 1}}
	d := testConfig(t, old, filter.Spec{}, "s")
	e.Configure(d)
	wait.For(t, patience, "the first sender to run", old.isRunning)

	replacement := &keepaliveSender{recorder: recorder{max: 1}}
	d.Sender, d.Fingerprint = replacement, "changed"
	e.Configure(d)
	wait.Until(2*time.Second, func() bool { return !old.isRunning() && replacement.isRunning() })
	if old.isRunning() || !replacement.isRunning() {
		t.Errorf("a replaced sender must stop the old Runner and start the new one (old running: %v, new running: %v)",
			old.isRunning(), replacement.isRunning())
	}
}
