package controllers

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
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
}

// Labels and annotations of the CronJobs, their Jobs and Pods.
const (
	// labelCronJob names the CronJob (and so the schedule) a Job belongs to; every object the
	// controller makes carries it, and its cache holds only objects with it.
	labelCronJob = "reporting.policyherald.io/cronjob"
	// labelScheduleNamespace and labelScheduleName say whose objects these are, for people and
	// selectors; the name is cut to 63 characters (annotationSchedule has it in full).
	labelScheduleNamespace = "reporting.policyherald.io/schedule-namespace"
	labelScheduleName      = "reporting.policyherald.io/schedule-name"
	// annotationSchedule is "namespace/name" of the schedule, in full.
	annotationSchedule = "reporting.policyherald.io/schedule"
	// annotationSendNow on a one-off Job records the send-now value it was started for.
	annotationSendNow = v1alpha1.AnnotationSendNow
)

// EmailReporterServiceAccount is the ServiceAccount the e-mail report Jobs run as, in the
// platform namespace (config/rbac/email_reporter_*.yaml, with config/default's name prefix).
const EmailReporterServiceAccount = "policy-herald-email-reporter"

// The CronJob's and Job's settings.
const (
	// startingDeadline: a run missed by more than this (the operator or the cluster was down)
	// is skipped rather than sent late; the next one is on time.
	startingDeadline = int64(3600)
	// historyLimit Jobs of each outcome are kept, for their status and logs.
	historyLimit = int32(3)
	// backoffLimit: a failed run is retried twice (three Pods at most).
	backoffLimit = int32(2)
	// activeDeadline ends a run that takes longer than this (an SMTP server that hangs).
	activeDeadline = int64(600)
)

// Reconcile validates the schedule, applies its CronJob, starts a send-now Job when asked to,
// and reports the runs.
func (r *EmailReportScheduleReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var s v1alpha1.EmailReportSchedule
	if err := r.Client.Get(ctx, req.NamespacedName, &s); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, err
		}
		// Gone without the finalizer running (it was removed by hand): do not leave its
		// CronJob sending.
		emailRuns.forget(req.NamespacedName)
		return ctrl.Result{}, r.deleteCronJob(ctx, req.NamespacedName)
	}
	if !s.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.finalize(ctx, &s)
	}
	if !controllerutil.ContainsFinalizer(&s, v1alpha1.FinalizerCronJob) {
		// The one write outside status: before any CronJob exists, so none outlives its schedule.
		patch := client.MergeFromWithOptions(s.DeepCopy(), client.MergeFromWithOptimisticLock{})
		controllerutil.AddFinalizer(&s, v1alpha1.FinalizerCronJob)
		if err := r.Client.Patch(ctx, &s, patch); err != nil {
			return ctrl.Result{}, err
		}
	}
	base := s.DeepCopy()
	next, err := r.nextRun(&s)
	if err == nil {
		err = r.validate(ctx, &s)
	}
	var problem *conditions.Problem
	if err != nil && !errors.As(err, &problem) {
		// Not a finding about the schedule (the API server did not answer, say): try again
		// without touching its CronJob.
		return ctrl.Result{}, err
	}
	if err == nil && r.PlatformNamespace == "" {
		err = conditions.Stalled(v1alpha1.ReasonCronJobNotApplied,
			"the operator runs without a platform namespace (--platform-namespace), where the CronJobs of e-mail reports live")
	}
	cronJobName := CronJobName(s.Namespace, s.Name)
	var cj *batchv1.CronJob
	if err == nil {
		cj, err = r.applyCronJob(ctx, &s, cronJobName)
	} else if r.PlatformNamespace != "" {
		// A schedule that was valid and no longer is (its Secret was deleted, say) keeps its
		// CronJob, with its history, but suspended, so no run fails for a reason the status
		// already gives. A schedule never valid gets none.
		cj, err = r.suspendCronJob(ctx, cronJobName, err)
	}
	if cj != nil {
		s.Status.CronJobName = cj.Name
	} else {
		s.Status.CronJobName = ""
	}
	s.Status.NextScheduleTime = nil
	if err == nil && !s.Spec.Suspend {
		s.Status.NextScheduleTime = &metav1.Time{Time: next}
	}
	if err == nil {
		err = r.sendNow(ctx, &s, cj)
	}
	if cj != nil {
		if serr := r.observeRuns(ctx, &s, cj); serr != nil {
			return ctrl.Result{}, serr
		}
		if err == nil {
			err = runHealth(&s)
		}
	}
	res, ferr := finish(ctx, r.Deps, &s, base, outcome{err: err, suspended: s.Spec.Suspend, message: readyMessage(&s)})
	if ferr == nil && res.RequeueAfter == 0 && s.Status.NextScheduleTime != nil {
		// Refresh nextScheduleTime once it has passed, should no Job event arrive then.
		res.RequeueAfter = time.Until(next) + time.Second
	}
	return res, ferr
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

