package controllers

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/conditions"
	"github.com/policyherald/policy-herald/internal/consolelink"
	"github.com/policyherald/policy-herald/internal/email"
	"github.com/policyherald/policy-herald/internal/emailjob"
	"github.com/policyherald/policy-herald/internal/secrets"
	"github.com/policyherald/policy-herald/internal/tlsconfig"
)

// +kubebuilder:rbac:groups=reporting.policyherald.io,resources=emailreportschedules,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=reporting.policyherald.io,resources=emailreportschedules/status,verbs=get;update;patch
// The CronJobs and Jobs of the e-mail reports, and the Pods of failed Jobs (for their termination
// message), only in the operator's namespace, which config/default names policy-herald-system:
// controller-gen writes these rules into a Role there, bound by
// config/rbac/manager_namespace_role_binding.yaml.
// +kubebuilder:rbac:groups=batch,namespace=policy-herald-system,resources=cronjobs;jobs,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",namespace=policy-herald-system,resources=pods,verbs=get;list

// EmailReportScheduleReconciler turns each valid EmailReportSchedule into a CronJob that runs
// the operator's own image as `policy-herald email-report`, and reports the runs in the
// schedule's status.
//
// Where the CronJobs live: in the platform namespace (the operator's own), not in the
// schedule's. They run as the ServiceAccount policy-herald-email-reporter, which may read every
// namespace's Secrets (each schedule's SMTP Secret is in its own namespace). Tenants cannot run
// Pods in the operator's namespace, so none of them can borrow that ServiceAccount to read
// another team's SMTP Secret; each Job reads only what its schedule names. An owner reference
// cannot cross namespaces, so the finalizer v1alpha1.FinalizerCronJob on the schedule removes
// the CronJob and its Jobs before the schedule goes: the finalizer is the one write the
// controller makes outside a schedule's status (no spec, label or annotation is ever written,
// so GitOps tools see no diff).
type EmailReportScheduleReconciler struct {
	Deps
	// Now returns the current time; tests may fix it.
	Now func() time.Time
	// PlatformNamespace holds the CronJobs and Jobs.
	PlatformNamespace string
	// Jobs reads the CronJobs and Jobs of the schedules, from a cache of the platform namespace
	// only (the operator may not list them elsewhere).
	Jobs client.Reader
	// Pods reads the Pods of a failed Job, on demand (no Pod is cached).
	Pods client.Reader
	// Image says which image the Jobs run.
	Image *JobImage
	// ConsoleURL is the console's address the e-mails link to; empty: no links.
	ConsoleURL consolelink.Base
}

// Reconcile validates the schedule, applies its CronJob, starts a send-now Job when asked to,
// and reports the runs.
func (r *EmailReportScheduleReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var s v1alpha1.EmailReportSchedule
	if err := r.Client.Get(ctx, req.NamespacedName, &s); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, r.reconcileGone(ctx, req.NamespacedName)
		}
		return ctrl.Result{}, err
	}
	if !s.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.finalize(ctx, &s)
	}
	if err := r.addFinalizer(ctx, &s); err != nil {
		return ctrl.Result{}, err
	}
	base := s.DeepCopy()
	next, problem, err := r.check(ctx, &s)
	if err != nil {
		return ctrl.Result{}, err
	}
	if problem != nil {
		return r.reconcileInvalid(ctx, &s, base, problem)
	}
	return r.reconcileValid(ctx, &s, base, next)
}

// reconcileGone deletes the CronJob of a schedule gone without the finalizer running (it was
// removed by hand), so it does not go on sending.
func (r *EmailReportScheduleReconciler) reconcileGone(ctx context.Context, key client.ObjectKey) error {
	emailRuns.forget(key)
	return r.deleteCronJob(ctx, key)
}

