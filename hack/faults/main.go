// Command faults is Policy Herald's fault harness: it runs the operator of the current tree as
// its own process against a local control plane (envtest) and loopback webhook receivers, injects
// faults (destination outages, crashes, graceful restarts, leader loss, API server outages,
// throttling, CRD reinstall, a huge report), and prints per scenario how many results were
// expected, delivered, lost and duplicated, and the gap from the end of the fault to the last
// delivery. Like hack/load it is a measurement, not a test: it exits non-zero only when the
// harness itself fails. Only 127.0.0.1 is ever contacted.
//
//	make faults                          # every scenario, ~15 minutes
//	make faults ARGS="-scenario sigkill" # one
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/policyherald/policy-herald/internal/testing/harness"
)

type config struct {
	scenario string
	only     map[string]bool // the scenarios of -scenario; empty: all
	timeout  time.Duration
	linger   time.Duration
	keep     bool
}

func main() {
	var c config
	fs := flag.NewFlagSet("faults", flag.ExitOnError)
	var names []string
	for _, s := range scenarios {
		names = append(names, s.name)
	}
	fs.StringVar(&c.scenario, "scenario", "all", "scenarios to run, comma-separated, or all: "+strings.Join(names, ", "))
	fs.DurationVar(&c.timeout, "timeout", 40*time.Minute, "the whole run stops by then, whatever it waits for")
	fs.DurationVar(&c.linger, "linger", 5*time.Second, "keep receiving after the last result to catch duplicates")
	fs.BoolVar(&c.keep, "keep", false, "keep the work directory (operator logs, kubeconfig) even on success")
	_ = fs.Parse(os.Args[1:])
	c.only = map[string]bool{}
	if c.scenario != "all" {
		for _, n := range strings.Split(c.scenario, ",") {
			if !slices.Contains(names, n) {
				fmt.Fprintf(os.Stderr, "faults: unknown scenario %q (one of: %s)\n", n, strings.Join(names, ", "))
				os.Exit(2)
			}
			c.only[n] = true
		}
	}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Fprintln(os.Stderr, "faults: KUBEBUILDER_ASSETS is not set: start this with `make faults`")
		os.Exit(2)
	}
	ctx, cancel := harness.Context(c.timeout)
	defer cancel()
	if err := run(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, c config) (err error) {
	dir, done, err := harness.WorkDir("faults", c.keep)
	if err != nil {
		return err
	}
	defer done(&err)
	h, err := startHarness(ctx, c, dir)
	if err != nil {
		return err
	}
	defer h.stop()
	fmt.Println(compression)
	var rows []row
	var failed error
	for _, sc := range scenarios {
		if len(c.only) > 0 && !c.only[sc.name] {
			continue
		}
		if ctx.Err() != nil {
			rows = append(rows, row{name: sc.name, gap: none, notes: "not run: -timeout reached"})
			continue
		}
		step("scenario " + sc.name)
		r, err := sc.run(ctx, h)
		if err != nil {
			r.err = err
			r.gap = none
			failed = fmt.Errorf("scenario %s: %w", sc.name, err)
			step(failed.Error())
		}
		rows = append(rows, r)
		printRows(os.Stdout, rows[len(rows)-1:])
	}
	fmt.Println("\nAll scenarios:")
	printRows(os.Stdout, rows)
	return failed
}

// compression says what the compressed intervals stand for. At production intervals the fast
// retries wait 1 s doubling to 2 min (10 attempts, ~6 min) and the slow retry and outage probe
// come every minute; with both capped at 2 s the ladder takes ~17 s and a probe comes every 2 s.
const compression = "Operator flags --delivery-slow-retry-interval=2s --delivery-retry-max-interval=2s (time compression): " +
	"the fast-retry ladder takes ~17 s instead of ~6 min and the outage probe comes every 2 s instead of every minute. " +
	"So down-5m's 30 s outage runs the whole ladder and ~6 probes (what 5 to 12 minutes of outage do in production), " +
	"down-60m's 2 min outage the ladder and ~50 probes (about an hour in production)."

func printRows(w io.Writer, rows []row) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\texpected\tdelivered\tlost\tduplicated\tgap\tnotes")
	for _, r := range rows {
		notes := r.notes
		if r.err != nil {
			notes = "HARNESS FAILURE: " + r.err.Error() + "; " + notes
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\t%s\n", r.name, r.expected, r.delivered, r.lost, r.dups, fmtDur(r.gap), notes)
	}
	_ = tw.Flush()
}
