package email

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/yaml"

	wgpolicyv1alpha2 "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
	"github.com/policyherald/policy-herald/internal/report"
)

// fixedNow is when the golden reports are generated.
var fixedNow = time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)

func pod(ns, name string) []corev1.ObjectReference {
	return []corev1.ObjectReference{{APIVersion: "v1", Kind: "Pod", Namespace: ns, Name: name}}
}

func res(source, policy, rule, status, severity, message string, resources []corev1.ObjectReference) wgpolicyv1alpha2.PolicyReportResult {
	return wgpolicyv1alpha2.PolicyReportResult{
		Source: source, Policy: policy, Rule: rule, Result: wgpolicyv1alpha2.PolicyResult(status),
		Severity: wgpolicyv1alpha2.PolicySeverity(severity), Message: message, Resources: resources,
	}
}

// loadFixture reads a real report of testdata/reports (the repository's), in namespace ns.
func loadFixture(t *testing.T, file, ns string) *report.Report {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "testdata", "reports", file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r wgpolicyv1alpha2.PolicyReport
	if err := yaml.NewYAMLOrJSONDecoder(f, 4096).Decode(&r); err != nil {
		t.Fatal(err)
	}
	if ns != "" {
		r.Namespace = ns
	}
	return report.FromPolicyReport(&r)
}

// sampleReports is a cluster of three namespaces and cluster reports, from Kyverno, Trivy and
// kube-bench, with the quirks the email must survive: HTML in a message, a very long unbroken
// message, a result without resource, results without status.
func sampleReports(t *testing.T) []*report.Report {
	t.Helper()
	long := "image 'registry.example.com/very/long/path/" + strings.Repeat("segment", 30) + ":1.2.3' is not from an allowed registry"
	teamA := &wgpolicyv1alpha2.PolicyReport{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "kyverno-team-a"},
		Results: []wgpolicyv1alpha2.PolicyReportResult{
			res("kyverno", "restrict-image-registries", "validate-registries", "fail", "high", long, pod("team-a", "nginx-7d9c")),
			res("kyverno", "require-labels", "check-team", "fail", "medium", "label 'team' is required", pod("team-a", "nginx-7d9c")),
			res("kyverno", "require-labels", "check-team", "pass", "medium", "ok", pod("team-a", "api-5f6b")),
			res("kyverno", "disallow-latest-tag", "validate-image-tag", "warn", "low", "using a mutable image tag e.g. 'latest' is not allowed", pod("team-a", "api-5f6b")),
			res("kyverno", "require-probes", "validate-probes", "error", "", `<script>alert("x")</script> & failed to evaluate: "variable substitution failed"`, pod("team-a", "worker-0")),
			res("kyverno", "disallow-privileged", "privileged-containers", "pass", "critical", "ok", pod("team-a", "worker-0")),
			res("kyverno", "disallow-host-path", "host-path", "skip", "medium", "skipped: precondition not met", pod("team-a", "worker-0")),
		},
	}
	teamB := &wgpolicyv1alpha2.PolicyReport{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: "kyverno-team-b"},
		Results: []wgpolicyv1alpha2.PolicyReportResult{
			res("kyverno", "disallow-privileged", "privileged-containers", "fail", "critical", "privileged mode is disallowed", pod("team-b", "db-0")),
			res("kyverno", "require-labels", "check-team", "pass", "medium", "ok", pod("team-b", "db-0")),
			res("kyverno", "require-labels", "check-team", "pass", "medium", "ok", pod("team-b", "cache-0")),
		},
	}
	cluster := &wgpolicyv1alpha2.ClusterPolicyReport{
		ObjectMeta: metav1.ObjectMeta{Name: "kyverno-cluster"},
		Results: []wgpolicyv1alpha2.PolicyReportResult{
			res("kyverno", "require-ns-labels", "check-owner", "fail", "medium", "label 'owner' is required on namespaces",
				[]corev1.ObjectReference{{APIVersion: "v1", Kind: "Namespace", Name: "legacy"}}),
			res("kyverno", "require-ns-labels", "check-owner", "pass", "medium", "ok",
				[]corev1.ObjectReference{{APIVersion: "v1", Kind: "Namespace", Name: "team-a"}}),
			res("kyverno", "restrict-pod-in-cluster-report", "check", "warn", "high", "a namespaced resource in a cluster report",
				pod("kube-system", "coredns-1")),
		},
	}
	out := []*report.Report{
		report.FromPolicyReport(teamA),
		report.FromPolicyReport(teamB),
		report.FromClusterPolicyReport(cluster),
		loadFixture(t, "sample-cis-k8s.yaml", "kube-system"),
		loadFixture(t, "trivy-adapter-policyreport.yaml", ""),
		loadFixture(t, "sample-falco-policy.yaml", ""),
	}
	return out
}

// itemsOf returns every result of reps as items.
func itemsOf(reps []*report.Report) []Item {
	var items []Item
	for _, r := range reps {
		for i := range r.Results {
			items = append(items, Item{Report: r, Result: &r.Results[i]})
		}
	}
	return items
}

// bigReports makes n results spread over sources and namespaces, a third of them failing.
func bigReports(n, namespaces int) []*report.Report {
	var reps []*report.Report
	per := n / namespaces
	for ns := range namespaces {
		r := &wgpolicyv1alpha2.PolicyReport{ObjectMeta: metav1.ObjectMeta{Namespace: fmt.Sprintf("ns-%03d", ns), Name: "r"}}
		for i := range per {
			status := []string{"pass", "fail", "warn", "error", "pass", "fail"}[i%6]
			src := []string{"kyverno", "trivy", "kube-bench"}[i%3]
			r.Results = append(r.Results, res(src, fmt.Sprintf("policy-%02d", i%40), "rule", status, "high",
				fmt.Sprintf("result %d of namespace %d: the resource violates the policy because of a long enough explanation to be realistic", i, ns),
				pod(r.Namespace, fmt.Sprintf("pod-%05d", i))))
		}
		reps = append(reps, report.FromPolicyReport(r))
	}
	return reps
}
