package controllers

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/addrguard"
	"github.com/policyherald/policy-herald/internal/conditions"
	"github.com/policyherald/policy-herald/internal/consolelink"
	"github.com/policyherald/policy-herald/internal/delivery"
	"github.com/policyherald/policy-herald/internal/destination"
	"github.com/policyherald/policy-herald/internal/routing"
	"github.com/policyherald/policy-herald/internal/tlsconfig"
)

// indexTargetRef indexes channels by "namespace/name" of their target.
const indexTargetRef = ".spec.targetRef"

// +kubebuilder:rbac:groups=reporting.policyherald.io,resources=targetchannels,verbs=get;list;watch
// +kubebuilder:rbac:groups=reporting.policyherald.io,resources=targetchannels/status,verbs=get;update;patch

// TargetChannelReconciler validates TargetChannels against their targets and runs the delivery
// of each valid channel: its own sender, queue, ledger and status.
type TargetChannelReconciler struct {
	Deps
	Engine *delivery.Engine
	// PlatformNamespace holds the channels that see every namespace their target sees; a channel
	// elsewhere only ever receives results of its own namespace.
	PlatformNamespace string
	// ConsoleURL is the console's address its messages link to; empty: no links.
	ConsoleURL consolelink.Base
	// guards restrict the addresses senders connect to (see addrguard.Policy).
	guards addrguard.Guards
	// tests answers the send-test annotation.
	tests sendTests
}

