package delivery

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/filter"
	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/sender"
	"github.com/policyherald/policy-herald/internal/testing/wait"
)

// digestRecorder is a chat-like sender: it records results sent one by one (recorder) and the
// digests and summaries it was sent. failDigest, when set, decides the outcome of each
// SendDigest.
type digestRecorder struct {
	recorder
	dmu        sync.Mutex
	digests    []sender.Digest
	dattempts  int
	failDigest func(attempt int) error
}

func (r *digestRecorder) SendDigest(_ context.Context, d sender.Digest) error {
	r.dmu.Lock()
	defer r.dmu.Unlock()
	r.dattempts++
	if r.failDigest != nil {
		if err := r.failDigest(r.dattempts); err != nil {
			return err
		}
	}
	r.digests = append(r.digests, d)
	return nil
}

func (r *digestRecorder) sentDigests() []sender.Digest {
	r.dmu.Lock()
	defer r.dmu.Unlock()
	return slices.Clone(r.digests)
}

func (r *digestRecorder) digestAttempts() int {
	r.dmu.Lock()
	defer r.dmu.Unlock()
	return r.dattempts
}

// testClock is a pipeline clock that moves only when told.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock { return &testClock{t: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)} }

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// digestsDueIn moves the clock to a minute before the digests are due (in) and checks that
// rec got no more than it had, then to when they are due, and waits until it has want in all.
func digestsDueIn(t *testing.T, clock *testClock, p *pipeline, rec *digestRecorder, in time.Duration, want int) {
	t.Helper()
	had := len(rec.sentDigests())
	clock.advance(in - time.Minute)
	p.wakeDigests()
	time.Sleep(100 * time.Millisecond)
	if n := len(rec.sentDigests()); n != had {
		t.Fatalf("%d digests a minute before they are due, want %d", n, had)
	}
	clock.advance(time.Minute)
	p.wakeDigests()
	wait.For(t, patience, "the digests", func() bool { return len(rec.sentDigests()) == want })
}

// resultOf is a result of policy with a status and severity, about a pod when pod is not "".
func resultOf(name, policy string, status v1alpha1.ResultStatus, severity v1alpha1.Severity, pod string) report.Result {
	r := report.Result{Hash: keyOf(name), Check: &report.Check{Policy: policy, Rule: "r", Status: status, Severity: severity}, Message: "m " + name}
	if pod != "" {
		r.Resource = &report.Resource{APIVersion: "v1", Kind: "Pod", Namespace: "team-a", Name: pod}
	}
	return r
}

// digestConfig is a destination with a digest of interval, grouped by, sending to rec.
func digestConfig(t *testing.T, rec *digestRecorder, interval time.Duration, by ...v1alpha1.DigestGroup) Config {
	d := testConfig(t, rec, filter.Spec{}, "s")
	d.Notify.Digest = &DigestPolicy{Interval: interval, GroupBy: by, MaxItems: 2}
	return d
}

// itemNames returns the names of a digest's listed results, in order.
func itemNames(d sender.Digest) []string {
	var out []string
	for i := range d.Items {
		out = append(out, nameOf(&d.Items[i].Result))
	}
	return out
}

func byPolicy(ds []sender.Digest) map[string]sender.Digest {
	out := map[string]sender.Digest{}
	for _, d := range ds {
		out[d.Group[0].Value] = d
	}
	return out
}

