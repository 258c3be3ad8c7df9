package login_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/policyherald/policy-herald/internal/console/consoletest"
)

// TestOIDCLoginInChromium signs in with Debian's chromium: the login cookie must survive the
// redirect back from the provider (another origin and scheme: SameSite=Lax sends it on that
// top-level navigation), and the session cookie must come with the next request.
func TestOIDCLoginInChromium(t *testing.T) {
	w := cluster(t)
	c := newConsole(t, w, w.op, nil)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath("/usr/bin/chromium"),
		chromedp.Flag("ignore-certificate-errors", true), // the provider's certificate is httptest's
		chromedp.NoSandbox,
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancelTab := chromedp.NewContext(actx)
	defer cancelTab()
	// The browser lives as long as the context of its first action: no timeout on that one.
	if err := chromedp.Do(ctx, chromedp.Navigate(c.url+c.login.LoginURL("/api/v1/access"))); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	tctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	err := chromedp.Do(tctx,
		chromedp.Click(`a[href^="/login/oidc"]`, chromedp.NodeVisible),
		chromedp.WaitVisible(`#username`),
		chromedp.SendKeys(`#username`, "alice"),
		chromedp.SendKeys(`#password`, password),
		chromedp.Submit(`#username`),
		// The API's JSON (chromium shows it in a pre) or the sign-in page's error.
		chromedp.WaitReady(`pre, [role=alert]`),
	)
	if err != nil {
		t.Fatalf("the login in chromium: %v", err)
	}
	body, err := chromedp.Run(tctx, chromedp.Text(`pre, [role=alert]`))
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(tctx, chromedp.Navigate(c.url+"/api/v1/results"), chromedp.WaitReady(`pre`)); err != nil {
		t.Fatal(err)
	}
	after, err := chromedp.Run(tctx, chromedp.Text(`pre`))
	if err != nil {
		t.Fatal(err)
	}
	var a consoletest.Access
	if err := json.Unmarshal([]byte(body), &a); err != nil {
		t.Fatalf("after the login chromium shows %q: %v", body, err)
	}
	if a.User.Name != w.op.issuer+"#alice-id" || strings.Join(a.Namespaced["Report"].Namespaces, ",") != "team-a" {
		t.Errorf("after the login in chromium: %+v, want alice seeing team-a", a)
	}
	if !strings.Contains(after, `"total":2`) {
		t.Errorf("the next page in chromium: %s, want alice's 2 results", after)
	}
}
