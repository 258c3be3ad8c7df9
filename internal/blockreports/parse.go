// Package blockreports turns Kyverno's "blocked" admission Events into PolicyReport results.
package blockreports

import (
	"errors"
	"fmt"
	"regexp"
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
// ignored rather than counted as unparseable.
var ErrNotKyverno = errors.New("not a Kyverno blocked-admission event")

var (
	// "Pod default/nginx-public: [validate-registries] fail (blocked); validation error: ..."
	// and, for cluster-scoped resources, "Namespace prod: [rule] fail (blocked); ...".
	currentForm = regexp.MustCompile(`^(\S+) (\S+): \[([^\]]*)\] (fail|error) \(blocked\)(?:; ?(?s:(.*)))?$`)
	// Kyverno before 1.10: "policy restrict-image-registries/validate-registries fail: ..."
	olderForm = regexp.MustCompile(`^policy (\S+)/(\S+) (fail|error)(?: \(blocked\))?: ?(?s:(.*))$`)
)

// Parse reads one Event. It returns ErrNotKyverno for Events of other components or outcomes,
// and another error for a Kyverno Event whose message it cannot read.
func Parse(ev *corev1.Event) (Blocked, error) {
	if ev.Reason != Reason || ev.Type != Type {
		return Blocked{}, ErrNotKyverno
	}
	if ev.Source.Component != Component && ev.ReportingController != Component {
		return Blocked{}, ErrNotKyverno
	}
	msg := strings.TrimSpace(ev.Message)
	b := Blocked{EventName: ev.Name, EventNamespace: ev.Namespace, UID: string(ev.InvolvedObject.UID), Time: eventTime(ev)}
	policyObj, resourceObj := ev.InvolvedObject, corev1.ObjectReference{}
	if ev.Related != nil {
		resourceObj = *ev.Related
	}
	if !policyKinds[policyObj.Kind] && ev.Related != nil && policyKinds[ev.Related.Kind] {
		policyObj, resourceObj = *ev.Related, ev.InvolvedObject
	}
	if m := currentForm.FindStringSubmatch(msg); m != nil {
		if !strings.Contains(msg, "(blocked)") {
			return Blocked{}, ErrNotKyverno
		}
		if !policyKinds[policyObj.Kind] || policyObj.Name == "" {
			return Blocked{}, fmt.Errorf("event %s/%s: no policy as involved or related object", ev.Namespace, ev.Name)
		}
		b.PolicyKind, b.PolicyNamespace, b.Policy = policyObj.Kind, policyObj.Namespace, policyObj.Name
		b.PolicyAPIVersion = policyObj.APIVersion
		b.Rule, b.Message = m[3], strings.TrimSpace(m[5])
		b.Resource = resourceRef(m[1], m[2], resourceObj)
		return b, nil
	}
	if m := olderForm.FindStringSubmatch(msg); m != nil {
		// Older Kyverno wrote these on the resource (and a twin on the policy).
		b.Policy, b.Rule, b.Message = m[1], m[2], strings.TrimSpace(m[4])
		if policyKinds[policyObj.Kind] {
			b.PolicyKind, b.PolicyNamespace = policyObj.Kind, policyObj.Namespace
			b.PolicyAPIVersion = policyObj.APIVersion
			if resourceObj.Name == "" {
				return Blocked{}, fmt.Errorf("event %s/%s: policy/rule form without a resource", ev.Namespace, ev.Name)
			}
			b.Resource = resourceObj
		} else {
			b.Resource = ev.InvolvedObject
		}
		return b, nil
	}
	if !strings.Contains(msg, "(blocked)") && !strings.HasPrefix(msg, "policy ") {
		return Blocked{}, ErrNotKyverno
	}
	return Blocked{}, fmt.Errorf("event %s/%s: unrecognised message %q", ev.Namespace, ev.Name, truncate(msg, 80))
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

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
