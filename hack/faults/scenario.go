package main

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"time"

	"github.com/policyherald/policy-herald/internal/testing/harness"
)

// row is one line of the final table.
type row struct {
	name                            string
	expected, delivered, lost, dups int
	gap                             time.Duration // from the end of the fault to the last delivery
	notes                           string
	err                             error // a harness failure: the row's figures are partial
}

// scenario is one fault run: its own namespace (the operators' platform namespace, so earlier
// scenarios' reports elsewhere are existing, not new, to its target), receiver, target and
// operator processes.
type scenario struct {
	h          *rig
	name, ns   string
	rcv        *receiver
	ops        []*harness.Operator
	started    int // operators started, for log names
	flags      []string
	faultEnd   time.Time
	dropAfter  string
	expectLoss bool // results are meant to be dropped: not arriving is no incompleteness
}

// compressed are the flags of time compression: the fast retries end after ~2 s waits and the
// slow retry (and outage probe) comes every 2 s instead of every minute, so a 30 s outage
// exhausts the fast retries as many times over as 5 minutes do at production intervals.
var compressed = []string{"--delivery-slow-retry-interval=2s", "--delivery-retry-max-interval=2s"}

func (h *rig) newScenario(ctx context.Context, name string, latency time.Duration, dropAfter string, flags ...string) (*scenario, error) {
	s := &scenario{h: h, name: name, ns: "faults-" + name, dropAfter: dropAfter, flags: append(append([]string{}, compressed...), flags...)}
	if err := harness.CreateNamespace(ctx, h.cl, s.ns); err != nil {
		return nil, err
	}
	var err error
	if s.rcv, err = startReceiver(latency); err != nil {
		return nil, err
	}
	return s, nil
}

// begin is how every scenario but leader-kill begins: newScenario, its first operator, and its
// target, Ready. What it started is cleaned up again if a step fails.
func (h *rig) begin(ctx context.Context, name string, latency time.Duration, dropAfter string, flags ...string) (*scenario, error) {
	s, err := h.newScenario(ctx, name, latency, dropAfter, flags...)
	if err != nil {
		return nil, err
	}
	if _, err = s.start(); err == nil {
		err = s.createTarget(ctx)
	}
	if err != nil {
		s.cleanup(ctx)
		return nil, err
	}
	return s, nil
}

// start runs one more operator replica.
func (s *scenario) start() (*harness.Operator, error) {
	s.started++
	log := filepath.Join(s.h.dir, fmt.Sprintf("%s-%d.log", s.name, s.started))
	// Appended to, so a restarted operator's log follows the one before it.
	o, err := harness.Start(harness.Options{Bin: s.h.bin, Kubeconfig: s.h.kubeconfig, PlatformNS: s.ns, Log: log, AppendLog: true, Extra: s.flags})
	if err != nil {
		return nil, err
	}
	s.ops = append(s.ops, o)
	return o, nil
}

// createTarget creates the target and waits for it to be Ready, then lets the target's own
// second pass: report creation times have one-second resolution and a report of the target's
// second counts as existing.
func (s *scenario) createTarget(ctx context.Context) error {
	if err := s.h.cl.Create(ctx, target(s.ns, s.rcv.url, s.dropAfter)); err != nil {
		return fmt.Errorf("creating the NotificationTarget: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for !s.h.ready(ctx, s.ns) {
		if !sleep(ctx, 100*time.Millisecond) {
			return fmt.Errorf("the target of %s was not Ready within 60s", s.name)
		}
	}
	sleep(ctx, 1100*time.Millisecond)
	return nil
}

// waitFor polls cond every 50 ms for at most bound. It tells whether cond came true.
func waitFor(ctx context.Context, bound time.Duration, cond func() bool) bool {
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	for !cond() {
		if !sleep(ctx, 50*time.Millisecond) {
			return false
		}
	}
	return true
}

// waitDelivered waits until at least frac of the expected results arrived, for at most bound.
func (s *scenario) waitDelivered(ctx context.Context, frac float64, bound time.Duration) bool {
	return waitFor(ctx, bound, func() bool {
		t := s.rcv.tally()
		return t.expected > 0 && float64(t.delivered) >= frac*float64(t.expected)
	})
}

// finish waits for every result (at most bound), lingers to catch late duplicates, stops the
// operators and the receiver, deletes the target, and makes the row.
func (s *scenario) finish(ctx context.Context, bound time.Duration, notes string) row {
	complete := s.waitDelivered(ctx, 1, bound)
	sleep(ctx, s.h.cfg.linger)
	t := s.rcv.tally()
	r := row{name: s.name, expected: t.expected, delivered: t.delivered, lost: t.expected - t.delivered, dups: t.dups, gap: none, notes: notes}
	// No gap when nothing arrived after the fault (crd-reinstall expects nothing then).
	if !s.faultEnd.IsZero() && t.last.After(s.faultEnd) {
		r.gap = t.last.Sub(s.faultEnd)
	}
	if !complete && !s.expectLoss {
		r.notes += "; INCOMPLETE when the harness stopped waiting"
	}
	r.notes += s.status(ctx, t.delivered)
	if t.stray > 0 {
		r.notes += fmt.Sprintf("; %d documents of no expected result", t.stray)
	}
	s.cleanup(ctx)
	return r
}

// status is the target's status.delivery as a note, once it has caught up with what the
// receiver got (it is written at most every 5 s), or after 12 s.
func (s *scenario) status(ctx context.Context, delivered int) string {
	var sent, dropped, pending int64
	waitFor(ctx, 12*time.Second, func() bool {
		sent, dropped, pending = s.h.delivery(ctx, s.ns, "sent"), s.h.delivery(ctx, s.ns, "dropped"), s.h.delivery(ctx, s.ns, "pending")
		return sent >= int64(delivered) && (!s.expectLoss || dropped > 0)
	})
	return fmt.Sprintf("; status.delivery sent %d, dropped %d, pending %d", sent, dropped, pending)
}

// cleanup stops what the scenario started, so the next one has the machine to itself.
func (s *scenario) cleanup(ctx context.Context) {
	for _, o := range s.ops {
		o.Stop()
	}
	s.rcv.close()
	_ = s.h.cl.Delete(ctx, target(s.ns, "", ""))
}

// restart stops o with sig (SIGKILL: a crash, SIGTERM: a rollout) and starts a replacement at
// once, as a Deployment would.
func (s *scenario) restart(o *harness.Operator, sig syscall.Signal) (*harness.Operator, error) {
	if err := o.Kill(sig); err != nil {
		return nil, err
	}
	return s.start()
}

// none marks a gap that could not be measured.
const none = time.Duration(-1 << 63)

func fmtDur(x time.Duration) string {
	if x == none {
		return "-"
	}
	return x.Round(100 * time.Millisecond).String()
}
