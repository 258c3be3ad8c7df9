package delivery

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	wgpolicyv1alpha2 "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
	"github.com/policyherald/policy-herald/internal/destination"
	"github.com/policyherald/policy-herald/internal/filter"
	"github.com/policyherald/policy-herald/internal/ledger"
	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/scheme"
	"github.com/policyherald/policy-herald/internal/sender"
	"github.com/policyherald/policy-herald/internal/store"
)

// resultsPerReport is how many new results every iteration of the benchmarks brings.
const resultsPerReport = 100

// sink counts delivered results and wakes the benchmark when the count reaches target.
type sink struct {
	n, target atomic.Int64
	messages  atomic.Int64 // requests (BenchmarkNotifyCPU)
	bad       atomic.Int64
	reached   chan struct{}
}

func newSink() *sink { return &sink{reached: make(chan struct{}, 1)} }

func (s *sink) add(n int64) {
	if s.n.Add(n) == s.target.Load() {
		s.reached <- struct{}{}
	}
}

// wait blocks until target results were counted.
func (s *sink) wait(b *testing.B) {
	select {
	case <-s.reached:
	case <-time.After(time.Minute):
		b.Fatalf("delivered %d results, want %d (%d malformed)", s.n.Load(), s.target.Load(), s.bad.Load())
	}
}

// receiver is a webhook endpoint that decodes every document as a real receiver would and counts
// it. It runs in the benchmark's process, so its work (and its allocations) are in the numbers.
func (s *sink) receiver() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var doc sender.ResultDocument
		if err := json.NewDecoder(r.Body).Decode(&doc); err != nil || doc.ID == "" || doc.Status != v1alpha1.StatusFail {
			s.bad.Add(1)
			http.Error(w, "bad document", http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusOK)
		s.add(1)
	})
}

// nopSender delivers nothing: it counts and returns at once, to measure everything but HTTP.
type nopSender struct {
	s   *sink
	max int
}

func (n *nopSender) Send(_ context.Context, b sender.Batch) error {
	n.s.add(int64(len(b.Results)))
	return nil
}

func (n *nopSender) MaxBatch() int { return n.max }

// benchEngine starts an engine with one destination sending through snd, without Start: no
// informers, no cache; reports are handed to the informer handler directly. Ledger and status
// writes are an hour apart, so none happen while the benchmark runs.
func benchEngine(b *testing.B, workers int, snd sender.Sender) *Engine {
	b.Helper()
	return benchEngineWith(b, workers, snd, time.Now, func(*Config) {})
}

// benchEngineWith is benchEngine with a pipeline clock and a change of the destination's
// configuration.
func benchEngineWith(b *testing.B, workers int, snd sender.Sender, now func() time.Time, configure func(*Config)) *Engine {
	b.Helper()
	c := fake.NewClientBuilder().WithScheme(scheme.New()).Build()
	opts := DefaultOptions()
	opts.QueueResults = 1 << 16
	opts.Workers = workers
	opts.SweepInterval, opts.FlushInterval, opts.StatusInterval = time.Hour, time.Hour, time.Hour
	opts.Retry = RetryPolicy{InitialInterval: 10 * time.Millisecond, MaxInterval: 100 * time.Millisecond, MaxAttempts: 3, MaxRetryAfter: time.Second}
	e := New(c, c, store.New(nil, nil, logr.Discard()), opts, logr.Discard())
	e.now = now
	ctx, cancel := context.WithCancel(context.Background())
	e.begin(ctx)

	f, err := filter.Compile(filter.Spec{})
	if err != nil {
		b.Fatal(err)
	}
	d := Config{
		UID: "bench-uid", Kind: "NotificationTarget", Namespace: "team-a", Name: "bench",
		LedgerName: ledger.Name("nt", "bench"),
		Owner: metav1.OwnerReference{
			APIVersion: v1alpha1.GroupVersion.String(), Kind: "NotificationTarget", Name: "bench", UID: "bench-uid",
		},
		Sender: snd, Filter: f, Scope: "bench", Fingerprint: "bench",
	}
	configure(&d)
	e.Configure(d)
	if !e.Health(d.Ref()).Running {
		b.Fatal("the destination did not start")
	}
	b.Cleanup(func() {
		e.Remove(d.Ref())
		cancel()
	})
	return e
}

