package ui_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// policy follows a result's policy to its page: the title from its annotations, a rule per
// row, and on to a resource of its results.
func (b *tab) policy(t *testing.T, e *env, shots string) {
	b.run(t, chromedp.Navigate(e.base+"/results?namespace=team-a&policy=require-labels"), chromedp.WaitVisible(chromedp.CSS(`table.results`)))
	b.follow(t, chromedp.Click(chromedp.CSS(`table.results tbody a[href="/policies/require-labels"]`), chromedp.NodeVisible))
	if loc := b.location(t, e); loc != "/policies/require-labels" {
		t.Errorf("the policy link opened %s", loc)
	}
	if got := b.text(t, "h1"); got != "Require Labels" {
		t.Errorf("the policy page is headed %q, want its title annotation", got)
	}
	rules := value(t, b, chromedp.Evaluate[int](`document.querySelectorAll("section[aria-labelledby=p-rules] tbody tr").length`))
	if rules != 3 {
		t.Errorf("the policy page shows %d rules, want 3", rules)
	}
	b.shot(t, shots, "policy")
	b.follow(t, chromedp.Click(chromedp.CSS(`section[aria-labelledby=p-results] a[href="/namespaces/team-a/resources/Pod/web"]`), chromedp.NodeVisible))
	if loc := b.location(t, e); loc != "/namespaces/team-a/resources/Pod/web" {
		t.Errorf("the resource link opened %s", loc)
	}
}

// resource opens a failing Kyverno result's PolicyException and copies it with its button:
// the clipboard then holds the manifest shown; its "Delivered to" link opens the channel's
// health row.
func (b *tab) resource(t *testing.T, e *env, shots string) {
	b.call(t, func(ctx context.Context) error {
		_, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: "clipboard-write"}, Setting: browser.PermissionSettingGranted, Origin: e.base})
		if err != nil {
			return err
		}
		_, err = chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: "clipboard-read"}, Setting: browser.PermissionSettingGranted, Origin: e.base})
		return err
	})
	b.run(t, chromedp.Navigate(e.base+"/namespaces/team-a/resources/Pod/web"),
		chromedp.Click(chromedp.CSS(`details.exception summary`), chromedp.NodeVisible),
		chromedp.Click(chromedp.CSS(`details.exception button.copy`), chromedp.NodeVisible),
		chromedp.WaitVisible(`//button[normalize-space(.)="Copied"]`))
	shown := b.text(t, "details.exception pre")
	copied := value(t, b, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAsValue, chromedp.EvalAwaitPromise))
	if !strings.Contains(copied, "kind: PolicyException") || strings.TrimSpace(copied) != strings.TrimSpace(shown) {
		t.Errorf("the clipboard holds %q, the page shows %q", copied, shown)
	}
	b.shot(t, shots, "resource")
	// "Delivered to" links to the channel's row on the health page, which the browser targets.
	b.follow(t, chromedp.Click(chromedp.CSS(`.finding .delivered a[href="/health#TargetChannel-team-a-chan-a"]`), chromedp.NodeVisible))
	if loc := b.location(t, e); loc != "/health#TargetChannel-team-a-chan-a" {
		t.Errorf("the Delivered to link opened %s", loc)
	}
	if id := value(t, b, chromedp.Evaluate[string](`document.querySelector("tr:target")?.id ?? ""`)); id != "TargetChannel-team-a-chan-a" {
		t.Errorf("the health page targets the row %q, want the channel's", id)
	}
	// The Trivy adapter's results, by the Pod their report names as owner, advisories as links.
	b.run(t, chromedp.Navigate(e.base+"/namespaces/team-b/resources/Pod/"+trivyPod), chromedp.WaitVisible(chromedp.CSS(`.findings`)))
	links := value(t, b, chromedp.Evaluate[int](`document.querySelectorAll('.props a[href^="https://avd.aquasec.com/"]').length`))
	if links != 2 {
		t.Errorf("the Trivy Pod's page links %d advisories, want 2", links)
	}
	b.shot(t, shots, "resource-trivy")
}

// health opens the health page from the navigation; a channel links to its target's row.
func (b *tab) health(t *testing.T, e *env, shots string) {
	b.run(t, chromedp.Navigate(e.base+"/"))
	b.follow(t, chromedp.Click(`//nav//a[text()="Health"]`))
	rows := value(t, b, chromedp.Evaluate[int](`document.querySelectorAll("table.health tbody tr").length`))
	notReady := value(t, b, chromedp.Evaluate[int](`document.querySelectorAll("table.health tbody tr.not-ready").length`))
	if rows != 5 || notReady != 1 {
		t.Errorf("the health page shows %d objects, %d not ready; want 5 and 1", rows, notReady)
	}
	b.run(t, chromedp.Click(chromedp.CSS(`a[href="#NotificationTarget-team-a-hook-a"]`), chromedp.NodeVisible))
	if loc := b.location(t, e); loc != "/health#NotificationTarget-team-a-hook-a" {
		t.Errorf("the channel's target link opened %s", loc)
	}
	b.shot(t, shots, "health")
	const overflow = `document.documentElement.scrollWidth - window.innerWidth`
	b.run(t, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile), chromedp.Reload())
	for _, path := range []string{"/health", "/policies/require-labels", "/namespaces/team-a/resources/Pod/web"} {
		b.run(t, chromedp.Navigate(e.base+path), chromedp.WaitVisible(chromedp.CSS(`footer`)))
		if n := value(t, b, chromedp.Evaluate[int](overflow)); n > 0 {
			t.Errorf("%s is %dpx wider than a phone", path, n)
		}
	}
	b.shot(t, shots, "phone-resource")
	b.run(t, chromedp.ResetViewport())
}
