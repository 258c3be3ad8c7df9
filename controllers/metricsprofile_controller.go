package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/conditions"
	"github.com/policyherald/policy-herald/internal/resultmetrics"
)

// +kubebuilder:rbac:groups=reporting.policyherald.io,resources=metricsprofiles,verbs=get;list;watch
// +kubebuilder:rbac:groups=reporting.policyherald.io,resources=metricsprofiles/status,verbs=get;update;patch

// defaultMetricsStatusInterval is how often a MetricsProfile's status.series and Ready follow
// the exporter: status is written at most that often, never on every report event.
const defaultMetricsStatusInterval = 15 * time.Second

// MetricsProfileReconciler validates MetricsProfiles, registers them with the result metrics
// exporter and shows the number of series each exports.
type MetricsProfileReconciler struct {
	Deps
	Exporter *resultmetrics.Exporter
	// PlatformNamespace holds the profiles that count every namespace and cluster reports.
	PlatformNamespace string
	// StatusInterval is how often status.series is refreshed; 0 means 15s.
	StatusInterval time.Duration
}

// Reconcile validates one MetricsProfile, registers it with the exporter (removes it when it is
// gone or invalid) and records the labels and number of series it exports.
func (r *MetricsProfileReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	key := req.Namespace + "/" + req.Name
	var p v1alpha1.MetricsProfile
	if err := r.Client.Get(ctx, req.NamespacedName, &p); err != nil {
		if client.IgnoreNotFound(err) == nil {
			r.Exporter.Remove(key)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	base := p.DeepCopy()
	every := r.StatusInterval
	if every <= 0 {
		every = defaultMetricsStatusInterval
	}
	o := r.validate(&p)
	res, err := finish(ctx, r.Deps, &p, base, o)
	// Series come and go with the reports: the status follows them every interval (a stalled
	// profile waits for a change of its spec instead).
	var problem *conditions.Problem
	if err == nil && res.RequeueAfter == 0 && !(errors.As(o.err, &problem) && problem.Stalled) {
		res.RequeueAfter = every
	}
	return res, err
}

func (r *MetricsProfileReconciler) validate(p *v1alpha1.MetricsProfile) readiness {
	key := p.Namespace + "/" + p.Name
	if err := checkSelector("filter.namespaceSelector", filterSelector(p.Spec.Filter)); err != nil {
		r.Exporter.Remove(key)
		p.Status.Series = 0
		return readiness{err: err}
	}
	prof, err := resultmetrics.Compile(p.Namespace, p.Name, p.Spec, r.PlatformNamespace)
	if err != nil {
		r.Exporter.Remove(key)
		p.Status.Series = 0
		return readiness{err: conditions.Stalled(v1alpha1.ReasonInvalidSpec, err.Error())}
	}
	p.Status.Labels = prof.Names
	r.Exporter.Set(prof)
	st := r.Exporter.Stats(key)
	p.Status.Series = int64(st.Series)
	labels := strings.Join(prof.Names, ", ")
	switch {
	case !st.Running:
		pr := conditions.Progressing(v1alpha1.ReasonWaitingForReports, "waiting for the report store to list the reports (result metrics are exported by the leader only)")
		pr.RetryAfter = time.Second
		return readiness{err: pr}
	case st.Refused > 0:
		return readiness{err: conditions.Transient(v1alpha1.ReasonSeriesLimitReached, fmt.Sprintf(
			"exporting %d series, the maxSeries of the profile: %d results are not counted; the series exported are kept. Raise maxSeries or narrow the labels or filter",
			st.Series, st.Refused))}
	}
	scope := "every namespace and the cluster reports"
	if p.Namespace != r.PlatformNamespace {
		scope = "namespace " + p.Namespace + " only"
	}
	return readiness{message: fmt.Sprintf("exporting %d series of %s results (labels profile, %s; %s)", st.Series, p.Spec.Mode, labels, scope)}
}

// SetupWithManager registers the reconciler.
func (r *MetricsProfileReconciler) SetupWithManager(_ context.Context, mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).For(&v1alpha1.MetricsProfile{}).Complete(r)
}
