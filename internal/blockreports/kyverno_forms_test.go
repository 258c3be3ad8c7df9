package blockreports

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/policyherald/policy-herald/internal/blockreports/kyvernotest"
)

// kyvernoPolicies are the policy kinds whose fail Events Kyverno's admission controller writes,
// each with the rules its engine names (Kyverno's pkg/cel/policies/*/engine and pkg/engine): a
// classic policy's rule, none for a ValidatingPolicy's validations, the policy's own name for an
// ImageValidatingPolicy, and the fixed names of the CEL engines' own errors.
var kyvernoPolicies = []struct {
	policy kyvernotest.Object
	rules  []kyvernotest.Rule
}{
	{kyvernotest.Object{APIVersion: "kyverno.io/v1", Kind: "ClusterPolicy", Name: "restrict-image-registries", UID: "cpol-uid"}, []kyvernotest.Rule{
		{Name: "validate-registries", Status: "fail", Message: "validation error: Unknown Image registry. rule validate-registries failed at path /spec/containers/0/image/"},
		{Name: "validate-registries", Status: "error", Message: "failed to substitute variables: variable request.object.foo not found"},
		{Name: "validate-registries", Status: "fail"},
	}},
	{kyvernotest.Object{APIVersion: "kyverno.io/v1", Kind: "Policy", Namespace: "team-a", Name: "require-team-label", UID: "pol-uid"}, []kyvernotest.Rule{
		{Name: "check-team", Status: "fail", Message: "validation error: label team is required. rule check-team failed at path /metadata/labels/team/"},
	}},
	{kyvernotest.Object{APIVersion: "policies.kyverno.io/v1beta1", Kind: "ValidatingPolicy", Name: "disallow-host-path", UID: "vpol-uid"}, []kyvernotest.Rule{
		{Status: "fail", Message: "HostPath volumes are forbidden. The field spec.volumes[*].hostPath must be unset."},
		{Status: "error", Message: "error: no such key: hostPath"},
		{Status: "fail"},
		{Name: "evaluation", Status: "error", Message: "failed to load context: resource not found"},
		{Name: "match", Status: "error", Message: "failed to execute matching: namespace not found"},
	}},
	{kyvernotest.Object{APIVersion: "policies.kyverno.io/v1beta1", Kind: "NamespacedValidatingPolicy", Namespace: "team-a", Name: "team-limits", UID: "nvpol-uid"}, []kyvernotest.Rule{
		{Status: "fail", Message: "containers need memory limits; see the team guide"},
		{Name: "exception", Status: "error", Message: "failed to compute exception key: object has no meta"},
	}},
	{kyvernotest.Object{APIVersion: "policies.kyverno.io/v1beta1", Kind: "ImageValidatingPolicy", Name: "verify-signatures", UID: "ivpol-uid"}, []kyvernotest.Rule{
		{Name: "verify-signatures", Status: "fail", Message: "image ghcr.io/acme/app:1.0 signature verification failed"},
		{Name: "match", Status: "error", Message: "failed to execute matching: bad expression"},
	}},
	{kyvernotest.Object{APIVersion: "policies.kyverno.io/v1beta1", Kind: "NamespacedImageValidatingPolicy", Namespace: "team-a", Name: "verify-team-images", UID: "nivpol-uid"}, []kyvernotest.Rule{
		{Name: "verify-team-images", Status: "fail", Message: "image ghcr.io/acme/app:1.0 is not signed by the team key"},
	}},
}

// resourcesFor are the resources a policy can fail: namespaced ones in its namespace (any for
// a cluster-wide policy), and cluster-scoped ones for cluster-wide policies.
func resourcesFor(policy kyvernotest.Object) []kyvernotest.Object {
	ns := policy.Namespace
	if ns == "" {
		ns = "default"
	}
	out := []kyvernotest.Object{{APIVersion: "v1", Kind: "Pod", Namespace: ns, Name: "web-7d9c", UID: "pod-uid"}}
	if policy.Namespace == "" {
		out = append(out, kyvernotest.Object{APIVersion: "v1", Kind: "Namespace", Name: "payments", UID: "ns-uid"})
	}
	return out
}

// Every blocked form Kyverno writes is read, whatever the policy kind, rule, resource scope and
// message.
func TestParseEveryKyvernoBlockedForm(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 123456000, time.UTC)
	for _, p := range kyvernoPolicies {
		for _, rule := range p.rules {
			for _, res := range resourcesFor(p.policy) {
				ev := kyvernotest.CoreV1(kyvernotest.Event(kyvernotest.AdmissionController, p.policy, res, rule, true, at))
				t.Run(ev.Message, func(t *testing.T) {
					b, err := Parse(ev)
					if err != nil {
						t.Fatal(err)
					}
					want := Blocked{
						PolicyKind: p.policy.Kind, PolicyAPIVersion: p.policy.APIVersion, PolicyNamespace: p.policy.Namespace,
						Policy: p.policy.Name, Rule: rule.Name, Message: rule.Message,
						Resource:  corev1.ObjectReference{APIVersion: res.APIVersion, Kind: res.Kind, Namespace: res.Namespace, Name: res.Name, UID: types.UID(res.UID)},
						EventName: ev.Name, EventNamespace: ev.Namespace, UID: p.policy.UID, Time: at,
					}
					if fmt.Sprint(b) != fmt.Sprint(want) {
						t.Errorf("parsed\n%+v\nwant\n%+v", b, want)
					}
				})
			}
		}
	}
}

