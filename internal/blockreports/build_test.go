package blockreports

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

func blocked(i int, at time.Time) Blocked {
	return Blocked{PolicyKind: "ClusterPolicy", Policy: "p", Rule: "r", UID: "policy-uid", EventName: fmt.Sprintf("e%d", i),
		Resource: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: fmt.Sprintf("pod-%d", i), UID: types.UID("x")},
		Message:  "m", Time: at}
}

func TestMergeRepeatsCapRetention(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	o := Options{Source: "Kyverno Event", Max: 3, Now: now}
	res, added := Merge(nil, []Blocked{blocked(1, now.Add(-5*time.Minute)), blocked(2, now.Add(-4*time.Minute))}, o)
	if len(res) != 2 || added != 2 {
		t.Fatalf("len %d added %d", len(res), added)
	}
	if res[0].Source != "Kyverno Event" || res[0].Result != "fail" || res[0].Properties["resultID"] == "" || res[0].Properties[PropertyEvent] != "e1" {
		t.Errorf("result = %+v", res[0])
	}
	// The same request again, later: one result with the new time.
	again := blocked(1, now.Add(-time.Minute))
	res, added = Merge(res, []Blocked{again}, o)
	if len(res) != 2 || added != 0 || res[1].Timestamp.Seconds != again.Time.Unix() || res[1].Resources[0].Name != "pod-1" {
		t.Fatalf("repeat: %d added %d %+v", len(res), added, res)
	}
	// Cap: the oldest go first.
	res, _ = Merge(res, []Blocked{blocked(3, now.Add(-30*time.Second)), blocked(4, now)}, o)
	if len(res) != 3 || res[0].Resources[0].Name != "pod-1" || res[2].Resources[0].Name != "pod-4" {
		t.Fatalf("cap: %+v", res)
	}
	// Retention.
	o.Retention = 45 * time.Second
	res, _ = Merge(res, nil, o)
	if len(res) != 2 {
		t.Fatalf("retention: %d", len(res))
	}
	if s := Summary(res); s.Fail != 2 || s.Pass != 0 {
		t.Errorf("summary %+v", s)
	}
}

func TestNamesStable(t *testing.T) {
	// Pinned: a release that names an existing policy's report differently starts a second one.
	if got := ReportName("a", "b"); got != "policy-herald-blocked-c14cddc033" {
		t.Errorf("ReportName(a, b) = %q, was policy-herald-blocked-c14cddc033", got)
	}
	if ReportName("a", "b") == ReportName("a", "c") {
		t.Error("two policies name the same report")
	}
	if len(PolicyLabelValue("ns", "x")) > 63 {
		t.Error("label too long")
	}
	a, b := blocked(1, time.Now()), blocked(1, time.Now().Add(time.Hour))
	b.EventName = "other"
	if ResultID(a) != ResultID(b) {
		t.Error("result id depends on time or event name")
	}
}

func TestAnnotate(t *testing.T) {
	bs := []Blocked{blocked(1, time.Now()), blocked(2, time.Now()), {Policy: "older-form"}}
	for i := range bs[:2] {
		bs[i].PolicyAPIVersion = "kyverno.io/v1"
	}
	calls := 0
	Annotate(bs, func(apiVersion, kind, ns, name string) (Policy, bool) {
		calls++
		if apiVersion != "kyverno.io/v1" || kind != "ClusterPolicy" || name != "p" {
			t.Errorf("read %s %s %s/%s", apiVersion, kind, ns, name)
		}
		return Policy{Annotations: map[string]string{AnnotationCategory: "Pod Security", AnnotationSeverity: "High"}}, true
	})
	if calls != 1 || bs[1].Category != "Pod Security" || bs[1].Severity != "high" || bs[2].Category != "" {
		t.Errorf("calls %d %+v", calls, bs)
	}
	if r := Result(bs[0], "s"); r.Category != "Pod Security" || r.Severity != "high" {
		t.Errorf("result %+v", r)
	}
	Annotate(bs[:1], func(string, string, string, string) (Policy, bool) { return Policy{}, false })
	if bs[0].Category != "" || bs[0].Severity != "" {
		t.Error("unreadable policy keeps annotations")
	}
}

// The rule's own message replaces the Event's when it reads as it is; one with variables does
// not, since the Event holds them resolved.
func TestAnnotateRuleMessage(t *testing.T) {
	spec := map[string]any{"rules": []any{
		map[string]any{"name": "check-registry", "validate": map[string]any{"message": "Images must come from registry.example.com."}},
		map[string]any{"name": "check-tag", "validate": map[string]any{"message": "The image {{ request.object.spec.containers[0].image }} has no tag."}},
		map[string]any{"name": "mutate-only", "mutate": map[string]any{}},
	}}
	msgs := RuleMessages(spec)
	if len(msgs) != 2 || msgs["check-registry"] != "Images must come from registry.example.com." {
		t.Fatalf("rule messages %v", msgs)
	}
	read := func(string, string, string, string) (Policy, bool) { return Policy{RuleMessages: msgs}, true }
	for rule, want := range map[string]string{
		"check-registry": "Images must come from registry.example.com.",
		"check-tag":      "the event's message",
		"unknown":        "the event's message",
	} {
		bs := []Blocked{{PolicyAPIVersion: "kyverno.io/v1", PolicyKind: "ClusterPolicy", Policy: "p", Rule: rule, Message: "the event's message"}}
		Annotate(bs, read)
		if bs[0].Message != want {
			t.Errorf("rule %s: message %q, want %q", rule, bs[0].Message, want)
		}
	}
}
