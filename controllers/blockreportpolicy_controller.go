package controllers

import (
	"context"
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
)

// +kubebuilder:rbac:groups=reporting.policyherald.io,resources=blockreportpolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=reporting.policyherald.io,resources=blockreportpolicies/status,verbs=get;update;patch

// BlockReportPolicyReconciler validates BlockReportPolicies. Blocked admissions are not
// reported yet, so a valid policy reports Ready=False, reason NotImplemented.
type BlockReportPolicyReconciler struct {
	Deps
}

// Reconcile validates one BlockReportPolicy.
func (r *BlockReportPolicyReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var p v1alpha1.BlockReportPolicy
	if err := r.Client.Get(ctx, req.NamespacedName, &p); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	base := p.DeepCopy()
	err := checkSelector("namespaceSelector", p.Spec.NamespaceSelector)
	if err == nil {
		err = notImplemented(fmt.Sprintf("reporting blocked admissions (source %q, at most %d per report)", p.Spec.Source, p.Spec.ResultsPerReport), false)
	}
	return finish(ctx, r.Deps, &p, base, outcome{err: err})
}

// SetupWithManager registers the reconciler.
func (r *BlockReportPolicyReconciler) SetupWithManager(_ context.Context, mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).For(&v1alpha1.BlockReportPolicy{}).Complete(r)
}
