package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"syscall"
	"testing"
	"time"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/destination"
	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/sender"
)

// nopDigester is a chat-like sender that delivers nothing: it counts the results of batches,
// digests and summaries and returns at once.
type nopDigester struct{ nopSender }

func (n *nopDigester) Send(ctx context.Context, b sender.Batch) error {
	n.s.messages.Add(1)
	return n.nopSender.Send(ctx, b)
}

func (n *nopDigester) SendDigest(_ context.Context, d sender.Digest) error {
	n.s.messages.Add(1)
	n.s.n.Add(int64(d.Total))
	return nil
}

// slackSink is the real Slack sender posting to a loopback receiver that decodes every message,
// counting the results of what it sent. Its digests are the sender's own when it is a
// sender.Digester, else the digest as JSON (a stand-in of the same size order).
type slackSink struct {
	sender.Sender
	s   *sink
	url string
}

func newSlackSink(b *testing.B, s *sink) *slackSink {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var msg map[string]any
		if err := json.NewDecoder(r.Body).Decode(&msg); err != nil {
			s.bad.Add(1)
			http.Error(w, "bad message", http.StatusBadRequest)
			return
		}
		s.messages.Add(1)
	}))
	b.Cleanup(srv.Close)
	snd, err := sender.New(context.Background(), sender.Config{
		Type: v1alpha1.DestinationSlack, Settings: destination.Settings{"url": srv.URL + "/slack"}, Name: "team-a/bench",
	})
	if err != nil {
		b.Fatal(err)
	}
	return &slackSink{Sender: snd, s: s, url: srv.URL + "/slack"}
}

func (k *slackSink) Send(ctx context.Context, b sender.Batch) error {
	if err := k.Sender.Send(ctx, b); err != nil {
		return err
	}
	k.s.n.Add(int64(len(b.Results)))
	return nil
}

func (k *slackSink) SendDigest(ctx context.Context, d sender.Digest) error {
	if dg, ok := k.Sender.(sender.Digester); ok {
		if err := dg.SendDigest(ctx, d); err != nil {
			return err
		}
	} else {
		body, _ := json.Marshal(d)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, k.url, bytes.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
	}
	k.s.n.Add(int64(d.Total))
	return nil
}

// cpuTime returns the CPU time the process used so far (user and system, every thread).
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkNotifyCPU measures the CPU time per result of plain delivery, of digests and of a
// rate limit over the same results at 10,000 results per minute of the pipeline's clock: each
// round brings a report of 100 new fail results about a new pod and moves the clock 0.6 s. The
// sender is chat-like (batches of 10, digests) and returns at once, so what is measured is the
// engine. cpu-ns/result is the process's CPU time (getrusage: every goroutine, GC included) per
// result, from the first report to the last result delivered.
//
//   - plain: every batch sent as it is.
//   - digest: a digest every minute per resource (100 groups a minute of 100 results each).
//   - ratelimit: 10 messages a minute; the rest (nearly all) go in summaries.
//
// The slack- cases do the same through the real Slack sender (batches of up to 10 results)
// posting to a loopback receiver that decodes each message, in this process: what a chat
// destination costs per result, messages included.
//
// Ledger writes are left out, in all three as in the other benchmarks (FlushInterval is an
// hour, and so is the least time before a woken write here): see docs/performance.md for the
// writes digests add.
func BenchmarkNotifyCPU(b *testing.B) {
	defer func(d time.Duration) { wokenFlushAfter = d }(wokenFlushAfter)
	wokenFlushAfter = time.Hour
	cases := []struct {
		name   string
		notify Notify
	}{
		{"plain", Notify{}},
		{"digest", Notify{Digest: &DigestPolicy{Interval: time.Minute, GroupBy: []v1alpha1.DigestGroup{v1alpha1.DigestByResource}, MaxItems: 10}}},
		{"ratelimit", Notify{RateLimit: &RateLimitPolicy{Messages: 10, Per: time.Minute}}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			clock := newTestClock()
			s := newSink()
			e := benchEngineWith(b, 4, &nopDigester{nopSender{s: s, max: 10}}, clock.now, func(d *Config) { d.Notify = c.notify })
			p := e.pipelineList()[0]
			runNotify(b, e, p, s, clock)
		})
	}
	for _, c := range cases {
		b.Run("slack-"+c.name, func(b *testing.B) {
			clock := newTestClock()
			s := newSink()
			e := benchEngineWith(b, 4, newSlackSink(b, s), clock.now, func(d *Config) { d.Notify = c.notify })
			p := e.pipelineList()[0]
			runNotify(b, e, p, s, clock)
		})
	}
}

func runNotify(b *testing.B, e *Engine, p *pipeline, s *sink, clock *testClock) {
	pr := benchReport()
	names := make([]string, b.N)
	for i := range names {
		names[i] = "pod-" + strconv.Itoa(i)
	}
	// A round's report was looked at (so the next one may replace it) and its results are
	// delivered or taken off the queue (in flight: collected, held, being sent); O(1), so the
	// harness costs every case the same.
	processed := func(target int64) {
		done := func() int64 { return s.n.Load() + p.delivery().Pending - p.queued.Load() }
		for deadline := time.Now().Add(time.Minute); p.dirty.busy() || done() < target; time.Sleep(50 * time.Microsecond) {
			if time.Now().After(deadline) {
				b.Fatalf("%d results delivered or in flight, want %d (delivered %d, pending %d, queued %d, waiting %d)", done(), target, s.n.Load(), p.delivery().Pending, p.queued.Load(), p.waiting())
			}
		}
	}
	// Everything goes: the clock moves past the interval and the loops look.
	drain := func(target int64) {
		clock.advance(2 * time.Minute)
		for deadline := time.Now().Add(time.Minute); s.n.Load() < target; time.Sleep(time.Millisecond) {
			p.wakeDigests()
			p.limits.wakeUp()
			if time.Now().After(deadline) {
				b.Fatalf("delivered %d results, want %d", s.n.Load(), target)
			}
		}
	}
	pr.Scope.Name = "warm-up"
	e.store.Put(report.FromPolicyReport(pr))
	processed(resultsPerReport)
	drain(resultsPerReport)

	start := s.n.Load()
	cpu := cpuTime(b)
	b.ResetTimer()
	for i := range b.N {
		clock.advance(600 * time.Millisecond) // 100 results every 0.6 s: 10,000 a minute
		p.wakeDigests()
		p.limits.wakeUp()
		pr.Scope.Name = names[i]
		e.store.Put(report.FromPolicyReport(pr))
		processed(start + int64(i+1)*resultsPerReport)
	}
	drain(start + int64(b.N)*resultsPerReport)
	b.StopTimer()
	used := cpuTime(b) - cpu

	total := float64(b.N * resultsPerReport)
	b.ReportMetric(float64(used.Nanoseconds())/total, "cpu-ns/result")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/total, "ns/result")
	st := p.delivery()
	b.ReportMetric(float64(st.Digested+st.Summarised)/float64(st.Sent), "in-digests/sent")
	b.ReportMetric(float64(s.messages.Load())/total, "messages/result")
}
