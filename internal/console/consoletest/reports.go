package consoletest

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	wgpolicyv1alpha2 "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
)

// KyvernoReport is report i of a large cluster as Kyverno writes it (as the query engine's
// benchmarks make it): one result per pod and rule, 10 policies of 3 rules, in namespace
// team-(i mod namespaces), with the statuses and severities of a real cluster mixed in.
func KyvernoReport(i, results, namespaces int) *wgpolicyv1alpha2.PolicyReport {
	ns := fmt.Sprintf("team-%d", i%namespaces)
	r := &wgpolicyv1alpha2.PolicyReport{ObjectMeta: metav1.ObjectMeta{
		Namespace: ns, Name: fmt.Sprintf("polr-%d", i), UID: types.UID(fmt.Sprintf("uid-%d", i)),
		Labels: map[string]string{"app.kubernetes.io/managed-by": "kyverno"},
	}}
	statuses := []wgpolicyv1alpha2.PolicyResult{"pass", "pass", "fail", "pass", "warn", "pass", "fail", "skip", "pass", "error"}
	severities := []wgpolicyv1alpha2.PolicySeverity{"high", "medium", "low", "critical", "info"}
	for j := range results {
		pod := fmt.Sprintf("web-%d-%d-7f9c8d6b5-x%04d", i, j/3, j/3)
		r.Results = append(r.Results, wgpolicyv1alpha2.PolicyReportResult{
			Source: "kyverno", Policy: fmt.Sprintf("policy-%d", j%10), Rule: fmt.Sprintf("rule-%d", j%3),
			Category: "Pod Security Standards (Baseline)", Severity: severities[(i+j)%5], Result: statuses[(i*7+j)%10],
			Scored:     true,
			Message:    fmt.Sprintf("validation error: Privileged mode is disallowed. The fields spec.containers[*].securityContext.privileged must be unset. rule %d failed", j%3),
			Timestamp:  metav1.Timestamp{Seconds: 1700000000 + int64(i*results+j)},
			Resources:  []corev1.ObjectReference{{APIVersion: "v1", Kind: "Pod", Namespace: ns, Name: pod, UID: types.UID(fmt.Sprintf("5d2c%08d-%04d-4a1b-9c7e-0123456789ab", i, j/3))}},
			Properties: map[string]string{"process": "background scan"},
		})
	}
	return r
}