// addFinalizer adds the finalizer, the one write outside status: before any CronJob exists, so
// none outlives its schedule.
func (r *EmailReportScheduleReconciler) addFinalizer(ctx context.Context, s *v1alpha1.EmailReportSchedule) error {
	if controllerutil.ContainsFinalizer(s, v1alpha1.FinalizerCronJob) {
		return nil
	}
	patch := client.MergeFromWithOptions(s.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.AddFinalizer(s, v1alpha1.FinalizerCronJob)
	return r.Client.Patch(ctx, s, patch)
}

// check returns the next run of a valid schedule, or the problem that makes it invalid. An
// error is not a finding about the schedule (the API server did not answer, say): it is tried
// again without touching the CronJob.
func (r *EmailReportScheduleReconciler) check(ctx context.Context, s *v1alpha1.EmailReportSchedule) (time.Time, *conditions.Problem, error) {
	next, err := r.nextRun(s)
	if err == nil {
		err = r.validate(ctx, s)
	}
	if err == nil && r.PlatformNamespace == "" {
		err = conditions.Stalled(v1alpha1.ReasonCronJobNotApplied,
			"the operator runs without a platform namespace (--platform-namespace), where the CronJobs of e-mail reports live")
	}
	var problem *conditions.Problem
	if errors.As(err, &problem) {
		return next, problem, nil
	}
	return next, nil, err
}

// reconcileInvalid records the problem of an invalid schedule. One that was valid and no longer
// is (its Secret was deleted, say) keeps its CronJob, with its history, but suspended, so no run
// fails for a reason the status already gives; one never valid gets none.
func (r *EmailReportScheduleReconciler) reconcileInvalid(ctx context.Context, s, base *v1alpha1.EmailReportSchedule, problem *conditions.Problem) (ctrl.Result, error) {
	s.Status.CronJobName, s.Status.NextScheduleTime = "", nil
	if r.PlatformNamespace != "" {
		cj, err := r.suspendCronJob(ctx, emailjob.CronJobName(s.Namespace, s.Name))
		if err != nil {
			return ctrl.Result{}, err
		}
		if cj != nil {
			s.Status.CronJobName = cj.Name
			if err := r.observeRuns(ctx, s, cj); err != nil {
				return ctrl.Result{}, err
			}
		}
	}
	return r.record(ctx, s, base, problem)
}

// reconcileValid applies the CronJob of a valid schedule, starts a send-now Job when asked to,
// and reports the runs.
func (r *EmailReportScheduleReconciler) reconcileValid(ctx context.Context, s, base *v1alpha1.EmailReportSchedule, next time.Time) (ctrl.Result, error) {
	cj, err := r.applyCronJob(ctx, s, emailjob.CronJobName(s.Namespace, s.Name))
	if err != nil {
		// A problem is recorded (no CronJob, no next run); another error is retried.
		s.Status.CronJobName, s.Status.NextScheduleTime = "", nil
		return r.record(ctx, s, base, err)
	}
	s.Status.CronJobName, s.Status.NextScheduleTime = cj.Name, nil
	if !s.Spec.Suspend {
		s.Status.NextScheduleTime = &metav1.Time{Time: next}
	}
	// The runs are observed whatever send-now says, so the status counts every finished Job.
	sendErr := r.sendNow(ctx, s, cj)
	if err := r.observeRuns(ctx, s, cj); err != nil {
		return ctrl.Result{}, err
	}
	if sendErr == nil {
		sendErr = runHealth(s)
	}
	scheduled := s.Status.NextScheduleTime != nil
	res, err := r.record(ctx, s, base, sendErr)
	if err == nil && res.RequeueAfter == 0 && scheduled {
		// Refresh nextScheduleTime once it has passed, should no Job event arrive then.
		res.RequeueAfter = time.Until(next) + time.Second
	}
	return res, err
}

// record writes the outcome, err (a *conditions.Problem, or an error to retry), into the
// schedule's Ready condition and status.
func (r *EmailReportScheduleReconciler) record(ctx context.Context, s, base *v1alpha1.EmailReportSchedule, err error) (ctrl.Result, error) {
	return finish(ctx, r.Deps, s, base, readiness{err: err, suspended: s.Spec.Suspend, message: readyMessage(s)})
}

// readyMessage describes a working schedule.
func readyMessage(s *v1alpha1.EmailReportSchedule) string {
	if s.Spec.Suspend {
		return fmt.Sprintf("CronJob %s sends no report until spec.suspend is false (the send-now annotation still works)", s.Status.CronJobName)
	}
	msg := fmt.Sprintf("CronJob %s sends the report on schedule %q", s.Status.CronJobName, s.Spec.Schedule)
	if s.Spec.TimeZone != "" {
		msg += " (" + s.Spec.TimeZone + ")"
	}
	return msg
}

// nextRun parses the schedule in its time zone and returns the next run after now.
func (r *EmailReportScheduleReconciler) nextRun(s *v1alpha1.EmailReportSchedule) (time.Time, error) {
	if strings.Contains(s.Spec.Schedule, "TZ=") {
		return time.Time{}, conditions.Stalled(v1alpha1.ReasonInvalidSchedule,
			"schedule must not contain TZ= or CRON_TZ=: set spec.timeZone instead")
	}
	loc := time.UTC
	if s.Spec.TimeZone != "" {
		l, err := time.LoadLocation(s.Spec.TimeZone)
		if err != nil {
			return time.Time{}, conditions.Stalled(v1alpha1.ReasonInvalidSchedule,
				fmt.Sprintf("timeZone %q is not a known IANA time zone", s.Spec.TimeZone))
		}
		loc = l
	}
	sched, err := cron.ParseStandard(s.Spec.Schedule)
	if err != nil {
		return time.Time{}, conditions.Stalled(v1alpha1.ReasonInvalidSchedule,
			fmt.Sprintf("schedule %q is not a valid cron expression: %v", s.Spec.Schedule, err))
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	return sched.Next(now().In(loc)).UTC(), nil
}

// validate checks the recipients and the SMTP or Graph settings merged with their Secret.
func (r *EmailReportScheduleReconciler) validate(ctx context.Context, s *v1alpha1.EmailReportSchedule) error {
	for _, to := range s.Spec.Addresses() {
		if _, err := mail.ParseAddress(to); err != nil {
			return conditions.Stalled(v1alpha1.ReasonInvalidSpec, fmt.Sprintf("recipient %q is not an e-mail address", to))
		}
	}
	switch {
	case s.Spec.Graph != nil:
		if err := r.validateGraph(ctx, s.Namespace, *s.Spec.Graph); err != nil {
			return err
		}
	case s.Spec.SMTP != nil:
		if err := r.validateSMTP(ctx, s.Namespace, *s.Spec.SMTP); err != nil {
			return err
		}
	default: // the schema refuses it; kept for objects stored before the rule
		return conditions.Stalled(v1alpha1.ReasonInvalidSpec, "set exactly one of smtp and graph")
	}
	return checkSelector("filter.namespaceSelector", filterSelector(s.Spec.Filter))
}

func (r *EmailReportScheduleReconciler) validateSMTP(ctx context.Context, namespace string, smtp v1alpha1.SMTPSettings) error {
	values, secretName, err := readOptionalSecret(ctx, r.SecretReader, namespace, smtp.SecretRef)
	if err != nil {
		return err
	}
	if err := checkSMTP(smtp, values, secretName); err != nil {
		return err
	}
	_, err = tlsconfig.Build(ctx, r.SecretReader, namespace, smtp.TLS)
	return err
}

// validateGraph checks that the client secret is there, by the rule the email-report Job
// applies; whether Entra ID takes it only a run tells.
func (r *EmailReportScheduleReconciler) validateGraph(ctx context.Context, namespace string, graph v1alpha1.GraphSettings) error {
	values, err := secrets.Read(ctx, r.SecretReader, namespace, graph.ClientSecretRef.Name)
	if err != nil {
		return err
	}
	_, err = email.GraphSettings(graph, values)
	return err
}

// checkSMTP checks the effective SMTP settings, by the rules the email-report Job applies.
func checkSMTP(smtp v1alpha1.SMTPSettings, values secrets.Values, secretName string) error {
	_, _, err := email.Settings(smtp, values, secretName)
	var problem *conditions.Problem
	if err != nil && !errors.As(err, &problem) {
		return conditions.Stalled(v1alpha1.ReasonInvalidSpec, err.Error())
	}
	return err
}

// SetupWithManager registers the reconciler, the Secrets it watches, and the CronJobs and Jobs
// it owns, through a cache of its own that holds only those, in the platform namespace.
func (r *EmailReportScheduleReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if err := indexSecrets(ctx, mgr, &v1alpha1.EmailReportSchedule{}); err != nil {
		return err
	}
	b := ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.EmailReportSchedule{}).
		WatchesMetadata(&corev1.Secret{}, requestsForSecret(r.Client, func() client.ObjectList { return &v1alpha1.EmailReportScheduleList{} }))
	if r.PlatformNamespace != "" {
		owned, err := labels.NewRequirement(emailjob.LabelCronJob, selection.Exists, nil)
		if err != nil {
			return err
		}
		jobs, err := cache.New(mgr.GetConfig(), cache.Options{
			Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper(), HTTPClient: mgr.GetHTTPClient(),
			DefaultNamespaces:    map[string]cache.Config{r.PlatformNamespace: {}},
			DefaultLabelSelector: labels.NewSelector().Add(*owned),
		})
		if err != nil {
			return err
		}
		if err := mgr.Add(jobs); err != nil {
			return err
		}
		r.Jobs = jobs
		b = b.WatchesRawSource(source.Kind(jobs, client.Object(&batchv1.CronJob{}), handler.EnqueueRequestsFromMapFunc(scheduleOf))).
			WatchesRawSource(source.Kind(jobs, client.Object(&batchv1.Job{}), handler.EnqueueRequestsFromMapFunc(scheduleOf)))
	}
	return b.Complete(r)
}

// scheduleOf maps a CronJob or Job to its schedule.
func scheduleOf(_ context.Context, o client.Object) []reconcile.Request {
	key, ok := emailjob.ScheduleOf(o)
	if !ok {
		return nil
	}
	return []reconcile.Request{{NamespacedName: key}}
}
