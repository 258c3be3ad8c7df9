// Command load is Policy Herald's load harness (a benchmark, not a test). It starts a local
// control plane (envtest, like `make run`), a loopback webhook receiver and the operator of the
// current tree as its own process, creates Kyverno-like PolicyReports, and measures how long
// the operator takes to deliver every result, against a floor: a bare client-go informer in the
// harness that only has to see the same results. It prints one table and exits non-zero only
// when the harness itself fails; lost or late results are measurements, not failures.
//
// It depends only on the operator binary's flags, the CRDs and the webhook wire format (one
// JSON document per result with an "id"), so it measures any version of the delivery engine.
//
//	make load ARGS="-reports 2000 -results 50 -mode live"
//	make load ARGS="-reports 200 -results 50 -mode sync -churn 100"
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	wgpolicy "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
	"github.com/policyherald/policy-herald/internal/testing/harness"
)

type config struct {
	reports, results, workers, namespaces int
	mode                                  string
	churn, churnReplace                   int
	churnQPS                              float64
	timeout, idle, linger, latency        time.Duration
	operator, operatorArgs                string
	keep                                  bool
}

func parseFlags() config {
	var c config
	// Its own flag set: controller-runtime registers -kubeconfig on the global one, which the
	// harness does not use (it starts its own control plane).
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	fs.IntVar(&c.reports, "reports", 50, "number of PolicyReports (N)")
	fs.IntVar(&c.results, "results", 20, "results per report (M); 60% fail, 30% warn, 10% pass")
	fs.IntVar(&c.workers, "workers", 8, "concurrent report creators (and churn updaters)")
	fs.IntVar(&c.namespaces, "namespaces", 20, "team namespaces the reports are spread over")
	fs.StringVar(&c.mode, "mode", "live", "live: operator and target Ready first, then create the reports; "+
		"sync: create the reports, then start the operator with a skipExistingOnStartup=false target")
	fs.IntVar(&c.churn, "churn", 0, "after the main phase, update this many reports (at most -reports), replacing results")
	fs.IntVar(&c.churnReplace, "churn-replace", 3, "fail/warn results replaced by each churn update")
	fs.Float64Var(&c.churnQPS, "churn-qps", 20, "churn updates per second")
	fs.DurationVar(&c.timeout, "timeout", 15*time.Minute, "the whole run stops by then, whatever it waits for")
	fs.DurationVar(&c.idle, "idle", 150*time.Second, "stop waiting for a phase after this long without a new delivery "+
		"(longer than two of the operator's 1-minute sweeps)")
	fs.DurationVar(&c.linger, "linger", 3*time.Second, "keep receiving after each phase to catch duplicates")
	fs.DurationVar(&c.latency, "latency", 0, "the receiver answers each request after this long, like a real destination "+
		"(0: at once, so the destination is never the bottleneck)")
	fs.StringVar(&c.operator, "operator", "", "use this operator binary instead of building the current tree")
	fs.StringVar(&c.operatorArgs, "operator-args", "", "extra operator flags, space-separated (e.g. --zap-log-level=error)")
	fs.BoolVar(&c.keep, "keep", false, "keep the work directory (operator log, kubeconfig) even on success")
	_ = fs.Parse(os.Args[1:])
	return c
}

func (c config) validate() error {
	switch {
	case c.mode != "live" && c.mode != "sync":
		return fmt.Errorf("-mode must be live or sync, not %q", c.mode)
	case c.reports < 1 || c.results < 1 || c.workers < 1 || c.namespaces < 1:
		return errors.New("-reports, -results, -workers and -namespaces must be at least 1")
	case c.results > 1000:
		// ~600 bytes a result: beyond this a report nears etcd's 1.5 MiB request limit.
		return errors.New("-results above 1000 makes reports too large for etcd")
	case c.churn < 0 || c.churn > c.reports:
		return errors.New("-churn must be between 0 and -reports")
	case c.latency < 0:
		return errors.New("-latency must not be negative")
	case c.churn > 0 && (c.churnReplace < 1 || c.churnQPS <= 0):
		return errors.New("-churn-replace and -churn-qps must be positive")
	}
	return nil
}

