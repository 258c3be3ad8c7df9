package delivery

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/event"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	wgpolicyv1alpha2 "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
	"github.com/policyherald/policy-herald/internal/filter"
	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/sender"
	"github.com/policyherald/policy-herald/internal/testing/wait"
)

// kubeBench is the ClusterPolicyReport kube-bench writes for one node: the same resource-less
// findings for every node.
func kubeBench(node string) *report.Report {
	r := report.FromClusterPolicyReport(&wgpolicyv1alpha2.ClusterPolicyReport{
		ObjectMeta: metav1.ObjectMeta{Name: node},
		Results: []wgpolicyv1alpha2.PolicyReportResult{{
			Policy: "CIS 1.1.1", Result: "fail", Source: "kube-bench", Message: "Ensure that the API server pod specification file permissions are set to 644",
		}},
	})
	r.Created = reportsCreated
	return r
}

// Defect: identical findings in different reports were delivered once.
func TestIdenticalFindingsInDifferentReportsAreEachDelivered(t *testing.T) {
	e, _ := startEngine(t, newClient(), testOptions())
	rec := &recorder{max: 1}
	d := testConfig(t, rec, filter.Spec{}, "s")
	d.AllNamespaces = true
	e.Configure(d)
	p := e.pipelineOf(t, d)
	e.upsertReport(kubeBench("node-a"))
	e.upsertReport(kubeBench("node-b"))
	pod := func(ns string) *report.Report {
		r := report.FromPolicyReport(&wgpolicyv1alpha2.PolicyReport{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "polr"},
			Results: []wgpolicyv1alpha2.PolicyReportResult{{
				Policy: "require-labels", Result: "fail", Message: "label app is required",
				Resources: []corev1.ObjectReference{{APIVersion: "v1", Kind: "Pod", Namespace: ns, Name: "web"}},
			}},
		})
		r.Created = reportsCreated
		return r
	}
	e.upsertReport(pod("ns1"))
	e.upsertReport(pod("ns2"))
	settle(t, p)
	if got := len(rec.delivered()); got != 4 {
		t.Errorf("delivered %d results, want 4: node-a, node-b, ns1/web and ns2/web", got)
	}
}

// Defect: status.delivery.sent undercounted after a hard crash. Counts are written with the
// ledger, so a restart takes them from there, not from a status snapshot.
func TestCountsFollowTheLedger(t *testing.T) {
	c := newClient()
	e1, stop1 := startEngine(t, c, testOptions())
	d := testConfig(t, &recorder{max: 1}, filter.Spec{}, "s")
	e1.Configure(d)
	e1.upsertReport(policyReport("team-a", "r", res("a", v1alpha1.StatusFail), res("b", v1alpha1.StatusFail)))
	settle(t, e1.pipelineOf(t, d))
	stop1()

	e2, _ := startEngine(t, c, testOptions())
	d.Sender = &recorder{max: 1}
	d.Delivery = &v1alpha1.DeliveryStatus{Sent: 1} // a status written before the last delivery
	e2.Configure(d)
	if st := e2.stats(t, d.Ref()); st.Sent != 2 {
		t.Errorf("sent = %d after a restart, want 2 from the ledger", st.Sent)
	}
}

// resolver records sends and resolutions.
type resolver struct {
	recorder
	mu       sync.Mutex
	resolved []string
}

func (r *resolver) Resolve(_ context.Context, b sender.Batch) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range b.Results {
		r.resolved = append(r.resolved, nameOf(&b.Results[i]))
	}
	return nil
}

func (r *resolver) resolvedIDs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.resolved...)
}

// A destination that resolves is told when a result it delivered leaves its report (or the
// report goes away), once each.
func TestDeliveredResultsThatLeaveAreResolved(t *testing.T) {
	e, _ := startEngine(t, newClient(), testOptions())
	rec := &resolver{recorder: recorder{max: 10}}
	d := testConfig(t, rec, filter.Spec{}, "s")
	e.Configure(d)
	p := e.pipelineOf(t, d)
	e.upsertReport(policyReport("team-a", "r", res("a", v1alpha1.StatusFail), res("b", v1alpha1.StatusFail)))
	settle(t, p)
	e.upsertReport(policyReport("team-a", "r", res("b", v1alpha1.StatusFail), res("a-passes", v1alpha1.StatusPass)))
	wait.For(t, patience, "a to be resolved", func() bool { return len(rec.resolvedIDs()) == 1 })
	e.sweep()
	settle(t, p)
	e.store.Delete(policyReport("team-a", "r").Key())
	wait.For(t, patience, "b to be resolved", func() bool { return len(rec.resolvedIDs()) == 2 })
	e.sweep()
	settle(t, p)
	if got := rec.resolvedIDs(); !sameIDs(got, "a", "b") {
		t.Errorf("resolved %v, want a and b once each", got)
	}
	if got := rec.delivered(); !sameIDs(got, "a", "b") {
		t.Errorf("delivered %v", got)
	}
}

// A burst of many reports flows through a small queue without any sweep.
func TestBurstOfManyReportsFlows(t *testing.T) {
	opts := testOptions()
	opts.QueueResults = 10
	e, _ := startEngine(t, newClient(), opts)
	rec := &recorder{max: 1}
	d := testConfig(t, rec, filter.Spec{}, "s")
	e.Configure(d)
	p := e.pipelineOf(t, d)
	for i := range 100 {
		var rs []report.Result
		for j := range 50 {
			rs = append(rs, res(strconv.Itoa(i)+"-"+strconv.Itoa(j), v1alpha1.StatusFail))
		}
		e.upsertReport(policyReport("team-a", "r"+strconv.Itoa(i), rs...))
	}
	settle(t, p)
	if got := len(rec.delivered()); got != 5000 {
		t.Errorf("delivered %d, want 5000", got)
	}
	if st := e.stats(t, d.Ref()); st.Sent != 5000 || st.Pending != 0 {
		t.Errorf("stats = %+v", st)
	}
}

