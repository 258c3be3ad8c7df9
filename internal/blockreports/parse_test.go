package blockreports

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

func load(t *testing.T, name string) *corev1.Event {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var ev corev1.Event
	if err := yaml.UnmarshalStrict(data, &ev); err != nil {
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
		{"validatingpolicy-blocked.yaml", "ValidatingPolicy", "", "disallow-host-path", "", "Pod", "default", "hostpath", "HostPath volumes are forbidden.", "2026-12-01T10:00:00.123456Z"},
		{"namespacedvalidatingpolicy-blocked.yaml", "NamespacedValidatingPolicy", "team-a", "team-limits", "", "Pod", "team-a", "no-limits", "containers need memory limits", "2026-12-01T10:00:00.123456Z"},
		{"imagevalidatingpolicy-blocked.yaml", "ImageValidatingPolicy", "", "verify-signatures", "verify-signatures", "Pod", "default", "unsigned", "image ghcr.io", "2026-12-01T10:00:00.123456Z"},
		{"validatingpolicy-cluster-resource-no-message.yaml", "ValidatingPolicy", "", "require-ns-owner", "", "Namespace", "", "payments", "", "2026-12-01T10:00:00.123456Z"},
		{"related-inverted.json", "ClusterPolicy", "", "restrict-image-registries", "validate-registries", "Pod", "default", "nginx-public", "validation error", "2026-12-01T10:00:00Z"},
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
			want, _ := time.Parse(time.RFC3339Nano, c.time)
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
	var unreadable *UnreadableError
	if _, err := Parse(load(t, "unparseable.json")); !errors.As(err, &unreadable) || unreadable.Name != "garbled.1881aa" {
		t.Errorf("unparseable: err = %v, want an UnreadableError", err)
	}
	// Requests Kyverno let through: the policy's Event without "(blocked)", and the twin on the
	// resource Kyverno writes only then (older Policy Herald read the twin as blocked).
	for _, f := range []string{"audit-not-blocked.json", "older-policy-rule.json", "validatingpolicy-audit-on-resource.yaml"} {
		if _, err := Parse(load(t, f)); !errors.Is(err, ErrNotKyverno) {
			t.Errorf("%s: err = %v, want ErrNotKyverno", f, err)
		}
	}
	other := load(t, "kyverno-1.9-core-v1.json")
	other.Source.Component = "kubelet"
	if _, err := Parse(other); !errors.Is(err, ErrNotKyverno) {
		t.Errorf("other component: err = %v", err)
	}
	noPolicy := load(t, "kyverno-1.10-events-k8s-io.json")
	noPolicy.InvolvedObject.Kind, noPolicy.Related = "Pod", nil
	if _, err := Parse(noPolicy); !errors.As(err, &unreadable) {
		t.Errorf("no policy: err = %v", err)
	}
	// An unknown form Kyverno marks as blocked by its action alone is unreadable, not ignored.
	action := load(t, "validatingpolicy-blocked.yaml")
	action.Message = "Pod default/hostpath was refused"
	if _, err := Parse(action); !errors.As(err, &unreadable) {
		t.Errorf("blocked action: err = %v", err)
	}
	for _, m := range []string{"", "(blocked)", "[", "Pod : [] fail (blocked)", "policy /", "\x00\xff (blocked)"} {
		ev := load(t, "kyverno-1.9-core-v1.json")
		ev.Message = m
		_, _ = Parse(ev) // never panics
	}
}

// The status and the log quote an unreadable message up to Kyverno's "; ", after which come
// values from the request, and at most 80 characters.
func TestUnreadableQuotesTheHeadOnly(t *testing.T) {
	ev := load(t, "unparseable.json")
	ev.Message = "Pod default/x: refused (blocked); password=hunter2"
	_, err := Parse(ev)
	if err == nil || err.Error() != `event default/garbled.1881aa: message "Pod default/x: refused (blocked)" (cut) is in no form Kyverno is known to write` {
		t.Errorf("err = %v", err)
	}
	ev.Message = "(blocked) " + strings.Repeat("é", 100)
	if _, err := Parse(ev); err == nil || !strings.Contains(err.Error(), strings.Repeat("é", 70)+`" (cut)`) || strings.Contains(err.Error(), strings.Repeat("é", 71)) {
		t.Errorf("err = %v", err)
	}
}