// A digest collects a group's results from its first one and goes one interval later (the
// pipeline's clock): counts by status and severity, the most severe maxItems listed, the rest
// counted, links to the console; a result after it opens the next window.
func TestDigestGroupsCountsAndTiming(t *testing.T) {
	e, _ := startEngine(t, newClient(), testOptions())
	clock := newTestClock()
	e.now = clock.now
	rec := &digestRecorder{recorder: recorder{max: 10}}
	d := digestConfig(t, rec, time.Hour, v1alpha1.DigestByPolicy)
	d.ConsoleURL = "https://console.example"
	e.Configure(d)
	p := e.pipelineOf(t, d)
	start := clock.now()

	e.upsertReport(policyReport("team-a", "r",
		resultOf("a", "p1", v1alpha1.StatusFail, v1alpha1.SeverityHigh, "web"),
		resultOf("b", "p1", v1alpha1.StatusFail, v1alpha1.SeverityCritical, ""),
		resultOf("c", "p1", v1alpha1.StatusWarn, v1alpha1.SeverityLow, ""),
		resultOf("d", "p2", v1alpha1.StatusWarn, v1alpha1.SeverityMedium, "web")))
	wait.For(t, patience, "4 results collected", func() bool { return p.waiting() == 4 })
	clock.advance(30 * time.Minute)
	e.upsertReport(policyReport("team-a", "r2", resultOf("e", "p1", v1alpha1.StatusFail, v1alpha1.SeverityCritical, "db")))
	wait.For(t, patience, "5 results collected", func() bool { return p.waiting() == 5 })

	digestsDueIn(t, clock, p, rec, 30*time.Minute, 2) // an hour after the first result
	settle(t, p)

	got := byPolicy(rec.sentDigests())
	p1, p2 := got["p1"], got["p2"]
	if p1.Kind != sender.KindDigest || p1.Total != 4 || !slices.Equal(itemNames(p1), []string{"b", "e"}) {
		t.Errorf("p1 digest: kind %v, total %d, items %v; want 4 results, b and e listed (and 2 more)", p1.Kind, p1.Total, itemNames(p1))
	}
	if want := []sender.Count{{Value: "fail", N: 3}, {Value: "warn", N: 1}}; !slices.Equal(p1.ByStatus, want) {
		t.Errorf("p1 by status %v, want %v", p1.ByStatus, want)
	}
	if want := []sender.Count{{Value: "critical", N: 2}, {Value: "high", N: 1}, {Value: "low", N: 1}}; !slices.Equal(p1.BySeverity, want) {
		t.Errorf("p1 by severity %v, want %v", p1.BySeverity, want)
	}
	if !p1.From.Equal(start) || !p1.To.Equal(start.Add(30*time.Minute)) || p1.Namespaces != 1 {
		t.Errorf("p1 from %v to %v in %d namespaces", p1.From, p1.To, p1.Namespaces)
	}
	if p1.Link != "https://console.example/policies/p1" || p1.Items[1].Link != "https://console.example/namespaces/team-a/resources/Pod/db" ||
		p1.Items[0].Link != "https://console.example/policies/p1" {
		t.Errorf("p1 links %q, items %q %q", p1.Link, p1.Items[0].Link, p1.Items[1].Link)
	}
	if p2.Total != 1 || p2.Link != "https://console.example/namespaces/team-a/resources/Pod/web" {
		t.Errorf("p2 digest: total %d, link %q (one result: its own page)", p2.Total, p2.Link)
	}
	if n := len(rec.delivered()); n != 0 {
		t.Errorf("%d results sent one by one", n)
	}
	st := e.stats(t, d.Ref())
	if st.Sent != 5 || st.Digested != 5 || st.Pending != 0 {
		t.Errorf("stats %+v, want 5 sent, all digested", st)
	}
	if c := p.recordedCounts(); c.Sent != 5 || c.Digested != 5 || !p.recorded(keyOf("e")) {
		t.Errorf("ledger counts %+v", c)
	}
	if w := p.ledger.Windows(); len(w) != 0 {
		t.Errorf("windows %v left open after the digests", w)
	}

	// The next result opens a new window.
	e.upsertReport(policyReport("team-a", "r3", resultOf("f", "p1", v1alpha1.StatusFail, v1alpha1.SeverityHigh, "")))
	wait.For(t, patience, "f collected", func() bool { return p.waiting() == 1 })
	digestsDueIn(t, clock, p, rec, time.Hour, 3)
}

