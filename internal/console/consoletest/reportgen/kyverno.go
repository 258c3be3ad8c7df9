// Package reportgen makes the reports the console's tests and benchmarks run on: a large
// Kyverno-like cluster generated in memory, and the real reports of testdata/reports read as
// the API server holds them. It imports only the report APIs, so any package's own tests may
// use it (package consoletest, which runs the console, may not be imported by the console's
// packages' internal tests). It is imported by tests and hack/ only.
package reportgen

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	wgpolicyv1alpha2 "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
)

// KyvernoReport is report i of a large cluster as Kyverno writes it: in namespace
// team-(i mod namespaces), 10 policies of 3 rules, one result per rule and pod with
// rulesPerPod results about each pod (3 as Kyverno checks a pod; 1 gives every result a pod
// of its own, as the store's benchmark does), a rule's message the same for every resource,
// and the statuses and severities of a real cluster mixed in: most results pass.
func KyvernoReport(i, results, namespaces, rulesPerPod int) *wgpolicyv1alpha2.PolicyReport {
	ns := fmt.Sprintf("team-%d", i%namespaces)
	r := &wgpolicyv1alpha2.PolicyReport{ObjectMeta: metav1.ObjectMeta{
		Namespace: ns, Name: fmt.Sprintf("polr-%d", i), UID: types.UID(fmt.Sprintf("uid-%d", i)),
		Labels: map[string]string{"app.kubernetes.io/managed-by": "kyverno"},
	}}
	for j := range results {
		r.Results = append(r.Results, kyvernoResult(i, j, results, ns, j/rulesPerPod))
	}
	return r
}

var (
	statuses   = []wgpolicyv1alpha2.PolicyResult{"pass", "pass", "fail", "pass", "warn", "pass", "fail", "skip", "pass", "error"}
	severities = []wgpolicyv1alpha2.PolicySeverity{"high", "medium", "low", "critical", "info"}
)

// kyvernoResult is result j of report i (of results) in ns, about pod p of the report.
func kyvernoResult(i, j, results int, ns string, p int) wgpolicyv1alpha2.PolicyReportResult {
	pod := fmt.Sprintf("web-%d-%d-7f9c8d6b5-x%04d", i, p, p)
	return wgpolicyv1alpha2.PolicyReportResult{
		Source: "kyverno", Policy: fmt.Sprintf("policy-%d", j%10), Rule: fmt.Sprintf("rule-%d", j%3),
		Category: "Pod Security Standards (Baseline)", Severity: severities[(i+j)%5], Result: statuses[(i*7+j)%10],
		Scored:     true,
		Message:    fmt.Sprintf("validation error: Privileged mode is disallowed. The fields spec.containers[*].securityContext.privileged must be unset. rule %d failed", j%3),
		Timestamp:  metav1.Timestamp{Seconds: 1700000000 + int64(i*results+j)},
		Resources:  []corev1.ObjectReference{{APIVersion: "v1", Kind: "Pod", Namespace: ns, Name: pod, UID: types.UID(fmt.Sprintf("5d2c%08d-%04d-4a1b-9c7e-0123456789ab", i, p))}},
		Properties: map[string]string{"process": "background scan"},
	}
}
