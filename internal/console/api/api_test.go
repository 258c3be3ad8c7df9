package api_test

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/policyherald/policy-herald/internal/console/access"
	"github.com/policyherald/policy-herald/internal/console/api"
	"github.com/policyherald/policy-herald/internal/console/consoletest"
	"github.com/policyherald/policy-herald/internal/console/health"
	"github.com/policyherald/policy-herald/internal/console/query"
)

// console serves the API of the test cluster's store on loopback, with TokenReviews counted.
func console(t *testing.T, w *world, reviews api.TokenReviews, opts api.TokenOptions) string {
	t.Helper()
	sars, err := access.NewReviews(w.Cfg)
	if err != nil {
		t.Fatal(err)
	}
	authz := access.New(sars, access.Options{})
	srv := httptest.NewServer(api.New(api.Options{
		Source:        w.Store,
		Authenticator: api.NewTokenAuthenticator(reviews, opts),
		Scoper:        authz,
		Policies:      policyReader(t, w),
		Health:        health.New(w.Cache, authz).WithRouting(health.Routing{NamespaceLabels: w.Store.NamespaceLabels}),
		Log:           testr.New(t),
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func tokenReviews(t *testing.T, w *world) *countingReviews {
	t.Helper()
	trs, err := api.NewTokenReviews(w.Cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &countingReviews{inner: trs}
}

// get sends GET path with token ("" for none) and returns the status, headers and body.
func get(t *testing.T, base string, token, path string) (int, http.Header, []byte) {
	t.Helper()
	resp, body, err := consoletest.Get(http.DefaultClient, base+path, token)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("GET %s: headers %v lack no-store or nosniff", path, resp.Header)
	}
	checkAgainstOpenAPI(t, resp.Request, resp.StatusCode, resp.Header, body)
	return resp.StatusCode, resp.Header, body
}

// getJSON sends GET path, wants 200 with JSON, and decodes the body into v.
func getJSON(t *testing.T, base string, token, path string, v any) {
	t.Helper()
	status, h, body := get(t, base, token, path)
	if status != http.StatusOK || h.Get("Content-Type") != "application/json" {
		t.Fatalf("GET %s: %d %s: %s", path, status, h.Get("Content-Type"), body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

type resultsBody struct {
	query.ResultPage
	Warnings []string `json:"warnings"`
}

// TestWhatEachPersonSees checks that alice sees team-a only, everywhere the API shows results,
// that bob sees nothing and is told why, and that carol sees every result.
func TestWhatEachPersonSees(t *testing.T) {
	w := cluster(t)
	base := console(t, w, tokenReviews(t, w), api.TokenOptions{})
	teamA, all := w.countIn("team-a"), len(w.raw)
	if teamA == 0 || w.countIn("team-b") == 0 || w.countIn("") == 0 {
		t.Fatalf("the fixtures hold %d results in team-a, %d in team-b, %d cluster-scoped", teamA, w.countIn("team-b"), w.countIn(""))
	}

	t.Run("alice", func(t *testing.T) {
		tok := w.Tokens["alice"]
		var page resultsBody
		getJSON(t, base, tok, "/api/v1/results?limit=1000&groupBy=namespace", &page)
		if page.Total != teamA || len(page.Rows) != teamA {
			t.Errorf("alice sees %d results (%d rows), want %d", page.Total, len(page.Rows), teamA)
		}
		for _, r := range page.Rows {
			if r.ReportNamespace != "team-a" {
				t.Errorf("alice sees a result of %s/%s", r.ReportNamespace, r.ReportName)
			}
		}
		for _, g := range page.Groups {
			if g.Key == "team-b" {
				t.Errorf("alice sees the group %+v", g)
			}
		}
		var o query.Overview
		getJSON(t, base, tok, "/api/v1/overview", &o)
		if o.Statuses.Total() != teamA {
			t.Errorf("alice's overview counts %d results, want %d", o.Statuses.Total(), teamA)
		}
		if slices.ContainsFunc(o.AffectedNamespaces, func(r query.Ranked) bool { return r.Name == "team-b" }) ||
			slices.ContainsFunc(o.Recent, func(r query.Row) bool { return r.ReportNamespace != "team-a" }) {
			t.Errorf("alice's overview shows other namespaces: %+v %+v", o.AffectedNamespaces, o.Recent)
		}
		checkCSV(t, base, tok, teamA, "team-a")
		var rows []query.Row
		getExportJSON(t, base, tok, &rows)
		if len(rows) != teamA || slices.ContainsFunc(rows, func(r query.Row) bool { return r.ReportNamespace != "team-a" }) {
			t.Errorf("alice's JSON export has %d rows (want %d), some not of team-a", len(rows), teamA)
		}
		var a consoletest.Access
		getJSON(t, base, tok, "/api/v1/access", &a)
		if a.User.Name != "system:serviceaccount:people:alice" || a.Empty ||
			!slices.Equal(a.Namespaced["PolicyReport"].Namespaces, []string{"team-a"}) || a.Cluster["ClusterPolicyReport"] {
			t.Errorf("alice's access: %+v", a)
		}
	})

	t.Run("bob", func(t *testing.T) {
		var page resultsBody
		getJSON(t, base, w.Tokens["bob"], "/api/v1/results", &page)
		if page.Total != 0 || len(page.Rows) != 0 {
			t.Errorf("bob sees %d results", page.Total)
		}
		var a consoletest.Access
		getJSON(t, base, w.Tokens["bob"], "/api/v1/access", &a)
		if !a.Empty || !strings.Contains(a.Reason, "may not list policyreports") || !slices.Contains(a.User.Groups, "system:serviceaccounts") {
			t.Errorf("bob's access: %+v", a)
		}
		checkCSV(t, base, w.Tokens["bob"], 0, "")
	})

	t.Run("carol", func(t *testing.T) {
		var page resultsBody
		getJSON(t, base, w.Tokens["carol"], "/api/v1/results?scope=cluster", &page)
		if page.Total != w.countIn("") {
			t.Errorf("carol sees %d cluster-scoped results, want %d", page.Total, w.countIn(""))
		}
		getJSON(t, base, w.Tokens["carol"], "/api/v1/results?limit=1", &page)
		if page.Total != all {
			t.Errorf("carol sees %d results, want %d", page.Total, all)
		}
		var a consoletest.Access
		getJSON(t, base, w.Tokens["carol"], "/api/v1/access", &a)
		if !a.Namespaced["PolicyReport"].All || !a.Cluster["ClusterPolicyReport"] {
			t.Errorf("carol's access: %+v", a)
		}
	})
}

// checkCSV wants the CSV export to hold want rows, all of reports in namespace ns.
func checkCSV(t *testing.T, base string, token string, want int, ns string) {
	t.Helper()
	status, h, body := get(t, base, token, "/api/v1/results/export?format=csv&sort=severity&order=desc")
	if status != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/csv") ||
		!strings.HasPrefix(h.Get("Content-Disposition"), `attachment; filename="policy-results-`) {
		t.Fatalf("CSV export: %d %v", status, h)
	}
	records, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := slices.Index(query.CSVColumns, "reportNamespace")
	if len(records)-1 != want {
		t.Errorf("CSV export has %d rows, want %d", len(records)-1, want)
	}
	for _, r := range records[1:] {
		if r[col] != ns {
			t.Errorf("CSV export has a row of namespace %q", r[col])
		}
	}
}

func getExportJSON(t *testing.T, base string, token string, v any) {
	t.Helper()
	status, h, body := get(t, base, token, "/api/v1/results/export?format=json")
	if status != http.StatusOK || h.Get("Content-Type") != "application/json" || h.Get("Content-Disposition") == "" {
		t.Fatalf("JSON export: %d %v", status, h)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatal(err)
	}
}

// TestAuthentication checks the answers to requests without a valid token, and that a token is
// reviewed once per TTL however often it is used.
func TestAuthentication(t *testing.T) {
	w := cluster(t)
	reviews := tokenReviews(t, w)
	clk := clocktesting.NewFakePassiveClock(time.Now())
	base := console(t, w, reviews, api.TokenOptions{TTL: time.Minute, Clock: clk})
	for _, c := range []struct{ name, token string }{{"no token", ""}, {"garbage", "not-a-token"}} {
		status, h, body := get(t, base, c.token, "/api/v1/results")
		if status != http.StatusUnauthorized || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") ||
			h.Get("Content-Type") != "application/json" {
			t.Errorf("%s: %d %v %s", c.name, status, h, body)
		}
	}
	before := reviews.count()
	var page resultsBody
	for range 3 {
		getJSON(t, base, w.Tokens["alice"], "/api/v1/results?limit=1", &page)
	}
	getJSON(t, base, w.Tokens["carol"], "/api/v1/access", &consoletest.Access{})
	if n := reviews.count() - before; n != 2 {
		t.Errorf("four requests with two tokens made %d TokenReviews, want 2", n)
	}
	// Once the TTL is over, the token is reviewed again: a revoked token stops working.
	clk.SetTime(clk.Now().Add(time.Minute + time.Second))
	getJSON(t, base, w.Tokens["alice"], "/api/v1/results?limit=1", &page)
	if n := reviews.count() - before; n != 3 {
		t.Errorf("a request after the TTL made %d TokenReviews in all, want 3", n)
	}
	// Every endpoint only reads.
	req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/results", nil)
	req.Header.Set("Authorization", "Bearer "+w.Tokens["carol"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("POST: %d %v", resp.StatusCode, resp.Header)
	}
}

// TestReviewFailure checks that a TokenReview that fails is a 503, never a success.
func TestReviewFailure(t *testing.T) {
	w := cluster(t)
	down := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		http.Error(rw, "etcd is down", http.StatusInternalServerError)
	}))
	defer down.Close()
	cfg := *w.Cfg
	cfg.Host, cfg.TLSClientConfig = down.URL, restTLS()
	trs, err := api.NewTokenReviews(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	base := console(t, w, trs, api.TokenOptions{})
	status, _, body := get(t, base, w.Tokens["carol"], "/api/v1/results")
	if status != http.StatusServiceUnavailable {
		t.Errorf("a failing TokenReview: %d %s", status, body)
	}
}

// TestBadParameters checks that a bad parameter is a 400 naming it.
func TestBadParameters(t *testing.T) {
	w := cluster(t)
	base := console(t, w, tokenReviews(t, w), api.TokenOptions{})
	for _, c := range []struct{ path, param string }{
		{"/api/v1/results?status=broken", "status"},
		{"/api/v1/results?sort=colour", "sort"},
		{"/api/v1/results?limit=many", "limit"},
		{"/api/v1/results?limit=5000", "limit"},
		{"/api/v1/results?order=up", "order"},
		{"/api/v1/results?label=a%3D%3D%3Db", "label"},
		{"/api/v1/results?colour=red", "colour"},
		{"/api/v1/overview?top=-1", "top"},
		{"/api/v1/results/export?format=xml", "format"},
		{"/api/v1/results/export?groupBy=planet", "groupBy"},
	} {
		status, h, body := get(t, base, w.Tokens["carol"], c.path)
		var e struct {
			Error      string   `json:"error"`
			Parameters []string `json:"parameters"`
		}
		_ = json.Unmarshal(body, &e)
		if status != http.StatusBadRequest || h.Get("Content-Type") != "application/json" || !slices.Equal(e.Parameters, []string{c.param}) {
			t.Errorf("GET %s: %d %s, want 400 naming %s", c.path, status, body, c.param)
		}
	}
	for _, path := range []string{"/api/v2/results", "/index.html"} {
		if status, h, body := get(t, base, "", path); status != http.StatusNotFound || h.Get("Content-Type") != "application/json" {
			t.Errorf("GET %s: %d %s", path, status, body)
		}
	}
}
