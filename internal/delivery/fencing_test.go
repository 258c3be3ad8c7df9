package delivery

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/filter"
	"github.com/policyherald/policy-herald/internal/ledger"
	"github.com/policyherald/policy-herald/internal/store"
	"github.com/policyherald/policy-herald/internal/testing/wait"
)

// storedLedger loads the ledger of d as a new leader would.
func storedLedger(t *testing.T, e *Engine, d Config) *ledger.Ledger {
	t.Helper()
	l, err := ledger.Load(context.Background(), e.reader, d.Namespace, d.LedgerName, d.Owner)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// Defect (issue 18, 9), through the engine: a replica that lost its lease without noticing yet
// delivers while another replica leads the destination. As soon as it writes its ledger it
// finds the newer replica's claim: its write is refused, it sends nothing more, and its last
// write when it stops replaces nothing of the new leader's.
func TestADeposedReplicaStopsSendingAndLeavesTheLedger(t *testing.T) {
	c := newClient()
	opts := testOptions()
	opts.FlushInterval = 10 * time.Millisecond
	var mu sync.Mutex
	var lines []string
	log := funcr.New(func(_, args string) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, args)
	}, funcr.Options{})
	e1 := New(c, c, store.New(nil, nil, logr.Discard()), opts, log)
	ctx, cancel := context.WithCancel(context.Background())
	e1.begin(ctx)
	stop1 := func() { e1.stopAll(); cancel() }
	t.Cleanup(stop1)
	rec1 := &recorder{max: 1}
	d := testConfig(t, rec1, filter.Spec{}, "s")
	e1.Configure(d)
	p1 := e1.pipelineOf(t, d)
	e1.upsertReport(policyReport("team-a", "r", res("a", v1alpha1.StatusFail)))
	settle(t, p1)
	wait.For(t, patience, "a recorded", func() bool { return storedLedger(t, e1, d).Has(keyOf("a")) })

	// The second replica takes over: it claims the ledger, sends b and records it.
	e2, _ := startEngine(t, c, opts)
	rec2 := &recorder{max: 1}
	d2 := d
	d2.Sender = rec2
	e2.upsertReport(policyReport("team-a", "r", res("a", v1alpha1.StatusFail), res("b", v1alpha1.StatusFail)))
	e2.Configure(d2)
	p2 := e2.pipelineOf(t, d2)
	settle(t, p2)
	wait.For(t, patience, "b recorded", func() bool { return storedLedger(t, e2, d2).Has(keyOf("b")) })

	// The first replica sees x, sends it, and finds out when it records it.
	e1.upsertReport(policyReport("team-a", "r", res("a", v1alpha1.StatusFail), res("x", v1alpha1.StatusFail)))
	wait.For(t, patience, "the first replica to find it was deposed", p1.paused)
	e1.upsertReport(policyReport("team-a", "r", res("a", v1alpha1.StatusFail), res("x", v1alpha1.StatusFail), res("y", v1alpha1.StatusFail)))
	wait.For(t, patience, "the send of y to wait for the ledger", p1.holding)
	if got := rec1.delivered(); !sameIDs(got, "a", "x") {
		t.Errorf("the deposed replica delivered %v, want a and x (y after it found out)", got)
	}
	if h := e1.Health(d.Ref()); !h.Paused {
		t.Errorf("the deposed replica's health %+v, want paused", h)
	}
	stop1()
	// Reported once (not at each write interval, nor again by the last write on stop).
	mu.Lock()
	reported := 0
	for _, l := range lines {
		if strings.Contains(l, "another replica leads this destination now") && strings.Contains(l, "newer leader") {
			reported++
		}
	}
	mu.Unlock()
	if reported != 1 {
		t.Errorf("the deposition was logged %d times, want once", reported)
	}

	l := storedLedger(t, e2, d2)
	if !l.Has(keyOf("a")) || !l.Has(keyOf("b")) || l.Has(keyOf("y")) {
		t.Errorf("stored: a %v, b %v, y %v; want the new leader's a and b", l.Has(keyOf("a")), l.Has(keyOf("b")), l.Has(keyOf("y")))
	}
	if cnt, _ := l.Counts(); cnt.Sent != 2 {
		t.Errorf("stored counts %+v, want the new leader's 2 sent", cnt)
	}
	// The new leader goes on.
	e2.upsertReport(policyReport("team-a", "r", res("a", v1alpha1.StatusFail), res("b", v1alpha1.StatusFail), res("z", v1alpha1.StatusFail)))
	settle(t, p2)
	wait.For(t, patience, "z recorded", func() bool { return storedLedger(t, e2, d2).Has(keyOf("z")) })
}