// benchReport is a PolicyReport of team-a with resultsPerReport fail results about one pod.
// Changing the pod's name (the report's scope) gives every result a new ID, as a re-scan that
// finds new problems would, without allocating anything but that name.
func benchReport() *wgpolicyv1alpha2.PolicyReport {
	pr := &wgpolicyv1alpha2.PolicyReport{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "pod-report", Labels: map[string]string{"app.kubernetes.io/managed-by": "kyverno"}},
		Scope:      &corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: "team-a", UID: "6b3c2a44-8d9e-4f6a-9a0b-1c2d3e4f5a6b"},
		Results:    make([]wgpolicyv1alpha2.PolicyReportResult, resultsPerReport),
	}
	for i := range pr.Results {
		pr.Results[i] = wgpolicyv1alpha2.PolicyReportResult{
			Source: "kyverno", Policy: "require-labels", Rule: "check-label-" + strconv.Itoa(i), Category: "Best Practices",
			Severity: "high", Result: "fail", Scored: true, Timestamp: metav1.Timestamp{Seconds: 1_760_000_000},
			Message: "validation error: the label app.kubernetes.io/name is required (rule " + strconv.Itoa(i) + ")",
		}
	}
	return pr
}

// runReportToDelivery converts a report with resultsPerReport new results and puts it into the
// store, as its informer would (conversion, IDs, filter, ledger and in-flight checks,
// queueing), and waits until the sink counted all of them, b.N times.
func runReportToDelivery(b *testing.B, e *Engine, s *sink) {
	pr := benchReport()
	upsert := func(pr *wgpolicyv1alpha2.PolicyReport) { e.store.Put(report.FromPolicyReport(pr)) }
	names := make([]string, b.N) // made before the timer: only the engine's allocations count
	for i := range names {
		names[i] = "pod-" + strconv.Itoa(i)
	}
	// One round outside the measurement: connections, worker goroutines and maps warmed up.
	pr.Scope.Name = "warm-up"
	s.target.Store(s.n.Load() + resultsPerReport)
	upsert(pr)
	s.wait(b)

	start := s.n.Load()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for i := range b.N {
		pr.Scope.Name = names[i]
		s.target.Store(start + int64(i+1)*resultsPerReport)
		upsert(pr)
		s.wait(b)
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)

	total := float64(b.N * resultsPerReport)
	if got := s.n.Load() - start; got != int64(total) || s.bad.Load() != 0 {
		b.Fatalf("delivered %d results, want %.0f (%d malformed)", got, total, s.bad.Load())
	}
	b.ReportMetric(total/b.Elapsed().Seconds(), "results/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/total, "ns/result")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/total, "mallocs/result")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/total, "B/result")
}

// BenchmarkReportToDelivery measures the way from a report with new results to their webhook
// documents decoded by a receiver.
//
//   - webhook: the real webhook sender posting to an httptest server in this process. The
//     mallocs and bytes per result include the receiver's side (net/http server, JSON decode).
//   - detection: a sender that returns at once, so what remains is the engine's own cost per
//     result: conversion of the report, IDs, filter, ledger and in-flight checks, queueing, the
//     worker hand-off and recording in the ledger. MaxBatch 1, as for the webhook.
//   - detection-batch100: the same with one batch per report, as a batching destination
//     (chat, e-mail) would take it.
func BenchmarkReportToDelivery(b *testing.B) {
	for _, workers := range []int{2, 8} {
		w := "/workers=" + strconv.Itoa(workers)
		b.Run("webhook"+w, func(b *testing.B) {
			s := newSink()
			srv := httptest.NewServer(s.receiver())
			b.Cleanup(srv.Close)
			snd, err := sender.New(context.Background(), sender.Config{
				Type: v1alpha1.DestinationWebhook, Settings: destination.Settings{"url": srv.URL + "/hook"}, Name: "team-a/bench",
			})
			if err != nil {
				b.Fatal(err)
			}
			runReportToDelivery(b, benchEngine(b, workers, snd), s)
		})
		b.Run("detection"+w, func(b *testing.B) {
			s := newSink()
			runReportToDelivery(b, benchEngine(b, workers, &nopSender{s: s, max: 1}), s)
		})
		b.Run("detection-batch100"+w, func(b *testing.B) {
			s := newSink()
			runReportToDelivery(b, benchEngine(b, workers, &nopSender{s: s, max: resultsPerReport}), s)
		})
	}
}
