package blockreports

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

func load(t *testing.T, name string) *corev1.Event {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var ev corev1.Event
	if err := json.Unmarshal(data, &ev); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return &ev
}

func TestParseFixtures(t *testing.T) {
	cases := []struct {
		file                    string
		kind, ns, policy, rule  string
		resKind, resNS, resName string
		msgPrefix               string
		time                    string
	}{
		{"kyverno-1.10-events-k8s-io.json", "ClusterPolicy", "", "restrict-image-registries", "validate-registries", "Pod", "default", "nginx-public", "validation error: Unknown Image registry.", "2026-12-01T10:05:00Z"},
		{"kyverno-1.9-core-v1.json", "ClusterPolicy", "", "baseline-policy", "baseline", "Pod", "default", "privileged-pod", "Validation rule 'baseline' failed.", "2026-12-01T10:00:00Z"},
		{"namespaced-policy.json", "Policy", "team-a", "require-team-label", "check-team", "Deployment", "team-a", "web", "validation error: label team", "2026-12-01T10:00:00Z"},
		{"cluster-resource.json", "ClusterPolicy", "", "require-ns-owner", "check-owner", "Namespace", "", "payments", "validation error: namespaces", "2026-12-01T10:00:00Z"},
		{"cel-validatingpolicy.json", "ValidatingPolicy", "", "disallow-host-path", "disallow-host-path", "Pod", "default", "hostpath", "HostPath volumes", "2026-12-01T10:00:00Z"},
		{"cel-namespacedvalidatingpolicy.json", "NamespacedValidatingPolicy", "team-a", "team-limits", "team-limits", "Pod", "team-a", "no-limits", "containers need", "2026-12-01T10:00:00Z"},
		{"cel-imagevalidatingpolicy.json", "ImageValidatingPolicy", "", "verify-signatures", "verify-signatures", "Pod", "default", "unsigned", "image ghcr.io", "2026-12-01T10:00:00Z"},
		{"related-inverted.json", "ClusterPolicy", "", "restrict-image-registries", "validate-registries", "Pod", "default", "nginx-public", "validation error", "2026-12-01T10:00:00Z"},
		{"older-policy-rule.json", "", "", "restrict-image-registries", "validate-registries", "Pod", "default", "nginx-public", "validation error", "2026-12-01T10:00:00Z"},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			b, err := Parse(load(t, c.file))
			if err != nil {
				t.Fatal(err)
			}
			if b.PolicyKind != c.kind || b.PolicyNamespace != c.ns || b.Policy != c.policy || b.Rule != c.rule {
				t.Errorf("policy = %s %s/%s [%s], want %s %s/%s [%s]", b.PolicyKind, b.PolicyNamespace, b.Policy, b.Rule, c.kind, c.ns, c.policy, c.rule)
			}
			if b.Resource.Kind != c.resKind || b.Resource.Namespace != c.resNS || b.Resource.Name != c.resName {
				t.Errorf("resource = %+v", b.Resource)
			}
			if len(b.Message) < len(c.msgPrefix) || b.Message[:len(c.msgPrefix)] != c.msgPrefix {
				t.Errorf("message = %q", b.Message)
			}
			want, _ := time.Parse(time.RFC3339, c.time)
			if !b.Time.Equal(want) {
				t.Errorf("time = %v, want %v", b.Time, want)
			}
			if b.UID == "" || b.EventName == "" {
				t.Errorf("uid %q event %q", b.UID, b.EventName)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	if _, err := Parse(load(t, "unparseable.json")); err == nil || errors.Is(err, ErrNotKyverno) {
		t.Errorf("unparseable: err = %v, want a parse error", err)
	}
	if _, err := Parse(load(t, "audit-not-blocked.json")); !errors.Is(err, ErrNotKyverno) {
		t.Errorf("audit: err = %v, want ErrNotKyverno", err)
	}
	other := load(t, "kyverno-1.9-core-v1.json")
	other.Source.Component = "kubelet"
	if _, err := Parse(other); !errors.Is(err, ErrNotKyverno) {
		t.Errorf("other component: err = %v", err)
	}
	noPolicy := load(t, "kyverno-1.10-events-k8s-io.json")
	noPolicy.InvolvedObject.Kind, noPolicy.Related = "Pod", nil
	if _, err := Parse(noPolicy); err == nil || errors.Is(err, ErrNotKyverno) {
		t.Errorf("no policy: err = %v", err)
	}
	for _, m := range []string{"", "(blocked)", "[", "Pod : [] fail (blocked)", "policy /", "\x00\xff (blocked)"} {
		ev := load(t, "kyverno-1.9-core-v1.json")
		ev.Message = m
		_, _ = Parse(ev) // never panics
	}
}