// Reconcile checks that the channel's target exists and admits it, and that the channel's
// effective destination (target settings with the channel's overrides) is complete; then it
// starts, updates or stops the channel's delivery.
func (r *TargetChannelReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ref := delivery.ObjectRef{Kind: "TargetChannel", Namespace: req.Namespace, Name: req.Name}
	var c v1alpha1.TargetChannel
	if err := r.Client.Get(ctx, req.NamespacedName, &c); err != nil {
		if client.IgnoreNotFound(err) == nil {
			r.Engine.Remove(ref)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	base := c.DeepCopy()
	target, err := r.attach(ctx, &c)
	if target != nil {
		c.Status.Destination = target.Spec.DestinationType()
	}
	var ds *deliverySpec
	if err == nil {
		ds, err = r.resolve(ctx, &c, target)
	}
	var cfg *delivery.Config
	if err == nil {
		cfg, err = ds.build(ctx, r.Engine)
	}
	c.Status.LastTest = r.tests.answer(ctx, r.Recorder, &c, c.Status.LastTest, ds, err)
	err = runDelivery(r.Engine, ref, cfg, err, c.Spec.Suspend)
	return finish(ctx, r.Deps, &c, base, readiness{
		err:       err,
		suspended: c.Spec.Suspend,
		message: fmt.Sprintf("delivering new results to the %s destination of NotificationTarget %s/%s",
			c.Status.Destination, c.TargetNamespace(), c.Spec.TargetRef.Name),
	})
}

// attach returns the channel's target, or a problem when it is missing or does not admit the
// channel's namespace.
func (r *TargetChannelReconciler) attach(ctx context.Context, c *v1alpha1.TargetChannel) (*v1alpha1.NotificationTarget, error) {
	var t v1alpha1.NotificationTarget
	key := client.ObjectKey{Namespace: c.TargetNamespace(), Name: c.Spec.TargetRef.Name}
	if err := r.Client.Get(ctx, key, &t); err != nil {
		if apierrors.IsNotFound(err) {
			// Not stalled: the target may be applied after the channel (as Argo CD and kustomize
			// may order them); the channel turns Ready as soon as it appears.
			return nil, conditions.Transient(v1alpha1.ReasonTargetNotFound,
				fmt.Sprintf("NotificationTarget %s/%s not found", key.Namespace, key.Name))
		}
		return nil, err
	}
	allowed, err := channelAllowed(ctx, r.Client, &t, c.Namespace)
	if err != nil {
		return nil, err
	}
	if !allowed {
		return nil, conditions.Stalled(v1alpha1.ReasonNotAllowed,
			fmt.Sprintf("NotificationTarget %s/%s does not admit channels from namespace %q (see its spec.allowedChannels)",
				key.Namespace, key.Name, c.Namespace))
	}
	return &t, nil
}

// resolve checks the channel's effective destination and its own references, and builds what
// the delivery engine runs (see deliverySpec.build): the target's type, TLS, minimums, sources and
// skipExistingOnStartup; the channel's overrides, filter, template and custom fields.
func (r *TargetChannelReconciler) resolve(ctx context.Context, c *v1alpha1.TargetChannel, t *v1alpha1.NotificationTarget) (*deliverySpec, error) {
	dest, err := r.resolveChannel(ctx, c, t)
	if err != nil {
		return nil, err
	}
	template, err := channelTemplate(c, t, dest.Type)
	if err != nil {
		return nil, err
	}
	if err := checkSelector("filter.namespaceSelector", filterSelector(c.Spec.Filter)); err != nil {
		return nil, err
	}
	notify, err := notifyPolicy(effectiveNotifications(t, c), dest.Type)
	if err != nil {
		return nil, err
	}
	c.Status.Mode = mode(notify)
	tlsCfg, err := tlsconfig.Build(ctx, r.SecretReader, t.Namespace, t.Spec.TLS)
	if err != nil {
		return nil, conditions.Transient(v1alpha1.ReasonTargetNotReady, "the target's TLS settings are unusable; the target's owner has to fix it")
	}
	ds := &deliverySpec{
		obj: c, kind: "TargetChannel", ledgerKind: "tc",
		destType: dest.Type, dest: dest.Destination, settings: dest.Settings, tls: tlsCfg,
		route:     routing.Channel(c, t, r.PlatformNamespace),
		custom:    mergeFields(t.Spec.CustomFields, c.Spec.CustomFields),
		template:  template,
		skip:      skipExisting(t),
		dropAfter: dropAfter(t),
		notify:    notify,
		console:   r.ConsoleURL,
		delivery:  c.Status.Delivery,
		silences:  c.Status.Silences,
		// A channel is restricted by its own namespace: a tenant's always, whatever its target
		// allows. Only a channel next to a platform target shares its allowPrivateNetworks.
		guard: r.guards.ForNamespace(c.Namespace, c.Namespace == t.Namespace && t.Spec.AllowPrivateNetworks),
	}
	return ds, nil
}

// resolveChannel reads the target's and the channel's Secrets and returns the channel's
// complete destination; see destination.ResolveChannel for what is inherited.
func (r *TargetChannelReconciler) resolveChannel(ctx context.Context, c *v1alpha1.TargetChannel, t *v1alpha1.NotificationTarget) (destination.Resolved, error) {
	targetSecret, _, err := readOptionalSecret(ctx, r.SecretReader, t.Namespace, t.Spec.SecretRef)
	var problem *conditions.Problem
	if errors.As(err, &problem) {
		// The target's owner must fix it; the target's Secret is not the channel owner's to see.
		return destination.Resolved{}, conditions.Transient(v1alpha1.ReasonTargetNotReady, "the target's credentials are unusable; the target's owner has to fix it")
	}
	if err != nil {
		return destination.Resolved{}, err
	}
	own, secretName, err := readOptionalSecret(ctx, r.SecretReader, c.Namespace, c.Spec.SecretRef)
	if err != nil {
		return destination.Resolved{}, err
	}
	dest, err := destination.ResolveChannel(destination.Layers{
		Target: &t.Spec.Destinations, Channel: &c.Spec.Destinations,
		TargetSecret: targetSecret, ChannelSecret: own,
		SameNamespace: c.Namespace == t.Namespace,
	})
	if err != nil {
		return destination.Resolved{}, err
	}
	if err := destination.CheckComplete(dest.Type, dest.Settings, secretName); err != nil {
		if dest.Withheld && errors.As(err, &problem) {
			problem.Message += "; a channel of another namespace that changes the endpoint does not inherit the target's credentials"
		}
		return destination.Resolved{}, err
	}
	return dest, nil
}

// channelTemplate returns the channel's messageTemplate, else its target's, refusing one the
// destination does not render. The target's own is the target owner's to fix.
func channelTemplate(c *v1alpha1.TargetChannel, t *v1alpha1.NotificationTarget, kind v1alpha1.DestinationType) (string, error) {
	if c.Spec.MessageTemplate != "" {
		return c.Spec.MessageTemplate, destination.CheckTemplate(kind, c.Spec.MessageTemplate)
	}
	if destination.CheckTemplate(kind, t.Spec.MessageTemplate) != nil {
		return "", conditions.Transient(v1alpha1.ReasonTargetNotReady, "the target's messageTemplate is refused; the target's owner has to fix it")
	}
	return t.Spec.MessageTemplate, nil
}

// channelAllowed tells whether target admits channels from namespace (routing.Admits, with
// the namespace's labels read only when its selector needs them).
func channelAllowed(ctx context.Context, c client.Client, t *v1alpha1.NotificationTarget, namespace string) (bool, error) {
	var err error
	allowed := routing.Admits(t, namespace, func(name string) (labels.Set, bool) {
		// Metadata only: shares the informer of the namespace watch and caches no specs.
		n := &metav1.PartialObjectMetadata{}
		n.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
		if getErr := c.Get(ctx, client.ObjectKey{Name: name}, n); getErr != nil {
			err = client.IgnoreNotFound(getErr)
			return nil, false
		}
		return labels.Set(n.Labels), true
	})
	return allowed && err == nil, err
}

func channelNamespaces(t *v1alpha1.NotificationTarget) *v1alpha1.ChannelNamespaces {
	if t.Spec.AllowedChannels == nil {
		return nil
	}
	return t.Spec.AllowedChannels.Namespaces
}

func targetKey(namespace, name string) string { return namespace + "/" + name }

// SetupWithManager registers the reconciler and what it watches: its own kind, the specs of
// targets, its own and its targets' Secrets, and namespaces (whose labels decide admission).
func (r *TargetChannelReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if err := indexSecrets(ctx, mgr, &v1alpha1.TargetChannel{}); err != nil {
		return err
	}
	if err := mgr.GetFieldIndexer().IndexField(ctx, &v1alpha1.TargetChannel{}, indexTargetRef, func(o client.Object) []string {
		c := o.(*v1alpha1.TargetChannel)
		return []string{targetKey(c.TargetNamespace(), c.Spec.TargetRef.Name)}
	}); err != nil {
		return err
	}
	r.tests.setup(ctx)
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.TargetChannel{}, builder.WithPredicates(specOrTestChanged())).
		WatchesRawSource(healthSource(r.Engine, "TargetChannel")).
		WatchesRawSource(r.tests.source()).
		// A channel depends on its target's spec and existence only. Without the predicate every
		// status.delivery write of a busy target re-reconciled all its channels, each re-reading
		// Secrets from the API server. Labels and annotations are not read (a change of them
		// leaves the generation alone) and so do not count either.
		Watches(&v1alpha1.NotificationTarget{}, handler.EnqueueRequestsFromMapFunc(r.channelsOfTarget),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.channelsOfSecret)).
		WatchesMetadata(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.channelsInNamespace),
			builder.WithPredicates(predicate.LabelChangedPredicate{})).
		Complete(r)
}

