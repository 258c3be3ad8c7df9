package ui_test

import (
	"net/http"
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

// TestUnauthenticated: a page without credentials says how to sign in (401 HTML), the API
// answers JSON, and a bad token is no better than none.
func TestUnauthenticated(t *testing.T) {
	e := console(t)
	status, h, body := e.get(t, "", "/results")
	if status != http.StatusUnauthorized || !strings.HasPrefix(h.Get("Content-Type"), "text/html") || !strings.Contains(body, "Sign in") {
		t.Errorf("a page without a token: %d %s\n%s", status, h.Get("Content-Type"), body)
	}
	status, h, _ = e.get(t, "", "/api/v1/results")
	if status != http.StatusUnauthorized || h.Get("Content-Type") != "application/json" {
		t.Errorf("the API without a token: %d %s", status, h.Get("Content-Type"))
	}
	e.Tokens["mallory"] = "not-a-token"
	status, _, _ = e.get(t, "mallory", "/")
	if status != http.StatusUnauthorized {
		t.Errorf("a page with a bad token: %d, want 401", status)
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
