package login_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/policyherald/policy-herald/internal/console/consoletest"
	"github.com/policyherald/policy-herald/internal/console/login"
)

const proxySecret = "the-proxy-shared-secret"

// noFollow is c without following redirects.
func noFollow(c *http.Client) *http.Client {
	cc := *c
	cc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cc
}

// tokenForm posts the token login form with the headers a browser sends from origin.
func tokenForm(t *testing.T, b browser, c *console, token, next, site, origin string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.url+"/login/token", strings.NewReader(url.Values{"token": {token}, "next": {next}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if site != "" {
		req.Header.Set("Sec-Fetch-Site", site)
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := noFollow(b.Client).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestTokenLogin: a pasted ServiceAccount token is reviewed and its user kept in the session;
// a token the API server does not accept gets no session.
func TestTokenLogin(t *testing.T) {
	w := cluster(t)
	c := newConsole(t, w, w.op, nil)
	b := newBrowser(t, w.op)
	resp := tokenForm(t, b, c, "not-a-token", "/", "same-origin", c.url)
	if body := read(t, resp); resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 || !strings.Contains(body, "did not accept") {
		t.Errorf("a wrong token: %d, cookies %v, want 401 and none\n%s", resp.StatusCode, resp.Cookies(), body)
	}
	resp = tokenForm(t, b, c, w.Tokens["sam"], "/api/v1/access", "same-origin", c.url)
	read(t, resp)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/api/v1/access" {
		t.Fatalf("sam's token: %d to %q, want 303 to /api/v1/access", resp.StatusCode, resp.Header.Get("Location"))
	}
	for _, ck := range resp.Cookies() {
		if strings.Contains(ck.Value, w.Tokens["sam"][:20]) {
			t.Errorf("the session cookie holds the token")
		}
	}
	// sam's token is valid for an hour: the session is not longer, for all the 8h maximum.
	for _, ck := range resp.Cookies() {
		if ck.Name == "policy-herald-session" && (ck.MaxAge > 3601 || ck.MaxAge < 3500) {
			t.Errorf("a session of an hour's token lasts %ds", ck.MaxAge)
		}
	}
	a := decode[consoletest.Access](t, b.get(t, c, "/api/v1/access"))
	if a.User.Name != "system:serviceaccount:people:sam" || !slices.Contains(a.User.Groups, "system:serviceaccounts:people") {
		t.Errorf("signed in as %q %q, want sam with the TokenReview's groups", a.User.Name, a.User.Groups)
	}
	if n := b.total(t, c); n != reportsIn["team-b"] {
		t.Errorf("sam sees %d results, want team-b's %d", n, reportsIn["team-b"])
	}
}

// TestCrossOriginPostsRefused: the token login and the logout, the console's two POSTs, are
// refused when a browser says they come from another site (Sec-Fetch-Site, or an Origin that
// is not the console's host).
func TestCrossOriginPostsRefused(t *testing.T) {
	w := cluster(t)
	c := newConsole(t, w, w.op, nil)
	b := newBrowser(t, w.op)
	for _, h := range []struct{ site, origin string }{{"cross-site", "https://evil.example"}, {"", "https://evil.example"}} {
		resp := tokenForm(t, b, c, w.Tokens["sam"], "/", h.site, h.origin)
		if read(t, resp); resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 {
			t.Errorf("a cross-origin token login (%+v): %d, cookies %v, want 403 and none", h, resp.StatusCode, resp.Cookies())
		}
	}
	if resp := tokenForm(t, b, c, w.Tokens["sam"], "/", "same-origin", c.url); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("a same-origin token login: %d, want 303", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPost, c.url+"/logout", nil)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "https://evil.example")
	resp, err := noFollow(b.Client).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if read(t, resp); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a cross-site logout: %d, want 403", resp.StatusCode)
	}
	if n := b.total(t, c); n != reportsIn["team-b"] {
		t.Errorf("after a refused logout sam sees %d results, want still %d", n, reportsIn["team-b"])
	}
}

// TestTamperedCookieRefused: a session cookie changed by one character, or sealed by another
// key, is refused.
func TestTamperedCookieRefused(t *testing.T) {
	w := cluster(t)
	c := newConsole(t, w, w.op, nil)
	other := newConsole(t, w, w.op, func(o *login.Options) { o.SessionKeys = [][]byte{[]byte("another key of thirty-two bytes or more")} })
	b := newBrowser(t, w.op)
	decode[consoletest.Access](t, b.signIn(t, c, w.op, "alice", "/api/v1/access"))
	u, _ := url.Parse(c.url)
	var value string
	for _, ck := range b.Jar.Cookies(u) {
		if ck.Name == "policy-herald-session" {
			value = ck.Value
		}
	}
	if value == "" {
		t.Fatal("no session cookie after the login")
	}
	flipped := []byte(value)
	i := len(flipped) / 2
	flipped[i] = map[bool]byte{true: 'B', false: 'A'}[flipped[i] == 'A']
	for name, tc := range map[string]struct {
		c     *console
		value string
	}{"tampered": {c, string(flipped)}, "sealed by another key": {other, value}} {
		req, _ := http.NewRequest(http.MethodGet, tc.c.url+"/api/v1/access", nil)
		req.AddCookie(&http.Cookie{Name: "policy-herald-session", Value: tc.value})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if body := read(t, resp); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "not valid") {
			t.Errorf("a cookie %s: %d %s, want 401", name, resp.StatusCode, body)
		}
	}
}