// channelsOfSecret maps a Secret to the channels that read it: those that reference it
// themselves, and every channel of a target that references it (as credentials or TLS CA),
// since a channel inherits both. The targets are found with the Secret-name index that
// NotificationTargetReconciler.SetupWithManager registers.
func (r *TargetChannelReconciler) channelsOfSecret(ctx context.Context, secret client.Object) []reconcile.Request {
	log := ctrl.LoggerFrom(ctx).WithValues("secret", secret.GetName())
	var own v1alpha1.TargetChannelList
	if err := r.Client.List(ctx, &own, client.InNamespace(secret.GetNamespace()),
		client.MatchingFields{indexSecretNames: secret.GetName()}); err != nil {
		log.Error(err, "listing channels that reference a Secret")
	}
	reqs := requestsFor(&own)
	var targets v1alpha1.NotificationTargetList
	if err := r.Client.List(ctx, &targets, client.InNamespace(secret.GetNamespace()),
		client.MatchingFields{indexSecretNames: secret.GetName()}); err != nil {
		log.Error(err, "listing targets that reference a Secret")
		return reqs
	}
	for i := range targets.Items {
		reqs = append(reqs, r.channelsOfTarget(ctx, &targets.Items[i])...)
	}
	return reqs
}

func (r *TargetChannelReconciler) channelsOfTarget(ctx context.Context, t client.Object) []reconcile.Request {
	var list v1alpha1.TargetChannelList
	if err := r.Client.List(ctx, &list, client.MatchingFields{indexTargetRef: targetKey(t.GetNamespace(), t.GetName())}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing channels of a target")
		return nil
	}
	return requestsFor(&list)
}

func (r *TargetChannelReconciler) channelsInNamespace(ctx context.Context, ns client.Object) []reconcile.Request {
	var list v1alpha1.TargetChannelList
	if err := r.Client.List(ctx, &list, client.InNamespace(ns.GetName())); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing channels of a namespace")
		return nil
	}
	return requestsFor(&list)
}
