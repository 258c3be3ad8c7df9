package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/policyherald/policy-herald/internal/testing/harness"
)

// scenarios in the order `-scenario all` runs them (the brief's priority order).
var scenarios = []struct {
	name string
	run  func(context.Context, *rig) (row, error)
}{
	{"down-5m", func(ctx context.Context, h *rig) (row, error) { return down(ctx, h, "down-5m", 30*time.Second, "") }},
	{"down-60m", func(ctx context.Context, h *rig) (row, error) {
		return down(ctx, h, "down-60m", 2*time.Minute, "")
	}},
	{"down-drop", func(ctx context.Context, h *rig) (row, error) {
		return down(ctx, h, "down-drop", 90*time.Second, "1m")
	}},
	{"sigkill", func(ctx context.Context, h *rig) (row, error) {
		return restarts(ctx, h, "sigkill", syscall.SIGKILL)
	}},
	{"sigterm-handover", func(ctx context.Context, h *rig) (row, error) {
		return restarts(ctx, h, "sigterm-handover", syscall.SIGTERM)
	}},
	{"leader-kill", leaderKill},
	{"apiserver-down", func(ctx context.Context, h *rig) (row, error) {
		return apiserverDown(ctx, h, "apiserver-down", false)
	}},
	{"apiserver-down-le", func(ctx context.Context, h *rig) (row, error) {
		return apiserverDown(ctx, h, "apiserver-down-le", true)
	}},
	{"throttle", throttle},
	{"crd-reinstall", crdReinstall},
	{"big-report", bigReport},
}

// down: the destination answers 503 while 200 results are created and for the whole outage,
// then recovers. With dropAfter shorter than the outage, the results are dropped instead.
func down(ctx context.Context, h *rig, name string, outage time.Duration, dropAfter string) (row, error) {
	s, err := h.begin(ctx, name, 0, dropAfter)
	if err != nil {
		return row{name: name}, err
	}
	defer s.cleanup(ctx)
	s.rcv.mode.Store(modeDown)
	began := time.Now()
	if _, err := createReports(ctx, h.cl, s.rcv, s.ns, 10, 20); err != nil {
		return row{name: name}, err
	}
	sleep(ctx, outage-time.Since(began))
	s.rcv.mode.Store(modeOK)
	s.faultEnd = time.Now()
	refused := s.rcv.tally().refused
	bound := 3 * time.Minute
	notes := fmt.Sprintf("503 for %s (%d requests refused) with retry intervals of 2s", outage, refused)
	if dropAfter != "" {
		bound = 20 * time.Second // nothing is expected: the results were dropped
		s.expectLoss = true
		notes += fmt.Sprintf("; dropAfter %s < outage: lost is expected here", dropAfter)
	}
	r := s.finish(ctx, bound, notes)
	return r, nil
}

// restarts: the operator is stopped by sig mid-delivery at 25% and 60% of the results and
// started again at once, as a Deployment's pod would be.
func restarts(ctx context.Context, h *rig, name string, sig syscall.Signal) (row, error) {
	s, err := h.begin(ctx, name, 10*time.Millisecond, "")
	if err != nil {
		return row{name: name}, err
	}
	defer s.cleanup(ctx)
	o := s.ops[0]
	created := time.Now()
	if _, err := createReports(ctx, h.cl, s.rcv, s.ns, 40, 50); err != nil {
		return row{name: name}, err
	}
	var at []string
	for _, frac := range []float64{0.25, 0.6} {
		if !s.waitDelivered(ctx, frac, 2*time.Minute) {
			return s.finish(ctx, 0, fmt.Sprintf("never reached %.0f%% delivered", frac*100)), nil
		}
		t := s.rcv.tally()
		rate := float64(t.delivered) / t.last.Sub(created).Seconds()
		at = append(at, fmt.Sprintf("%d (%.0f/s)", t.delivered, rate))
		if o, err = s.restart(o, sig); err != nil {
			return row{name: name}, err
		}
	}
	s.faultEnd = time.Now()
	return s.finish(ctx, 3*time.Minute, fmt.Sprintf("%v then restart, twice, at %s delivered; receiver 10ms/request",
		signalName(sig), strings.Join(at, " and "))), nil
}

func signalName(sig syscall.Signal) string {
	if sig == syscall.SIGKILL {
		return "SIGKILL"
	}
	return "SIGTERM"
}