// Kyverno's Events about requests it let through (audit), its twin Events on the resource, and
// the background scan's Events are not blocked requests.
func TestParseIgnoresKyvernoEventsOfRequestsLetThrough(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for _, p := range kyvernoPolicies {
		for _, rule := range p.rules {
			for _, res := range resourcesFor(p.policy) {
				for _, ev := range []*corev1.Event{
					kyvernotest.CoreV1(kyvernotest.Event(kyvernotest.AdmissionController, p.policy, res, rule, false, at)),
					kyvernotest.CoreV1(kyvernotest.ResourceViolationEvent(kyvernotest.AdmissionController, p.policy, res, rule, at)),
					kyvernotest.CoreV1(kyvernotest.Event(kyvernotest.PolicyController, p.policy, res, rule, false, at)),
				} {
					if _, err := Parse(ev); !errors.Is(err, ErrNotKyverno) {
						t.Errorf("%s %q: err = %v, want ErrNotKyverno", ev.ReportingController, ev.Message, err)
					}
				}
			}
		}
	}
}

// Kyverno cuts notes at 1,024 bytes; the cut message is still read.
func TestParseKyvernoCutMessage(t *testing.T) {
	p := kyvernoPolicies[2]
	rule := kyvernotest.Rule{Status: "fail", Message: strings.Repeat("x", 2000)}
	ev := kyvernotest.CoreV1(kyvernotest.Event(kyvernotest.AdmissionController, p.policy, resourcesFor(p.policy)[0], rule, true, time.Now()))
	b, err := Parse(ev)
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.Message) != 1024 || !strings.HasSuffix(b.Message, "xxx...") || b.Rule != "" {
		t.Errorf("message %d bytes, parsed %q rule %q", len(ev.Message), b.Message[len(b.Message)-10:], b.Rule)
	}
}

// The golden Events in testdata are what Kyverno's code writes (kyvernotest), as the API server
// serves them through the core/v1 API.
func TestGoldenEventsAreKyvernos(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 123456000, time.UTC)
	vp := kyvernotest.Object{APIVersion: "policies.kyverno.io/v1beta1", Kind: "ValidatingPolicy", Name: "disallow-host-path", UID: "3f1c2a9e-0b7d-4c55-9a61-6f0e2d8b7c14"}
	hostpath := kyvernotest.Object{APIVersion: "v1", Kind: "Pod", Namespace: "default", Name: "hostpath", UID: "0a6f3e21-9c4d-4b7a-8f15-e2d9c0b6a731"}
	hostPathRule := kyvernotest.Rule{Status: "fail", Message: "HostPath volumes are forbidden. The field spec.volumes[*].hostPath must be unset."}
	blocked := func(policy, resource kyvernotest.Object, rule kyvernotest.Rule) *corev1.Event {
		return kyvernotest.CoreV1(kyvernotest.Event(kyvernotest.AdmissionController, policy, resource, rule, true, at))
	}
	for file, want := range map[string]*corev1.Event{
		"validatingpolicy-blocked.yaml": blocked(vp, hostpath, hostPathRule),
		"namespacedvalidatingpolicy-blocked.yaml": blocked(
			kyvernotest.Object{APIVersion: "policies.kyverno.io/v1beta1", Kind: "NamespacedValidatingPolicy", Namespace: "team-a", Name: "team-limits", UID: "8d2e4f61-5a3b-4e0c-b7d9-1c6a5f2e3b80"},
			kyvernotest.Object{APIVersion: "v1", Kind: "Pod", Namespace: "team-a", Name: "no-limits", UID: "e3b1d0c9-7a2f-4c6e-9d84-5f0a1b2c3d4e"},
			kyvernotest.Rule{Status: "fail", Message: "containers need memory limits"}),
		"imagevalidatingpolicy-blocked.yaml": blocked(
			kyvernotest.Object{APIVersion: "policies.kyverno.io/v1beta1", Kind: "ImageValidatingPolicy", Name: "verify-signatures", UID: "c47b9e02-6d1f-4a83-8e5c-2b9f0a7d6e31"},
			kyvernotest.Object{APIVersion: "v1", Kind: "Pod", Namespace: "default", Name: "unsigned", UID: "7c2d9e4f-1b3a-4f6c-8e0d-a9b8c7d6e5f4"},
			kyvernotest.Rule{Name: "verify-signatures", Status: "fail", Message: "image ghcr.io/acme/app:1.0 signature verification failed"}),
		"validatingpolicy-cluster-resource-no-message.yaml": blocked(
			kyvernotest.Object{APIVersion: "policies.kyverno.io/v1beta1", Kind: "ValidatingPolicy", Name: "require-ns-owner", UID: "5e9a0c73-2f4b-4d18-a6e2-9b1d7c3f0a45"},
			kyvernotest.Object{APIVersion: "v1", Kind: "Namespace", Name: "payments", UID: "b5a4c3d2-e1f0-4a9b-8c7d-6e5f4a3b2c1d"},
			kyvernotest.Rule{Status: "fail"}),
		"validatingpolicy-audit-on-resource.yaml": kyvernotest.CoreV1(kyvernotest.ResourceViolationEvent(kyvernotest.AdmissionController, vp, hostpath, hostPathRule, at)),
	} {
		got := load(t, file)
		got.TypeMeta = want.TypeMeta
		if !equality.Semantic.DeepEqual(got, want) {
			w, _ := yaml.Marshal(want)
			g, _ := yaml.Marshal(got)
			t.Errorf("%s differs from Kyverno's Event:\n%s\nwant\n%s", file, g, w)
		}
	}
}