// TestNoOpenRedirect: where a login returns to is a path on the console, whatever next says.
func TestNoOpenRedirect(t *testing.T) {
	w := cluster(t)
	c := newConsole(t, w, w.op, nil)
	evil := []string{"https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)", "evil", "/%0d%0aSet-Cookie:x=y"}
	for _, next := range evil {
		b := newBrowser(t, w.op)
		resp := tokenForm(t, b, c, w.Tokens["sam"], next, "same-origin", c.url)
		if loc := resp.Header.Get("Location"); loc != "/" && !(next[0] == '/' && next[1] == '%' && loc == next) {
			t.Errorf("token login with next=%q went to %q", next, loc)
		}
		if got := c.login.LoginURL(next); got != "/login?next=%2F" && next[1] != '%' {
			t.Errorf("LoginURL(%q) = %q, want the console's root", next, got)
		}
	}
	b := newBrowser(t, w.op)
	resp := b.signIn(t, c, w.op, "alice", "//evil.example/steal")
	read(t, resp)
	if got := resp.Request.URL.String(); got != c.url+"/" {
		t.Errorf("after an OIDC login with next=//evil.example/steal the browser is at %s, want %s/", got, c.url)
	}
}

// TestProxyHeadersNeedTheSecret: the proxy's user and groups headers count only with its shared
// secret; without it, or with a wrong one, they are ignored.
func TestProxyHeadersNeedTheSecret(t *testing.T) {
	w := cluster(t)
	c := newConsole(t, w, w.op, nil, login.Proxy{Secret: []byte(proxySecret)})
	for _, tc := range []struct {
		name, secret, user string
		want               int
	}{
		{"no secret", "", "carol", http.StatusUnauthorized},
		{"a wrong secret", "guess", "carol", http.StatusUnauthorized},
		{"the secret without a user", proxySecret, "", http.StatusUnauthorized},
		{"the secret", proxySecret, "carol", http.StatusOK},
	} {
		req, _ := http.NewRequest(http.MethodGet, c.url+"/api/v1/access", nil)
		req.Header.Set("X-Forwarded-User", tc.user)
		req.Header.Set("X-Forwarded-Groups", "oidc:team-a, oidc:nobody")
		if tc.secret != "" {
			req.Header.Set(login.DefaultProxySecretHeader, tc.secret)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, resp.StatusCode, read(t, resp), tc.want)
			continue
		}
		if tc.want != http.StatusOK {
			read(t, resp)
			continue
		}
		a := decode[consoletest.Access](t, resp)
		if a.User.Name != "carol" || !slices.Equal(a.User.Groups, []string{"oidc:team-a", "oidc:nobody", "system:authenticated"}) ||
			!slices.Equal(a.Namespaced["Report"].Namespaces, []string{"team-a"}) {
			t.Errorf("%s: %+v, want carol in oidc:team-a seeing team-a", tc.name, a)
		}
	}
}

// TestDevUserIsTheKubeconfigsUser: in development mode every request is the kubeconfig's user
// (here sam's token), learned with a SelfSubjectReview, and sees what that user may.
func TestDevUserIsTheKubeconfigsUser(t *testing.T) {
	w := cluster(t)
	cfg := rest.AnonymousClientConfig(w.Cfg)
	cfg.BearerToken = w.Tokens["sam"]
	u, err := login.DevUser(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if u.Name != "system:serviceaccount:people:sam" || !slices.Contains(u.Groups, "system:authenticated") {
		t.Fatalf("the dev user is %+v, want sam", u)
	}
	c := newConsole(t, w, w.op, nil, login.Dev{User: u})
	if n := (browser{http.DefaultClient}).total(t, c); n != reportsIn["team-b"] {
		t.Errorf("in dev mode a request without credentials sees %d results, want sam's %d", n, reportsIn["team-b"])
	}
	// A page of another site whose name was re-pointed at 127.0.0.1 (DNS rebinding).
	req, _ := http.NewRequest(http.MethodGet, c.url+"/api/v1/results", nil)
	req.Host = "evil.example:" + strings.Split(c.url, ":")[2]
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if read(t, resp); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("in dev mode a request for Host %s: %d, want 401", req.Host, resp.StatusCode)
	}
}

