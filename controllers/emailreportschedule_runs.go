package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/conditions"
	"github.com/policyherald/policy-herald/internal/emailjob"
	"github.com/policyherald/policy-herald/internal/textcut"
)

// What the Jobs of a schedule say about its runs: times, counts, the last failure and its reason.

// observeRuns fills the status from the CronJob and its Jobs.
func (r *EmailReportScheduleReconciler) observeRuns(ctx context.Context, s *v1alpha1.EmailReportSchedule, cj *batchv1.CronJob) error {
	var jobs batchv1.JobList
	if err := r.Jobs.List(ctx, &jobs, client.InNamespace(r.PlatformNamespace), client.MatchingLabels{emailjob.LabelCronJob: cj.Name}); err != nil {
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
	return textcut.Cut(reason, 1024)
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
