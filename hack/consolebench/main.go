// Command consolebench measures the console's server time and memory (issue 19): it fills a
// report store with Kyverno-like results, serves the console's real API handler (and its
// Authorizer, with SubjectAccessReviews answered in process) over loopback HTTP, and prints
// p50/p99 server time per request kind and person, and the store's bytes per result. With
// -browser it serves the real pages instead and times how fast headless chromium shows them.
//
//	bin/hack/consolebench -results 100000 -namespaces 20 -requests 200
//	bin/hack/consolebench -browser -loads 20
//
// Run from the repository root. hack/ is a module of its own, so build it with
// `go build -C hack -o ../bin/hack/ ./consolebench` (the make targets do).
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/go-logr/logr"

	"github.com/policyherald/policy-herald/internal/console/access"
	"github.com/policyherald/policy-herald/internal/console/api"
	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/store"
)

func main() {
	results := flag.Int("results", 100_000, "results in the store")
	perReport := flag.Int("per-report", 50, "results per report")
	namespaces := flag.Int("namespaces", 20, "namespaces the reports are spread over")
	requests := flag.Int("requests", 200, "measured requests per case and person (after 10 to warm up)")
	browser := flag.Bool("browser", false, "instead of the API: load the overview and a results page in headless chromium")
	loads := flag.Int("loads", 20, "with -browser: measured loads per page and person (after 2 to warm up)")
	flag.Parse()
	if !*browser {
		*loads = 0
	}
	if err := run(*results, *perReport, *namespaces, *requests, *loads); err != nil {
		fmt.Fprintln(os.Stderr, "consolebench:", err)
		os.Exit(1)
	}
}

func run(results, perReport, namespaces, requests, loads int) error {
	before := liveHeap()
	s := store.New(nil, nil, logr.Discard())
	for i := range results / perReport {
		// The store's informers drop the raw report once converted, as here.
		s.Put(report.FromPolicyReport(kyvernoReport(i, perReport, namespaces)))
	}
	stored := liveHeap()
	n := s.Results()
	fmt.Printf("store: %d results in %d reports over %d namespaces: %.0f B/result (live heap after GC)\n",
		n, s.Len(), namespaces, float64(stored-before)/float64(n))

	ps := people(namespaces)
	if loads > 0 {
		return browse(s, ps, loads)
	}
	byName := map[string]person{}
	for _, p := range ps {
		byName[p.name] = p
	}
	timed := &timing{}
	srv, base, err := serve(timed.wrap(api.New(api.Options{
		Source: s, Authenticator: tokens(byName), Log: logr.Discard(),
		Scoper: access.New(rbac(byName), access.Options{TTL: time.Hour}),
	})))
	if err != nil {
		return err
	}
	defer func() { _ = srv.Close() }()

	fmt.Printf("\n%-34s %-15s %8s %8s %8s %10s %s\n", "request", "person", "p50", "p99", "max", "bytes", "target (p99)")
	failed := false
	for _, c := range cases {
		for _, p := range ps {
			st, err := measure(base, c, p.name, requests, timed)
			if err != nil {
				return fmt.Errorf("%s as %s: %w", c.name, p.name, err)
			}
			verdict := ""
			if c.target > 0 {
				verdict = fmt.Sprintf("< %v ok", c.target)
				if st.p99 >= c.target {
					verdict, failed = fmt.Sprintf("< %v MISSED", c.target), true
				}
			}
			fmt.Printf("%-34s %-15s %8s %8s %8s %10d %s\n", c.name, p.name, ms(st.p50), ms(st.p99), ms(st.max), st.bytes, verdict)
		}
	}
	serving := liveHeap()
	fmt.Printf("\nheap after serving: %.0f B/result above the empty process (store, engine's reused buffers, caches)\n",
		float64(serving-before)/float64(n))
	runtime.KeepAlive(s)
	if failed {
		return fmt.Errorf("a target was missed")
	}
	return nil
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }
