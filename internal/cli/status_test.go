package cli

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/policyherald/policy-herald/internal/testing/wait"
)

// samplesNS is where config/samples puts Policy Herald's objects.
const samplesNS = "policy-herald-system"

var samplesOnce sync.Once

// applySamples creates config/samples (one object of every kind, and more) once, with the
// statuses the operator would write for some: the operator does not run in these tests.
func applySamples(t *testing.T) {
	t.Helper()
	samplesOnce.Do(func() {
		ctx := context.Background()
		if err := world.K8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: samplesNS}}); err != nil {
			t.Fatal(err)
		}
		paths, _ := filepath.Glob(filepath.Join("..", "..", "config", "samples", "reporting_*.yaml"))
		for _, p := range paths {
			for _, o := range readObjects(t, p) {
				if err := world.K8s.Create(ctx, o); err != nil {
					t.Fatalf("%s: %v", p, err)
				}
			}
		}
		fail := metav1.NewTime(testNow.Add(-5 * time.Minute))
		setStatus(t, "NotificationTarget", "platform-webhook", map[string]any{
			"destination": "webhook",
			"mode":        "each",
			"conditions":  []any{condition("False", "DeliveryFailing", "3 attempts failed")},
			"delivery": map[string]any{"sent": 41, "failed": 2, "pending": 3, "skipped": 12, "muted": 5,
				"lastFailureTime": fail.UTC().Format(time.RFC3339), "lastFailureReason": "POST: 503 Service Unavailable"},
			"silences": []any{
				map[string]any{"name": "known-noise", "state": "Active", "until": testNow.Add(72 * time.Hour).UTC().Format(time.RFC3339), "muted": 4},
				map[string]any{"name": "maintenance", "state": "Expired", "until": testNow.Add(-time.Hour).UTC().Format(time.RFC3339), "muted": 1},
			},
		})
		setStatus(t, "TargetChannel", "team-a", map[string]any{
			"destination": "slack",
			"mode":        "digest 1h by namespace, max 10/1m, resolved",
			"conditions":  []any{condition("True", "Ready", "attached to platform-slack")},
			"delivery":    map[string]any{"sent": 7, "failed": 0, "pending": 0, "digested": 5, "summarised": 2},
		})
		setStatus(t, "MetricsProfile", "default", map[string]any{
			"conditions": []any{condition("True", "Ready", "exporting")},
		})
	})
}

func condition(status, reason, message string) map[string]any {
	return map[string]any{"type": "Ready", "status": status, "reason": reason, "message": message,
		"lastTransitionTime": testNow.Format(time.RFC3339)}
}

// setStatus writes status on the sample of kind and name through the status subresource.
func setStatus(t *testing.T, kind, name string, status map[string]any) {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(operatorGV)
	u.SetKind(kind)
	ctx := context.Background()
	if err := world.K8s.Get(ctx, client.ObjectKey{Namespace: samplesNS, Name: name}, u); err != nil {
		t.Fatal(err)
	}
	u.Object["status"] = status
	if err := world.K8s.Status().Update(ctx, u); err != nil {
		t.Fatalf("status of %s %s: %v", kind, name, err)
	}
}

// readObjects reads every object of a YAML file.
func readObjects(t *testing.T, path string) []client.Object {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := k8syaml.NewYAMLReader(bufio.NewReader(f))
	var out []client.Object
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(doc, &u.Object); err != nil {
			t.Fatal(err)
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
}

// TestStatusGolden shows the samples' readiness and deliveries.
func TestStatusGolden(t *testing.T) {
	applySamples(t)
	for _, c := range []struct {
		name string
		args []string
	}{
		{"status-namespace", []string{"-n", samplesNS}},
		{"status-all-wide", []string{"-A", "-o", "wide"}},
		{"status-json", []string{"-n", samplesNS, "-o", "json"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, stderr, err := herald(t, context.Background(), "admin", append([]string{"status"}, c.args...)...)
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			golden(t, c.name, out)
		})
	}
}

// TestStatusRBAC: dave may list NotificationTargets in the samples' namespace only; the kinds
// he may not list are named on stderr and skipped, not fatal.
func TestStatusRBAC(t *testing.T) {
	applySamples(t)
	ctx := context.Background()
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: samplesNS, Name: "targets-reader"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{"reporting.policyherald.io"}, Resources: []string{"notificationtargets"}, Verbs: []string{"list"}},
	}}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: samplesNS, Name: "alice-targets"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: "people", Name: "alice"}}}
	for _, o := range []client.Object{role, binding} {
		if err := world.K8s.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	var out, stderr string
	wait.Until(10*time.Second, func() bool { // RBAC caches take a moment
		var err error
		if out, stderr, err = herald(t, ctx, "alice", "status", "-n", samplesNS); err != nil {
			t.Fatal(err)
		}
		return strings.Contains(out, "platform-webhook")
	})
	if !strings.Contains(out, "notificationtarget/platform-slack") || strings.Contains(out, "targetchannel/") {
		t.Errorf("alice sees\n%s", out)
	}
	for _, r := range []string{"targetchannels", "emailreportschedules", "metricsprofiles", "blockreportpolicies"} {
		if !strings.Contains(stderr, "warning: no permission to list "+r+".reporting.policyherald.io in namespace") {
			t.Errorf("stderr does not name %s:\n%s", r, stderr)
		}
	}
}
