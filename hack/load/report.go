package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/policyherald/policy-herald/internal/testing/harness"
)

// report is what one run measured.
type report struct {
	config
	bin, logPath         string
	start, churnStart    time.Time
	creation, readyAfter time.Duration
	outcome              [phases]string
	phase                [phases]phaseStats
	baseline, final      harness.ProcStats
	baselineHow          string
	maxrssKiB            int64
	dups, distinctIDs    int
	unexpected, bad      int
	heartbeats           int
	requests, logErrors  int
}

func (r *report) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(name, format string, args ...any) {
		fmt.Fprintf(tw, "  %s\t"+format+"\n", append([]any{name}, args...)...)
	}
	total := r.reports * r.results
	m := r.phase[phaseMain]
	fmt.Fprintf(tw, "\nPolicy Herald load: mode=%s reports=%d results/report=%d namespaces=%d workers=%d\n",
		r.mode, r.reports, r.results, r.namespaces, r.workers)
	if r.latency > 0 {
		fmt.Fprintf(tw, "receiver latency: %s per request\n", r.latency)
	}
	fmt.Fprintf(tw, "operator: %s (client QPS/Burst: whatever main.go sets; today it sets none, so controller-runtime's "+
		"default: no client-side limit, API Priority and Fairness only)\n", r.bin)
	row("results in reports", "%d (%d fail/warn, %d pass)", total, m.expected, total-m.expected)
	row("results expected", "%d", m.expected)
	row("distinct delivered", "%d", m.delivered)
	row("lost", "%d (not delivered when the phase ended)", m.expected-m.delivered)
	row("duplicates", "%d (deliveries beyond the first of an id, all phases; %d distinct ids, %d documents)", r.dups, r.distinctIDs, r.requests)
	row("unexpected", "%d (documents of no expected result: pass, replaced or unknown)", r.unexpected)
	if r.mode == "live" {
		row("creation", "%s (all reports created, from the start)", d(r.creation))
	} else {
		row("creation", "%s (before the operator started; not measured)", d(r.creation))
	}
	floorWhat := "bare informer has seen every result, from the first create"
	startWhat := "from the first create"
	if r.mode == "sync" {
		floorWhat = "bare informer's initial LIST, started with the operator"
		startWhat = "from the operator's start"
	}
	if r.mode == "sync" {
		row("operator start → Ready", "%s (until the target's Ready condition was seen; polled every 100ms)", d(r.readyAfter))
	}
	row("time to last delivery", "%s (%s)", d(m.lastDelivered), startWhat)
	row("floor time", "%s (%s; %d/%d seen)", d(m.lastSeen), floorWhat, m.seen, m.expected)
	if m.lastSeen > 0 {
		row("ratio", "%.1f× (last delivery / floor)", float64(m.lastDelivered)/float64(m.lastSeen))
	}
	row("delivery − floor", "t50 %s  t99 %s  (per result: delivered − first seen by the bare informer)",
		d(percentile(m.vsFloor, 50)), d(percentile(m.vsFloor, 99)))
	if r.mode == "live" {
		row("create → delivery", "p50 %s  p99 %s  (floor: p50 %s  p99 %s)",
			d(percentile(m.sinceIssue, 50)), d(percentile(m.sinceIssue, 99)),
			d(percentile(m.floorSinceIssue, 50)), d(percentile(m.floorSinceIssue, 99)))
	}
	row("main phase", "%s", r.outcome[phaseMain])
	switch {
	case r.churn > 0 && r.churnStart.IsZero():
		row("churn", "not run (the main phase used up -timeout)")
	case r.churn > 0:
		c := r.phase[phaseChurn]
		row("churn", "%d updates, %d new results, %d delivered, %d lost; %s", r.churn, c.expected, c.delivered,
			c.expected-c.delivered, r.outcome[phaseChurn])
		row("update → delivery", "p50 %s  p99 %s  (floor: p50 %s  p99 %s)",
			d(percentile(c.sinceIssue, 50)), d(percentile(c.sinceIssue, 99)),
			d(percentile(c.floorSinceIssue, 50)), d(percentile(c.floorSinceIssue, 99)))
	default:
		row("update → delivery", "- (no -churn)")
	}
	mib := func(kib int64) float64 { return float64(kib) / 1024 }
	row("peak RSS", "%.1f MiB (VmHWM; rusage maxrss %.1f MiB)", mib(r.final.HWMKiB), mib(r.maxrssKiB))
	row("RSS before reports", "%.1f MiB (VmRSS, %s)", mib(r.baseline.RSSKiB), r.baselineHow)
	all := total + r.phase[phaseChurn].expected
	if all > 0 {
		row("bytes per result", "%.0f ((VmHWM − RSS before reports) / %d results in the cluster, pass and churn included)",
			float64(r.final.HWMKiB-r.baseline.RSSKiB)*1024/float64(all), all)
	}
	if r.mode == "live" {
		row("CPU", "%.2f s (utime+stime; %.2f s after the target was Ready)", r.final.CPU, r.final.CPU-r.baseline.CPU)
	} else {
		row("CPU", "%.2f s (utime+stime of the measured process)", r.final.CPU)
	}
	where := r.logPath
	if !r.keep {
		where += "; removed at exit, -keep keeps it"
	}
	row("operator log", "%d error lines (%s)", r.logErrors, where)
	if r.bad > 0 || r.heartbeats > 0 {
		row("receiver", "%d undecodable requests, %d heartbeats", r.bad, r.heartbeats)
	}
	_ = tw.Flush()
}

// d formats a duration for the table: "-" when there is none, milliseconds below 10 s.
func d(x time.Duration) string {
	switch {
	case x == none:
		return "-"
	case x > -10*time.Second && x < 10*time.Second:
		return fmt.Sprintf("%dms", x.Milliseconds())
	default:
		return x.Round(100 * time.Millisecond).String()
	}
}
