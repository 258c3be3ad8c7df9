package ui_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/policyherald/policy-herald/internal/testing/wait"
)

// chromium is Debian's browser the test drives.
const chromium = "chromium"

// TestBrowser clicks through the console in a real, headless chromium: the overview, a count
// linking to the results, filters, grouping, sorting, paging, back and forward, an export
// downloaded, a live update arriving without a reload, the namespace page, a policy, a
// resource with its PolicyException copied, the delivery health, the no-access page, a
// phone's width, and last the whole sign-in of a person without a header (signIn). It writes
// screenshots to $POLICY_HERALD_SCREENSHOTS (default: a temporary directory). Until then the
// browser sends a real token of the test cluster as Authorization: Bearer. A page that breaks
// the CSP (a script or style it refuses) fails it.
func TestBrowser(t *testing.T) {
	exe, err := exec.LookPath(chromium)
	if err != nil {
		t.Fatalf("the browser tests need Debian's chromium: apt-get install chromium (%v)", err)
	}
	e := console(t)
	shots := os.Getenv("POLICY_HERALD_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	b := newBrowser(t, exe)
	b.as(t, e, "carol")

	t.Run("overview", func(t *testing.T) { b.overview(t, e, shots) })
	t.Run("results", func(t *testing.T) { b.results(t, e, shots) })
	t.Run("export", func(t *testing.T) { b.export(t, e) })
	t.Run("live", func(t *testing.T) { b.live(t, e) })
	t.Run("namespace", func(t *testing.T) { b.namespace(t, e, shots) })
	t.Run("policy", func(t *testing.T) { b.policy(t, e, shots) })
	t.Run("resource", func(t *testing.T) { b.resource(t, e, shots) })
	t.Run("health", func(t *testing.T) { b.health(t, e, shots) })
	t.Run("phone", func(t *testing.T) { b.phone(t, e, shots) })
	t.Run("no access", func(t *testing.T) { b.noAccess(t, e, shots) })
	t.Run("sign in", func(t *testing.T) { b.signIn(t, e, shots) })
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.problems) > 0 {
		t.Errorf("the browser reported: %s", strings.Join(b.problems, "\n"))
	}
}

// tab is the browser's one tab, with what its console and the CSP reported.
type tab struct {
	ctx      context.Context
	download string
	mu       sync.Mutex
	problems []string
	token    string // the person's token, added to every request
}

func newBrowser(t *testing.T, exe string) *tab {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	b := &tab{ctx: ctx, download: t.TempDir()}
	if err := chromedp.Listen(ctx, b.listen); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	b.call(t, func(ctx context.Context) error {
		if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		if _, err := chromedp.Call(ctx, runtime.Enable, cdp.Empty{}); err != nil {
			return err
		}
		if _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); err != nil {
			return err
		}
		if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{}); err != nil {
			return err
		}
		_, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: b.download, EventsEnabled: ptr(true)})
		return err
	})
	return b
}

func ptr[T any](v T) *T { return &v }

// listen notes the page's exceptions, console errors and the browser's complaints (a CSP
// violation is one); it runs in the tab's message loop, so it only appends.
func (b *tab) listen(ev any) {
	var problem string
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		problem = "exception: " + ev.ExceptionDetails.Text
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError {
			problem = fmt.Sprintf("console error: %v", ev.Args)
		}
	case *fetch.EventRequestPaused:
		go b.authorize(ev)
		return
	case *cdplog.EventEntryAdded:
		if ev.Entry.Level == cdplog.EntryLevelError && !strings.Contains(ev.Entry.Text, "favicon") {
			problem = fmt.Sprintf("%s: %s (%s)", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL)
		}
	}
	if problem != "" {
		b.mu.Lock()
		b.problems = append(b.problems, problem)
		b.mu.Unlock()
	}
}

// call runs fn with the tab's context and a deadline, failing the test on an error. The deadline
// is a safeguard against a hung browser, generous because a loaded 2-core machine can be slow.
func (b *tab) call(t *testing.T, fn func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 45*time.Second)
	defer cancel()
	if err := fn(ctx); err != nil {
		t.Fatal(err)
	}
}

// run runs steps, failing the test on an error.
func (b *tab) run(t *testing.T, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	b.call(t, func(ctx context.Context) error { return chromedp.Do(ctx, steps...) })
}

// value runs an action that returns a value.
func value[T any](t *testing.T, b *tab, a chromedp.Action[T]) T {
	t.Helper()
	var v T
	b.call(t, func(ctx context.Context) (err error) {
		v, err = chromedp.Run(ctx, a)
		return err
	})
	return v
}

// follow runs a step that opens another page (a click on a link, a form sent) and waits for
// that page to load, so that the steps after it see the new page, not the old one.
func (b *tab) follow(t *testing.T, step chromedp.Action[chromedp.Void]) {
	t.Helper()
	value(t, b, chromedp.WaitEvent(page.LoadEventFired, nil, step))
}

