package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/addrguard"
	"github.com/policyherald/policy-herald/internal/conditions"
	"github.com/policyherald/policy-herald/internal/consolelink"
	"github.com/policyherald/policy-herald/internal/delivery"
	"github.com/policyherald/policy-herald/internal/destination"
	"github.com/policyherald/policy-herald/internal/routing"
	"github.com/policyherald/policy-herald/internal/secrets"
	"github.com/policyherald/policy-herald/internal/tlsconfig"
)

// +kubebuilder:rbac:groups=reporting.policyherald.io,resources=notificationtargets,verbs=get;list;watch
// +kubebuilder:rbac:groups=reporting.policyherald.io,resources=notificationtargets/status,verbs=get;update;patch

// NotificationTargetReconciler validates NotificationTargets, hands valid ones to the delivery
// engine, and reports their health.
type NotificationTargetReconciler struct {
	Deps
	Engine *delivery.Engine
	// PlatformNamespace holds the targets that see every namespace and cluster-scoped reports.
	PlatformNamespace string
	// ConsoleURL is the console's address its messages link to; empty: no links.
	ConsoleURL consolelink.Base
	// guards restrict the addresses senders connect to (see addrguard.Policy).
	guards addrguard.Guards
	// tests answers the send-test annotation.
	tests sendTests
}