// Without groupBy one digest takes every result; beyond maxDigestGroups groups, results of
// further groups join one overflow digest without group values: nothing is lost.
func TestDigestGroupBound(t *testing.T) {
	defer func(n int) { maxDigestGroups = n }(maxDigestGroups)
	maxDigestGroups = 2
	e, _ := startEngine(t, newClient(), testOptions())
	clock := newTestClock()
	e.now = clock.now
	rec := &digestRecorder{recorder: recorder{max: 10}}
	d := digestConfig(t, rec, time.Minute, v1alpha1.DigestByResource)
	e.Configure(d)
	p := e.pipelineOf(t, d)
	var rs []report.Result
	for _, pod := range []string{"a", "b", "c", "d", "e"} {
		rs = append(rs, resultOf(pod, "p", v1alpha1.StatusFail, v1alpha1.SeverityHigh, pod))
	}
	e.upsertReport(policyReport("team-a", "r", rs...))
	wait.For(t, patience, "5 collected", func() bool { return p.waiting() == 5 })
	clock.advance(time.Minute)
	p.wakeDigests()
	wait.For(t, patience, "three digests", func() bool { return len(rec.sentDigests()) == 3 })
	settle(t, p)
	total, overflow := 0, 0
	for _, dg := range rec.sentDigests() {
		total += dg.Total
		if len(dg.Group) == 0 {
			overflow = dg.Total
		}
	}
	if total != 5 || overflow != 3 {
		t.Errorf("digests of %d results, %d in the overflow digest; want 5 and 3", total, overflow)
	}
}

// Through an outage a due digest stays, tried again every slow retry (one attempt each while
// down), results found meanwhile join it, nothing is sent one by one; once the destination is
// back it goes once with every result.
func TestDigestThroughAnOutage(t *testing.T) {
	e, _ := startEngine(t, newClient(), testOptions())
	var mu sync.Mutex
	down := true
	rec := &digestRecorder{recorder: recorder{max: 10}, failDigest: func(int) error {
		mu.Lock()
		defer mu.Unlock()
		if down {
			return &sender.Error{Reason: "POST to x: 503 Service Unavailable", Retryable: true}
		}
		return nil
	}}
	d := digestConfig(t, rec, 50*time.Millisecond)
	e.Configure(d)
	p := e.pipelineOf(t, d)
	e.upsertReport(policyReport("team-a", "r", res("a", v1alpha1.StatusFail), res("b", v1alpha1.StatusWarn)))
	wait.For(t, patience, "the destination failing", func() bool { h := e.Health(d.Ref()); return h.Failing })
	wait.For(t, patience, "more attempts", func() bool { return rec.digestAttempts() >= 6 })
	e.upsertReport(policyReport("team-a", "r", res("a", v1alpha1.StatusFail), res("b", v1alpha1.StatusWarn), res("c", v1alpha1.StatusFail)))
	wait.For(t, patience, "c collected", func() bool { return p.waiting() == 3 })
	if st := e.stats(t, d.Ref()); st.Sent != 0 || st.Failed != 0 || st.Dropped != 0 || p.recorded(keyOf("a")) {
		t.Errorf("stats %+v during the outage: nothing may be recorded", st)
	}
	mu.Lock()
	down = false
	mu.Unlock()
	wait.For(t, patience, "the digest", func() bool { return len(rec.sentDigests()) > 0 })
	settle(t, p)
	if got := rec.sentDigests(); len(got) != 1 || got[0].Total != 3 {
		t.Errorf("digests %+v, want one of 3 results", got)
	}
	if n := len(rec.delivered()); n != 0 {
		t.Errorf("%d results sent one by one", n)
	}
	if st := e.stats(t, d.Ref()); st.Sent != 3 || st.Digested != 3 || st.Pending != 0 {
		t.Errorf("stats %+v", st)
	}
	if h := e.Health(d.Ref()); h.Failing {
		t.Errorf("health %+v after the digest went", h)
	}
}