// history goes back or forward in the tab's history and waits for the address to be want. The
// browser may show the page from its back/forward cache, which fires no load event, so the
// address is what tells.
func (b *tab) history(t *testing.T, e *env, direction, want string) {
	t.Helper()
	b.run(t, chromedp.Evaluate[chromedp.Void](`history.`+direction+`()`))
	if !wait.Until(30*time.Second, func() bool { return b.location(t, e) == want }) {
		t.Fatalf("%s: the tab shows %s, want %s", direction, b.location(t, e), want)
	}
	b.run(t, chromedp.WaitReady(chromedp.CSS(`footer`)))
}

// as makes the browser send person's token; "" sends none.
func (b *tab) as(_ *testing.T, e *env, person string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.token = e.Tokens[person]
}

// authorize lets a paused request go on with the person's token. Every request of the tab is
// paused for it, downloads included, which network.SetExtraHTTPHeaders does not reach (the
// browser's download manager sends them).
func (b *tab) authorize(ev *fetch.EventRequestPaused) {
	b.mu.Lock()
	token := b.token
	b.mu.Unlock()
	var headers []*fetch.HeaderEntry
	if token != "" {
		headers = append(headers, &fetch.HeaderEntry{Name: "Authorization", Value: "Bearer " + token})
	}
	for k, v := range ev.Request.Headers {
		if !strings.EqualFold(k, "Authorization") {
			headers = append(headers, &fetch.HeaderEntry{Name: k, Value: fmt.Sprint(v)})
		}
	}
	_, _ = chromedp.Call(b.ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID, Headers: headers})
}

// text returns the text of the first node the CSS selector sel matches.
func (b *tab) text(t *testing.T, sel string) string {
	t.Helper()
	return value(t, b, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible))
}

// location returns the tab's address, without the console's base.
func (b *tab) location(t *testing.T, e *env) string {
	t.Helper()
	return strings.TrimPrefix(value(t, b, chromedp.Location()), e.base)
}