// A pipeline that cannot start says why in its health, and the controllers are told.
func TestStartErrorIsReported(t *testing.T) {
	broken := interceptor.NewClient(newClient(), interceptor.Funcs{
		Get: func(context.Context, client.WithWatch, client.ObjectKey, client.Object, ...client.GetOption) error {
			return apierrors.NewForbidden(schema.GroupResource{Resource: "configmaps"}, "ledger", errors.New("RBAC says no"))
		},
	})
	e, _ := startEngine(t, broken, testOptions())
	events := e.HealthEvents("NotificationTarget")
	d := testConfig(t, &recorder{max: 1}, filter.Spec{}, "s")
	e.Configure(d)
	h := e.Health(d.Ref())
	if h.Running || h.StartError == nil || !strings.Contains(h.StartError.Error(), "forbidden") {
		t.Errorf("health = %+v, want the ledger's error", h)
	}
	expectHealthEvent(t, events, d)
}

func expectHealthEvent(t *testing.T, events <-chan event.GenericEvent, d Config) {
	t.Helper()
	select {
	case ev := <-events:
		if ev.Object.GetName() != d.Name || ev.Object.GetNamespace() != d.Namespace {
			t.Errorf("event for %s/%s", ev.Object.GetNamespace(), ev.Object.GetName())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no health event")
	}
}

// Delivery health changes reach the controllers as events: failing after FailingAfter
// attempts, and recovered after a success. While the destination is down its results are
// parked, not given up on; once a probe gets through, they are delivered.
func TestFailingAndRecoveryAreEvents(t *testing.T) {
	e, _ := startEngine(t, newClient(), testOptions())
	events := e.HealthEvents("NotificationTarget")
	var mu sync.Mutex
	down := true
	rec := &recorder{max: 1, fail: func(int, sender.Batch) error {
		mu.Lock()
		defer mu.Unlock()
		if down {
			return &sender.Error{Reason: "POST to x: 503 Service Unavailable", Retryable: true}
		}
		return nil
	}}
	d := testConfig(t, rec, filter.Spec{}, "s")
	e.Configure(d)
	expectHealthEvent(t, events, d) // started
	p := e.pipelineOf(t, d)
	e.upsertReport(policyReport("team-a", "r", res("a", v1alpha1.StatusFail)))
	expectHealthEvent(t, events, d)
	if h := e.Health(d.Ref()); !h.Failing || h.LastFailureReason != "POST to x: 503 Service Unavailable" {
		t.Errorf("health = %+v, want failing", h)
	}
	e.upsertReport(policyReport("team-a", "r", res("a", v1alpha1.StatusFail), res("b", v1alpha1.StatusFail)))
	wait.For(t, patience, "a and b parked", func() bool { return e.stats(t, d.Ref()).Pending == 2 })
	mu.Lock()
	down = false
	mu.Unlock()
	expectHealthEvent(t, events, d)
	settle(t, p)
	if h := e.Health(d.Ref()); h.Failing {
		t.Errorf("health = %+v, want recovered", h)
	}
	if got := rec.delivered(); !sameIDs(got, "a", "b") {
		t.Errorf("delivered %v, want a and b after the outage", got)
	}
	if st := e.stats(t, d.Ref()); st.Sent != 2 || st.Failed != 0 || st.Dropped != 0 {
		t.Errorf("stats = %+v", st)
	}
}

// refresher is a resolver that is told its open results again.
type refresher struct {
	resolver
	refreshed chan []string // the results of each Refresh call
}

func (r *refresher) RefreshInterval() time.Duration { return 50 * time.Millisecond }

func (r *refresher) Refresh(_ context.Context, b sender.Batch) error {
	var names []string
	for i := range b.Results {
		names = append(names, nameOf(&b.Results[i]))
	}
	r.refreshed <- names
	return nil
}

// A sender.Refresher is told every delivered result that is still open again, every interval,
// and no longer once it is resolved; refreshes count as no delivery.
func TestOpenResultsAreRefreshed(t *testing.T) {
	e, _ := startEngine(t, newClient(), testOptions())
	rec := &refresher{resolver: resolver{recorder: recorder{max: 10}}, refreshed: make(chan []string, 100)}
	d := testConfig(t, rec, filter.Spec{}, "s")
	e.Configure(d)
	p := e.pipelineOf(t, d)
	e.upsertReport(policyReport("team-a", "r", res("a", v1alpha1.StatusFail), res("b", v1alpha1.StatusFail)))
	settle(t, p)
	next := func(want ...string) {
		t.Helper()
		deadline := time.After(5 * time.Second)
		for {
			select {
			case got := <-rec.refreshed:
				if sameIDs(got, want...) {
					return
				}
			case <-deadline:
				t.Fatalf("no refresh of exactly %v", want)
			}
		}
	}
	next("a", "b")
	e.upsertReport(policyReport("team-a", "r", res("b", v1alpha1.StatusFail)))
	wait.For(t, patience, "a to be resolved", func() bool { return len(rec.resolvedIDs()) == 1 })
	next("b")
	next("b")
	if st := e.stats(t, d.Ref()); st.Sent != 2 {
		t.Errorf("sent = %d, want 2: refreshes are not deliveries", st.Sent)
	}
}
