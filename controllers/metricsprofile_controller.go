package controllers

import (
	"context"
	"fmt"
	"strings"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
)

// +kubebuilder:rbac:groups=reporting.policyherald.io,resources=metricsprofiles,verbs=get;list;watch
// +kubebuilder:rbac:groups=reporting.policyherald.io,resources=metricsprofiles/status,verbs=get;update;patch

// MetricsProfileReconciler validates MetricsProfiles and shows the labels their spec selects.
// No metrics are exported yet, so a valid profile reports Ready=False, reason NotImplemented.
type MetricsProfileReconciler struct {
	Deps
}

// Reconcile validates one MetricsProfile and records the labels it would give the metrics.
func (r *MetricsProfileReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var p v1alpha1.MetricsProfile
	if err := r.Client.Get(ctx, req.NamespacedName, &p); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	base := p.DeepCopy()
	p.Status.Labels = p.Spec.Labels()
	err := checkSelector("filter.namespaceSelector", filterSelector(p.Spec.Filter))
	if err == nil {
		err = notImplemented(fmt.Sprintf("exporting %s metrics (labels %s)", p.Spec.Mode, strings.Join(p.Status.Labels, ", ")), false)
	}
	return finish(ctx, r.Deps, &p, base, outcome{err: err})
}

// SetupWithManager registers the reconciler.
func (r *MetricsProfileReconciler) SetupWithManager(_ context.Context, mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).For(&v1alpha1.MetricsProfile{}).Complete(r)
}
