package delivery

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/filter"
	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/sender"
	"github.com/policyherald/policy-herald/internal/testing/testservers"
	"github.com/policyherald/policy-herald/internal/testing/wait"
)

// destinationSeries gathers the operator's policy_herald_ families from controller-runtime's
// registry and returns, for destination name, each series' value by metric name and outcome
// (name{outcome} for results; name_count and name_sum for the histogram).
func destinationSeries(t *testing.T, name string) map[string]float64 {
	t.Helper()
	mfs, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), metricPrefix) {
			continue
		}
		for _, m := range mf.Metric {
			labels := map[string]string{}
			for _, lp := range m.Label {
				labels[lp.GetName()] = lp.GetValue()
			}
			if labels["name"] != name {
				continue
			}
			key := mf.GetName()
			if o, ok := labels["outcome"]; ok {
				key += "{" + o + "}"
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				out[key] = m.Counter.GetValue()
			case dto.MetricType_GAUGE:
				out[key] = m.Gauge.GetValue()
			case dto.MetricType_HISTOGRAM:
				out[key+"_count"] = float64(m.Histogram.GetSampleCount())
				out[key+"_sum"] = m.Histogram.GetSampleSum()
			}
		}
	}
	return out
}

// A pipeline's results show in its metrics: sent, failed and dropped counts, retries, the
// latency of what was sent, pending results and their age while a destination is down, the
// failing flag, the ledger; and every series goes when the destination is removed.
func TestHealthMetrics(t *testing.T) {
	e, _ := startEngine(t, newClient(), testOptions())
	var down bool
	tries := map[string]int{} // attempts by result; the recorder holds its lock around fail
	rec := &recorder{max: 1, fail: func(_ int, b sender.Batch) error {
		n := nameOf(&b.Results[0])
		tries[n]++
		switch n {
		case "flaky":
			if tries[n] <= 2 {
				return &sender.Error{Reason: "503", Retryable: true}
			}
		case "rejected":
			return &sender.Error{Reason: "400 Bad Request", Retryable: false}
		case "lost":
			if down {
				return &sender.Error{Reason: "connection refused", Retryable: true}
			}
		}
		return nil
	}}
	d := testConfig(t, rec, filter.Spec{}, "s")
	d.Name = "metrics-nt"
	d.DropAfter = 400 * time.Millisecond
	e.Configure(d)
	p := e.pipelineOf(t, d)

	e.upsertReport(policyReport("team-a", "r1", res("ok", v1alpha1.StatusFail), res("flaky", v1alpha1.StatusFail)))
	e.upsertReport(policyReport("team-a", "r2", res("rejected", v1alpha1.StatusFail)))
	settle(t, p)
	got := destinationSeries(t, d.Name)
	for k, want := range map[string]float64{
		"policy_herald_delivery_results_total{sent}":    2,
		"policy_herald_delivery_results_total{failed}":  1,
		"policy_herald_delivery_results_total{dropped}": 0,
		"policy_herald_delivery_retries_total":          2, // flaky's second and third attempts
		"policy_herald_delivery_latency_seconds_count":  2, // what was sent
		"policy_herald_delivery_pending_results":        0,
		"policy_herald_delivery_queue_depth":            0,
		"policy_herald_delivery_oldest_pending_seconds": 0,
		"policy_herald_delivery_failing":                0,
		"policy_herald_ledger_keys":                     3,
		"policy_herald_ledger_write_errors_total":       0,
	} {
		if v, ok := got[k]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", k, v, ok, want)
		}
	}
	if b := got["policy_herald_ledger_bytes"]; b <= 0 {
		t.Errorf("ledger bytes = %v: the pipeline writes its ledger (its claim) when it starts", b)
	}
	if s := got["policy_herald_delivery_latency_seconds_sum"]; s <= 0 || s > 10 {
		t.Errorf("latency sum = %v s, want in (0, 10]", s)
	}

	p.flush(context.Background())
	if b := destinationSeries(t, d.Name)["policy_herald_ledger_bytes"]; b <= 0 || b > 10_000 {
		t.Errorf("ledger bytes after a flush = %v", b)
	}

	// The destination goes down: its result waits, ages and is dropped after dropAfter.
	rec.mu.Lock()
	down = true
	rec.mu.Unlock()
	e.upsertReport(policyReport("team-a", "r3", res("lost", v1alpha1.StatusFail)))
	wait.For(t, patience, "the failing flag and a pending result", func() bool {
		s := destinationSeries(t, d.Name)
		return s["policy_herald_delivery_failing"] == 1 && s["policy_herald_delivery_pending_results"] == 1 &&
			s["policy_herald_delivery_oldest_pending_seconds"] > 0
	})
	settle(t, p)
	got = destinationSeries(t, d.Name)
	if got["policy_herald_delivery_results_total{dropped}"] != 1 || got["policy_herald_delivery_pending_results"] != 0 {
		t.Errorf("after dropAfter: %v", got)
	}
	if got["policy_herald_delivery_latency_seconds_count"] != 2 {
		t.Errorf("a dropped result was counted as delivered: %v", got)
	}

	lintExposition(t)

	e.Remove(d.Ref())
	if left := destinationSeries(t, d.Name); len(left) > 0 {
		t.Errorf("series left after the destination was removed: %v", left)
	}
}