// finalize removes the CronJob and its Jobs, then the finalizer.
func (r *EmailReportScheduleReconciler) finalize(ctx context.Context, s *v1alpha1.EmailReportSchedule) error {
	emailRuns.forget(client.ObjectKeyFromObject(s))
	if !controllerutil.ContainsFinalizer(s, v1alpha1.FinalizerCronJob) {
		return nil
	}
	if r.PlatformNamespace != "" {
		if err := r.deleteCronJob(ctx, client.ObjectKeyFromObject(s)); err != nil {
			return err
		}
	}
	patch := client.MergeFromWithOptions(s.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(s, v1alpha1.FinalizerCronJob)
	return client.IgnoreNotFound(r.Client.Patch(ctx, s, patch))
}

// deleteCronJob deletes the CronJob of the schedule key and every Job of it, the send-now Jobs
// included: the garbage collector would delete the Jobs with the CronJob, but not at once, and
// not where none runs.
func (r *EmailReportScheduleReconciler) deleteCronJob(ctx context.Context, key client.ObjectKey) error {
	if r.PlatformNamespace == "" {
		return nil
	}
	name := CronJobName(key.Namespace, key.Name)
	background := client.PropagationPolicy(metav1.DeletePropagationBackground)
	cj := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Namespace: r.PlatformNamespace, Name: name}}
	if err := r.Client.Delete(ctx, cj, background); client.IgnoreNotFound(err) != nil {
		return err
	}
	var jobs batchv1.JobList
	if err := r.Jobs.List(ctx, &jobs, client.InNamespace(r.PlatformNamespace), client.MatchingLabels{labelCronJob: name}); err != nil {
		return err
	}
	for i := range jobs.Items {
		if err := r.Client.Delete(ctx, &jobs.Items[i], background); client.IgnoreNotFound(err) != nil {
			return err
		}
	}
	return nil
}

// applyCronJob creates or updates the schedule's CronJob: the fields the controller sets, and
// nothing else (the API server's defaults stay).
func (r *EmailReportScheduleReconciler) applyCronJob(ctx context.Context, s *v1alpha1.EmailReportSchedule, name string) (*batchv1.CronJob, error) {
	img, err := r.Image.Resolve(ctx)
	if err != nil {
		return nil, err
	}
	var cj batchv1.CronJob
	err = r.Jobs.Get(ctx, client.ObjectKey{Namespace: r.PlatformNamespace, Name: name}, &cj)
	switch {
	case apierrors.IsNotFound(err):
		cj = batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Namespace: r.PlatformNamespace, Name: name}}
		r.mutateCronJob(&cj, s, img)
		if err := r.Client.Create(ctx, &cj); err != nil {
			if apierrors.IsAlreadyExists(err) {
				return nil, err // the cache is behind: retry
			}
			return nil, notApplied("creating", name, err)
		}
		return &cj, nil
	case err != nil:
		return nil, err
	}
	before := cj.DeepCopy()
	r.mutateCronJob(&cj, s, img)
	if equality.Semantic.DeepEqual(before, &cj) {
		return &cj, nil
	}
	if err := r.Client.Update(ctx, &cj); err != nil {
		if apierrors.IsConflict(err) {
			return nil, err
		}
		return nil, notApplied("updating", name, err)
	}
	return &cj, nil
}

