package health

import (
	"cmp"
	"context"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
)

// Object is one Policy Herald object as the health page shows it: whether it is Ready, why,
// and how its deliveries go. Every field comes from its status, which holds no secret.
type Object struct {
	Kind               string `json:"kind"`
	Namespace          string `json:"namespace"`
	Name               string `json:"name"`
	Generation         int64  `json:"generation"`
	ObservedGeneration int64  `json:"observedGeneration"`
	// Ready is the Ready condition's status (True, False or Unknown; Unknown also when the
	// operator has not set it yet), with its reason and message.
	Ready   metav1.ConditionStatus `json:"ready"`
	Reason  string                 `json:"reason,omitempty"`
	Message string                 `json:"message,omitempty"`
	// Destination is a target's or channel's destination type.
	Destination string `json:"destination,omitempty"`
	// Mode is how a target or channel turns results into messages (its status.mode).
	Mode string `json:"mode,omitempty"`
	// Target is the NotificationTarget a TargetChannel attaches to, as namespace/name.
	Target string `json:"target,omitempty"`
	// Delivery is how deliveries go (targets, channels and e-mail schedules): sent, failed,
	// dropped, pending, the last success and failure.
	Delivery *v1alpha1.DeliveryStatus `json:"delivery,omitempty"`
	// Counts are the kind's own counters: a MetricsProfile's series, a BlockReportPolicy's
	// events seen, results written and reports managed, a target's channels.
	Counts map[string]int64 `json:"counts,omitempty"`
}

// kind is one of Policy Herald's kinds: its resource, for SubjectAccessReviews, and how to
// list its objects.
type kind struct {
	name, resource string
	list           func(ctx context.Context, c client.Reader) ([]Object, error)
}

// kinds are the five kinds the page shows, in its order.
var kinds = []kind{
	{"NotificationTarget", "notificationtargets", listTargets},
	{"TargetChannel", "targetchannels", listChannels},
	{"EmailReportSchedule", "emailreportschedules", listSchedules},
	{"MetricsProfile", "metricsprofiles", listProfiles},
	{"BlockReportPolicy", "blockreportpolicies", listBlockPolicies},
}

// newObject fills in what every kind has.
func newObject(kind string, m *metav1.ObjectMeta, observed int64, conds []metav1.Condition) Object {
	o := Object{Kind: kind, Namespace: m.Namespace, Name: m.Name, Generation: m.Generation, ObservedGeneration: observed, Ready: metav1.ConditionUnknown}
	if c := apimeta.FindStatusCondition(conds, "Ready"); c != nil {
		o.Ready, o.Reason, o.Message = c.Status, c.Reason, c.Message
	}
	return o
}

func listTargets(ctx context.Context, c client.Reader) ([]Object, error) {
	var l v1alpha1.NotificationTargetList
	if err := c.List(ctx, &l); err != nil {
		return nil, err
	}
	out := make([]Object, 0, len(l.Items))
	for i := range l.Items {
		t := &l.Items[i]
		o := newObject("NotificationTarget", &t.ObjectMeta, t.Status.ObservedGeneration, t.Status.Conditions)
		o.Destination, o.Mode, o.Delivery = string(t.Status.Destination), t.Status.Mode, t.Status.Delivery
		if ch := t.Status.Channels; ch != nil {
			o.Counts = map[string]int64{"channelsAttached": int64(ch.Attached), "channelsReady": int64(ch.Ready)}
		}
		out = append(out, o)
	}
	return out, nil
}

func listChannels(ctx context.Context, c client.Reader) ([]Object, error) {
	var l v1alpha1.TargetChannelList
	if err := c.List(ctx, &l); err != nil {
		return nil, err
	}
	out := make([]Object, 0, len(l.Items))
	for i := range l.Items {
		ch := &l.Items[i]
		o := newObject("TargetChannel", &ch.ObjectMeta, ch.Status.ObservedGeneration, ch.Status.Conditions)
		o.Destination, o.Mode, o.Delivery = string(ch.Status.Destination), ch.Status.Mode, ch.Status.Delivery
		o.Target = cmp.Or(ch.Spec.TargetRef.Namespace, ch.Namespace) + "/" + ch.Spec.TargetRef.Name
		out = append(out, o)
	}
	return out, nil
}

func listSchedules(ctx context.Context, c client.Reader) ([]Object, error) {
	var l v1alpha1.EmailReportScheduleList
	if err := c.List(ctx, &l); err != nil {
		return nil, err
	}
	out := make([]Object, 0, len(l.Items))
	for i := range l.Items {
		s := &l.Items[i]
		o := newObject("EmailReportSchedule", &s.ObjectMeta, s.Status.ObservedGeneration, s.Status.Conditions)
		o.Delivery = s.Status.Delivery
		out = append(out, o)
	}
	return out, nil
}

func listProfiles(ctx context.Context, c client.Reader) ([]Object, error) {
	var l v1alpha1.MetricsProfileList
	if err := c.List(ctx, &l); err != nil {
		return nil, err
	}
	out := make([]Object, 0, len(l.Items))
	for i := range l.Items {
		p := &l.Items[i]
		o := newObject("MetricsProfile", &p.ObjectMeta, p.Status.ObservedGeneration, p.Status.Conditions)
		o.Counts = map[string]int64{"series": p.Status.Series}
		out = append(out, o)
	}
	return out, nil
}

func listBlockPolicies(ctx context.Context, c client.Reader) ([]Object, error) {
	var l v1alpha1.BlockReportPolicyList
	if err := c.List(ctx, &l); err != nil {
		return nil, err
	}
	out := make([]Object, 0, len(l.Items))
	for i := range l.Items {
		p := &l.Items[i]
		o := newObject("BlockReportPolicy", &p.ObjectMeta, p.Status.ObservedGeneration, p.Status.Conditions)
		o.Counts = map[string]int64{
			"eventsSeen": p.Status.EventsSeen, "resultsWritten": p.Status.ResultsWritten,
			"unparseableEvents": p.Status.UnparseableEvents, "reportsManaged": int64(p.Status.ReportsManaged),
		}
		out = append(out, o)
	}
	return out, nil
}
