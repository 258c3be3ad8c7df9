// Package kyvernotest builds, for tests, the Events Kyverno writes when a policy fails a request.
// Every format string and field is a copy of Kyverno's own code (github.com/kyverno/kyverno at
// 111e07bb, August 2026), so fixtures follow that code rather than a reading of its output:
//
//   - Message: buildPolicyEventMessage in pkg/event/events.go;
//   - Event: NewPolicyFailEvent in pkg/event/events.go (the policy as regarding, the resource as
//     related) and emitEvent in pkg/event/controller.go (name, namespace, the events.k8s.io/v1
//     fields, the 1,024-byte cut);
//   - ResourceViolationEvent: NewResourceViolationEvent in pkg/event/events.go;
//   - CoreV1: how the API server serves that Event as core/v1, which is what the operator's
//     cache reads (k8s.io/kubernetes pkg/apis/events/v1 Convert_v1_Event_To_core_Event; the
//     controllers tests check it against a real API server).
package kyvernotest

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Kyverno's event sources (pkg/event/source.go), reason and actions (reason.go, action.go).
const (
	AdmissionController = "kyverno-admission"
	PolicyController    = "kyverno-scan"
	PolicyViolation     = "PolicyViolation"
	ResourceBlocked     = "Resource Blocked"
	ResourcePassed      = "Resource Passed"
	// Hostname stands for the Kyverno Pod's host name in ReportingInstance.
	Hostname = "kyverno-admission-controller-7d9c5b-abcde"
)

// Rule is the part of Kyverno's engineapi.RuleResponse a fail Event reads. Kyverno's CEL
// ValidatingPolicy and NamespacedValidatingPolicy engine leaves Name empty
// (pkg/cel/policies/vpol/engine); ImageValidatingPolicies use the policy's name; classic
// policies the rule's.
type Rule struct {
	Name    string
	Status  string // "fail" or "error": Kyverno writes fail Events only for these
	Message string
}

// Object is a policy (regarding) or a resource (related, engineapi.ResourceSpec).
type Object struct {
	APIVersion, Kind, Namespace, Name, UID string
}

// Message is buildPolicyEventMessage.
func Message(rule Rule, resource Object, blocked bool) string {
	var b strings.Builder
	if resource.Namespace != "" {
		fmt.Fprintf(&b, "%s %s/%s", resource.Kind, resource.Namespace, resource.Name)
	} else {
		fmt.Fprintf(&b, "%s %s", resource.Kind, resource.Name)
	}
	if rule.Name != "" {
		fmt.Fprintf(&b, ": [%s] %s", rule.Name, rule.Status)
	} else {
		fmt.Fprintf(&b, ": %s", rule.Status)
	}
	if blocked {
		fmt.Fprintf(&b, " (blocked)")
	}
	if rule.Message != "" {
		fmt.Fprintf(&b, "; %s", rule.Message)
	}
	return b.String()
}

var (
	invalidChars           = regexp.MustCompile(`[^a-z0-9\.\-]`)
	startsWithAlphaNumeric = regexp.MustCompile(`^[a-z0-9]`)
	endsWithAlphaNumeric   = regexp.MustCompile(`[a-z0-9]$`)
)

// sanitizeEventName is Kyverno's.
func sanitizeEventName(name string) string {
	sanitized := invalidChars.ReplaceAllString(strings.ToLower(name), "-")
	if len(sanitized) > 0 && !startsWithAlphaNumeric.MatchString(sanitized) {
		sanitized = "a" + sanitized
	}
	if len(sanitized) > 0 && !endsWithAlphaNumeric.MatchString(sanitized) {
		sanitized = sanitized + "z"
	}
	return sanitized
}

// Event is the events.k8s.io/v1 Event NewPolicyFailEvent has Kyverno's source
// (AdmissionController for admission requests) write on the policy when rule fails for
// resource at time at.
func Event(source string, policy, resource Object, rule Rule, blocked bool, at time.Time) *eventsv1.Event {
	action := ResourcePassed
	if blocked {
		action = ResourceBlocked
	}
	namespace := policy.Namespace
	if namespace == "" {
		namespace = metav1.NamespaceDefault
	}
	message := Message(rule, resource, blocked)
	related := ref(resource)
	return &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{
			Name:      fmt.Sprintf("%v.%x", sanitizeEventName(policy.Name), at.UnixNano()),
			Namespace: namespace,
		},
		EventTime:           metav1.MicroTime{Time: at},
		ReportingController: source,
		ReportingInstance:   source + "-" + Hostname,
		Action:              action,
		Reason:              PolicyViolation,
		Regarding:           ref(policy),
		Related:             &related,
		Note:                kyvernoCut(message),
		Type:                corev1.EventTypeWarning,
	}
}

// ResourceViolationEvent is the twin Event NewResourceViolationEvent writes on the resource,
// "policy <policy>/<rule> <status>: <message>"; Kyverno writes it only for a request it let
// through (pkg/webhooks/utils/event.go GenerateEvents: `if !blocked`).
func ResourceViolationEvent(source string, policy, resource Object, rule Rule, at time.Time) *eventsv1.Event {
	namespace := resource.Namespace
	if namespace == "" {
		namespace = metav1.NamespaceDefault
	}
	return &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{
			Name:      fmt.Sprintf("%v.%x", sanitizeEventName(resource.Name), at.UnixNano()),
			Namespace: namespace,
		},
		EventTime:           metav1.MicroTime{Time: at},
		ReportingController: source,
		ReportingInstance:   source + "-" + Hostname,
		Action:              ResourcePassed,
		Reason:              PolicyViolation,
		Regarding:           ref(resource),
		Note:                kyvernoCut(fmt.Sprintf("policy %s/%s %s: %s", policy.Name, rule.Name, rule.Status, rule.Message)),
		Type:                corev1.EventTypeWarning,
	}
}

// kyvernoCut is Kyverno's emitEvent cut of notes longer than 1,024 bytes, copied as it is (a
// byte cut that may split a rune, "..." not "…"): the fake must send what Kyverno sends, so it
// does not use textcut.Cut.
func kyvernoCut(message string) string {
	if len(message) > 1024 {
		return message[0:1021] + "..."
	}
	return message
}

func ref(o Object) corev1.ObjectReference {
	return corev1.ObjectReference{APIVersion: o.APIVersion, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name, UID: types.UID(o.UID)}
}

// CoreV1 is ev as the API server serves it through the core/v1 Event API.
func CoreV1(ev *eventsv1.Event) *corev1.Event {
	out := &corev1.Event{
		ObjectMeta:          *ev.ObjectMeta.DeepCopy(),
		InvolvedObject:      ev.Regarding,
		Reason:              ev.Reason,
		Message:             ev.Note,
		Source:              ev.DeprecatedSource,
		FirstTimestamp:      ev.DeprecatedFirstTimestamp,
		LastTimestamp:       ev.DeprecatedLastTimestamp,
		Count:               ev.DeprecatedCount,
		Type:                ev.Type,
		EventTime:           ev.EventTime,
		Action:              ev.Action,
		ReportingController: ev.ReportingController,
		ReportingInstance:   ev.ReportingInstance,
	}
	if ev.Related != nil {
		out.Related = ev.Related.DeepCopy()
	}
	if ev.Series != nil {
		out.Series = &corev1.EventSeries{Count: ev.Series.Count, LastObservedTime: ev.Series.LastObservedTime}
	}
	return out
}
