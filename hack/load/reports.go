package main

import (
	"fmt"
	"hash/fnv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	wgpolicy "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
	"github.com/policyherald/policy-herald/internal/testing/harness"
)

// policy is one Kyverno policy rule the generated reports are made of. The texts are those of
// the Kyverno policy library (pod security, best practices), shortened.
type policy struct {
	name, rule, category string
	severity             wgpolicy.PolicySeverity
	text                 string
}

var policies = []policy{
	{"disallow-privileged-containers", "privileged-containers", "Pod Security Standards (Baseline)", "high", "validation error: Privileged mode is disallowed. securityContext.privileged must be unset or false"},
	{"disallow-host-path", "host-path", "Pod Security Standards (Baseline)", "medium", "validation error: HostPath volumes are forbidden. The field spec.volumes[*].hostPath must be unset"},
	{"disallow-host-namespaces", "host-namespaces", "Pod Security Standards (Baseline)", "medium", "validation error: Sharing the host namespaces is disallowed. hostNetwork, hostIPC and hostPID must be unset"},
	{"disallow-capabilities", "adding-capabilities", "Pod Security Standards (Baseline)", "medium", "validation error: Any capabilities added beyond the allowed list (AUDIT_WRITE, CHOWN, ...) are disallowed"},
	{"disallow-host-ports", "host-ports-none", "Pod Security Standards (Baseline)", "medium", "validation error: Use of host ports is disallowed. The field spec.containers[*].ports[*].hostPort must be unset"},
	{"require-run-as-nonroot", "run-as-non-root", "Pod Security Standards (Restricted)", "medium", "validation error: Running as root is not allowed. spec.securityContext.runAsNonRoot must be set to true"},
	{"disallow-privilege-escalation", "privilege-escalation", "Pod Security Standards (Restricted)", "medium", "validation error: Privilege escalation is disallowed. allowPrivilegeEscalation must be set to false"},
	{"restrict-seccomp-strict", "check-seccomp-strict", "Pod Security Standards (Restricted)", "medium", "validation error: Use of custom Seccomp profiles is disallowed. seccompProfile.type must be RuntimeDefault"},
	{"require-drop-all", "drop-all-capabilities", "Pod Security Standards (Restricted)", "medium", "validation error: Containers must drop `ALL` capabilities in securityContext.capabilities.drop"},
	{"require-requests-limits", "validate-resources", "Best Practices", "medium", "validation error: CPU and memory resource requests and memory limits are required for every container"},
	{"disallow-latest-tag", "validate-image-tag", "Best Practices", "medium", "validation error: Using a mutable image tag e.g. 'latest' is not allowed; pin the image by tag or digest"},
	{"require-pod-probes", "validate-probes", "Best Practices", "medium", "validation error: Liveness, readiness, or startup probes are required for all containers"},
	{"require-labels", "check-for-labels", "Best Practices", "medium", "validation error: The labels app.kubernetes.io/name and app.kubernetes.io/part-of are required"},
	{"restrict-image-registries", "validate-registries", "Best Practices", "high", "validation error: Unknown image registry. Images must come from registry.corp.example or ghcr.io/corp"},
	{"require-ro-rootfs", "validate-readOnlyRootFilesystem", "Best Practices", "medium", "validation error: Root filesystem must be read-only. Set readOnlyRootFilesystem to true"},
	{"disallow-default-namespace", "validate-namespace", "Multi-Tenancy", "medium", "validation error: Using 'default' namespace is not allowed for pod controllers; use a team namespace"},
	{"restrict-service-external-ips", "check-ips", "Best Practices", "medium", "validation error: externalIPs are not allowed on Services; use a LoadBalancer or Ingress instead"},
	{"require-network-policy", "require-network-policy", "Multi-Tenancy", "low", "validation error: Every namespace needs a NetworkPolicy that selects this workload's pods"},
	{"restrict-automount-sa-token", "validate-automountServiceAccountToken", "Sample", "low", "validation error: Auto-mounting of Service Account tokens is not allowed; set it to false"},
	{"require-pdb", "require-pdb", "Sample", "low", "validation error: A PodDisruptionBudget is required for Deployments with more than one replica"},
}

