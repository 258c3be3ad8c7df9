package ui_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// TestXSSInert shows the report with a script payload in every text field (policy, rule,
// category, message, source, resource kind and name, property keys and values) on every page
// that shows them: each stays text. The parsed page has no script but the console's own, no
// event handler or style attribute (the CSP forbids inline ones anyway), no javascript: link,
// and a property is a link only when it is an http(s) URL.
func TestXSSInert(t *testing.T) {
	e := console(t)
	for _, path := range []string{
		"/", "/namespaces/team-a", "/results?namespace=team-a", "/results?groupBy=policy",
		"/results?groupBy=category", "/results?groupBy=source", "/results?groupBy=kind",
		"/results?namespace=team-a&fragment=content", "/?fragment=content",
		"/results?policy=" + url.QueryEscape(xss["policy"]), "/results?q=" + url.QueryEscape("<iframe"),
	} {
		body := e.page(t, "carol", path)
		for _, p := range unsafeParts(t, body) {
			t.Errorf("GET %s: %s", path, p)
		}
	}
	body := e.page(t, "carol", "/results?q=iframe")
	for _, want := range []string{
		`<a href="https://avd.example.com/cve?id=1&amp;x=%3cy%3e" rel="noopener noreferrer">`,
		`<dd>javascript:alert(&#34;property&#34;)</dd>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the properties are not shown as %s", want)
		}
	}
}

// unsafeParts parses a page and names whatever could run script.
func unsafeParts(t *testing.T, body string) []string {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			out = append(out, unsafeElement(n)...)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return out
}

func unsafeElement(n *html.Node) []string {
	var out []string
	switch n.Data {
	case "script":
		if src := attr(n, "src"); !ownScript(src) || n.FirstChild != nil {
			out = append(out, fmt.Sprintf("a script %q", src))
		}
	case "iframe", "object", "embed", "style", "img", "b", "i":
		out = append(out, "an element "+n.Data)
	}
	for _, a := range n.Attr {
		v := strings.ToLower(strings.TrimSpace(a.Val))
		switch {
		case strings.HasPrefix(a.Key, "on"), a.Key == "style", a.Key == "autofocus":
			out = append(out, fmt.Sprintf("attribute %s=%q on <%s>", a.Key, a.Val, n.Data))
		case (a.Key == "href" || a.Key == "src" || a.Key == "action") && !strings.HasPrefix(v, "/") && !strings.HasPrefix(v, "#") && !strings.HasPrefix(v, "https://"):
			out = append(out, fmt.Sprintf("a link %s=%q on <%s>", a.Key, a.Val, n.Data))
		}
	}
	return out
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// ownScript says whether src is one of the console's scripts: the live updates, and the copy
// buttons of the resource page.
func ownScript(src string) bool {
	return strings.HasPrefix(src, "/static/app.js?v=") || strings.HasPrefix(src, "/static/copy.js?v=")
}
