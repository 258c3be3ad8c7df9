package controllers

import (
	"context"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/conditions"
	"github.com/policyherald/policy-herald/internal/emailjob"
	"github.com/policyherald/policy-herald/internal/textcut"
)

// The CronJob of a schedule, in the platform namespace: made, updated, suspended, removed, and
// a one-off Job for send-now.

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
	name := emailjob.CronJobName(key.Namespace, key.Name)
	background := client.PropagationPolicy(metav1.DeletePropagationBackground)
	cj := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Namespace: r.PlatformNamespace, Name: name}}
	if err := r.Client.Delete(ctx, cj, background); client.IgnoreNotFound(err) != nil {
		return err
	}
	var jobs batchv1.JobList
	if err := r.Jobs.List(ctx, &jobs, client.InNamespace(r.PlatformNamespace), client.MatchingLabels{emailjob.LabelCronJob: name}); err != nil {
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
		emailjob.MutateCronJob(&cj, s, r.PlatformNamespace, img, r.ConsoleURL)
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
	emailjob.MutateCronJob(&cj, s, r.PlatformNamespace, img, r.ConsoleURL)
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
// returns it, or nil if there is none.
func (r *EmailReportScheduleReconciler) suspendCronJob(ctx context.Context, name string) (*batchv1.CronJob, error) {
	var cj batchv1.CronJob
	if err := r.Jobs.Get(ctx, client.ObjectKey{Namespace: r.PlatformNamespace, Name: name}, &cj); err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	if cj.Spec.Suspend == nil || !*cj.Spec.Suspend {
		cj.Spec.Suspend = new(true)
		if err := r.Client.Update(ctx, &cj); err != nil {
			return nil, err
		}
	}
	return &cj, nil
}

func notApplied(verb, name string, err error) error {
	p := conditions.Transient(v1alpha1.ReasonCronJobNotApplied, fmt.Sprintf("%s CronJob %s: %v", verb, name, err))
	p.RetryAfter = 30 * time.Second
	return p
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
	if !ok || textcut.Cut(value, 1024) == s.Status.LastSendNow || cj == nil {
		return nil
	}
	var jobs batchv1.JobList
	if err := r.Jobs.List(ctx, &jobs, client.InNamespace(r.PlatformNamespace), client.MatchingLabels{emailjob.LabelCronJob: cj.Name}); err != nil {
		return err
	}
	for i := range jobs.Items {
		if _, _, done := finished(&jobs.Items[i]); !done {
			return nil
		}
	}
	job := emailjob.SendNowJob(cj, s, value)
	if err := r.Client.Create(ctx, job); err != nil && !apierrors.IsAlreadyExists(err) {
		return notApplied("starting a send-now Job of", cj.Name, err)
	}
	if r.Recorder != nil {
		r.Recorder.Eventf(s, nil, corev1.EventTypeNormal, "SendNow", "SendNow", "started Job %s/%s to send the report now", job.Namespace, job.Name)
	}
	s.Status.LastSendNow = textcut.Cut(value, 1024)
	return nil
}
