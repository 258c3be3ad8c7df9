package ui_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestPagesRender shows every page to carol (who sees everything): the numbers are the
// fixtures', and a fragment is the content without the layout.
func TestPagesRender(t *testing.T) {
	e := console(t)
	for _, c := range []struct {
		path  string
		total int
		want  string
	}{
		{"/", e.Total(), "Most failing policies"},
		{"/results", e.Total(), "<caption"},
		{"/results?groupBy=namespace&limit=25", e.Total(), "groups by namespace"},
		{"/results?groupBy=source&sort=status&order=desc", e.Total(), "groups by source"},
		{"/results?namespace=team-b", e.Results["team-b"], "<caption"},
		{"/results?scope=cluster", e.Results[""], "<caption"},
	} {
		body := e.page(t, "carol", c.path)
		if got := total(body); got != c.total || !strings.Contains(body, c.want) {
			t.Errorf("GET %s: %d results and %q? want %d\n%s", c.path, got, c.want, c.total, body)
		}
		if !strings.Contains(body, `<html lang="en">`) || !strings.Contains(body, `<main id="main"`) {
			t.Errorf("GET %s: not a whole page", c.path)
		}
	}
	frag := e.page(t, "carol", "/results?namespace=team-b&fragment=content")
	if strings.Contains(frag, "<html") || strings.Contains(frag, "<form") || total(frag) != e.Results["team-b"] {
		t.Errorf("the fragment is not the content alone:\n%s", frag)
	}
}

// TestBadParameters: a bad filter is a 400 page that names it, the results page with its form
// filled in as sent, to correct it.
func TestBadParameters(t *testing.T) {
	e := console(t)
	for _, path := range []string{"/results?sort=color", "/results?bogus=1", "/?status=maybe", "/results?limit=5000"} {
		status, _, body := e.get(t, "carol", path)
		if status != http.StatusBadRequest || !strings.Contains(body, `class="banner error"`) {
			t.Errorf("GET %s: %d, want a 400 page\n%s", path, status, body)
		}
		if strings.HasPrefix(path, "/results") && !strings.Contains(body, `<form class="filters"`) {
			t.Errorf("GET %s: the 400 page has no form to correct the filters", path)
		}
	}
}

// TestUnauthenticated: a page without valid credentials sends the person to the sign-in page
// and back to it afterwards, the API answers JSON, and a bad token is no better than none.
func TestUnauthenticated(t *testing.T) {
	e := console(t)
	e.Tokens["mallory"] = "not-a-token"
	for _, person := range []string{"", "mallory"} {
		status, h, _ := e.get(t, person, "/results?status=fail")
		if status != http.StatusSeeOther || h.Get("Location") != "/login?next=%2Fresults%3Fstatus%3Dfail" {
			t.Errorf("a page as %q: %d to %q, want 303 to the sign-in page", person, status, h.Get("Location"))
		}
	}
	status, h, body := e.get(t, "", "/login?next=%2Fresults%3Fstatus%3Dfail")
	if status != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/html") ||
		!strings.Contains(body, "Sign in") || !strings.Contains(body, `value="/results?status=fail"`) {
		t.Errorf("the sign-in page: %d %s\n%s", status, h.Get("Content-Type"), body)
	}
	status, h, _ = e.get(t, "", "/api/v1/results")
	if status != http.StatusUnauthorized || h.Get("Content-Type") != "application/json" {
		t.Errorf("the API without a token: %d %s", status, h.Get("Content-Type"))
	}
}

// TestSecurityHeaders: every answer, page, asset, API or error, carries the strict CSP.
func TestSecurityHeaders(t *testing.T) {
	e := console(t)
	want := map[string]string{
		"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
			"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "no-referrer",
		"X-Frame-Options":        "DENY",
	}
	for _, c := range []struct{ person, path string }{
		{"carol", "/"}, {"carol", "/results"}, {"carol", "/static/app.css"}, {"carol", "/static/app.js"},
		{"carol", "/api/v1/results"}, {"", "/"}, {"carol", "/nothing-here"}, {"carol", "/results?sort=x"},
	} {
		_, h, _ := e.get(t, c.person, c.path)
		for k, v := range want {
			if h.Get(k) != v {
				t.Errorf("GET %s: %s is %q, want %q", c.path, k, h.Get(k), v)
			}
		}
	}
}

// num writes n as the pages do.
func num(n int) string {
	s := []byte{}
	d := []byte(itoa(n))
	for i := range d {
		if i > 0 && (len(d)-i)%3 == 0 {
			s = append(s, ',')
		}
		s = append(s, d[i])
	}
	return string(s)
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// TestSignOutButton: a person who signed in with a token (a session) sees a Sign out button,
// a same-origin POST form to /logout, which ends the session; a person sending a bearer
// token has no session and sees none.
func TestSignOutButton(t *testing.T) {
	e := console(t)
	const form = `<form class="signout" method="post" action="/logout">`
	if body := e.page(t, "carol", "/results"); strings.Contains(body, form) || strings.Contains(body, "Sign out") {
		t.Errorf("a bearer token's page offers to sign out")
	}
	session := e.signIn(t, "carol")
	status, _, body := e.getWith(t, session, "/results")
	if status != http.StatusOK || !strings.Contains(body, form) || !strings.Contains(body, `<button type="submit">Sign out</button>`) {
		t.Fatalf("a session's page: %d, no Sign out form\n%s", status, body)
	}
	resp := e.post(t, "/logout", session, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Errorf("signing out: %d to %q, want 303 to /login", resp.StatusCode, resp.Header.Get("Location"))
	}
	gone := resp.Cookies()
	if len(gone) != 1 || gone[0].Name != session.Name || gone[0].MaxAge >= 0 {
		t.Errorf("signing out set %v, want the session cookie removed", gone)
	}
}

// signIn signs person in with their token at the sign-in form and returns the session cookie.
func (e *env) signIn(t *testing.T, person string) *http.Cookie {
	t.Helper()
	resp := e.post(t, "/login/token", nil, url.Values{"token": {e.Tokens[person]}, "next": {"/"}})
	for _, c := range resp.Cookies() {
		if c.Name == "policy-herald-session" || c.Name == "__Host-policy-herald-session" {
			return c
		}
	}
	t.Fatalf("signing in as %s: %d without a session cookie", person, resp.StatusCode)
	return nil
}

// post sends a form to path with cookie (nil for none), as a same-origin browser form does.
func (e *env) post(t *testing.T, path string, cookie *http.Cookie, form url.Values) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if cookie != nil {
		req.AddCookie(cookie)
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp
}

// getWith gets path with the session cookie and no Authorization header.
func (e *env) getWith(t *testing.T, cookie *http.Cookie, path string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(cookie)
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(body)
}
