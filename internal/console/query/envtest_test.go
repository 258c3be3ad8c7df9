package query

import (
	"bytes"
	"context"
	"encoding/csv"
	"strings"
	"testing"

	openreportsv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	wgpolicyv1alpha2 "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
	"github.com/policyherald/policy-herald/internal/console/consoletest"
	"github.com/policyherald/policy-herald/internal/store"
)

// startStore starts the console's test cluster (a real kube-apiserver and etcd with every
// report API) with objs, and the operator's report store on it holding them all.
func startStore(t *testing.T, objs []client.Object) *store.Store {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w, err := consoletest.StartWith(ctx, consoletest.Options{Reports: objs, Namespaces: []string{"team-c", "my-namespace"}})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	// The store's watches end before the API server stops, which would wait for them.
	t.Cleanup(func() { cancel(); _ = w.Stop() })
	if err := w.StartStore(ctx); err != nil {
		t.Fatal(err)
	}
	return w.Store
}

// rawResult is what the envtest test counts of a result, read from the object it created.
type rawResult struct {
	reportNamespace, namespace, source, status, severity string
}

// rawResults reads the results of objs as the API server holds them, without the report
// model.
func rawResults(t *testing.T, objs []client.Object) []rawResult {
	var out []rawResult
	add := func(reportNS, source, status, severity string, refs []corev1.ObjectReference) {
		ns := reportNS
		if len(refs) > 0 && refs[0].Namespace != "" {
			ns = refs[0].Namespace
		}
		out = append(out, rawResult{reportNS, ns, source, status, severity})
	}
	wg := func(ns string, results []wgpolicyv1alpha2.PolicyReportResult) {
		for _, r := range results {
			add(ns, r.Source, string(r.Result), string(r.Severity), r.Resources)
		}
	}
	for _, o := range objs {
		switch r := o.(type) {
		case *wgpolicyv1alpha2.PolicyReport:
			wg(r.Namespace, r.Results)
		case *wgpolicyv1alpha2.ClusterPolicyReport:
			wg("", r.Results)
		case *openreportsv1alpha1.Report:
			for _, res := range r.Results {
				add(r.Namespace, cmpOr(res.Source, r.Source), string(res.Result), string(res.Severity), res.Subjects)
			}
		default:
			t.Fatalf("unexpected object %T", o)
		}
	}
	return out
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func count(rs []rawResult, keep func(rawResult) bool) int {
	n := 0
	for _, r := range rs {
		if keep(r) {
			n++
		}
	}
	return n
}

// TestThroughTheStore creates the fixture reports on a real API server and queries them
// through the operator's real store, checking what the engine answers against counts taken
// from the objects created.
func TestThroughTheStore(t *testing.T) {
	objs := fixtureObjects(t)
	raw := rawResults(t, objs)
	s := startStore(t, objs)
	e := New(s)

	total := func(v Visibility, q Query) int {
		p, err := e.Results(v, Selection{Query: q}, Page{Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		return p.Total
	}
	for _, c := range []struct {
		name string
		v    Visibility
		q    Query
		want func(rawResult) bool
	}{
		{"everything", Everything, Query{}, func(rawResult) bool { return true }},
		{"Trivy's findings without a status", Everything,
			Query{Sources: []string{"trivy"}, Statuses: []v1alpha1.ResultStatus{None}},
			func(r rawResult) bool { return strings.EqualFold(r.source, "trivy") && r.status == "" }},
		{"failing in the teams' namespaces", Everything,
			Query{Namespaces: []string{"team-*"}, Statuses: []v1alpha1.ResultStatus{"fail"}},
			func(r rawResult) bool { return strings.HasPrefix(r.namespace, "team-") && r.status == "fail" }},
		{"high severity as team-a and default", teams{"team-a": true, "default": true},
			Query{Severities: []v1alpha1.Severity{"high", "critical"}},
			func(r rawResult) bool {
				return (r.reportNamespace == "team-a" || r.reportNamespace == "default") && (r.severity == "high" || r.severity == "critical")
			}},
		{"cluster-scoped", Everything, Query{Scope: Cluster}, func(r rawResult) bool { return r.namespace == "" }},
	} {
		want := count(raw, c.want)
		if want == 0 {
			t.Fatalf("%s: the fixtures hold no such result", c.name)
		}
		if got := total(c.v, c.q); got != want {
			t.Errorf("%s: %d results, want %d", c.name, got, want)
		}
	}

	// The overview and the source groups name Kyverno one way whatever its spelling.
	o, err := e.Overview(Everything, Query{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	kyverno := count(raw, func(r rawResult) bool { return strings.EqualFold(r.source, "kyverno") })
	found := false
	for _, src := range o.Sources {
		if strings.EqualFold(src.Name, "kyverno") {
			found = src.Name == "kyverno" && src.Statuses.Total() == kyverno
		}
	}
	if !found || o.Statuses.Total() != len(raw) {
		t.Errorf("overview sources = %+v, total %d; want kyverno with %d of %d", o.Sources, o.Statuses.Total(), kyverno, len(raw))
	}
	p, err := e.Results(Everything, Selection{GroupBy: GroupSource}, Page{})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range p.Groups {
		if want := count(raw, func(r rawResult) bool { return strings.EqualFold(r.source, g.Key) }); g.Total != want {
			t.Errorf("group %q: %d results, want %d", g.Key, g.Total, want)
		}
	}

	// A team's export holds its namespace's results only.
	var buf bytes.Buffer
	if err := e.WriteCSV(&buf, teams{"team-b": true}, Selection{}); err != nil {
		t.Fatal(err)
	}
	records, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if want := count(raw, func(r rawResult) bool { return r.reportNamespace == "team-b" }); len(records)-1 != want {
		t.Errorf("team-b's export has %d rows, want %d", len(records)-1, want)
	}
}