// leaderKill: two replicas with leader election; the leader is killed -9 mid-delivery and
// restarted (as a standby now); the other must take over after the lease duration.
func leaderKill(ctx context.Context, h *rig) (row, error) {
	const name = "leader-kill"
	s, err := h.newScenario(ctx, name, 10*time.Millisecond, "", "--leader-elect", "--leader-election-namespace=faults-"+name)
	if err != nil {
		return row{name: name}, err
	}
	defer s.cleanup(ctx)
	a, err := s.start()
	if err != nil {
		return row{name: name}, err
	}
	// The first replica leads: start the second only once the first holds the lease.
	if !waitFor(ctx, time.Minute, func() bool { return leads(a) }) {
		return row{name: name}, fmt.Errorf("the first replica did not acquire the lease within 1m (log %s)", a.Log)
	}
	if _, err := s.start(); err != nil {
		return row{name: name}, err
	}
	if err := s.createTarget(ctx); err != nil {
		return row{name: name}, err
	}
	if _, err := createReports(ctx, h.cl, s.rcv, s.ns, 40, 50); err != nil {
		return row{name: name}, err
	}
	if !s.waitDelivered(ctx, 0.25, 2*time.Minute) {
		return s.finish(ctx, 0, "never reached 25% delivered"), nil
	}
	before := s.rcv.tally().delivered
	if err := a.Kill(syscall.SIGKILL); err != nil {
		return row{name: name}, err
	}
	killed := time.Now()
	s.faultEnd = killed
	if _, err := s.start(); err != nil { // the killed pod comes back as a standby
		return row{name: name}, err
	}
	// Either the standby or the restarted pod may win the lease once it expires.
	took, who := "-", "no replica"
	waitFor(ctx, time.Minute, func() bool {
		for i, o := range s.ops[1:] {
			if leads(o) {
				took, who = fmtDur(time.Since(killed)), []string{"the standby", "the restarted pod"}[i]
				return true
			}
		}
		return false
	})
	return s.finish(ctx, 3*time.Minute, fmt.Sprintf("leader killed -9 at %d delivered; %s led %s later (lease 15s); gap includes it",
		before, who, took)), nil
}

// leads tells whether the operator's log says it acquired the leader lease.
func leads(o *harness.Operator) bool {
	b, err := os.ReadFile(o.Log)
	return err == nil && strings.Contains(string(b), "Successfully acquired lease")
}

// apiserverDown: the API server becomes unreachable for 60 s while the receiver gets
// deliveries. Without leader election the replica keeps running and pauses sending after 10 s;
// with it, the replica loses its lease and exits, and is restarted like a Deployment's pod.
func apiserverDown(ctx context.Context, h *rig, name string, le bool) (row, error) {
	var flags []string
	if le {
		flags = []string{"--leader-elect", "--leader-election-namespace=faults-" + name}
	}
	s, err := h.begin(ctx, name, 20*time.Millisecond, "", flags...)
	if err != nil {
		return row{name: name}, err
	}
	defer s.cleanup(ctx)
	// The kubelet: a replica that exits is started again after 1 s. Only this goroutine starts
	// operators until it is stopped, so s.ops needs no lock.
	respawns := 0
	superCtx, stopSuper := context.WithCancel(ctx)
	superDone := make(chan struct{})
	go func() {
		defer close(superDone)
		for sleep(superCtx, time.Second) {
			if o := s.ops[len(s.ops)-1]; !o.Running() {
				if _, err := s.start(); err == nil {
					respawns++
				}
			}
		}
	}()
	stop := func() { stopSuper(); <-superDone }
	defer stop()
	if _, err := createReports(ctx, h.cl, s.rcv, s.ns, 40, 100); err != nil {
		return row{name: name}, err
	}
	if !s.waitDelivered(ctx, 0.1, 2*time.Minute) {
		stop()
		return s.finish(ctx, 0, "never reached 10% delivered"), nil
	}
	h.proxy.cut()
	cutAt := s.rcv.tally().delivered
	sleep(ctx, 60*time.Second)
	during := s.rcv.tally().delivered - cutAt
	if err := h.proxy.restore(); err != nil {
		return row{name: name}, fmt.Errorf("the API server proxy could not listen on its port again: %w", err)
	}
	s.faultEnd = time.Now()
	s.waitDelivered(ctx, 1, 3*time.Minute)
	stop()
	return s.finish(ctx, 0, fmt.Sprintf("API unreachable 60s from %d delivered; %d delivered during it; receiver 20ms/request; %d restarts",
		cutAt, during, respawns)), nil
}

