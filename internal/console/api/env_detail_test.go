package api_test

import (
	"context"

	openreportsv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
)

// kyvernoPolicies is a Report in team-a with results of a namespaced Policy of team-a, one of
// team-b (so a viewer of team-a sees its results but not its annotations) and a
// ValidatingPolicy, each about the Pod team-a/web.
func kyvernoPolicies() *openreportsv1alpha1.Report {
	r := &openreportsv1alpha1.Report{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "kyverno-policies"}, Source: "kyverno"}
	for _, p := range []struct{ policy, status string }{{"team-a/own-rule", "fail"}, {"team-b/team-b-only", "warn"}, {"vpol-check", "pass"}} {
		r.Results = append(r.Results, openreportsv1alpha1.ReportResult{
			Policy: p.policy, Rule: "check", Result: openreportsv1alpha1.Result(p.status),
			Subjects: []corev1.ObjectReference{{APIVersion: "v1", Kind: "Pod", Namespace: "team-a", Name: "web"}},
		})
	}
	return r
}

// policyAnnotations are the annotations each Kyverno policy of the fixtures carries: its title
// is its kind and name.
func policyAnnotations(title string) map[string]string {
	return map[string]string{
		"policies.kyverno.io/title": title, "policies.kyverno.io/category": "Best Practices",
		"policies.kyverno.io/severity": "medium", "policies.kyverno.io/subject": "Pod",
		"policies.kyverno.io/description": "<script>alert(1)</script> is only text",
	}
}

// createPolicies creates the Kyverno policies the fixtures' results name.
func (w *world) createPolicies(ctx context.Context) error {
	for _, p := range []struct{ apiVersion, kind, namespace, name string }{
		{"kyverno.io/v1", "ClusterPolicy", "", "require-labels"},
		{"kyverno.io/v1", "Policy", "team-a", "own-rule"},
		{"kyverno.io/v1", "Policy", "team-b", "team-b-only"},
		{"policies.kyverno.io/v1", "ValidatingPolicy", "", "vpol-check"},
	} {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion(p.apiVersion)
		u.SetKind(p.kind)
		u.SetNamespace(p.namespace)
		u.SetName(p.name)
		u.SetAnnotations(policyAnnotations(p.kind + " " + p.name))
		if err := w.K8s.Create(ctx, u); err != nil {
			return err
		}
	}
	return nil
}

// createHeraldObjects creates Policy Herald objects in team-a and team-b, with the statuses the
// operator would write.
func (w *world) createHeraldObjects(ctx context.Context) error {
	webhook := v1alpha1.Destinations{Webhook: &v1alpha1.WebhookDestination{HTTPSettings: v1alpha1.HTTPSettings{URL: "https://hooks.example.com/x"}}}
	now := metav1.Now()
	ready := func(status metav1.ConditionStatus, reason string) []metav1.Condition {
		return []metav1.Condition{{Type: "Ready", Status: status, Reason: reason, Message: "reason " + reason, LastTransitionTime: now, ObservedGeneration: 1}}
	}
	targetA := &v1alpha1.NotificationTarget{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "hook-a"}, Spec: v1alpha1.NotificationTargetSpec{Destinations: webhook}}
	targetB := &v1alpha1.NotificationTarget{ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: "hook-b"}, Spec: v1alpha1.NotificationTargetSpec{Destinations: webhook}}
	otherB := &v1alpha1.NotificationTarget{ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: "other-b"}, Spec: v1alpha1.NotificationTargetSpec{Destinations: webhook}}
	channel := &v1alpha1.TargetChannel{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "chan-a"}, Spec: v1alpha1.TargetChannelSpec{TargetRef: v1alpha1.TargetReference{Name: "hook-a"}}}
	profile := &v1alpha1.MetricsProfile{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "default"}}
	for _, o := range []client.Object{targetA, targetB, otherB, channel, profile} {
		if err := w.K8s.Create(ctx, o); err != nil {
			return err
		}
	}
	failure := metav1.NewTime(now.Add(-60e9).Truncate(1e9))
	targetA.Status = v1alpha1.NotificationTargetStatus{ObservedGeneration: 1, Conditions: ready(metav1.ConditionFalse, "DeliveryFailing"), Destination: "webhook",
		Delivery: &v1alpha1.DeliveryStatus{Sent: 7, Failed: 2, Pending: 3, LastFailureTime: &failure, LastFailureReason: "HTTP 500 from the webhook", ConsecutiveFailures: 2}}
	targetB.Status = v1alpha1.NotificationTargetStatus{ObservedGeneration: 1, Conditions: ready(metav1.ConditionTrue, "Ready"), Destination: "webhook", Mode: "each",
		Delivery: &v1alpha1.DeliveryStatus{Sent: 11, Skipped: 2, Muted: 1}}
	channel.Status = v1alpha1.TargetChannelStatus{ObservedGeneration: 1, Conditions: ready(metav1.ConditionTrue, "Ready"), Destination: "webhook", Mode: "digest 1h, max 10/1m",
		Delivery: &v1alpha1.DeliveryStatus{Sent: 4, Digested: 3, Summarised: 1}}
	profile.Status = v1alpha1.MetricsProfileStatus{ObservedGeneration: 1, Conditions: ready(metav1.ConditionTrue, "Ready"), Series: 42}
	for _, o := range []client.Object{targetA, targetB, channel, profile} { // other-b has no status yet
		if err := w.K8s.Status().Update(ctx, o); err != nil {
			return err
		}
	}
	return nil
}

// heraldViewers lets alice get Policy Herald's objects in team-a, carol everywhere, and dave
// only the NotificationTarget hook-b of team-b.
func heraldViewers(subject func(string) []rbacv1.Subject) []client.Object {
	kinds := []string{"notificationtargets", "targetchannels", "emailreportschedules", "metricsprofiles", "blockreportpolicies"}
	viewer := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "herald-viewer"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{v1alpha1.GroupVersion.Group}, Resources: kinds, Verbs: []string{"get", "list", "watch"}},
	}}
	one := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: "hook-b-viewer"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{v1alpha1.GroupVersion.Group}, Resources: []string{"notificationtargets"}, ResourceNames: []string{"hook-b"}, Verbs: []string{"get"}},
	}}
	ref := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: viewer.Name}
	return []client.Object{viewer, one,
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "alice-herald"}, RoleRef: ref, Subjects: subject("alice")},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "carol-herald"}, RoleRef: ref, Subjects: subject("carol")},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: "dave"}, RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: one.Name}, Subjects: subject("dave")},
	}
}