// A rate limit lets its messages through and holds the rest for one summary, sent as soon as
// the limit allows (by a timer: no further result comes), counted as summarised and sent.
func TestRateLimitSummarises(t *testing.T) {
	e, _ := startEngine(t, newClient(), testOptions())
	rec := &digestRecorder{recorder: recorder{max: 1}}
	d := testConfig(t, rec, filter.Spec{}, "s")
	d.Notify.RateLimit = &RateLimitPolicy{Messages: 2, Per: 600 * time.Millisecond}
	e.Configure(d)
	p := e.pipelineOf(t, d)
	var rs []report.Result
	names := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}
	for i, n := range names {
		status, ns := v1alpha1.StatusFail, "team-a"
		if i%3 == 0 {
			status = v1alpha1.StatusWarn
		}
		if i%2 == 0 {
			ns = "team-b"
		}
		r := resultOf(n, "p", status, v1alpha1.SeverityHigh, "")
		r.Resource = &report.Resource{Kind: "Pod", Namespace: ns, Name: n}
		rs = append(rs, r)
	}
	sent := time.Now()
	e.upsertReport(policyReport("team-a", "r", rs...))
	wait.For(t, patience, "the summary", func() bool { return len(rec.sentDigests()) == 1 })
	took := time.Since(sent)
	settle(t, p)
	if n := len(rec.delivered()); n != 2 {
		t.Errorf("%d results sent one by one, want 2 (the limit)", n)
	}
	s := rec.sentDigests()[0]
	if s.Kind != sender.KindSummary || s.Total != 8 || s.Namespaces != 2 || len(s.Items) != 0 {
		t.Errorf("summary %+v, want 8 results in 2 namespaces", s)
	}
	fail, warn := 0, 0
	for _, c := range s.ByStatus {
		switch c.Value {
		case "fail":
			fail = c.N
		case "warn":
			warn = c.N
		}
	}
	if fail+warn != 8 || s.ByStatus[0].Value != "fail" {
		t.Errorf("summary by status %v", s.ByStatus)
	}
	if took < 250*time.Millisecond {
		t.Errorf("the summary went after %v, before the limit allowed a third message (300ms)", took)
	}
	if st := e.stats(t, d.Ref()); st.Sent != 10 || st.Summarised != 8 || st.Digested != 0 || st.Pending != 0 {
		t.Errorf("stats %+v, want 10 sent, 8 of them summarised", st)
	}
}

// Digests take tokens too: due digests beyond the limit go into the summary, sent when the
// next token is there.
func TestDigestsBeyondTheRateLimitAreSummarised(t *testing.T) {
	e, _ := startEngine(t, newClient(), testOptions())
	clock := newTestClock()
	e.now = clock.now
	rec := &digestRecorder{recorder: recorder{max: 10}}
	d := digestConfig(t, rec, time.Hour, v1alpha1.DigestByPolicy)
	d.Notify.RateLimit = &RateLimitPolicy{Messages: 1, Per: time.Minute}
	e.Configure(d)
	p := e.pipelineOf(t, d)
	e.upsertReport(policyReport("team-a", "r",
		resultOf("a", "p1", v1alpha1.StatusFail, v1alpha1.SeverityHigh, ""),
		resultOf("b", "p2", v1alpha1.StatusFail, v1alpha1.SeverityHigh, ""),
		resultOf("c", "p2", v1alpha1.StatusWarn, v1alpha1.SeverityHigh, ""),
		resultOf("d", "p3", v1alpha1.StatusFail, v1alpha1.SeverityLow, "")))
	wait.For(t, patience, "4 collected", func() bool { return p.waiting() == 4 })
	clock.advance(time.Hour)
	p.wakeDigests()
	wait.For(t, patience, "one digest", func() bool { return len(rec.sentDigests()) == 1 })
	wait.For(t, patience, "the rest held", func() bool {
		p.limits.mu.Lock()
		defer p.limits.mu.Unlock()
		return len(p.limits.held.hashes) > 0
	})
	time.Sleep(50 * time.Millisecond)
	if n := len(rec.sentDigests()); n != 1 {
		t.Fatalf("%d messages before the limit allows a second", n)
	}
	clock.advance(time.Minute)
	p.limits.wakeUp()
	wait.For(t, patience, "the summary", func() bool { return len(rec.sentDigests()) == 2 })
	settle(t, p)
	ds := rec.sentDigests()
	if ds[0].Kind != sender.KindDigest || ds[1].Kind != sender.KindSummary || ds[0].Total+ds[1].Total != 4 {
		t.Errorf("messages %+v", ds)
	}
	st := e.stats(t, d.Ref())
	if st.Sent != 4 || st.Digested != int64(ds[0].Total) || st.Summarised != int64(ds[1].Total) {
		t.Errorf("stats %+v", st)
	}
}