// shot writes a screenshot of the whole page.
func (b *tab) shot(t *testing.T, dir, name string) {
	t.Helper()
	png := value(t, b, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func (b *tab) overview(t *testing.T, e *env, shots string) {
	b.run(t, chromedp.Navigate(e.base+"/"), chromedp.WaitVisible(chromedp.CSS("#w-status")))
	if got := b.text(t, "#w-status + .total strong"); got != num(e.Total()) {
		t.Errorf("the overview counts %s results, want %d", got, e.Total())
	}
	b.shot(t, shots, "overview")
	// The keyboard reaches the skip link first, and it is visible once focused.
	b.run(t, chromedp.KeyEvent("\t"))
	focused := value(t, b, chromedp.Evaluate[string](`document.activeElement.className`))
	if focused != "skip" {
		t.Errorf("the first Tab focuses %q, want the skip link", focused)
	}
	// A count links to the results it counts.
	b.follow(t, chromedp.Click(chromedp.CSS(`.counts .c-fail a`), chromedp.NodeVisible))
	if loc := b.location(t, e); loc != "/results?status=fail" {
		t.Errorf("the Fail count opened %s", loc)
	}
	other := value(t, b, chromedp.Evaluate[int](`[...document.querySelectorAll("table.results tbody td:first-child .tag")].filter(x => x.textContent !== "fail").length`))
	if other != 0 {
		t.Errorf("the failing results show %d results of another status", other)
	}
}

func (b *tab) results(t *testing.T, e *env, shots string) {
	b.run(t, chromedp.Navigate(e.base+"/results"), chromedp.SendKeys(chromedp.CSS(`#f-namespace`), "team-b"))
	b.follow(t, chromedp.Submit(chromedp.CSS(`#f-namespace`)))
	if loc := b.location(t, e); !strings.Contains(loc, "namespace=team-b") {
		t.Errorf("filtering by namespace opened %s", loc)
	}
	if got := b.text(t, ".summary strong"); got != num(e.Results["team-b"]) {
		t.Errorf("team-b has %s results, want %d", got, e.Results["team-b"])
	}
	// Grouping.
	b.run(t, chromedp.SetValue(chromedp.CSS(`#f-groupBy`), "policy"))
	b.follow(t, chromedp.Submit(chromedp.CSS(`#f-groupBy`)))
	if got := b.text(t, "nav.groups h2"); !strings.HasSuffix(got, "groups by policy") {
		t.Errorf("the groups are headed %q", got)
	}
	b.shot(t, shots, "results-grouped")
	// Sorting: a header sorts ascending, again descending.
	const severity = `//th/a[starts-with(normalize-space(.), "Severity")]`
	b.run(t, chromedp.Navigate(e.base+"/results?limit=25"))
	b.follow(t, chromedp.Click(severity))
	b.run(t, chromedp.WaitVisible(chromedp.CSS(`th[aria-sort="ascending"]`)))
	b.follow(t, chromedp.Click(severity))
	b.run(t, chromedp.WaitVisible(chromedp.CSS(`th[aria-sort="descending"]`)))
	if got := b.text(t, "table.results tbody tr td:nth-child(2)"); got != "critical" {
		t.Errorf("sorted by severity, most severe first, the first row is %q", got)
	}
	// Paging, then back and forward.
	first := b.location(t, e)
	b.follow(t, chromedp.Click(chromedp.CSS(`a[rel="next"]`), chromedp.NodeVisible))
	if got := b.text(t, ".summary p"); !strings.Contains(got, "showing 26–") {
		t.Errorf("the second page says %q", got)
	}
	paged := b.location(t, e)
	b.history(t, e, "back", first)
	if got := b.text(t, ".summary p"); !strings.Contains(got, "showing 1–25") {
		t.Errorf("back from the second page shows %q", got)
	}
	b.history(t, e, "forward", paged)
	if got := b.text(t, ".summary p"); !strings.Contains(got, "showing 26–") {
		t.Errorf("forward to the second page shows %q", got)
	}
}

func (b *tab) export(t *testing.T, e *env) {
	b.run(t, chromedp.Navigate(e.base+"/results?namespace=team-a&status=fail"),
		chromedp.Click(chromedp.CSS(`.export a[href*="format=csv"]`), chromedp.NodeVisible))
	rows, err := csv.NewReader(strings.NewReader(b.downloaded(t))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := total(e.page(t, "carol", "/results?namespace=team-a&status=fail"))
	if len(rows)-1 != want || want == 0 {
		t.Errorf("the export holds %d results, the page says %d", len(rows)-1, want)
	}
}

// downloaded waits for the one download of the test and returns its content. The browser
// names a download by its GUID and writes it under another name until it is complete.
func (b *tab) downloaded(t *testing.T) string {
	t.Helper()
	var data []byte
	done := wait.Until(30*time.Second, func() bool {
		files, err := os.ReadDir(b.download)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if !strings.HasSuffix(f.Name(), ".crdownload") {
				if data, err = os.ReadFile(filepath.Join(b.download, f.Name())); err != nil {
					t.Fatal(err)
				}
				return true
			}
		}
		return false
	})
	if !done {
		t.Fatal("the export did not download")
	}
	return string(data)
}

func (b *tab) live(t *testing.T, e *env) {
	b.run(t, chromedp.Navigate(e.base+"/results?namespace=team-a&groupBy=policy"), chromedp.WaitVisible(chromedp.CSS(`table.results`)),
		chromedp.Evaluate[chromedp.Void](`window.notReloaded = true`))
	before := total(value(t, b, chromedp.OuterHTML(chromedp.CSS(`.summary`))))
	b.run(t, chromedp.WaitReady(chromedp.CSS(`#live[data-stream="open"]`))) // the console has registered the event stream
	e.touch(t, "team-a", "xss")
	b.run(t, chromedp.WaitVisible(chromedp.CSS(`#live[data-revision]`)))
	kept := value(t, b, chromedp.Evaluate[bool](`window.notReloaded === true`))
	if got := b.text(t, ".summary strong"); got != num(before+1) || !kept {
		t.Errorf("after the change the page shows %s results (reloaded: %v), want %d without a reload", got, !kept, before+1)
	}
	if got := b.text(t, "#updated"); !strings.HasPrefix(got, "Updated at") {
		t.Errorf("the page says %q after the update", got)
	}
}

func (b *tab) namespace(t *testing.T, e *env, shots string) {
	b.run(t, chromedp.Navigate(e.base+"/"))
	b.follow(t, chromedp.Click(`//section[@aria-labelledby="w-namespaces"]//a[text()="team-a"]`))
	if loc := b.location(t, e); loc != "/namespaces/team-a" {
		t.Errorf("the namespace link opened %s", loc)
	}
	b.shot(t, shots, "namespace")
	b.follow(t, chromedp.Click(chromedp.CSS(`.lead a`)))
	if loc := b.location(t, e); loc != "/results?namespace=team-a" {
		t.Errorf("the namespace's results link opened %s", loc)
	}
}

func (b *tab) phone(t *testing.T, e *env, shots string) {
	const overflow = `document.documentElement.scrollWidth - window.innerWidth`
	b.run(t, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		chromedp.Navigate(e.base+"/"), chromedp.WaitVisible(chromedp.CSS(`#w-status`)))
	if n := value(t, b, chromedp.Evaluate[int](overflow)); n > 0 {
		t.Errorf("the overview is %dpx wider than a phone", n)
	}
	b.shot(t, shots, "phone")
	b.run(t, chromedp.Navigate(e.base+"/results?groupBy=namespace"), chromedp.WaitVisible(chromedp.CSS(`table.results`)))
	if n := value(t, b, chromedp.Evaluate[int](overflow)); n > 0 {
		t.Errorf("the results page is %dpx wider than a phone (its table scrolls in its box)", n)
	}
	b.shot(t, shots, "phone-results")
	b.run(t, chromedp.ResetViewport())
}

func (b *tab) noAccess(t *testing.T, e *env, shots string) {
	b.as(t, e, "bob")
	defer b.as(t, e, "carol")
	b.run(t, chromedp.Navigate(e.base+"/"), chromedp.WaitVisible(chromedp.CSS(`.empty`)))
	if got := b.text(t, ".empty p"); !strings.Contains(got, "you may not list policyreports or reports") {
		t.Errorf("the no-access page says %q", got)
	}
	b.shot(t, shots, "no-access")
}
