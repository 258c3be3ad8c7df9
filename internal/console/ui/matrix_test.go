package ui_test

import (
	"encoding/json"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// matrixPages are every page and grouping, with filters that name team-b.
var matrixPages = []string{
	"/", "/?fragment=content", "/results", "/results?fragment=content", "/results?groupBy=namespace",
	"/results?groupBy=policy", "/results?groupBy=category", "/results?groupBy=source",
	"/results?groupBy=kind", "/results?sort=severity&order=desc&limit=25", "/results?scope=cluster",
	"/namespaces/team-a", "/namespaces/team-b", "/results?namespace=team-b", "/?namespace=team-b",
	"/results?q=" + secret, "/results?policy=*" + secret,
}

// TestAuthorizationMatrix: alice (team-a) sees no team-b result, count, group or namespace on
// any page; carol sees everything; bob sees an empty console that says why. Every total a
// page shows is the API's for the same person and query string.
func TestAuthorizationMatrix(t *testing.T) {
	e := console(t)
	for _, path := range matrixPages {
		body := e.page(t, "alice", path)
		named := strings.Contains(path, "team-b") || strings.Contains(path, secret)
		for _, leak := range []string{secret, "Trivy", "CVE-", "openssl", "team-b"} {
			if leak == "team-b" && named || leak == secret && named {
				continue // the address names it; the page may repeat the address
			}
			if strings.Contains(body, leak) {
				t.Errorf("alice's %s shows %q", path, leak)
			}
		}
		if named && total(body) != 0 {
			t.Errorf("alice's %s counts %d results, want 0", path, total(body))
		}
		if strings.Contains(body, "Nothing to show") {
			t.Errorf("alice's %s says she sees nothing", path)
		}
		for _, person := range []string{"alice", "carol"} {
			e.agree(t, person, path)
		}
	}
	if got := total(e.page(t, "alice", "/results")); got != e.Results["team-a"] {
		t.Errorf("alice sees %d results, want team-a's %d", got, e.Results["team-a"])
	}
	if got := total(e.page(t, "carol", "/results")); got != e.Total() {
		t.Errorf("carol sees %d results, want all %d", got, e.Total())
	}
	for _, path := range matrixPages {
		body := e.page(t, "bob", path)
		if !strings.Contains(body, "Nothing to show") || !strings.Contains(body, "you may not list policyreports or reports") {
			t.Errorf("bob's %s does not say why it is empty:\n%s", path, body)
		}
		if strings.Contains(body, "team-a") && !strings.Contains(path, "team-a") || strings.Contains(body, "CVE-") {
			t.Errorf("bob's %s shows a result", path)
		}
	}
}

var totalRe = regexp.MustCompile(`<strong>([0-9,]+)</strong> results?\b`)

// total is the first total a page shows: the overview's, or the results table's.
func total(body string) int {
	m := totalRe.FindStringSubmatch(body)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(strings.ReplaceAll(m[1], ",", ""))
	return n
}

// agree checks that the page's total is the API's for the same person and query.
func (e *env) agree(t *testing.T, person, path string) {
	t.Helper()
	u, _ := url.Parse(path)
	q := u.Query()
	q.Del("fragment")
	api := "/api/v1/results?"
	switch {
	case u.Path == "/":
		api = "/api/v1/overview?"
	case strings.HasPrefix(u.Path, "/namespaces/"):
		api = "/api/v1/overview?"
		q.Set("namespace", strings.TrimPrefix(u.Path, "/namespaces/"))
	}
	q.Del("groupBy")
	if api == "/api/v1/overview?" {
		q.Del("sort")
		q.Del("order")
		q.Del("limit")
	}
	_, _, body := e.get(t, person, api+q.Encode())
	var a struct {
		Total      *int `json:"total"`
		Severities *struct{ Critical, High, Medium, Low, Info, None int }
	}
	if err := json.Unmarshal([]byte(body), &a); err != nil {
		t.Fatalf("%s: %v: %s", api, err, body)
	}
	want := -2
	switch {
	case a.Total != nil:
		want = *a.Total
	case a.Severities != nil:
		s := a.Severities
		want = s.Critical + s.High + s.Medium + s.Low + s.Info + s.None
	}
	if got := total(e.page(t, person, path)); got != want {
		t.Errorf("%s's %s shows %d results, the API %s says %d", person, path, got, api+q.Encode(), want)
	}
}
