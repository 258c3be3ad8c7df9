// Package controllers holds one reconciler per Policy Herald kind. Each validates what the CRD
// schema cannot (referenced Secrets and targets, cron expressions, ...) and reports the outcome
// in the object's conditions.
package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/conditions"
	"github.com/policyherald/policy-herald/internal/delivery"
)

// indexSecretNames indexes objects by the names of the Secrets they reference, so a Secret
// change re-reconciles exactly the objects that use it.
const indexSecretNames = ".spec.secretNames"

// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Deps are what every reconciler needs.
type Deps struct {
	// Client reads Policy Herald objects from the cache and writes status.
	Client client.Client
	// SecretReader reads Secrets straight from the API server, so Secret data is never cached
	// in the operator's memory beyond one reconcile.
	SecretReader client.Reader
	// Recorder emits Kubernetes Events on state changes.
	Recorder events.EventRecorder
}

// readiness is what validating an object found, which finish records as its Ready condition.
type readiness struct {
	// err is a *conditions.Problem to record, or another error to retry with backoff.
	err error
	// suspended says the valid object is paused by its owner.
	suspended bool
	// message describes the working object.
	message string
}

// finish records the outcome of a reconcile in the object's conditions, patches the status if
// it changed, and emits an Event when Ready changes.
func finish(ctx context.Context, d Deps, obj conditions.Object, base conditions.Object, o readiness) (ctrl.Result, error) {
	var problem *conditions.Problem
	switch {
	case o.err == nil && o.suspended:
		conditions.MarkSuspended(obj, "suspended: "+o.message)
	case o.err == nil:
		conditions.MarkReady(obj, o.message)
	case errors.As(o.err, &problem):
		conditions.MarkNotReady(obj, problem)
	default:
		return ctrl.Result{}, o.err
	}
	if err := patchStatus(ctx, d.Client, obj, base); err != nil {
		return ctrl.Result{}, err
	}
	emitReadyChange(d.Recorder, obj, base)
	if problem != nil && problem.RetryAfter > 0 {
		return ctrl.Result{RequeueAfter: problem.RetryAfter}, nil
	}
	return ctrl.Result{}, nil
}

func patchStatus(ctx context.Context, c client.Client, obj, base conditions.Object) error {
	// Reconcilers only change status, so comparing whole objects compares status. Unchanged
	// conditions keep their transition times, so a quiet resync writes nothing.
	if equality.Semantic.DeepEqual(obj, base) {
		return nil
	}
	return c.Status().Patch(ctx, obj, client.MergeFrom(base))
}

func emitReadyChange(r events.EventRecorder, obj, base conditions.Object) {
	if r == nil {
		return
	}
	now, before := conditions.Ready(obj), conditions.Ready(base)
	if now == nil || (before != nil && before.Status == now.Status && before.Reason == now.Reason) {
		return
	}
	eventType := corev1.EventTypeNormal
	if now.Status != metav1.ConditionTrue {
		eventType = corev1.EventTypeWarning
	}
	r.Eventf(obj, nil, eventType, now.Reason, "Reconcile", "%s", now.Message)
}

// secretNamesOf returns the names of the Secrets an object references.
func secretNamesOf(obj client.Object) []string {
	var names []string
	add := func(ref *v1alpha1.LocalSecretReference) {
		if ref != nil {
			names = append(names, ref.Name)
		}
	}
	addTLS := func(t *v1alpha1.TLSConfig) {
		if t != nil && t.CASecretRef != nil {
			names = append(names, t.CASecretRef.Name)
		}
	}
	switch o := obj.(type) {
	case *v1alpha1.NotificationTarget:
		add(o.Spec.SecretRef)
		addTLS(o.Spec.TLS)
	case *v1alpha1.TargetChannel:
		add(o.Spec.SecretRef)
	case *v1alpha1.EmailReportSchedule:
		if o.Spec.SMTP != nil {
			add(o.Spec.SMTP.SecretRef)
			addTLS(o.Spec.SMTP.TLS)
		}
		if o.Spec.Graph != nil {
			names = append(names, o.Spec.Graph.ClientSecretRef.Name)
		}
	}
	return names
}

// requestsForSecret maps a Secret to the objects of list's kind in its namespace that reference
// it.
func requestsForSecret(c client.Client, newList func() client.ObjectList) handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, secret client.Object) []reconcile.Request {
		list := newList()
		if err := c.List(ctx, list, client.InNamespace(secret.GetNamespace()),
			client.MatchingFields{indexSecretNames: secret.GetName()}); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "listing objects that reference a Secret", "secret", secret.GetName())
			return nil
		}
		return requestsFor(list)
	})
}

func requestsFor(list client.ObjectList) []reconcile.Request {
	var reqs []reconcile.Request
	_ = apimeta.EachListItem(list, func(o runtime.Object) error {
		if m, ok := o.(client.Object); ok {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(m)})
		}
		return nil
	})
	return reqs
}

// indexSecrets registers the Secret-name index for obj's kind.
func indexSecrets(ctx context.Context, mgr ctrl.Manager, obj client.Object) error {
	return mgr.GetFieldIndexer().IndexField(ctx, obj, indexSecretNames, secretNamesOf)
}

// specChanged passes creations, deletions and spec changes, and drops status writes (the
// delivery engine's and the controller's own), which would otherwise make every busy
// target or channel re-read its Secret every few seconds. Delivery health reaches the controllers
// as events of the engine (see healthSource).
func specChanged() predicate.Predicate { return predicate.GenerationChangedPredicate{} }

// healthSource wakes the controller of kind when the delivery engine says the
// health of a target or channel changed (started, failed to start, failing, recovered).
func healthSource(engine *delivery.Engine, kind string) source.Source {
	return source.Channel(engine.HealthEvents(kind), &handler.EnqueueRequestForObject{})
}

// runDelivery starts, updates or stops the delivery of a target or channel and returns what its
// conditions should say: the problem that stops it, or its health.
func runDelivery(e *delivery.Engine, ref delivery.ObjectRef, cfg *delivery.Config, err error, suspend bool) error {
	switch {
	case err != nil || suspend:
		e.Remove(ref)
		return err
	case e.Fingerprint(ref) != cfg.Fingerprint:
		e.Configure(*cfg)
	}
	return deliveryHealth(e, ref)
}

// deliveryHealth says whether delivery runs and succeeds: Ready waits until the delivery engine
// has listed the reports and started its pipeline, and repeated failed attempts turn it
// False. The engine tells the controller when any of it changes.
func deliveryHealth(engine *delivery.Engine, ref delivery.ObjectRef) error {
	h := engine.Health(ref)
	switch {
	case h.StartError != nil:
		p := conditions.Transient(v1alpha1.ReasonDeliveryNotStarted, fmt.Sprintf("delivery could not start: %v", h.StartError))
		p.RetryAfter = 10 * time.Second
		return p
	case !h.Running:
		return conditions.Progressing(v1alpha1.ReasonStarting, "waiting for the delivery engine to list the reports")
	case h.Paused:
		return conditions.Transient(v1alpha1.ReasonDeliveryPaused,
			"sending is paused: the ledger could not be written for a while (is the API server reachable?); it goes on once it can be")
	case h.Failing:
		return conditions.Transient(v1alpha1.ReasonDeliveryFailing,
			fmt.Sprintf("delivery attempts keep failing (status.delivery.consecutiveFailures counts them); the last failed: %s", h.LastFailureReason))
	}
	return nil
}
