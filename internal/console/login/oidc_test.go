package login_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/policyherald/policy-herald/internal/console/consoletest"
	"github.com/policyherald/policy-herald/internal/console/login"
)

// TestOIDCLoginMapsGroupsToRBAC signs in through the real provider: alice's groups claim, with
// the groups prefix, is bound to a report reader in team-a, so she sees team-a's results and
// nothing else; bob, in no group, sees nothing.
func TestOIDCLoginMapsGroupsToRBAC(t *testing.T) {
	w := cluster(t)
	c := newConsole(t, w, w.op, nil)
	b := newBrowser(t, w.op)
	a := decode[consoletest.Access](t, b.signIn(t, c, w.op, "alice", "/api/v1/access"))
	if want := w.op.issuer + "#alice-id"; a.User.Name != want {
		t.Errorf("user %q, want %q (kube-apiserver's default: the issuer URL and # before the sub claim)", a.User.Name, want)
	}
	if want := []string{"oidc:team-a", "system:authenticated"}; !slices.Equal(a.User.Groups, want) {
		t.Errorf("groups %q, want %q", a.User.Groups, want)
	}
	if got := a.Namespaced["Report"]; got.All || !slices.Equal(got.Namespaces, []string{"team-a"}) {
		t.Errorf("alice may see reports in %+v, want team-a only", got)
	}
	if n := b.total(t, c); n != reportsIn["team-a"] {
		t.Errorf("alice sees %d results, want team-a's %d", n, reportsIn["team-a"])
	}
	bob := newBrowser(t, w.op)
	a = decode[consoletest.Access](t, bob.signIn(t, c, w.op, "bob", "/api/v1/access"))
	if got := a.Namespaced["Report"]; got.All || len(got.Namespaces) != 0 {
		t.Errorf("bob may see reports in %+v, want nowhere", got)
	}
	if n := bob.total(t, c); n != 0 {
		t.Errorf("bob sees %d results, want none", n)
	}
}

// TestSessionExpires: a session ends with its ID token (the provider's are valid for an hour)
// or after the session's maximum age, whichever comes first; then the API answers 401.
func TestSessionExpires(t *testing.T) {
	w := cluster(t)
	for _, tc := range []struct {
		name   string
		maxAge time.Duration
		after  time.Duration
	}{
		{"with its ID token", 8 * time.Hour, time.Hour + time.Minute},
		{"after the maximum age", 30 * time.Minute, 31 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newConsole(t, w, w.op, func(o *login.Options) { o.SessionMaxAge = tc.maxAge })
			b := newBrowser(t, w.op)
			decode[consoletest.Access](t, b.signIn(t, c, w.op, "alice", "/api/v1/access"))
			c.clock.add(tc.after - 2*time.Minute)
			if n := b.total(t, c); n != reportsIn["team-a"] {
				t.Fatalf("before it expires alice sees %d results, want %d", n, reportsIn["team-a"])
			}
			c.clock.add(2 * time.Minute)
			resp := b.get(t, c, "/api/v1/access")
			if body := read(t, resp); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "expired") {
				t.Errorf("an expired session: %d %s, want 401 saying it expired", resp.StatusCode, body)
			}
		})
	}
}

// TestLogout ends the session: the API answers 401 afterwards.
func TestLogout(t *testing.T) {
	w := cluster(t)
	c := newConsole(t, w, w.op, nil)
	b := newBrowser(t, w.op)
	decode[consoletest.Access](t, b.signIn(t, c, w.op, "alice", "/api/v1/access"))
	req, _ := http.NewRequest(http.MethodPost, c.url+"/logout", nil)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if body := read(t, resp); resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/login" || !strings.Contains(body, "Sign in with OIDC") {
		t.Fatalf("logout: %d at %s, want the sign-in page", resp.StatusCode, resp.Request.URL)
	}
	if resp := b.get(t, c, "/api/v1/access"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("after logout: %d %s, want 401", resp.StatusCode, read(t, resp))
	}
}

// TestWrongAudienceRefused: a provider whose ID tokens are for another audience than the
// console's client ID (a misconfigured application at the provider) gets no session.
func TestWrongAudienceRefused(t *testing.T) {
	w := cluster(t)
	other, err := startProvider("some-other-application")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(other.close)
	c := newConsole(t, w, other, func(o *login.Options) {
		o.OIDC.IssuerURL, o.OIDC.Claims.IssuerURL, o.OIDC.HTTPClient = other.issuer, other.issuer, tlsClientTrusting(other.srv)
	})
	b := newBrowser(t, other)
	resp := b.signIn(t, c, other, "alice", "/api/v1/access")
	body := read(t, resp)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "audience") || !strings.Contains(body, clientID) {
		t.Errorf("a token for another audience: %d %s, want 401 naming the audience", resp.StatusCode, body)
	}
	if resp := b.get(t, c, "/api/v1/access"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("after a refused login: %d, want 401", resp.StatusCode)
	}
}

// TestPublicClientUsesPKCE: a console without a client secret signs in with PKCE alone; the
// provider refuses a public client's code exchange without the verifier.
func TestPublicClientUsesPKCE(t *testing.T) {
	w := cluster(t)
	c := newConsole(t, w, w.op, func(o *login.Options) { o.OIDC.ClientID, o.OIDC.ClientSecret = publicClientID, "" })
	b := newBrowser(t, w.op)
	a := decode[consoletest.Access](t, b.signIn(t, c, w.op, "alice", "/api/v1/access"))
	if !slices.Equal(a.Namespaced["Report"].Namespaces, []string{"team-a"}) {
		t.Errorf("alice through the public client may see %+v, want team-a", a.Namespaced["Report"])
	}
}

// TestSignInPageStartsOIDCWhenItIsTheOnlyWay: without token login, GET /login goes straight to
// the identity provider, keeping next.
func TestSignInPageStartsOIDCWhenItIsTheOnlyWay(t *testing.T) {
	w := cluster(t)
	c := newConsole(t, w, w.op, func(o *login.Options) { o.Tokens = nil })
	resp, err := noFollow(http.DefaultClient).Get(c.url + c.login.LoginURL("/api/v1/results?namespace=team-a"))
	if err != nil {
		t.Fatal(err)
	}
	read(t, resp)
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || loc != "/login/oidc?next=%2Fapi%2Fv1%2Fresults%3Fnamespace%3Dteam-a" {
		t.Errorf("GET /login: %d to %q, want the OIDC flow with next kept", resp.StatusCode, loc)
	}
}

// TestProviderDownIs503: an identity provider that cannot be reached is a 503 page (try again),
// not a refusal, and the console starts without it.
func TestProviderDownIs503(t *testing.T) {
	w := cluster(t)
	down, err := startProvider("")
	if err != nil {
		t.Fatal(err)
	}
	down.close()
	c := newConsole(t, w, down, func(o *login.Options) {
		o.OIDC.IssuerURL, o.OIDC.Claims.IssuerURL, o.OIDC.HTTPClient = down.issuer, down.issuer, tlsClientTrusting(down.srv)
	})
	resp := newBrowser(t, w.op).get(t, c, "/login/oidc?next=/")
	if body := read(t, resp); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "cannot be reached") {
		t.Errorf("a provider that is down: %d %s, want 503", resp.StatusCode, body)
	}
}