// Reconcile validates one NotificationTarget, starts, updates or stops its delivery, and records
// the outcome in its status.
func (r *NotificationTargetReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ref := delivery.ObjectRef{Kind: "NotificationTarget", Namespace: req.Namespace, Name: req.Name}
	var t v1alpha1.NotificationTarget
	if err := r.Client.Get(ctx, req.NamespacedName, &t); err != nil {
		if client.IgnoreNotFound(err) == nil {
			r.Engine.Remove(ref)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	base := t.DeepCopy()
	t.Status.Destination = t.Spec.DestinationType()
	counts, err := r.countChannels(ctx, &t)
	if err != nil {
		return ctrl.Result{}, err
	}
	t.Status.Channels = counts

	ds, err := r.resolve(ctx, &t)
	var cfg *delivery.Config
	if err == nil {
		cfg, err = ds.build(ctx, r.Engine)
	}
	t.Status.LastTest = r.tests.answer(ctx, r.Recorder, &t, t.Status.LastTest, ds, err)
	err = runDelivery(r.Engine, ref, cfg, err, t.Spec.Suspend)
	return finish(ctx, r.Deps, &t, base, readiness{
		err:       err,
		suspended: t.Spec.Suspend,
		message:   fmt.Sprintf("delivering new results to the %s destination", t.Status.Destination),
	})
}

// resolve checks what the schema cannot (the Secret and its keys, the template, the CA, the
// selectors) and returns what the delivery engine runs (see deliverySpec.build).
func (r *NotificationTargetReconciler) resolve(ctx context.Context, t *v1alpha1.NotificationTarget) (*deliverySpec, error) {
	dest, err := resolveTarget(ctx, r.SecretReader, t)
	if err != nil {
		return nil, err
	}
	tlsCfg, err := tlsconfig.Build(ctx, r.SecretReader, t.Namespace, t.Spec.TLS)
	if err != nil {
		return nil, err
	}
	if err := checkTargetSelectors(t); err != nil {
		return nil, err
	}
	notify, err := notifyPolicy(effectiveNotifications(t, nil), dest.Type)
	if err != nil {
		return nil, err
	}
	t.Status.Mode = mode(notify)
	ds := &deliverySpec{
		obj: t, kind: "NotificationTarget", ledgerKind: "nt",
		destType: dest.Type, dest: dest.Destination, settings: dest.Settings, tls: tlsCfg,
		route:     routing.Target(t, r.PlatformNamespace),
		custom:    t.Spec.CustomFields,
		template:  t.Spec.MessageTemplate,
		skip:      skipExisting(t),
		dropAfter: dropAfter(t),
		notify:    notify,
		console:   r.ConsoleURL,
		delivery:  t.Status.Delivery,
		silences:  t.Status.Silences,
		guard:     r.guards.ForNamespace(t.Namespace, t.Spec.AllowPrivateNetworks),
	}
	return ds, nil
}

// resolveTarget reads the target's Secret and returns its complete destination.
func resolveTarget(ctx context.Context, sr client.Reader, t *v1alpha1.NotificationTarget) (destination.Resolved, error) {
	values, secretName, err := readOptionalSecret(ctx, sr, t.Namespace, t.Spec.SecretRef)
	if err != nil {
		return destination.Resolved{}, err
	}
	dest, err := destination.Resolve(&t.Spec.Destinations, values)
	if err != nil {
		return destination.Resolved{}, err
	}
	if err := destination.CheckComplete(dest.Type, dest.Settings, secretName); err != nil {
		return destination.Resolved{}, err
	}
	return dest, destination.CheckTemplate(dest.Type, t.Spec.MessageTemplate)
}

func checkTargetSelectors(t *v1alpha1.NotificationTarget) error {
	if err := checkSelector("filter.namespaceSelector", filterSelector(t.Spec.Filter)); err != nil {
		return err
	}
	if ns := channelNamespaces(t); ns != nil {
		return checkSelector("allowedChannels.namespaces.selector", ns.Selector)
	}
	return nil
}

// dropAfter is the target's dropAfter; 0 leaves the engine's default (the schema defaults it).
func dropAfter(t *v1alpha1.NotificationTarget) time.Duration {
	if t.Spec.DropAfter == nil {
		return 0
	}
	return t.Spec.DropAfter.Duration
}

func skipExisting(t *v1alpha1.NotificationTarget) bool {
	return t.Spec.SkipExistingOnStartup == nil || *t.Spec.SkipExistingOnStartup
}

// countChannels counts the channels attached to t and how many of them are Ready.
func (r *NotificationTargetReconciler) countChannels(ctx context.Context, t *v1alpha1.NotificationTarget) (*v1alpha1.ChannelCounts, error) {
	var channels v1alpha1.TargetChannelList
	if err := r.Client.List(ctx, &channels, client.MatchingFields{indexTargetRef: targetKey(t.Namespace, t.Name)}); err != nil {
		return nil, err
	}
	counts := &v1alpha1.ChannelCounts{}
	for i := range channels.Items {
		c := &channels.Items[i]
		allowed, err := channelAllowed(ctx, r.Client, t, c.Namespace)
		if err != nil {
			return nil, err
		}
		if !allowed {
			continue
		}
		counts.Attached++
		if conditions.IsReady(c) {
			counts.Ready++
		}
	}
	return counts, nil
}

// SetupWithManager registers the reconciler and what it watches: its own kind, the Secrets it
// references, and the channels attached to it (for the channel counts).
func (r *NotificationTargetReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if err := indexSecrets(ctx, mgr, &v1alpha1.NotificationTarget{}); err != nil {
		return err
	}
	r.tests.setup(ctx)
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.NotificationTarget{}, builder.WithPredicates(specOrTestChanged())).
		WatchesRawSource(healthSource(r.Engine, "NotificationTarget")).
		WatchesRawSource(r.tests.source()).
		WatchesMetadata(&corev1.Secret{}, requestsForSecret(r.Client, func() client.ObjectList { return &v1alpha1.NotificationTargetList{} })).
		Watches(&v1alpha1.TargetChannel{}, targetsOfChannel()).
		Complete(r)
}

// targetsOfChannel enqueues the target of a channel whose attachment or health changed; on a
// change of targetRef both the old and the new target are recounted.
func targetsOfChannel() handler.EventHandler {
	enqueue := func(q workqueue.TypedRateLimitingInterface[reconcile.Request], o client.Object) {
		if c, ok := o.(*v1alpha1.TargetChannel); ok {
			q.Add(reconcile.Request{NamespacedName: client.ObjectKey{Namespace: c.TargetNamespace(), Name: c.Spec.TargetRef.Name}})
		}
	}
	return handler.Funcs{
		CreateFunc: func(_ context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(q, e.Object)
		},
		DeleteFunc: func(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(q, e.Object)
		},
		UpdateFunc: func(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			before, ok1 := e.ObjectOld.(*v1alpha1.TargetChannel)
			after, ok2 := e.ObjectNew.(*v1alpha1.TargetChannel)
			if ok1 && ok2 && before.Spec.TargetRef == after.Spec.TargetRef && conditions.IsReady(before) == conditions.IsReady(after) {
				return
			}
			enqueue(q, e.ObjectOld)
			enqueue(q, e.ObjectNew)
		},
	}
}

// readOptionalSecret reads the referenced Secret, or returns no values when there is no
// reference.
func readOptionalSecret(ctx context.Context, r client.Reader, namespace string, ref *v1alpha1.LocalSecretReference) (secrets.Values, string, error) {
	if ref == nil {
		return nil, "", nil
	}
	values, err := secrets.Read(ctx, r, namespace, ref.Name)
	return values, ref.Name, err
}

func filterSelector(f *v1alpha1.ResultFilter) *metav1.LabelSelector {
	if f == nil {
		return nil
	}
	return f.NamespaceSelector
}

// checkSelector returns a stalled problem when a label selector cannot be parsed, which the
// schema cannot tell (for example an In operator without values).
func checkSelector(field string, s *metav1.LabelSelector) error {
	if s == nil {
		return nil
	}
	if _, err := metav1.LabelSelectorAsSelector(s); err != nil {
		return conditions.Stalled(v1alpha1.ReasonInvalidSpec, fmt.Sprintf("%s is invalid: %v", field, err))
	}
	return nil
}