// suspendCronJob suspends the existing CronJob of a schedule that is no longer valid, and
// returns it (nil if there is none) with the problem.
func (r *EmailReportScheduleReconciler) suspendCronJob(ctx context.Context, name string, problem error) (*batchv1.CronJob, error) {
	var cj batchv1.CronJob
	if err := r.Jobs.Get(ctx, client.ObjectKey{Namespace: r.PlatformNamespace, Name: name}, &cj); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, problem
		}
		return nil, err
	}
	if cj.Spec.Suspend == nil || !*cj.Spec.Suspend {
		cj.Spec.Suspend = new(true)
		if err := r.Client.Update(ctx, &cj); err != nil {
			return nil, err
		}
	}
	return &cj, problem
}

func notApplied(verb, name string, err error) error {
	p := conditions.Transient(v1alpha1.ReasonCronJobNotApplied, fmt.Sprintf("%s CronJob %s: %v", verb, name, err))
	p.RetryAfter = 30 * time.Second
	return p
}

// mutateCronJob sets the fields of cj the controller owns from the schedule.
func (r *EmailReportScheduleReconciler) mutateCronJob(cj *batchv1.CronJob, s *v1alpha1.EmailReportSchedule, img PodImage) {
	lbls := jobLabels(s, cj.Name)
	if cj.Labels == nil {
		cj.Labels = map[string]string{}
	}
	if cj.Annotations == nil {
		cj.Annotations = map[string]string{}
	}
	for k, v := range lbls {
		cj.Labels[k] = v
	}
	cj.Annotations[annotationSchedule] = s.Namespace + "/" + s.Name
	spec := &cj.Spec
	spec.Schedule = s.Spec.Schedule
	spec.TimeZone = nil
	if s.Spec.TimeZone != "" {
		spec.TimeZone = new(s.Spec.TimeZone)
	}
	spec.Suspend = new(s.Spec.Suspend)
	spec.ConcurrencyPolicy = batchv1.ForbidConcurrent
	spec.StartingDeadlineSeconds = new(startingDeadline)
	spec.SuccessfulJobsHistoryLimit = new(historyLimit)
	spec.FailedJobsHistoryLimit = new(historyLimit)
	tmpl := &spec.JobTemplate
	tmpl.Labels = lbls
	tmpl.Annotations = map[string]string{annotationSchedule: s.Namespace + "/" + s.Name}
	job := &tmpl.Spec
	job.BackoffLimit = new(backoffLimit)
	job.ActiveDeadlineSeconds = new(activeDeadline)
	pod := &job.Template
	pod.Labels = lbls
	pod.Annotations = map[string]string{annotationSchedule: s.Namespace + "/" + s.Name}
	ps := &pod.Spec
	ps.RestartPolicy = corev1.RestartPolicyNever
	ps.ServiceAccountName = EmailReporterServiceAccount
	ps.ImagePullSecrets = img.PullSecrets
	ps.SecurityContext = &corev1.PodSecurityContext{
		RunAsNonRoot:   new(true),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	// One container, replaced as a whole: the API server's defaults for it (termination path,
	// pull policy) are set again below, so an unchanged schedule compares equal.
	var c corev1.Container
	if len(ps.Containers) == 1 {
		c = ps.Containers[0]
	}
	c.Name = "email-report"
	c.Image = img.Image
	if img.PullPolicy != "" {
		c.ImagePullPolicy = img.PullPolicy
	}
	c.Command = []string{"/policy-herald"}
	c.Args = []string{"email-report", "--schedule=" + s.Namespace + "/" + s.Name, "--platform-namespace=" + r.PlatformNamespace}
	c.TerminationMessagePolicy = corev1.TerminationMessageFallbackToLogsOnError
	c.Resources = corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
	}
	c.SecurityContext = &corev1.SecurityContext{
		AllowPrivilegeEscalation: new(false),
		ReadOnlyRootFilesystem:   new(true),
		RunAsNonRoot:             new(true),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
	ps.Containers = []corev1.Container{c}
}

// jobLabels are the labels of the CronJob, its Jobs and Pods.
func jobLabels(s *v1alpha1.EmailReportSchedule, cronJobName string) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":       "policy-herald",
		"app.kubernetes.io/component":  "email-report",
		"app.kubernetes.io/managed-by": "policy-herald",
		labelCronJob:                   cronJobName,
		labelScheduleNamespace:         s.Namespace,
		labelScheduleName:              labelValue(s.Name),
	}
}

