package main

import (
	"context"
	"fmt"
	"net/url"
	"os/exec"
	"slices"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/go-logr/logr"

	"github.com/policyherald/policy-herald/internal/console/access"
	"github.com/policyherald/policy-herald/internal/console/ui"
	"github.com/policyherald/policy-herald/internal/store"
)

// A page is what the browser mode loads: a page of the console and what shows it rendered.
type pageCase struct {
	name, path, ready string        // ready: a CSS selector the rendered page has
	target            time.Duration // the p99 target for the load event; 0 for none
}

var pageCases = []pageCase{
	{"overview page", "/", "#w-status", time.Second},
	{"filtered grouped results page", "/results?status=fail&status=warn&severity=high&severity=critical&q=PRIVILEGED+mode&groupBy=namespace&sort=policy&limit=100", "nav.groups", 0},
}

// browse serves the real pages of s (package ui, with its CSP) on loopback and loads each page
// loads times per person in headless chromium with its cache disabled, printing p50/p99 of
// the Navigation Timing load event and the first contentful paint.
func browse(s *store.Store, ps []person, loads int) error {
	exe, err := exec.LookPath("chromium")
	if err != nil {
		return fmt.Errorf("the browser mode needs Debian's chromium: apt-get install chromium (%v)", err)
	}
	byName := map[string]person{}
	for _, p := range ps {
		byName[p.name] = p
	}
	srv, base, err := serve(ui.SecurityHeaders(ui.New(ui.Options{
		Source: s, Authenticator: tokens(byName), Log: logr.Discard(),
		Scoper: access.New(rbac(byName), access.Options{TTL: time.Hour}),
	})))
	if err != nil {
		return err
	}
	defer func() { _ = srv.Close() }()
	ctx, stop := chromium(exe)
	defer stop()

	fmt.Printf("\nheadless chromium, cache disabled, %d loads each (after 2 to warm up), from navigation start:\n", loads)
	fmt.Printf("%-30s %-14s %9s %9s %9s %9s %9s %9s %s\n", "page", "person",
		"HTML p50", "HTML p99", "load p50", "load p99", "FCP p50", "FCP p99", "target (load p99)")
	failed := false
	for _, c := range pageCases {
		for _, p := range ps {
			html, load, fcp, err := loadTimes(ctx, base, c, p.name, loads)
			if err != nil {
				return fmt.Errorf("%s as %s: %w", c.name, p.name, err)
			}
			verdict := ""
			if c.target > 0 {
				verdict = fmt.Sprintf("< %v ok", c.target)
				if load.p99 >= c.target {
					verdict, failed = fmt.Sprintf("< %v MISSED", c.target), true
				}
			}
			fmt.Printf("%-30s %-14s %9s %9s %9s %9s %9s %9s %s\n", c.name, p.name,
				ms(html.p50), ms(html.p99), ms(load.p50), ms(load.p99), ms(fcp.p50), ms(fcp.p99), verdict)
		}
	}
	if failed {
		return fmt.Errorf("a target was missed")
	}
	return nil
}

// chromium starts a headless browser with a laptop's window.
func chromium(exe string) (context.Context, func()) {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	return ctx, func() { cancel(); cancelAlloc() }
}

// timings waits for the load event's start and the first contentful paint of the page just
// loaded, in milliseconds from navigation start, and whether the page has the ready selector.
const timings = `new Promise(done => { const poll = () => {
  const nav = performance.getEntriesByType("navigation")[0];
  const fcp = performance.getEntriesByName("first-contentful-paint")[0];
  if (nav && nav.loadEventStart > 0 && fcp) {
    done({html: nav.responseEnd, load: nav.loadEventStart, fcp: fcp.startTime, ready: document.querySelector(%q) !== null});
  } else { setTimeout(poll, 5); }
}; poll(); })`

type pageTimes struct {
	HTML, Load, FCP float64 // the page's HTML received, the load event, the first contentful paint
	Ready           bool
}

// loadTimes loads c as person n+2 times and returns the distributions of the last n.
func loadTimes(ctx context.Context, base string, c pageCase, person string, n int) (html, load, fcp stats, err error) {
	if err := authorize(ctx, person); err != nil {
		return stats{}, stats{}, stats{}, err
	}
	var htmls, loads, paints []time.Duration
	for i := range n + 2 {
		t, err := loadOnce(ctx, base+c.path, c.ready)
		if err != nil {
			return stats{}, stats{}, stats{}, err
		}
		if i >= 2 {
			htmls, loads, paints = append(htmls, millis(t.HTML)), append(loads, millis(t.Load)), append(paints, millis(t.FCP))
		}
	}
	return distribution(htmls), distribution(loads), distribution(paints), nil
}

// authorize makes every request of the tab send person's token, and none come from its cache.
func authorize(ctx context.Context, person string) error {
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		return err
	}
	if _, err := chromedp.Call(ctx, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: true}); err != nil {
		return err
	}
	_, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
		Headers: network.Headers{"Authorization": "Bearer " + person}})
	return err
}

// loadOnce navigates to address and returns its timings.
func loadOnce(ctx context.Context, address, ready string) (pageTimes, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(address)); err != nil {
		return pageTimes{}, err
	}
	t, err := chromedp.Run(ctx, chromedp.Evaluate[pageTimes](fmt.Sprintf(timings, ready), chromedp.EvalAwaitPromise))
	if err == nil && !t.Ready {
		u, _ := url.Parse(address)
		err = fmt.Errorf("%s loaded without %s: not the page measured", u.RequestURI(), ready)
	}
	return t, err
}

func millis(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }

func distribution(times []time.Duration) stats {
	slices.Sort(times)
	return stats{p50: times[len(times)/2], p99: times[(len(times)*99+99)/100-1], max: times[len(times)-1]}
}
