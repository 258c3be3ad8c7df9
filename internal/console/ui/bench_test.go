package ui_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/policyherald/policy-herald/internal/console/access"
	"github.com/policyherald/policy-herald/internal/console/api"
	"github.com/policyherald/policy-herald/internal/console/consoletest/reportgen"
	"github.com/policyherald/policy-herald/internal/console/ui"
	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/store"
)

// BenchmarkPages measures the server time of the Overview and of a filtered, grouped Results
// page at 100,000 Kyverno-like results (2,000 reports of 50 in 20 namespaces) for a person who
// sees them all: the page handler with the real token and access checks of the test cluster
// (answers cached, as between a person's requests), writing into a recorder. It reports the
// 99th percentile as p99-ms.
//
//	KUBEBUILDER_ASSETS=$(hack/control-plane.sh) go test ./internal/console/ui/ -run '^$' -bench Pages
func BenchmarkPages(b *testing.B) {
	e := console(b)
	reports := store.New(nil, nil, logr.Discard())
	for i := range 2000 {
		reports.Put(report.FromPolicyReport(reportgen.KyvernoReport(i, 50, 20, 3)))
	}
	sars, err := access.NewReviews(e.Cfg)
	if err != nil {
		b.Fatal(err)
	}
	trs, err := api.NewTokenReviews(e.Cfg)
	if err != nil {
		b.Fatal(err)
	}
	h := ui.New(ui.Options{
		Source: reports, Authenticator: api.NewTokenAuthenticator(trs, api.TokenOptions{TTL: time.Hour}),
		Scoper: access.New(sars, access.Options{TTL: time.Hour}), Log: logr.Discard(), Events: "/api/v1/events",
	})
	for _, c := range []struct{ name, path string }{
		{"overview", "/"},
		{"results-filtered-grouped", "/results?status=fail&status=warn&severity=high&severity=critical&q=privileged&groupBy=namespace&sort=policy"},
		{"namespace", "/namespaces/team-3"},
	} {
		b.Run(c.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, c.path, nil)
			req.Header.Set("Authorization", "Bearer "+e.Tokens["carol"])
			var times []time.Duration
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				start := time.Now()
				h.ServeHTTP(w, req)
				times = append(times, time.Since(start))
				if w.Code != http.StatusOK {
					b.Fatalf("%s: %d %s", c.path, w.Code, w.Body)
				}
			}
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