// throttle: the destination answers 429 with Retry-After: 1 to every other request for 20 s.
func throttle(ctx context.Context, h *rig) (row, error) {
	const name = "throttle"
	s, err := h.begin(ctx, name, 0, "")
	if err != nil {
		return row{name: name}, err
	}
	defer s.cleanup(ctx)
	s.rcv.mode.Store(modeThrottle)
	began := time.Now()
	if _, err := createReports(ctx, h.cl, s.rcv, s.ns, 25, 20); err != nil {
		return row{name: name}, err
	}
	sleep(ctx, 20*time.Second-time.Since(began))
	t := s.rcv.tally()
	s.rcv.mode.Store(modeOK)
	s.faultEnd = time.Now()
	return s.finish(ctx, 3*time.Minute, fmt.Sprintf("429 Retry-After: 1 to every other request for 20s: %d refused, %d of %d delivered meanwhile",
		t.refused, t.delivered, t.expected)), nil
}

const policyReportCRD = "policyreports.wgpolicyk8s.io"

// crdReinstall: the PolicyReport CRD is deleted (its reports go with it) and installed again,
// and the same reports are created again: their results are not new.
func crdReinstall(ctx context.Context, h *rig) (row, error) {
	const name = "crd-reinstall"
	s, err := h.begin(ctx, name, 0, "")
	if err != nil {
		return row{name: name}, err
	}
	defer s.cleanup(ctx)
	if _, err := createReports(ctx, h.cl, s.rcv, s.ns, 10, 20); err != nil {
		return row{name: name}, err
	}
	if !s.waitDelivered(ctx, 1, 2*time.Minute) {
		return s.finish(ctx, 0, "the first delivery did not complete"), nil
	}
	first := s.rcv.tally().accepted
	crd := &apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: policyReportCRD}}
	if err := h.cl.Delete(ctx, crd); err != nil {
		return row{name: name}, fmt.Errorf("deleting the CRD: %w", err)
	}
	if !waitFor(ctx, 2*time.Minute, func() bool { return apierrors.IsNotFound(h.cl.Get(ctx, keyOf(crd), crd)) }) {
		return row{name: name}, fmt.Errorf("the CRD %s was not gone within 2m", policyReportCRD)
	}
	sleep(ctx, 5*time.Second) // let the operator see its reports and the API go
	if _, err := envtest.InstallCRDs(h.rest, envtest.CRDInstallOptions{
		Paths: []string{filepath.Join("hack", "crds", "wgpolicyk8s.io_policyreports.yaml")}, ErrorIfPathMissing: true,
	}); err != nil {
		return row{name: name}, fmt.Errorf("reinstalling the CRD: %w", err)
	}
	// Created again, same names and content (new timestamps only); the creates are retried
	// while the API server's discovery catches up with the new CRD.
	var err2 error
	waitFor(ctx, time.Minute, func() bool {
		_, err2 = createReports(ctx, h.cl, s.rcv, s.ns, 10, 20)
		return err2 == nil
	})
	if err2 != nil {
		return row{name: name}, err2
	}
	s.faultEnd = time.Now()
	sleep(ctx, 20*time.Second) // whatever would be resent is sent well within this
	again := s.rcv.tally().accepted - first
	// A positive control: a new report must still be delivered, or the silence above would
	// only mean the operator stopped watching the reinstalled API.
	extra := newReport(s.ns, 10, 20)
	s.rcv.expect(keysOf(extra))
	if err := createReport(ctx, h.cl, extra); err != nil {
		return row{name: name}, err
	}
	r := s.finish(ctx, time.Minute, "")
	r.gap = none // the only delivery after the fault is the control's
	r.notes = fmt.Sprintf("CRD deleted and reinstalled, same 10 reports created again: %d documents for them (expect 0); "+
		"then a new report of 20 (control: expect delivered)%s", again, r.notes)
	return r, nil
}

// bigReport: one report of 5,000 results.
func bigReport(ctx context.Context, h *rig) (row, error) {
	const name = "big-report"
	s, err := h.begin(ctx, name, 0, "")
	if err != nil {
		return row{name: name}, err
	}
	defer s.cleanup(ctx)
	b, _ := json.Marshal(newReport(s.ns, 0, 5000))
	s.faultEnd = time.Now()
	if _, err := createReports(ctx, h.cl, s.rcv, s.ns, 1, 5000); err != nil {
		return row{name: name}, err
	}
	r := s.finish(ctx, 3*time.Minute, fmt.Sprintf("one report of 5,000 results, %d KiB of JSON (etcd's limit: 1.5 MiB); gap: from the create", len(b)/1024))
	return r, nil
}
