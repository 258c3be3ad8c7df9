package query

import (
	"cmp"
	"slices"
	"testing"

	"github.com/go-logr/logr"
	openreportsv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	wgpolicyv1alpha2 "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
	"github.com/policyherald/policy-herald/internal/console/consoletest/reportgen"
	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/store"
)

// realFixtures are the real reports of testdata/reports (byte for byte those of
// shared/fixtures), with the namespace each is created in ("" keeps the file's).
var realFixtures = []struct{ file, namespace string }{
	{"sample-cis-k8s.yaml", "kube-system"},  // the file names none
	{"sample-falco-policy.yaml", ""},        // my-namespace, and a ClusterPolicyReport
	{"trivy-adapter-policyreport.yaml", ""}, // default
}

// fixtureObjects returns the reports of the tests as the API server holds them: the real
// reports (kube-bench, Falco, Trivy: no source, no status, no resources, an empty policy,
// negative nanos) and a small Kyverno cluster for what they lack: every status, two spellings
// of one source, report labels, several kinds, an openreports.io Report, a cluster report about
// cluster-scoped and namespaced resources, equal times, and a message with the Kelvin sign.
func fixtureObjects(t testing.TB) []client.Object {
	t.Helper()
	var out []client.Object
	for _, f := range realFixtures {
		objs, err := reportgen.Fixture(f.file, f.namespace)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, objs...)
	}
	return append(out, kyvernoCluster()...)
}

func objRef(apiVersion, kind, ns, name string) []corev1.ObjectReference {
	return []corev1.ObjectReference{{APIVersion: apiVersion, Kind: kind, Namespace: ns, Name: name}}
}

func pod(ns, name string) []corev1.ObjectReference { return objRef("v1", "Pod", ns, name) }

type kv struct {
	source, policy, rule, category, status, severity, message string
	time                                                      int64
	resources                                                 []corev1.ObjectReference
}

func (k kv) result() wgpolicyv1alpha2.PolicyReportResult {
	return wgpolicyv1alpha2.PolicyReportResult{
		Source: k.source, Policy: k.policy, Rule: k.rule, Category: k.category,
		Result: wgpolicyv1alpha2.PolicyResult(k.status), Severity: wgpolicyv1alpha2.PolicySeverity(k.severity),
		Message: k.message, Timestamp: metav1.Timestamp{Seconds: k.time}, Resources: k.resources,
		Properties: map[string]string{"process": "background scan"},
	}
}

const (
	pss = "Pod Security Standards (Baseline)"
	bp  = "Best Practices"
)

func kyvernoCluster() []client.Object {
	teamA := &wgpolicyv1alpha2.PolicyReport{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "kyverno-team-a",
		Labels: map[string]string{"app.kubernetes.io/managed-by": "kyverno", "env": "prod"}}}
	for _, k := range []kv{
		{"kyverno", "disallow-privileged", "privileged-containers", pss, "fail", "critical", "Privileged mode is disallowed", 1700000100, pod("team-a", "web-1")},
		{"kyverno", "disallow-privileged", "privileged-containers", pss, "pass", "critical", "validation rule passed", 1700000101, pod("team-a", "web-2")},
		{"kyverno", "require-labels", "check-team", bp, "fail", "medium", "label 'team' is required", 1700000102, objRef("apps/v1", "Deployment", "team-a", "web")},
		{"kyverno", "require-labels", "check-team", bp, "warn", "medium", "label 'team' should be set", 1700000103, pod("team-a", "web-1")},
		{"kyverno", "require-probes", "validate-probes", "", "error", "", "failed to evaluate: variable substitution failed", 0, pod("team-a", "worker-0")},
		{"kyverno", "disallow-host-path", "host-path", pss, "skip", "low", "skipped: precondition not met", 1700000103, pod("team-a", "web-10")},
	} {
		teamA.Results = append(teamA.Results, k.result())
	}
	teamB := &wgpolicyv1alpha2.PolicyReport{ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: "kyverno-team-b",
		Labels: map[string]string{"app.kubernetes.io/managed-by": "kyverno", "env": "dev"}}}
	for _, k := range []kv{ // Kyverno before 1.13 spelt its name so
		{"Kyverno", "disallow-privileged", "privileged-containers", pss, "fail", "high", "PRIVILEGED mode is disallowed for db-0", 1700000200, pod("team-b", "db-0")},
		{"Kyverno", "require-labels", "check-team", bp, "pass", "medium", "validation rule passed", 1700000201, objRef("apps/v1", "StatefulSet", "team-b", "db")},
		{"Kyverno", "limit-temperature", "kelvin", "Démo", "fail", "info", "température au-delà de 5 \u212a", 1700000202, pod("team-b", "sensor-0")},
	} {
		teamB.Results = append(teamB.Results, k.result())
	}
	teamC := &openreportsv1alpha1.Report{ObjectMeta: metav1.ObjectMeta{Namespace: "team-c", Name: "kyverno-team-c",
		Labels: map[string]string{"env": "prod"}}, Source: "kyverno",
		Results: []openreportsv1alpha1.ReportResult{
			{Policy: "require-labels", Rule: "check-owner", Category: bp, Result: "fail", Severity: "low",
				Description: "label 'owner' is required", Subjects: pod("team-c", "api-0"), Timestamp: metav1.Timestamp{Seconds: 1700000300}},
			{Policy: "disallow-latest-tag", Rule: "validate-image-tag", Category: bp, Result: "pass", Severity: "medium",
				Description: "validation rule passed", Subjects: pod("team-c", "api-0"), Timestamp: metav1.Timestamp{Seconds: 1700000301}},
		}}
	cluster := &wgpolicyv1alpha2.ClusterPolicyReport{ObjectMeta: metav1.ObjectMeta{Name: "kyverno-cluster",
		Labels: map[string]string{"app.kubernetes.io/managed-by": "kyverno"}}}
	for _, k := range []kv{
		{"kyverno", "require-ns-labels", "check-owner", bp, "fail", "medium", "label 'owner' is required on namespaces", 1700000400, objRef("v1", "Namespace", "", "legacy")},
		{"kyverno", "require-ns-labels", "check-owner", bp, "pass", "medium", "validation rule passed", 1700000401, objRef("v1", "Namespace", "", "team-a")},
		{"kyverno", "restrict-pod-in-cluster-report", "check", pss, "warn", "high", "a namespaced resource in a cluster report", 1700000402, pod("kube-system", "coredns-1")},
	} {
		cluster.Results = append(cluster.Results, k.result())
	}
	return []client.Object{teamA, teamB, teamC, cluster}
}

