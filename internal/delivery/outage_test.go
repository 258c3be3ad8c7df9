package delivery

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/event"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/destination"
	"github.com/policyherald/policy-herald/internal/filter"
	"github.com/policyherald/policy-herald/internal/sender"
	"github.com/policyherald/policy-herald/internal/testing/wait"
)

// flakyHook is a webhook receiver on loopback that answers 503 while down.
type flakyHook struct {
	down     atomic.Bool
	requests atomic.Int64
	mu       sync.Mutex
	got      []string // the results delivered, by test name
}

func (h *flakyHook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.requests.Add(1)
	var doc sender.ResultDocument
	if r.Method != http.MethodPost || r.URL.Path != "/hook" || json.NewDecoder(r.Body).Decode(&doc) != nil {
		http.Error(w, "not a webhook document", http.StatusBadRequest)
		return
	}
	if h.down.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	h.mu.Lock()
	h.got = append(h.got, strings.TrimPrefix(doc.Message, "m "))
	h.mu.Unlock()
}

func (h *flakyHook) delivered() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.got)
}

// webhookTo returns the real webhook sender posting to srv.
func webhookTo(t *testing.T, srv *httptest.Server) sender.Sender {
	t.Helper()
	s, err := sender.New(context.Background(), sender.Config{
		Type: v1alpha1.DestinationWebhook, Settings: destination.Settings{"url": srv.URL + "/hook"}, Name: "team-a/nt1",
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// waitHealth waits for health events until the destination's health satisfies ok.
func waitHealth(t *testing.T, e *Engine, events <-chan event.GenericEvent, d Config, what string, ok func(Health) bool) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for !ok(e.Health(d.Ref())) {
		select {
		case <-events:
		case <-deadline:
			t.Fatalf("timed out waiting for %s: health %+v", what, e.Health(d.Ref()))
		}
	}
}

func failing(h Health) bool { return h.Failing }
func healthy(h Health) bool { return h.Running && !h.Failing && !h.Paused }

// Defect (issue 18, 10): an outage whose waiting results all went (dropped, or left the
// cluster) left nothing to probe with, so the destination stayed DeliveryFailing after it came
// back, until a new result happened to be sent. Every request a destination takes delivers
// something, so nothing can be probed without a result: an outage with nothing left waiting
// ends (a health event), and the next result is sent at once, as the probe.
func TestAnOutageWithNothingLeftWaitingEnds(t *testing.T) {
	for _, how := range []string{"left the cluster", "dropped"} {
		t.Run(how, func(t *testing.T) {
			e, _ := startEngine(t, newClient(), testOptions())
			events := e.HealthEvents("NotificationTarget")
			hook := &flakyHook{}
			srv := httptest.NewServer(hook)
			t.Cleanup(srv.Close)
			hook.down.Store(true)
			d := testConfig(t, webhookTo(t, srv), filter.Spec{}, "s")
			if how == "dropped" {
				d.DropAfter = 100 * time.Millisecond
			}
			e.Configure(d)
			p := e.pipelineOf(t, d)
			e.upsertReport(policyReport("team-a", "r", res("a", v1alpha1.StatusFail)))
			waitHealth(t, e, events, d, "the outage", failing)

			// The result that waited goes, nothing else waits, and the destination comes back.
			if how == "left the cluster" {
				e.upsertReport(policyReport("team-a", "r"))
			}
			wait.For(t, patience, "nothing waiting", func() bool {
				st := e.stats(t, d.Ref())
				return st.Pending == 0 && (how != "dropped" || st.Dropped == 1)
			})
			hook.down.Store(false)
			waitHealth(t, e, events, d, "the end of the outage", healthy)

			// The next result goes at once.
			e.upsertReport(policyReport("team-a", "r", res("b", v1alpha1.StatusFail)))
			settle(t, p)
			if got := hook.delivered(); !sameIDs(got, "b") {
				t.Errorf("delivered %v, want b", got)
			}
			if h := e.Health(d.Ref()); !healthy(h) {
				t.Errorf("health %+v", h)
			}
		})
	}
}

// The outage ended for lack of anything waiting, but the destination is still down: the next
// result costs one request (not the fast retries) to find out, waits, and is delivered by the
// probe once the destination is back.
func TestTheNextResultProbesAnOutageThatHadNothingWaiting(t *testing.T) {
	opts := testOptions()
	opts.SlowRetryInterval = 300 * time.Millisecond // no probe before the request is counted
	e, _ := startEngine(t, newClient(), opts)
	events := e.HealthEvents("NotificationTarget")
	hook := &flakyHook{}
	srv := httptest.NewServer(hook)
	t.Cleanup(srv.Close)
	hook.down.Store(true)
	d := testConfig(t, webhookTo(t, srv), filter.Spec{}, "s")
	e.Configure(d)
	p := e.pipelineOf(t, d)
	e.upsertReport(policyReport("team-a", "r", res("a", v1alpha1.StatusFail)))
	waitHealth(t, e, events, d, "the outage", failing)
	e.upsertReport(policyReport("team-a", "r"))
	waitHealth(t, e, events, d, "the end of the outage with nothing waiting", healthy)

	before := hook.requests.Load()
	e.upsertReport(policyReport("team-a", "r", res("b", v1alpha1.StatusFail)))
	waitHealth(t, e, events, d, "failing again", failing)
	if n := hook.requests.Load() - before; n != 1 {
		t.Errorf("%d requests to find the destination still down, want 1", n)
	}
	wait.For(t, patience, "b parked", func() bool { return len(p.parkedByReport()) == 1 })
	hook.down.Store(false)
	waitHealth(t, e, events, d, "recovery by the probe", healthy)
	settle(t, p)
	if got := hook.delivered(); !sameIDs(got, "b") {
		t.Errorf("delivered %v, want b", got)
	}
}

// flakyResolver delivers and resolves, failing both while down.
type flakyResolver struct {
	resolver
	down atomic.Bool
}

func (r *flakyResolver) Resolve(ctx context.Context, b sender.Batch) error {
	if r.down.Load() {
		return &sender.Error{Reason: "POST to x: 503 Service Unavailable", Retryable: true}
	}
	return r.resolver.Resolve(ctx, b)
}

// A resolution still retrying is something waiting: the outage does not end under it (it would
// flap between failing and not at every slow retry).
func TestAnOutageDoesNotEndWhileAResolutionRetries(t *testing.T) {
	opts := testOptions()
	opts.Retry.MaxAttempts = 1000 // the resolution keeps retrying through the test
	e, _ := startEngine(t, newClient(), opts)
	events := e.HealthEvents("NotificationTarget")
	rec := &flakyResolver{resolver: resolver{recorder: recorder{max: 10}}}
	d := testConfig(t, rec, filter.Spec{}, "s")
	e.Configure(d)
	p := e.pipelineOf(t, d)
	e.upsertReport(policyReport("team-a", "r", res("a", v1alpha1.StatusFail)))
	settle(t, p)
	rec.down.Store(true)
	e.upsertReport(policyReport("team-a", "r"))
	waitHealth(t, e, events, d, "the outage", failing)
	for end := time.Now().Add(20 * opts.SlowRetryInterval); time.Now().Before(end); time.Sleep(time.Millisecond) {
		if h := e.Health(d.Ref()); !h.Failing {
			t.Fatalf("health %+v while the resolution still fails", h)
		}
	}
	rec.down.Store(false)
	waitHealth(t, e, events, d, "recovery", healthy)
	if got := rec.resolvedIDs(); !sameIDs(got, "a") {
		t.Errorf("resolved %v", got)
	}
}