// labelValue cuts a name to a valid label value (63 characters, alphanumeric at the ends).
func labelValue(v string) string {
	if len(v) > 63 {
		v = v[:63]
	}
	return strings.TrimRight(v, "-_.")
}

// sendNow starts a one-off Job from the CronJob's template when the send-now annotation has a
// value not yet sent, and records the value. It also runs for a suspended schedule: someone
// asked for it. An invalid schedule sends nothing and keeps the value pending, and so does one
// with a run under way, as the CronJob's concurrency policy Forbid would: however often a
// tenant changes the annotation, its schedule has one Job running at a time, and the CronJob's
// history limits prune the finished ones (they are its Jobs, as with `kubectl create job
// --from`). The Job's end wakes the controller for the pending value.
func (r *EmailReportScheduleReconciler) sendNow(ctx context.Context, s *v1alpha1.EmailReportSchedule, cj *batchv1.CronJob) error {
	value, ok := s.Annotations[v1alpha1.AnnotationSendNow]
	if !ok || truncate(value, 1024) == s.Status.LastSendNow || cj == nil {
		return nil
	}
	var jobs batchv1.JobList
	if err := r.Jobs.List(ctx, &jobs, client.InNamespace(r.PlatformNamespace), client.MatchingLabels{labelCronJob: cj.Name}); err != nil {
		return err
	}
	for i := range jobs.Items {
		if _, _, done := finished(&jobs.Items[i]); !done {
			return nil
		}
	}
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:   cj.Namespace,
			Name:        SendNowJobName(cj.Name, value),
			Labels:      maps.Clone(cj.Spec.JobTemplate.Labels),
			Annotations: map[string]string{annotationSchedule: s.Namespace + "/" + s.Name, annotationSendNow: truncate(value, 1024)},
			// As `kubectl create job --from=cronjob/...`: the CronJob owns it, so the garbage
			// collector removes it with the CronJob (the finalizer deletes it too).
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "batch/v1", Kind: "CronJob", Name: cj.Name, UID: cj.UID, Controller: new(true),
			}},
		},
		Spec: *cj.Spec.JobTemplate.Spec.DeepCopy(),
	}
	job.Annotations["cronjob.kubernetes.io/instantiate"] = "manual"
	if err := r.Client.Create(ctx, job); err != nil && !apierrors.IsAlreadyExists(err) {
		return notApplied("starting a send-now Job of", cj.Name, err)
	}
	if r.Recorder != nil {
		r.Recorder.Eventf(s, nil, corev1.EventTypeNormal, "SendNow", "SendNow", "started Job %s/%s to send the report now", job.Namespace, job.Name)
	}
	s.Status.LastSendNow = truncate(value, 1024)
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// observeRuns fills the status from the CronJob and its Jobs.
func (r *EmailReportScheduleReconciler) observeRuns(ctx context.Context, s *v1alpha1.EmailReportSchedule, cj *batchv1.CronJob) error {
	var jobs batchv1.JobList
	if err := r.Jobs.List(ctx, &jobs, client.InNamespace(r.PlatformNamespace), client.MatchingLabels{labelCronJob: cj.Name}); err != nil {
		return err
	}
	emailRuns.observe(client.ObjectKeyFromObject(s), jobs.Items)
	st := &s.Status
	st.LastScheduleTime = later(st.LastScheduleTime, cj.Status.LastScheduleTime)
	st.LastSuccessfulTime = later(st.LastSuccessfulTime, cj.Status.LastSuccessfulTime)
	d := st.Delivery
	if d == nil {
		d = &v1alpha1.DeliveryStatus{}
	}
	// Runs finished since the last look, oldest first: the counters go on from the status,
	// as the Jobs themselves are pruned to the history limits.
	type run struct {
		job    *batchv1.Job
		at     metav1.Time
		failed bool
	}
	var runs []run
	var pending int64
	for i := range jobs.Items {
		j := &jobs.Items[i]
		started := j.CreationTimestamp
		if j.Status.StartTime != nil {
			started = *j.Status.StartTime
		}
		st.LastScheduleTime = later(st.LastScheduleTime, &started)
		at, failed, done := finished(j)
		if !done {
			pending++
			continue
		}
		if failed {
			if d.LastFailureTime == nil || at.After(d.LastFailureTime.Time) {
				runs = append(runs, run{j, at, true})
			}
		} else if d.LastSuccessTime == nil || at.After(d.LastSuccessTime.Time) {
			runs = append(runs, run{j, at, false})
		}
	}
	slices.SortFunc(runs, func(a, b run) int { return a.at.Compare(b.at.Time) })
	for _, run := range runs {
		if run.failed {
			d.Failed++
			if d.LastSuccessTime == nil || run.at.After(d.LastSuccessTime.Time) {
				d.ConsecutiveFailures++
			}
			d.LastFailureTime = later(d.LastFailureTime, &run.at)
			if d.LastFailureTime.Equal(&run.at) {
				d.LastFailureReason = r.failureReason(ctx, run.job)
			}
		} else {
			d.Sent++
			if d.LastFailureTime == nil || run.at.After(d.LastFailureTime.Time) {
				d.ConsecutiveFailures = 0
			}
			d.LastSuccessTime = later(d.LastSuccessTime, &run.at)
		}
	}
	d.Pending = pending
	st.LastSuccessfulTime = later(st.LastSuccessfulTime, d.LastSuccessTime)
	st.Delivery = d
	return nil
}