// toReport converts o as the store does.
func toReport(t testing.TB, o client.Object) *report.Report {
	switch r := o.(type) {
	case *wgpolicyv1alpha2.PolicyReport:
		return report.FromPolicyReport(r)
	case *wgpolicyv1alpha2.ClusterPolicyReport:
		return report.FromClusterPolicyReport(r)
	case *openreportsv1alpha1.Report:
		return report.FromReport(r)
	}
	t.Fatalf("unexpected object %T", o)
	return nil
}

// fixture is the engine of the unit tests, over a real store holding the fixture reports, and
// the reports, for the tests to count on their own.
func fixture(t testing.TB) (*Engine, []*report.Report) {
	t.Helper()
	s := store.New(nil, nil, logr.Discard())
	var reps []*report.Report
	for _, o := range fixtureObjects(t) {
		r := toReport(t, o)
		s.Put(r)
		reps = append(reps, r)
	}
	return New(s), reps
}

// item is one result of the fixtures, as the tests walk them.
type item struct {
	rep *report.Report
	res *report.Result
}

// items returns the results of reps that v allows, in the store's documented order: reports by
// kind, namespace and name, results in their report's order.
func items(reps []*report.Report, v Visibility) []item {
	reps = slices.Clone(reps)
	slices.SortFunc(reps, func(a, b *report.Report) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	var out []item
	for _, r := range reps {
		if !v.Allows(r.Kind, r.Namespace) {
			continue
		}
		for i := range r.Results {
			out = append(out, item{r, &r.Results[i]})
		}
	}
	return out
}

// id names a result uniquely across reports; rowID names a row the same way.
func (it item) id() string {
	return it.rep.Kind + "/" + it.rep.Namespace + "/" + it.rep.Name + "#" + it.res.ID()
}

func rowID(r Row) string {
	return r.ReportKind + "/" + r.ReportNamespace + "/" + r.ReportName + "#" + r.ID
}

// namespace is the namespace a result is about, as the tests read it.
func (it item) namespace() string {
	if it.res.Resource != nil && it.res.Resource.Namespace != "" {
		return it.res.Resource.Namespace
	}
	return it.rep.Namespace
}

func (it item) kind() string {
	if it.res.Resource == nil {
		return ""
	}
	return it.res.Resource.Kind
}

func (it item) name() string {
	if it.res.Resource == nil {
		return ""
	}
	return it.res.Resource.Name
}

// allRows returns every row of sel that v sees, page by page.
func allRows(t *testing.T, e *Engine, v Visibility, sel Selection) []Row {
	t.Helper()
	var rows []Row
	for off := 0; ; off += MaxLimit {
		p, err := e.Results(v, sel, Page{Offset: off, Limit: MaxLimit})
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, p.Rows...)
		if len(p.Rows) < MaxLimit {
			return rows
		}
	}
}

func ids(rows []Row) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = rowID(r)
	}
	return out
}

// tcount counts results per status and severity by their names, as the tests count them.
type tcount struct{ st, sev map[string]int }

func (c *tcount) add(it item) {
	if c.st == nil {
		c.st, c.sev = map[string]int{}, map[string]int{}
	}
	c.st[string(it.res.Status)]++
	c.sev[string(it.res.Severity)]++
}

func (c tcount) statuses() StatusCounts {
	return StatusCounts{Pass: c.st["pass"], Fail: c.st["fail"], Warn: c.st["warn"], Error: c.st["error"], Skip: c.st["skip"], None: c.st[""]}
}

func (c tcount) severities() SeverityCounts {
	return SeverityCounts{Critical: c.sev["critical"], High: c.sev["high"], Medium: c.sev["medium"], Low: c.sev["low"], Info: c.sev["info"], None: c.sev[""]}
}
