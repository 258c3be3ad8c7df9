package delivery

import (
	"context"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/filter"
	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/scheme"
)

// clock is a settable clock for a pipeline.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// policyRes is a failing result named name of policy.
func policyRes(name, policy string) report.Result {
	r := res(name, v1alpha1.StatusFail)
	r.Check = &report.Check{Policy: policy, Rule: "r", Status: v1alpha1.StatusFail, Severity: v1alpha1.SeverityHigh}
	return r
}

func silenceOf(name string, until time.Time, m v1alpha1.SilenceMatch) v1alpha1.Silence {
	return v1alpha1.Silence{Name: name, Match: m, Until: metav1.NewTime(until)}
}

var silenced0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// silencedEngine returns an engine over c whose clock says silenced0 until set, and a config
// delivering to a recorder.
func silencedEngine(t *testing.T, c client.Client) (*Engine, *clock, *recorder, Config) {
	t.Helper()
	e, _ := startEngine(t, c, testOptions())
	clk := &clock{t: silenced0}
	e.now = clk.now
	rec := &recorder{max: 10}
	return e, clk, rec, testConfig(t, rec, filter.Spec{}, "s")
}

// Results an active silence matches are recorded as muted, counted per silence, and never
// reach the destination; the others are sent.
func TestSilencesMuteMatchingResults(t *testing.T) {
	e, clk, rec, d := silencedEngine(t, newClient())
	d.Notify.Silences = []v1alpha1.Silence{
		silenceOf("noisy", silenced0.Add(time.Hour), v1alpha1.SilenceMatch{Policies: []string{"noisy-*"}}),
		silenceOf("also-noisy", silenced0.Add(time.Hour), v1alpha1.SilenceMatch{Policies: []string{"noisy-a", "quiet-*"}}),
		silenceOf("ended", silenced0.Add(-time.Minute), v1alpha1.SilenceMatch{}),
	}
	e.Configure(d)
	p := e.pipelineOf(t, d)
	e.upsertReport(policyReport("team-a", "r",
		policyRes("a", "noisy-a"), policyRes("b", "noisy-b"), policyRes("c", "quiet-c"), policyRes("d", "other")))
	settle(t, p)

	if got := rec.delivered(); !sameIDs(got, "d") {
		t.Errorf("delivered %v, want d only", got)
	}
	for _, name := range []string{"a", "b", "c"} {
		if !p.recorded(keyOf(name)) {
			t.Errorf("muted result %s is not recorded as handled", name)
		}
	}
	if st := p.delivery(); st.Muted != 3 || st.Sent != 1 {
		t.Errorf("delivery = muted %d, sent %d; want 3 and 1", st.Muted, st.Sent)
	}
	if c := p.recordedCounts(); c.Muted != 3 {
		t.Errorf("ledger counts muted %d, want 3", c.Muted)
	}
	want := []v1alpha1.SilenceStatus{
		{Name: "noisy", State: v1alpha1.SilenceActive, Until: metav1.NewTime(silenced0.Add(time.Hour)), Muted: 2},
		{Name: "also-noisy", State: v1alpha1.SilenceActive, Until: metav1.NewTime(silenced0.Add(time.Hour)), Muted: 1},
		{Name: "ended", State: v1alpha1.SilenceExpired, Until: metav1.NewTime(silenced0.Add(-time.Minute)), Muted: 0},
	}
	if got := p.silenceStatus(clk.now()); !equalSilences(got, want) {
		t.Errorf("silences = %+v\nwant %+v", got, want)
	}
}

// A silence mutes until its until, by the pipeline's clock: results found after are sent, and
// what it muted stays handled (not sent late).
func TestExpiredSilenceLetsNewResultsThrough(t *testing.T) {
	e, clk, rec, d := silencedEngine(t, newClient())
	until := silenced0.Add(time.Minute)
	d.Notify.Silences = []v1alpha1.Silence{silenceOf("window", until, v1alpha1.SilenceMatch{Namespaces: []string{"team-a"}})}
	e.Configure(d)
	p := e.pipelineOf(t, d)
	e.upsertReport(policyReport("team-a", "r", policyRes("before", "p")))
	settle(t, p)
	if got := rec.delivered(); len(got) != 0 {
		t.Fatalf("delivered %v during the silence", got)
	}

	clk.set(until) // until itself is no longer silenced
	if got := p.silenceStatus(clk.now()); len(got) != 1 || got[0].State != v1alpha1.SilenceExpired || got[0].Muted != 1 {
		t.Errorf("silences at until = %+v, want window expired with 1 muted", got)
	}
	e.upsertReport(policyReport("team-a", "r", policyRes("before", "p"), policyRes("after", "p")))
	settle(t, p)
	e.sweep()
	settle(t, p)
	if got := rec.delivered(); !sameIDs(got, "after") {
		t.Errorf("delivered %v, want only the result found after the silence", got)
	}
	if st := p.delivery(); st.Muted != 1 || st.Sent != 1 {
		t.Errorf("delivery = muted %d, sent %d; want 1 and 1", st.Muted, st.Sent)
	}
}

// status.silences is written with status.delivery, by the pipeline: counts continue from the
// status the object had, the state follows the clock with no other event, and a removed
// silence leaves the list.
func TestSilenceStatusIsWrittenAndContinues(t *testing.T) {
	nt := &v1alpha1.NotificationTarget{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "nt1"}}
	c := fake.NewClientBuilder().WithScheme(scheme.New()).WithObjects(nt).WithStatusSubresource(nt).Build()
	e, clk, _, d := silencedEngine(t, c)
	until := silenced0.Add(time.Minute)
	d.Notify.Silences = []v1alpha1.Silence{silenceOf("window", until, v1alpha1.SilenceMatch{})}
	d.Silences = []v1alpha1.SilenceStatus{{Name: "window", State: v1alpha1.SilenceActive, Until: metav1.NewTime(until), Muted: 5}}
	e.Configure(d)
	p := e.pipelineOf(t, d)
	e.upsertReport(policyReport("team-a", "r", policyRes("a", "p")))
	settle(t, p)

	read := func() []v1alpha1.SilenceStatus {
		t.Helper()
		var got v1alpha1.NotificationTarget
		if err := c.Get(context.Background(), client.ObjectKeyFromObject(nt), &got); err != nil {
			t.Fatal(err)
		}
		return got.Status.Silences
	}
	ctx := context.Background()
	p.writeStatus(ctx)
	if got := read(); len(got) != 1 || got[0].Muted != 6 || got[0].State != v1alpha1.SilenceActive {
		t.Errorf("written silences = %+v, want window active with 5+1 muted", got)
	}
	clk.set(until.Add(time.Second))
	p.writeStatus(ctx)
	if got := read(); len(got) != 1 || got[0].State != v1alpha1.SilenceExpired || got[0].Muted != 6 {
		t.Errorf("written silences after until = %+v, want window expired with 6 muted", got)
	}
	d.Notify.Silences, d.Fingerprint = nil, "without silences"
	e.Configure(d)
	p.writeStatus(ctx)
	if got := read(); got != nil {
		t.Errorf("written silences without any = %+v, want none", got)
	}
}