// finished tells when a Job finished and whether it failed.
func finished(j *batchv1.Job) (at metav1.Time, failed, done bool) {
	for _, c := range j.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			at = c.LastTransitionTime
			if j.Status.CompletionTime != nil {
				at = *j.Status.CompletionTime
			}
			return at, false, true
		case batchv1.JobFailed:
			return c.LastTransitionTime, true, true
		}
	}
	return metav1.Time{}, false, false
}

// failureReason is why a Job failed: the termination message of its newest failed container
// (the subcommand writes its one-line outcome there), else the Job's Failed condition.
func (r *EmailReportScheduleReconciler) failureReason(ctx context.Context, j *batchv1.Job) string {
	reason := "the Job failed"
	for _, c := range j.Status.Conditions {
		if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
			reason = strings.TrimSpace(c.Reason + ": " + c.Message)
		}
	}
	var pods corev1.PodList
	if err := r.Pods.List(ctx, &pods, client.InNamespace(j.Namespace), client.MatchingLabels{batchv1.JobNameLabel: j.Name}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing the Pods of a failed Job", "job", j.Name)
		return reason
	}
	var newest *corev1.ContainerStateTerminated
	for _, p := range pods.Items {
		for _, cs := range p.Status.ContainerStatuses {
			t := cs.State.Terminated
			if t == nil || t.ExitCode == 0 || strings.TrimSpace(t.Message) == "" {
				continue
			}
			if newest == nil || t.FinishedAt.After(newest.FinishedAt.Time) {
				newest = t
			}
		}
	}
	if newest != nil {
		reason = strings.TrimSpace(newest.Message)
	}
	// The subcommand writes one line; FallbackToLogsOnError may bring a log tail.
	return truncate(reason, 1024)
}