func main() {
	c := parseFlags()
	if err := c.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(2)
	}
	ctx, cancel := harness.Context(c.timeout)
	defer cancel()
	rep, err := run(ctx, c)
	if rep != nil {
		rep.print(os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

const (
	platformNS = "load-platform"
	baselineNS = "load-baseline"
	targetName = "load-webhook"
)

// run does one measurement. A report is returned whenever the operator ran, even on error.
func run(ctx context.Context, c config) (_ *report, err error) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return nil, errors.New("KUBEBUILDER_ASSETS is not set: start this with `make load`")
	}
	dir, done, err := harness.WorkDir("load", c.keep)
	if err != nil {
		return nil, err
	}
	defer done(&err)

	// Build the operator while the control plane starts; both take tens of seconds.
	type built struct {
		bin string
		err error
	}
	buildc := make(chan built, 1)
	go func() {
		if c.operator != "" {
			buildc <- built{c.operator, nil}
			return
		}
		bin, err := harness.Build(ctx, dir)
		buildc <- built{bin, err}
	}()

	step("starting the control plane")
	env, cfg, err := harness.StartEnv()
	if err != nil {
		return nil, err
	}
	defer func() { _ = env.Stop() }()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	kc, err := harness.Kubeconfig(env, cfg, "load-operator")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		return nil, err
	}
	hcfg, cl, err := harness.Client(cfg)
	if err != nil {
		return nil, err
	}
	for i := 0; i < c.namespaces; i++ {
		if err := harness.CreateNamespace(ctx, cl, namespaceName(i, c.namespaces)); err != nil {
			return nil, err
		}
	}
	for _, ns := range []string{platformNS, baselineNS} {
		if err := harness.CreateNamespace(ctx, cl, ns); err != nil {
			return nil, err
		}
	}

	t := newTracker()
	url, stopReceiver, err := startReceiver(t, c.latency)
	if err != nil {
		return nil, err
	}
	defer stopReceiver()

	b := <-buildc
	if b.err != nil {
		return nil, b.err
	}
	extra := strings.Fields(c.operatorArgs)
	rep := &report{config: c, bin: b.bin, logPath: filepath.Join(dir, "operator.log")}

	var op *harness.Operator
	defer func() {
		if op != nil {
			op.Stop()
		}
	}()
	var reports []*wgpolicy.PolicyReport
	switch c.mode {
	case "live":
		step("starting the operator and waiting for the target to be Ready")
		if op, err = harness.Start(harness.Options{Bin: b.bin, Kubeconfig: kubeconfig, PlatformNS: platformNS, Log: rep.logPath, Extra: extra}); err != nil {
			return nil, err
		}
		if err := harness.CreateTarget(ctx, cl, platformNS, targetName, url, nil); err != nil {
			return rep, err
		}
		if err := waitReady(ctx, cl, platformNS, op); err != nil {
			return rep, err
		}
		// Report creation times have one-second resolution and a report of the target's own
		// second counts as existing to it: let that second pass so every report is new.
		if !sleep(ctx, 1100*time.Millisecond) {
			return rep, ctx.Err()
		}
		if rep.baseline, err = op.Stats(); err != nil {
			return rep, err
		}
		rep.baselineHow = "same process, target Ready, no reports"
		synced, err := startFloor(ctx, hcfg, t)
		if err != nil {
			return rep, err
		}
		for !synced() {
			if !sleep(ctx, 10*time.Millisecond) {
				return rep, ctx.Err()
			}
		}
		step(fmt.Sprintf("creating %d reports × %d results with %d workers", c.reports, c.results, c.workers))
		rep.start = time.Now()
		if reports, err = createReports(ctx, cl, c, t); err != nil {
			return rep, err
		}
		rep.creation = time.Since(rep.start)

	case "sync":
		// An empty-cluster run of the operator gives the RSS that the reports add to.
		step("measuring the operator's RSS on an empty cluster")
		base, err := harness.Start(harness.Options{Bin: b.bin, Kubeconfig: kubeconfig, PlatformNS: baselineNS, Log: filepath.Join(dir, "operator-baseline.log"), Extra: extra})
		if err != nil {
			return nil, err
		}
		if err := harness.CreateTarget(ctx, cl, baselineNS, targetName, url, nil); err != nil {
			base.Stop()
			return nil, err
		}
		err = waitReady(ctx, cl, baselineNS, base)
		if err == nil && sleep(ctx, 1100*time.Millisecond) {
			rep.baseline, err = base.Stats()
		}
		base.Stop()
		if err != nil {
			return nil, err
		}
		rep.baselineHow = "separate run on the empty cluster, target Ready"
		if err := client.IgnoreNotFound(cl.Delete(ctx, harness.Target(baselineNS, targetName, "", nil))); err != nil {
			return nil, err
		}

		step(fmt.Sprintf("creating %d reports × %d results with %d workers", c.reports, c.results, c.workers))
		created := time.Now()
		if reports, err = createReports(ctx, cl, c, t); err != nil {
			return nil, err
		}
		rep.creation = time.Since(created)
		// The target is newer than every report, so only skipExistingOnStartup=false sends them.
		if err := harness.CreateTarget(ctx, cl, platformNS, targetName, url, map[string]any{"skipExistingOnStartup": false}); err != nil {
			return nil, err
		}
		step("starting the operator and the floor informer together")
		rep.start = time.Now()
		if op, err = harness.Start(harness.Options{Bin: b.bin, Kubeconfig: kubeconfig, PlatformNS: platformNS, Log: rep.logPath, Extra: extra}); err != nil {
			return nil, err
		}
		if _, err := startFloor(ctx, hcfg, t); err != nil {
			return rep, err
		}
		// The operator's own start (process, caches, target reconcile) is part of its time;
		// record it apart so it can be told from delivery.
		rep.readyAfter = none
		readyc := make(chan time.Duration, 1)
		go func() {
			if waitReady(ctx, cl, platformNS, op) == nil {
				readyc <- time.Since(rep.start)
			}
		}()
		defer func() {
			select {
			case rep.readyAfter = <-readyc:
			default:
			}
		}()
	}

	step("waiting for deliveries")
	rep.outcome[phaseMain], err = waitPhase(ctx, t, phaseMain, rep.start, c.idle, op)
	if err != nil {
		return rep, err
	}
	sleep(ctx, c.linger)
	rep.phase[phaseMain] = t.stats(phaseMain, rep.start)

	if c.churn > 0 && ctx.Err() == nil {
		step(fmt.Sprintf("churn: updating %d reports, %d new results each, %.0f updates/s", c.churn, c.churnReplace, c.churnQPS))
		rep.churnStart = time.Now()
		if err := churn(ctx, cl, c, reports[:c.churn], t); err != nil {
			return rep, err
		}
		rep.outcome[phaseChurn], err = waitPhase(ctx, t, phaseChurn, rep.churnStart, c.idle, op)
		if err != nil {
			return rep, err
		}
		sleep(ctx, c.linger)
		rep.phase[phaseChurn] = t.stats(phaseChurn, rep.churnStart)
	}

	if rep.final, err = op.Stats(); err != nil {
		return rep, err
	}
	op.Stop()
	if ru, ok := op.Cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rep.maxrssKiB = ru.Maxrss
	}
	op = nil
	rep.dups, rep.distinctIDs = t.duplicates()
	t.mu.Lock()
	rep.unexpected, rep.heartbeats, rep.bad, rep.requests = t.unexpected, t.heartbeats, t.bad, t.requests
	t.mu.Unlock()
	rep.logErrors = countErrors(rep.logPath)
	return rep, nil
}

