// Package blockreports turns Kyverno's "blocked" admission Events into PolicyReport results.
package blockreports

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Reason and Type select Kyverno's admission-violation Events.
const (
	Reason = "PolicyViolation"
	Type   = corev1.EventTypeWarning
	// Component is what Kyverno's admission controller writes as source.component (classic
	// core/v1 Events) or reportingController (events.k8s.io/v1 Events, read here as core/v1
	// reportingComponent).
	Component = "kyverno-admission"
)

// policyKinds are the kinds Kyverno writes as the Event's involvedObject (regarding) when the
// Event is about a policy: classic and CEL policies.
var policyKinds = map[string]bool{
	"ClusterPolicy":                   true,
	"Policy":                          true,
	"ValidatingPolicy":                true,
	"NamespacedValidatingPolicy":      true,
	"ImageValidatingPolicy":           true,
	"NamespacedImageValidatingPolicy": true,
	"ValidatingAdmissionPolicy":       true,
}

// Blocked is one blocked admission request parsed from an Event.
type Blocked struct {
	PolicyKind       string
	PolicyAPIVersion string
	PolicyNamespace  string
	Policy           string
	Rule             string
	Resource         corev1.ObjectReference
	Message          string
	EventName        string
	EventNamespace   string
	// UID is the uid of the Event's involved object, part of the result's identity.
	UID  string
	Time time.Time
	// Category and Severity come from the policy's annotations, when it can be read.
	Category, Severity string
}

// ErrNotKyverno says the Event is not one of Kyverno's blocked-admission Events; it is
// ignored rather than counted as unreadable.
var ErrNotKyverno = errors.New("not a Kyverno blocked-admission event")

// UnreadableError is a Kyverno Event about a blocked request that Parse cannot read: its
// blocked request is not reported.
type UnreadableError struct {
	Namespace, Name string
	// Time is the Event's, to tell the newest.
	Time time.Time
	// Why says what could not be read.
	Why string
}

func (e *UnreadableError) Error() string {
	return fmt.Sprintf("event %s/%s: %s", e.Namespace, e.Name, e.Why)
}

// The forms of Kyverno's (since 1.7) PolicyViolation Events, pkg/event/events.go.
var (
	// The Event on the policy, buildPolicyEventMessage: "Pod default/nginx-public:
	// [validate-registries] fail (blocked); validation error: ...", "Namespace prod: ..." for a
	// cluster-scoped resource, and no "[rule] " for a rule without a name (a ValidatingPolicy's
	// or NamespacedValidatingPolicy's validations, Kyverno 1.16 on). "(blocked)" only when
	// Kyverno refused the request; "; message" only when the rule has one.
	policyForm = regexp.MustCompile(`^(\S+) (\S+): (?:\[(.*?)\] )?(fail|error) \(blocked\)(?:; ?(?s:(.*)))?$`)
	// The twin Event on the resource, NewResourceViolationEvent: "policy <policy>/<rule> fail:
	// ...", the rule empty for a ValidatingPolicy. Kyverno writes it only for requests it let
	// through (pkg/webhooks/utils/event.go, GenerateEvents), so it is no blocked request.
	resourceForm = regexp.MustCompile(`^policy \S+/\S* (fail|error): `)
)

// actionBlocked is the Action of Kyverno's (1.11 on) Events about a request it refused.
const actionBlocked = "Resource Blocked"

// Parse reads one Event. It returns ErrNotKyverno for Events of other components or about
// requests Kyverno let through, and an *UnreadableError for a Kyverno Event about a blocked
// request that it cannot read.
func Parse(ev *corev1.Event) (Blocked, error) {
	if ev.Reason != Reason || ev.Type != Type {
		return Blocked{}, ErrNotKyverno
	}
	if ev.Source.Component != Component && ev.ReportingController != Component {
		return Blocked{}, ErrNotKyverno
	}
	msg := strings.TrimSpace(ev.Message)
	unreadable := func(why string) error {
		return &UnreadableError{Namespace: ev.Namespace, Name: ev.Name, Time: eventTime(ev), Why: why}
	}
	m := policyForm.FindStringSubmatch(msg)
	switch {
	case m == nil && resourceForm.MatchString(msg):
		return Blocked{}, ErrNotKyverno
	case m == nil && !strings.Contains(msg, "(blocked)") && ev.Action != actionBlocked:
		return Blocked{}, ErrNotKyverno
	case m == nil:
		return Blocked{}, unreadable(fmt.Sprintf("message %s is in no form Kyverno is known to write", quoteHead(msg)))
	}
	policyObj, resourceObj := ev.InvolvedObject, corev1.ObjectReference{}
	if ev.Related != nil {
		resourceObj = *ev.Related
	}
	if !policyKinds[policyObj.Kind] && ev.Related != nil && policyKinds[ev.Related.Kind] {
		policyObj, resourceObj = *ev.Related, ev.InvolvedObject
	}
	if !policyKinds[policyObj.Kind] || policyObj.Name == "" {
		return Blocked{}, unreadable(fmt.Sprintf("neither its object (%s) nor its related object is a Kyverno policy", kindName(ev.InvolvedObject)))
	}
	return Blocked{
		PolicyKind: policyObj.Kind, PolicyAPIVersion: policyObj.APIVersion,
		PolicyNamespace: policyObj.Namespace, Policy: policyObj.Name,
		Rule: m[3], Message: strings.TrimSpace(m[5]),
		Resource:  resourceRef(m[1], m[2], resourceObj),
		EventName: ev.Name, EventNamespace: ev.Namespace, UID: string(ev.InvolvedObject.UID), Time: eventTime(ev),
	}, nil
}

func kindName(o corev1.ObjectReference) string {
	if o.Kind == "" && o.Name == "" {
		return "none"
	}
	return strings.TrimSpace(o.Kind + " " + o.Name)
}

// quoteHead quotes the start of a message for a status or log line: up to Kyverno's "; ",
// after which comes the rule's own message with values from the request, and at most 80
// characters.
func quoteHead(msg string) string {
	head, _, cut := strings.Cut(msg, "; ")
	if r := []rune(head); len(r) > 80 {
		head, cut = string(r[:80]), true
	}
	if cut {
		return strconv.Quote(head) + " (cut)"
	}
	return strconv.Quote(head)
}

// resourceRef builds the resource from the message's "Kind ns/name" (or "Kind name"), filled
// in from the Event's resource reference when it names the same object.
func resourceRef(kind, nsName string, obj corev1.ObjectReference) corev1.ObjectReference {
	ns, name, found := strings.Cut(nsName, "/")
	if !found {
		ns, name = "", nsName
	}
	ref := corev1.ObjectReference{Kind: kind, Namespace: ns, Name: name}
	if obj.Kind == kind && obj.Name == name && obj.Namespace == ns {
		ref.APIVersion, ref.UID = obj.APIVersion, obj.UID
	}
	return ref
}

func eventTime(ev *corev1.Event) time.Time {
	switch {
	case ev.Series != nil && !ev.Series.LastObservedTime.IsZero():
		return ev.Series.LastObservedTime.Time
	case !ev.LastTimestamp.IsZero():
		return ev.LastTimestamp.Time
	case !ev.EventTime.IsZero():
		return ev.EventTime.Time
	case !ev.FirstTimestamp.IsZero():
		return ev.FirstTimestamp.Time
	}
	return ev.CreationTimestamp.Time
}