// Turning the digest off lets what it collected go as results.
func TestDigestTurnedOffSendsWhatItCollected(t *testing.T) {
	e, _ := startEngine(t, newClient(), testOptions())
	rec := &digestRecorder{recorder: recorder{max: 10}}
	d := digestConfig(t, rec, time.Hour)
	e.Configure(d)
	p := e.pipelineOf(t, d)
	e.upsertReport(policyReport("team-a", "r", res("a", v1alpha1.StatusFail), res("b", v1alpha1.StatusFail)))
	wait.For(t, patience, "2 collected", func() bool { return p.waiting() == 2 })
	d.Notify.Digest, d.Fingerprint = nil, "no digest"
	e.Configure(d)
	settle(t, p)
	if got := rec.delivered(); !sameIDs(got, "a", "b") || len(rec.sentDigests()) != 0 {
		t.Errorf("delivered %v and %d digests, want a and b one by one", got, len(rec.sentDigests()))
	}
}

// Results parked through an outage come back under the rate limit: once the destination is
// back, they do not all go at once; what does not fit is summarised.
func TestRateLimitAfterAnOutage(t *testing.T) {
	opts := testOptions()
	opts.SlowRetryInterval = time.Second // probes take tokens too: few of them
	e, _ := startEngine(t, newClient(), opts)
	var mu sync.Mutex
	down := true
	rec := &digestRecorder{recorder: recorder{max: 1, fail: func(int, sender.Batch) error {
		mu.Lock()
		defer mu.Unlock()
		if down {
			return &sender.Error{Reason: "POST to x: 503 Service Unavailable", Retryable: true}
		}
		return nil
	}}}
	d := testConfig(t, rec, filter.Spec{}, "s")
	d.Notify.RateLimit = &RateLimitPolicy{Messages: 2, Per: 200 * time.Millisecond}
	e.Configure(d)
	p := e.pipelineOf(t, d)
	names := []string{"a", "b", "c", "d", "e"}
	var rs []report.Result
	for i, n := range names {
		// One at a time, each within the limit when it comes: all five are parked.
		rs = append(rs, res(n, v1alpha1.StatusFail))
		e.upsertReport(policyReport("team-a", "r", rs...))
		wait.For(t, patience, "parked", func() bool { return e.stats(t, d.Ref()).Pending == int64(i+1) && p.waiting() == 0 })
		time.Sleep(150 * time.Millisecond)
	}
	wait.For(t, patience, "the outage", func() bool { return e.Health(d.Ref()).Failing })
	mu.Lock()
	down = false
	mu.Unlock()
	wait.For(t, patience, "the 5 results sent or held", func() bool {
		return p.waiting()+int64(len(rec.delivered())) == 5
	})
	sent := len(rec.delivered())
	if sent > 2 {
		t.Errorf("%d results sent one by one after the outage, want at most 2 (the limit)", sent)
	}
	wait.For(t, patience, "the summary", func() bool { return len(rec.sentDigests()) == 1 })
	settle(t, p)
	if st := e.stats(t, d.Ref()); st.Sent != 5 || st.Summarised != int64(5-sent) || rec.sentDigests()[0].Total != 5-sent {
		t.Errorf("stats %+v, summary of %d", st, rec.sentDigests()[0].Total)
	}
}

// digestResolver is a chat-like sender that also announces resolved results.
type digestResolver struct {
	digestRecorder
	resolved resolver
}

func (r *digestResolver) Resolve(ctx context.Context, b sender.Batch) error {
	return r.resolved.Resolve(ctx, b)
}

// Results delivered in a digest are open like results sent one by one: one that leaves is
// resolved.
func TestDigestedResultsAreResolved(t *testing.T) {
	e, _ := startEngine(t, newClient(), testOptions())
	clock := newTestClock()
	e.now = clock.now
	rec := &digestResolver{digestRecorder: digestRecorder{recorder: recorder{max: 10}}}
	d := testConfig(t, rec, filter.Spec{}, "s")
	d.Notify.Digest = &DigestPolicy{Interval: time.Hour, MaxItems: 1}
	e.Configure(d)
	p := e.pipelineOf(t, d)
	e.upsertReport(policyReport("team-a", "r", res("a", v1alpha1.StatusFail), res("b", v1alpha1.StatusFail)))
	wait.For(t, patience, "2 collected", func() bool { return p.waiting() == 2 })
	digestsDueIn(t, clock, p, &rec.digestRecorder, time.Hour, 1)
	settle(t, p)
	e.upsertReport(policyReport("team-a", "r", res("b", v1alpha1.StatusFail)))
	wait.For(t, patience, "a resolved", func() bool { return sameIDs(rec.resolved.resolvedIDs(), "a") })
}
