package ui_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	wgpolicyv1alpha2 "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
)

// signIn is the whole sign-in of a person in the browser, with no Authorization header: alice
// opens a bookmarked results page, is sent to the sign-in page, pastes her Kubernetes token,
// lands on exactly the bookmark showing what her RBAC allows (team-a only), sees a live update
// arrive, signs out, and is sent to sign in again when she opens the bookmark again.
func (b *tab) signIn(t *testing.T, e *env, shots string) {
	const bookmark = "/results?namespace=team-a&status=fail"
	b.as(t, e, "") // no header: the session cookie is all the browser sends
	defer b.as(t, e, "carol")
	b.run(t, chromedp.EmulateViewport(1280, 900))
	defer b.run(t, chromedp.ResetViewport())
	b.run(t, chromedp.Navigate(e.base+bookmark), chromedp.WaitVisible(chromedp.CSS(`#token`)))
	if loc := b.location(t, e); loc != "/login?next="+url.QueryEscape(bookmark) {
		t.Errorf("the bookmark without credentials opened %s, want the sign-in page", loc)
	}
	b.shot(t, shots, "sign-in")
	b.run(t, chromedp.SendKeys(chromedp.CSS(`#token`), e.Tokens["alice"]))
	b.follow(t, chromedp.Submit(chromedp.CSS(`#token`)))
	if loc := b.location(t, e); loc != bookmark {
		t.Fatalf("signed in, the browser shows %s, want the bookmark %s", loc, bookmark)
	}
	b.signedInAsAlice(t, e, bookmark)
	b.shot(t, shots, "signed-in")
	b.liveFail(t, e)
	b.follow(t, chromedp.Click(chromedp.CSS(`form.signout button`), chromedp.NodeVisible))
	if loc := b.location(t, e); loc != "/login" {
		t.Errorf("signing out opened %s, want the sign-in page", loc)
	}
	b.run(t, chromedp.Navigate(e.base+bookmark), chromedp.WaitVisible(chromedp.CSS(`#token`)))
	if loc := b.location(t, e); !strings.HasPrefix(loc, "/login?") {
		t.Errorf("after signing out the bookmark opened %s, want the sign-in page", loc)
	}
}

// signedInAsAlice checks the page is alice's: her name, the Sign out button, the bookmark's
// results as carol (who sees everything) counts them, and an overview of team-a alone.
func (b *tab) signedInAsAlice(t *testing.T, e *env, bookmark string) {
	if got := b.text(t, ".user"); !strings.Contains(got, "alice") {
		t.Errorf("the header names %q, want alice", got)
	}
	want := total(e.page(t, "carol", bookmark))
	if got := b.text(t, ".summary strong"); got != num(want) || want == 0 {
		t.Errorf("the bookmark shows alice %s results, want %d", got, want)
	}
	b.run(t, chromedp.Navigate(e.base+"/"), chromedp.WaitVisible(chromedp.CSS(`#w-status`)))
	if got := b.text(t, "#w-status + .total strong"); got != num(e.Results["team-a"]) {
		t.Errorf("alice's overview counts %s results, want team-a's %d", got, e.Results["team-a"])
	}
	b.run(t, chromedp.Navigate(e.base+bookmark), chromedp.WaitVisible(chromedp.CSS(`form.signout`)))
}

// liveFail adds a failing result to team-a and waits for the page to show it without a reload.
func (b *tab) liveFail(t *testing.T, e *env) {
	b.run(t, chromedp.Evaluate[chromedp.Void](`window.notReloaded = true`))
	before := total(value(t, b, chromedp.OuterHTML(chromedp.CSS(`.summary`))))
	b.run(t, chromedp.WaitReady(chromedp.CSS(`#live[data-stream="open"]`))) // the console has registered the event stream
	e.addResult(t, "team-a", "xss", wgpolicyv1alpha2.PolicyReportResult{Policy: "signed-in", Result: "fail", Source: "test"})
	b.run(t, chromedp.WaitVisible(chromedp.CSS(`#live[data-revision]`)))
	kept := value(t, b, chromedp.Evaluate[bool](`window.notReloaded === true`))
	if got := b.text(t, ".summary strong"); got != num(before+1) || !kept {
		t.Errorf("after the change alice's page shows %s results (reloaded: %v), want %d without a reload", got, !kept, before+1)
	}
}