func step(msg string) { harness.Step("load", msg) }

func sleep(ctx context.Context, d time.Duration) bool { return harness.Sleep(ctx, d) }

// waitReady waits for the target's Ready condition to be True.
func waitReady(ctx context.Context, c client.Client, ns string, op *harness.Operator) error {
	for !harness.Ready(ctx, c, ns, targetName) {
		if err := op.Exited(); err != nil {
			return err
		}
		if !sleep(ctx, 100*time.Millisecond) {
			return fmt.Errorf("waiting for NotificationTarget %s/%s to be Ready: %w", ns, targetName, ctx.Err())
		}
	}
	return nil
}

// createReports creates the reports with c.workers concurrent creators. Each report's results
// are registered just before its create call, so no delivery can precede its registration.
func createReports(ctx context.Context, cl client.Client, c config, t *tracker) ([]*wgpolicy.PolicyReport, error) {
	reports := make([]*wgpolicy.PolicyReport, c.reports)
	return reports, parallel(ctx, c.workers, c.reports, 0, func(ctx context.Context, i int) error {
		r := newReport(i, c.results, c.namespaces, time.Now())
		var keys []uint64
		for j := range r.Results {
			if delivered(r.Results[j].Result) {
				keys = append(keys, hashOf(r, &r.Results[j]))
			}
		}
		t.expect(phaseMain, keys, time.Now())
		err := retry.OnError(retry.DefaultBackoff, harness.Transient, func() error {
			err := cl.Create(ctx, r)
			if apierrors.IsAlreadyExists(err) { // an earlier attempt went through after all
				return cl.Get(ctx, client.ObjectKeyFromObject(r), r)
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("creating report %s/%s: %w", r.Namespace, r.Name, err)
		}
		reports[i] = r
		return nil
	})
}

// churn updates each report once, as a re-scan would: c.churnReplace of its fail/warn results
// are replaced by new ones (generation 1 in their messages). Each new result is timestamped
// right before its update call, and update→delivery is measured from there.
func churn(ctx context.Context, cl client.Client, c config, reports []*wgpolicy.PolicyReport, t *tracker) error {
	return parallel(ctx, c.workers, len(reports), c.churnQPS, func(ctx context.Context, i int) error {
		r := reports[i]
		app := r.Scope.Name
		var keys []uint64
		now := time.Now()
		first := (i * 7) % c.results // spread the replaced results over the rules
		for k := 0; k < c.results && len(keys) < c.churnReplace; k++ {
			j := (first + k) % c.results
			if !delivered(r.Results[j].Result) {
				continue
			}
			r.Results[j] = newResult(i, j, 1, r.Namespace, app, now)
			keys = append(keys, hashOf(r, &r.Results[j]))
		}
		summarize(r)
		t.expect(phaseChurn, keys, time.Now())
		err := retry.OnError(retry.DefaultBackoff, harness.Transient, func() error {
			t.reissue(keys, time.Now())
			return cl.Update(ctx, r)
		})
		if err != nil {
			return fmt.Errorf("updating report %s/%s: %w", r.Namespace, r.Name, err)
		}
		return nil
	})
}

// parallel runs do(0..n-1) on workers goroutines, at most qps calls a second when qps > 0, and
// returns the first error.
func parallel(ctx context.Context, workers, n int, qps float64, do func(context.Context, int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	go func() {
		defer close(next)
		var tick <-chan time.Time
		if qps > 0 {
			tk := time.NewTicker(time.Duration(float64(time.Second) / qps))
			defer tk.Stop()
			tick = tk.C
		}
		for i := 0; i < n; i++ {
			if tick != nil {
				select {
				case <-tick:
				case <-ctx.Done():
					return
				}
			}
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := do(ctx, i); err != nil {
					cancel(err)
				}
			}
		}()
	}
	wg.Wait()
	return context.Cause(ctx)
}

// waitPhase waits until the floor has seen and the receiver has got every result of the phase,
// or nothing has progressed for idle, or ctx ends. Only an operator that exits is an error.
func waitPhase(ctx context.Context, t *tracker, phase int, start time.Time, idle time.Duration, op *harness.Operator) (string, error) {
	lastProgress, lastCount := start, -1
	for {
		expected, seen, delivered, _ := t.counts(phase)
		if seen == expected && delivered == expected {
			return "complete", nil
		}
		if seen+delivered != lastCount {
			lastProgress, lastCount = time.Now(), seen+delivered
		}
		if err := op.Exited(); err != nil {
			return "", err
		}
		if time.Since(lastProgress) > idle {
			return fmt.Sprintf("incomplete: no progress for %s", idle), nil
		}
		if !sleep(ctx, 50*time.Millisecond) {
			return "incomplete: -timeout reached", nil
		}
	}
}

// countErrors counts error-level lines of the operator's (zap JSON or console) log.
func countErrors(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return -1
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, `"level":"error"`) || strings.Contains(line, "\tERROR\t") {
			n++
		}
	}
	return n
}