// statusOf gives the status mix: 60% fail, 30% warn, 10% pass. Pass results are not delivered
// by default, so they are load on the operator's filter but not expected at the receiver.
func statusOf(j int) wgpolicy.PolicyResult {
	switch j % 10 {
	case 6, 7, 8:
		return "warn"
	case 9:
		return "pass"
	}
	return "fail"
}

// delivered tells whether a result of this status is sent by a target with the default filter.
func delivered(s wgpolicy.PolicyResult) bool { return s == "fail" || s == "warn" || s == "error" }

// fakeUID is a stable UUID-shaped uid, so reports, scopes and resources look like real ones.
func fakeUID(parts ...int) types.UID {
	h := fnv.New128a()
	for _, p := range parts {
		fmt.Fprintf(h, "%d/", p)
	}
	b := h.Sum(nil)
	return types.UID(fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]))
}

// namespaceName is the team namespace of report i.
func namespaceName(i, namespaces int) string { return fmt.Sprintf("team-%02d", i%namespaces) }

// newReport builds report i: a per-workload report as Kyverno (1.10+) writes it, named after
// the workload's uid, scoped to a Deployment, with m results over the policies above. Results
// beyond the number of policies are about the Deployment's pods, so every (resource, policy,
// rule) is distinct, as in a real report.
func newReport(i, m, namespaces int, now time.Time) *wgpolicy.PolicyReport {
	ns := namespaceName(i, namespaces)
	app := fmt.Sprintf("svc-%05d", i)
	uid := fakeUID(i)
	r := &wgpolicy.PolicyReport{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns,
			Name:      string(uid),
			Labels: map[string]string{
				"app.kubernetes.io/managed-by":  "kyverno",
				"audit.kyverno.io/resource.uid": string(uid),
			},
		},
		Scope: &corev1.ObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Namespace: ns, Name: app, UID: uid},
	}
	r.Results = make([]wgpolicy.PolicyReportResult, m)
	for j := range r.Results {
		r.Results[j] = newResult(i, j, 0, ns, app, now)
	}
	summarize(r)
	return r
}

// newResult is result j of report i in generation gen (0 at creation, then one per churn
// update that replaces it). The generation is in the message, so a replaced result is a new
// result with a new identity.
func newResult(i, j, gen int, ns, app string, now time.Time) wgpolicy.PolicyReportResult {
	p := policies[j%len(policies)]
	k := j / len(policies)
	res := corev1.ObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Namespace: ns, Name: app, UID: fakeUID(i)}
	if k > 0 {
		res = corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: ns,
			Name: fmt.Sprintf("%s-7d9f8c6b5-%05d", app, k), UID: fakeUID(i, k)}
	}
	status := statusOf(j)
	suffix := fmt.Sprintf(" (container %s, image registry.corp.example/%s:1.%d.%d)", app, ns, gen, j)
	text := p.text
	if max := 120 - len(suffix); len(text) > max {
		text = text[:max]
	}
	return wgpolicy.PolicyReportResult{
		Source:    "kyverno",
		Policy:    p.name,
		Rule:      p.rule,
		Category:  p.category,
		Severity:  p.severity,
		Timestamp: metav1.Timestamp{Seconds: now.Unix()},
		Result:    status,
		Scored:    status != "warn",
		Resources: []corev1.ObjectReference{res},
		Message:   text + suffix,
		Properties: map[string]string{
			"process": "background scan",
		},
	}
}

// summarize sets the report's summary from its results.
func summarize(r *wgpolicy.PolicyReport) {
	r.Summary = wgpolicy.PolicyReportSummary{}
	for _, res := range r.Results {
		switch res.Result {
		case "pass":
			r.Summary.Pass++
		case "fail":
			r.Summary.Fail++
		case "warn":
			r.Summary.Warn++
		case "error":
			r.Summary.Error++
		case "skip":
			r.Summary.Skip++
		}
	}
}

// hashOf is harness.ResultHash of a result of report r.
func hashOf(r *wgpolicy.PolicyReport, res *wgpolicy.PolicyReportResult) uint64 {
	uid := ""
	if len(res.Resources) > 0 {
		uid = string(res.Resources[0].UID)
	}
	return harness.ResultHash(r.Namespace, r.Name, uid, res.Policy, res.Rule, res.Message)
}