// lintExposition runs promtool check metrics over the operator's policy_herald_ families, as
// the metrics endpoint exposes them.
func lintExposition(t *testing.T) {
	t.Helper()
	promtool := testservers.Path(t, "promtool")
	mfs, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	n := 0
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), metricPrefix) {
			n++
			if err := enc.Encode(mf); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n < 10 {
		t.Fatalf("only %d policy_herald_ families exposed:\n%s", n, buf.String())
	}
	// Prometheus' own parser reads it back.
	parser := expfmt.NewTextParser(model.LegacyValidation)
	if _, err := parser.TextToMetricFamilies(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatalf("the exposition does not parse: %v", err)
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = &buf
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

// BenchmarkHealthMetricsPerResult is what the metrics add to recording one delivered result:
// its outcome counter and its latency observation.
func BenchmarkHealthMetricsPerResult(b *testing.B) {
	m := newPipelineMetrics(&Config{Kind: "NotificationTarget", Namespace: "bench", Name: "per-result"})
	b.Cleanup(m.delete)
	b.ReportAllocs()
	for b.Loop() {
		m.counted(outcomeSent, 1)
		m.latency.Observe(0.42)
	}
}

// BenchmarkScrapeHealthMetrics collects the gauges of one destination with 10,000 results
// pending (the default queue size), as a scrape does: one batch of one report's results, held
// by the destination.
func BenchmarkScrapeHealthMetrics(b *testing.B) {
	rec := &recorder{max: 10_000}
	rec.hold()
	e := benchEngine(b, 1, rec)
	b.Cleanup(rec.release) // before the engine stops: the held request returns at once
	results := make([]report.Result, 10_000)
	for i := range results {
		results[i] = res("pending-"+strconv.Itoa(i), v1alpha1.StatusFail)
	}
	e.upsertReport(policyReport("team-a", "pending", results...))
	p := e.pipelineList()[0]
	wait.For(b, time.Minute, "10,000 results pending", func() bool { return p.delivery().Pending == 10_000 })
	ch := make(chan prometheus.Metric, 16)
	done := make(chan struct{})
	go func() {
		for range ch {
		}
		close(done)
	}()
	b.ReportAllocs()
	for b.Loop() {
		live.Collect(ch)
	}
	close(ch)
	<-done
}

// Results waiting for a worker show in the queue depth; results in flight only as pending.
func TestQueueDepthMetric(t *testing.T) {
	opts := testOptions()
	opts.Workers = 2
	e, _ := startEngine(t, newClient(), opts)
	rec := &recorder{max: 1}
	rec.hold()
	d := testConfig(t, rec, filter.Spec{}, "s")
	d.Name = "queue-nt"
	e.Configure(d)
	p := e.pipelineOf(t, d)
	var results []report.Result
	for i := range 10 {
		results = append(results, res(fmt.Sprintf("q%d", i), v1alpha1.StatusFail))
	}
	e.upsertReport(policyReport("team-a", "rq", results...))
	wait.For(t, patience, "8 queued and 10 pending", func() bool {
		s := destinationSeries(t, d.Name)
		return s["policy_herald_delivery_queue_depth"] == 8 && s["policy_herald_delivery_pending_results"] == 10
	})
	rec.release()
	settle(t, p)
	s := destinationSeries(t, d.Name)
	if s["policy_herald_delivery_queue_depth"] != 0 || s["policy_herald_delivery_results_total{sent}"] != 10 {
		t.Errorf("after delivery: %v", s)
	}
}
