package ui_test

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	wgpolicyv1alpha2 "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
	"github.com/policyherald/policy-herald/internal/console/consoletest"
)

// trivyPod is the Pod of team-b that trivyReport is about, as the Trivy adapter names it: only
// in the report's owner reference, its results naming no resource.
const trivyPod = "zipkin-6b59cc5ddb-bp9h8"

// trivyReport is a Trivy-adapter-like PolicyReport in team-b: results without a resource or a
// status, advisory URLs in their properties, the Pod named by the owner reference. It is in
// team-b, which alice never sees.
func trivyReport() client.Object {
	r := &wgpolicyv1alpha2.PolicyReport{ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: "pod-zipkin",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: trivyPod, UID: "961887ae-c2bf-46c5-828c-40ceb2e7e303", Controller: ptr(true)}}}}
	for _, cve := range []string{"CVE-2021-30139", "CVE-2021-36159"} {
		r.Results = append(r.Results, wgpolicyv1alpha2.PolicyReportResult{
			Source: "Trivy", Category: "apk-tools", Severity: "high", Policy: "apk-tools: " + cve,
			Properties: map[string]string{"VulnerabilityID": cve, "PrimaryURL": "https://avd.aquasec.com/nvd/" + cve, "InstalledVersion": "2.10.5-r1"},
		})
	}
	return r
}

// platformNamespace is the console's --platform-namespace in these tests: its targets deliver
// results of every namespace.
const platformNamespace = "herald-system"

// createDetailObjects creates what the policy and health pages read: the ClusterPolicy of the
// fixtures' require-labels results, Policy Herald objects of team-a, team-b and the platform
// namespace with the statuses the operator writes, and who may get them (alice in team-a,
// carol everywhere). For "Delivered to": the platform's target sees everything, team-a's
// hook-a and its channel chan-a see team-a's results but pass ones, team-a's suspended
// passes-a only pass ones.
func createDetailObjects(ctx context.Context, w *consoletest.World) error {
	policy := &unstructured.Unstructured{}
	policy.SetAPIVersion("kyverno.io/v1")
	policy.SetKind("ClusterPolicy")
	policy.SetName("require-labels")
	policy.SetAnnotations(map[string]string{
		"policies.kyverno.io/title": "Require Labels", "policies.kyverno.io/category": "Best Practices",
		"policies.kyverno.io/severity": "medium", "policies.kyverno.io/subject": "Pod, Label",
		"policies.kyverno.io/description": `Define and use labels that identify semantic attributes of your application. <script>alert("description")</script>`,
	})
	webhook := v1alpha1.Destinations{Webhook: &v1alpha1.WebhookDestination{HTTPSettings: v1alpha1.HTTPSettings{URL: "https://hooks.example.com/x"}}}
	hookA := &v1alpha1.NotificationTarget{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "hook-a"}, Spec: v1alpha1.NotificationTargetSpec{Destinations: webhook}}
	hookB := &v1alpha1.NotificationTarget{ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: "hook-b"}, Spec: v1alpha1.NotificationTargetSpec{Destinations: webhook}}
	channel := &v1alpha1.TargetChannel{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "chan-a"}, Spec: v1alpha1.TargetChannelSpec{TargetRef: v1alpha1.TargetReference{Name: "hook-a"}}}
	platform := &v1alpha1.NotificationTarget{ObjectMeta: metav1.ObjectMeta{Namespace: platformNamespace, Name: "platform"}, Spec: v1alpha1.NotificationTargetSpec{Destinations: webhook}}
	passes := &v1alpha1.NotificationTarget{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "passes-a"}, Spec: v1alpha1.NotificationTargetSpec{
		Destinations: webhook, Suspend: true,
		Filter: &v1alpha1.ResultFilter{Statuses: &v1alpha1.StatusList{Include: []v1alpha1.ResultStatus{v1alpha1.StatusPass}}},
	}}
	viewer := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "herald-viewer"}, Rules: []rbacv1.PolicyRule{{
		APIGroups: []string{v1alpha1.GroupVersion.Group}, Verbs: []string{"get", "list", "watch"},
		Resources: []string{"notificationtargets", "targetchannels", "emailreportschedules", "metricsprofiles", "blockreportpolicies"},
	}}}
	ref := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: viewer.Name}
	subject := func(name string) []rbacv1.Subject {
		return []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: "people", Name: name}}
	}
	for _, o := range []client.Object{policy, hookA, hookB, channel, viewer, passes,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: platformNamespace}}, platform,
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "alice-herald"}, RoleRef: ref, Subjects: subject("alice")},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "carol-herald"}, RoleRef: ref, Subjects: subject("carol")},
	} {
		if err := w.K8s.Create(ctx, o); err != nil {
			return err
		}
	}
	now := metav1.Now()
	ready := func(status metav1.ConditionStatus, reason, msg string) []metav1.Condition {
		return []metav1.Condition{{Type: "Ready", Status: status, Reason: reason, Message: msg, LastTransitionTime: now, ObservedGeneration: 1}}
	}
	hookA.Status = v1alpha1.NotificationTargetStatus{ObservedGeneration: 1, Destination: "webhook",
		Conditions: ready(metav1.ConditionFalse, "DeliveryFailing", "3 deliveries failed in a row; retrying"),
		Delivery: &v1alpha1.DeliveryStatus{Sent: 1207, Failed: 2, Pending: 3, ConsecutiveFailures: 3, LastFailureTime: &now,
			LastFailureReason: "HTTP 503 from hooks.example.com"}}
	// As a Slack target with a digest would show it (the operator does not run here).
	hookB.Status = v1alpha1.NotificationTargetStatus{ObservedGeneration: 1, Destination: "slack", Mode: "digest 1h by policy, resolved",
		Conditions: ready(metav1.ConditionTrue, "Ready", "delivering"), Delivery: &v1alpha1.DeliveryStatus{Sent: 88, Digested: 80, Skipped: 12, Muted: 3}}
	channel.Status = v1alpha1.TargetChannelStatus{ObservedGeneration: 1, Destination: "webhook", Mode: "each",
		Conditions: ready(metav1.ConditionTrue, "Ready", "delivering"), Delivery: &v1alpha1.DeliveryStatus{Sent: 40}}
	platform.Status = v1alpha1.NotificationTargetStatus{ObservedGeneration: 1, Destination: "webhook",
		Conditions: ready(metav1.ConditionTrue, "Ready", "delivering"), Delivery: &v1alpha1.DeliveryStatus{Sent: 5120}}
	passes.Status = v1alpha1.NotificationTargetStatus{ObservedGeneration: 1, Destination: "webhook",
		Conditions: ready(metav1.ConditionTrue, "Suspended", "suspended: delivering new results to the webhook destination")}
	for _, o := range []client.Object{hookA, hookB, channel, platform, passes} {
		if err := w.K8s.Status().Update(ctx, o); err != nil {
			return err
		}
	}
	return nil
}