// runHealth is the problem of a schedule whose newest run failed. Not Stalled: the next run
// may succeed.
func runHealth(s *v1alpha1.EmailReportSchedule) error {
	d := s.Status.Delivery
	if d == nil || d.LastFailureTime == nil || (d.LastSuccessTime != nil && !d.LastFailureTime.After(d.LastSuccessTime.Time)) {
		return nil
	}
	if s.Spec.Suspend {
		return nil
	}
	return conditions.Transient(v1alpha1.ReasonDeliveryFailing,
		fmt.Sprintf("the last report failed (%s, %d in a row): %s", d.LastFailureTime.UTC().Format(time.RFC3339), d.ConsecutiveFailures, d.LastFailureReason))
}

func later(a, b *metav1.Time) *metav1.Time {
	switch {
	case b == nil:
		return a
	case a == nil || b.After(a.Time):
		return &metav1.Time{Time: b.Time}
	}
	return a
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

// validate checks the recipients and the SMTP settings merged with their Secret.
func (r *EmailReportScheduleReconciler) validate(ctx context.Context, s *v1alpha1.EmailReportSchedule) error {
	for _, to := range s.Spec.Addresses() {
		if _, err := mail.ParseAddress(to); err != nil {
			return conditions.Stalled(v1alpha1.ReasonInvalidSpec, fmt.Sprintf("recipient %q is not an e-mail address", to))
		}
	}
	smtp := s.Spec.SMTP
	values, secretName, err := readOptionalSecret(ctx, r.SecretReader, s.Namespace, smtp.SecretRef)
	if err != nil {
		return err
	}
	if err := checkSMTP(smtp, values, secretName); err != nil {
		return err
	}
	_, err = tlsconfig.Build(ctx, r.SecretReader, s.Namespace, smtp.TLS)
	if err != nil {
		return err
	}
	return checkSelector("filter.namespaceSelector", filterSelector(s.Spec.Filter))
}

// checkSMTP checks the effective SMTP settings: inline fields with the Secret's keys winning.
func checkSMTP(smtp v1alpha1.SMTPSettings, values secrets.Values, secretName string) error {
	invalid := func(format string, args ...any) error {
		return conditions.Stalled(v1alpha1.ReasonInvalidSpec, fmt.Sprintf(format, args...))
	}
	if values.Get("host", smtp.Host) == "" {
		return invalid("smtp.host is not set inline nor under key 'host' of Secret %q", secretName)
	}
	from := values.Get("from", smtp.From)
	if _, err := mail.ParseAddress(from); err != nil {
		return invalid("smtp.from %q is not an e-mail address", from)
	}
	if p, ok := values["port"]; ok {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return invalid("key 'port' of Secret %q is not a port number", secretName)
		}
	}
	if e, ok := values["encryption"]; ok {
		switch v1alpha1.SMTPEncryption(e) {
		case v1alpha1.SMTPEncryptionTLS, v1alpha1.SMTPEncryptionStartTLS, v1alpha1.SMTPEncryptionNone:
		default:
			return invalid("key 'encryption' of Secret %q must be ssl/tls, starttls or none", secretName)
		}
	}
	if values.Get("username", smtp.Username) != "" {
		if secretName == "" {
			return invalid("smtp.username is set but there is no smtp.secretRef for the password")
		}
		return secrets.RequireKeys(values, secretName, "password")
	}
	return nil
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
		owned, err := labels.NewRequirement(labelCronJob, selection.Exists, nil)
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
	ns, name, ok := strings.Cut(o.GetAnnotations()[annotationSchedule], "/")
	if !ok {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: ns, Name: name}}}
}
