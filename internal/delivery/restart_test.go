package delivery

import (
	"context"
	"strconv"
	"testing"
	"time"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/ledger"
	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/testing/wait"
)

// A digest across a restart (the ledger on a real API server): the next leader collects the
// results again into the window the ledger kept, sends the digest one interval after the first
// result (not after the restart), once; the ledger is written at once after it, so a leader
// taking over right after (as after a crash of this one) sends nothing again.
func TestDigestAcrossARestartIsSentOnce(t *testing.T) {
	c, ns := realAPIServer(t)
	clock := newTestClock()
	start := clock.now()
	opts := testOptions() // ledger writes an hour apart: only a woken flush writes in between
	engine := func() (*Engine, func(), *digestRecorder, *pipeline) {
		e, stop := startEngine(t, c, opts)
		e.now = clock.now
		rec := &digestRecorder{recorder: recorder{max: 10}}
		d := digestConfig(t, rec, time.Hour)
		d.Namespace = ns
		e.upsertReport(policyReport(ns, "r", res("a", v1alpha1.StatusFail), res("b", v1alpha1.StatusWarn)))
		e.Configure(d)
		return e, stop, rec, e.pipelineOf(t, d)
	}

	_, stop1, rec1, p1 := engine()
	wait.For(t, patience, "2 results collected", func() bool { return p1.waiting() == 2 })
	clock.advance(20 * time.Minute)
	stop1() // a leader stepping down: its results stay unrecorded, their window is kept
	if n := len(rec1.sentDigests()); n != 0 {
		t.Fatalf("%d digests before the interval", n)
	}

	clock.advance(20 * time.Minute)
	_, _, rec2, p2 := engine()
	wait.For(t, patience, "the results collected again", func() bool { return p2.waiting() == 2 })
	digestsDueIn(t, clock, p2, rec2, 20*time.Minute, 1) // an hour after the first result
	if dg := rec2.sentDigests()[0]; dg.Total != 2 || !dg.From.Equal(start) {
		t.Errorf("digest of %d results from %v, want 2 from the first result at %v", dg.Total, dg.From, start)
	}

	d := p2.config()
	wait.For(t, patience, "the digested results in the stored ledger", func() bool {
		l, err := ledger.Load(context.Background(), c, ns, d.LedgerName, d.Owner)
		return err == nil && l.Has(keyOf("a")) && l.Has(keyOf("b")) && len(l.Windows()) == 0
	})
	_, _, rec3, p3 := engine() // takes over while p2 still runs: p2's last write never comes
	settle(t, p3)
	clock.advance(2 * time.Hour)
	p3.wakeDigests()
	time.Sleep(100 * time.Millisecond)
	if n := len(rec3.sentDigests()) + len(rec3.delivered()); n != 0 {
		t.Errorf("the leader after the digest sent %d messages, want none", n)
	}
	if n := len(rec2.sentDigests()); n != 1 {
		t.Errorf("%d digests, want 1", n)
	}
	if st := p3.delivery(); st.Digested != 2 || st.Sent != 2 {
		t.Errorf("counts after the takeover %+v, want 2 digested", st)
	}
}

// A window that is already due when the next leader starts (the operator was down past it)
// waits until every report was looked at: its results, found again one report at a time, go in
// one digest, not in one for the first report and another an interval later.
func TestDigestDueAtARestartIsOne(t *testing.T) {
	c := newClient()
	clock := newTestClock()
	opts := testOptions()
	opts.QueueResults, opts.Workers = 1, 1 // one result at a time: the first is collected long before the last
	var reports []*report.Report
	for i := range 200 {
		reports = append(reports, policyReport("team-a", "r"+strconv.Itoa(i), res("x"+strconv.Itoa(i), v1alpha1.StatusFail)))
	}
	e1, stop1 := startEngine(t, c, opts)
	e1.now = clock.now
	d := digestConfig(t, &digestRecorder{recorder: recorder{max: 1}}, time.Hour)
	e1.Configure(d)
	p1 := e1.pipelineOf(t, d)
	for _, r := range reports {
		e1.upsertReport(r)
	}
	wait.For(t, patience, "200 collected", func() bool { return p1.waiting() == 200 })
	stop1()

	clock.advance(2 * time.Hour)
	e2, _ := startEngine(t, c, opts)
	e2.now = clock.now
	rec := &digestRecorder{recorder: recorder{max: 1}}
	d.Sender = rec
	for _, r := range reports {
		e2.upsertReport(r)
	}
	e2.Configure(d)
	p2 := e2.pipelineOf(t, d)
	wait.For(t, patience, "the digest", func() bool { return len(rec.sentDigests()) > 0 })
	wait.Until(2*time.Second, func() bool { return p2.settled() })
	if got := rec.sentDigests(); len(got) != 1 || got[0].Total != 200 {
		var totals []int
		for _, dg := range got {
			totals = append(totals, dg.Total)
		}
		t.Errorf("digests of %v results, want one of 200", totals)
	}
}