// TestCheckLoopback: development mode only binds loopback IP literals.
func TestCheckLoopback(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:8090": true, "[::1]:8090": true, "127.0.0.2:0": true,
		":8090": false, "0.0.0.0:8090": false, "[::]:8090": false, "10.0.0.1:8090": false, "localhost:8090": false, "8090": false,
	} {
		if err := login.CheckLoopback(addr); (err == nil) != ok {
			t.Errorf("CheckLoopback(%q) = %v, want ok=%v", addr, err, ok)
		}
	}
}

// TestCookieFlags: outside loopback development the cookies are __Host-, Secure, HttpOnly,
// SameSite=Lax and Path=/, and the sign-in page forbids every script and escapes next.
func TestCookieFlags(t *testing.T) {
	w := cluster(t)
	c := newConsole(t, w, w.op, func(o *login.Options) { o.Insecure = false })
	b := newBrowser(t, w.op)
	resp, err := noFollow(b.Client).Get(c.url + "/login/oidc?next=/")
	if err != nil {
		t.Fatal(err)
	}
	read(t, resp)
	cks := resp.Cookies()
	if len(cks) != 1 {
		t.Fatalf("starting a login set cookies %v, want the login cookie", cks)
	}
	ck := cks[0]
	if ck.Name != "__Host-policy-herald-login" || !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Domain != "" {
		t.Errorf("the login cookie %+v, want __Host-, Secure, HttpOnly, SameSite=Lax, Path=/", ck)
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	q := loc.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("nonce") == "" || q.Get("state") == "" {
		t.Errorf("the authorization request %s lacks PKCE S256, nonce or state", loc)
	}
	resp = b.get(t, c, "/login?next="+url.QueryEscape(`/x?a=1&b="><script>alert(1)</script>`))
	body := read(t, resp)
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script") {
		t.Errorf("the sign-in page's CSP is %q", csp)
	}
	if strings.Contains(body, "<script>") || !strings.Contains(body, `href="/login/oidc?next=%2fx%3fa%3d1%26b%3d%22%3e%3cscript%3e`) {
		t.Errorf("the sign-in page does not escape next:\n%s", body)
	}
}

// TestSessionKeyRotation: replicas with the same key accept each other's sessions; a console
// whose keys are a new one and then the old one opens the sessions the old key sealed, and seals new ones with the new key, which the old console does
// not open; a console with the new key alone refuses the old sessions.
func TestSessionKeyRotation(t *testing.T) {
	w := cluster(t)
	newKey := []byte("the new key, thirty-two bytes or more")
	old := newConsole(t, w, w.op, nil)
	rotated := newConsole(t, w, w.op, func(o *login.Options) { o.SessionKeys = [][]byte{newKey, sessionKey} })
	onlyNew := newConsole(t, w, w.op, func(o *login.Options) { o.SessionKeys = [][]byte{newKey} })
	replica := newConsole(t, w, w.op, nil)
	sessionFrom := func(c *console) string {
		resp := tokenForm(t, newBrowser(t, w.op), c, w.Tokens["sam"], "/", "same-origin", c.url)
		read(t, resp)
		for _, ck := range resp.Cookies() {
			if ck.Name == "policy-herald-session" {
				return ck.Value
			}
		}
		t.Fatalf("no session from %s", c.url)
		return ""
	}
	status := func(c *console, value string) int {
		req, _ := http.NewRequest(http.MethodGet, c.url+"/api/v1/access", nil)
		req.AddCookie(&http.Cookie{Name: "policy-herald-session", Value: value})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		read(t, resp)
		return resp.StatusCode
	}
	oldSession, newSession := sessionFrom(old), sessionFrom(rotated)
	for _, tc := range []struct {
		name    string
		c       *console
		session string
		want    int
	}{
		{"another replica with the same key", replica, oldSession, http.StatusOK},
		{"the rotated console, an old session", rotated, oldSession, http.StatusOK},
		{"the new key alone, an old session", onlyNew, oldSession, http.StatusUnauthorized},
		{"the new key alone, a new session", onlyNew, newSession, http.StatusOK},
		{"the old key alone, a new session", old, newSession, http.StatusUnauthorized},
	} {
		if got := status(tc.c, tc.session); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}
