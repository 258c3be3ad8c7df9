package controllers

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/conditions"
	"github.com/policyherald/policy-herald/internal/scheme"
)

// status.nextScheduleTime is the schedule evaluated in its time zone.
func TestNextRunInTheScheduleTimeZone(t *testing.T) {
	// The day before Berlin moves to summer time (29 March 2026).
	now := time.Date(2026, 3, 28, 12, 0, 0, 0, time.UTC)
	r := &EmailReportScheduleReconciler{Now: func() time.Time { return now }}
	s := &v1alpha1.EmailReportSchedule{Spec: v1alpha1.EmailReportScheduleSpec{Schedule: "0 8 * * *", TimeZone: "Europe/Berlin"}}
	next, err := r.nextRun(s)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 3, 29, 6, 0, 0, 0, time.UTC); !next.Equal(want) {
		t.Errorf("next run = %s, want %s (08:00 CEST)", next, want)
	}
}

func TestJobImage(t *testing.T) {
	ctx := context.Background()
	self := client.ObjectKey{Namespace: "policy-herald-system", Name: "policy-herald-controller-manager-abc"}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: self.Namespace, Name: self.Name},
		Spec: corev1.PodSpec{
			ImagePullSecrets: []corev1.LocalObjectReference{{Name: "registry"}},
			Containers: []corev1.Container{
				{Name: "sidecar", Image: "proxy:1"},
				{Name: "manager", Image: "registry.example.com/policy-herald@sha256:abc", ImagePullPolicy: corev1.PullAlways},
			},
		},
	}
	reader := fake.NewClientBuilder().WithScheme(scheme.New()).WithObjects(pod).Build()

	got, err := NewJobImage("example.com/ph:v1", self, reader).Resolve(ctx)
	if err != nil || got.Image != "example.com/ph:v1" || got.PullSecrets != nil {
		t.Errorf("configured image: %+v, %v", got, err)
	}
	got, err = NewJobImage("", self, reader).Resolve(ctx)
	if err != nil || got.Image != "registry.example.com/policy-herald@sha256:abc" || got.PullPolicy != corev1.PullAlways ||
		len(got.PullSecrets) != 1 || got.PullSecrets[0].Name != "registry" {
		t.Errorf("the operator's own image: %+v, %v", got, err)
	}
	for name, key := range map[string]client.ObjectKey{
		"no POD_NAME":  {Namespace: self.Namespace},
		"no such Pod":  {Namespace: self.Namespace, Name: "gone"},
		"no namespace": {Name: self.Name},
	} {
		var p *conditions.Problem
		_, err := NewJobImage("", key, reader).Resolve(ctx)
		if !errors.As(err, &p) || p.Reason != v1alpha1.ReasonJobImageUnknown || p.Stalled || p.RetryAfter == 0 ||
			!strings.Contains(p.Message, "--email-report-image") {
			t.Errorf("%s: %v, want a transient %s problem naming --email-report-image", name, err, v1alpha1.ReasonJobImageUnknown)
		}
	}
}

// Without --email-report-image and without its own Pod to read, the operator makes no CronJob
// and says why in the schedule's Ready condition.
func TestScheduleWithoutAJobImage(t *testing.T) {
	ctx := context.Background()
	r, s, c := scheduleOnFakeClient("")
	res, err := r.Reconcile(ctx, reconcileRequest(s))
	if err != nil {
		t.Fatal(err)
	}
	if res.RequeueAfter == 0 {
		t.Error("no retry: the Pod may become readable")
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(s), s); err != nil {
		t.Fatal(err)
	}
	ready := conditions.Ready(s)
	if ready == nil || ready.Status != metav1.ConditionFalse || ready.Reason != v1alpha1.ReasonJobImageUnknown ||
		!strings.Contains(ready.Message, "--email-report-image") {
		t.Errorf("Ready = %+v, want False, %s, naming --email-report-image", ready, v1alpha1.ReasonJobImageUnknown)
	}
	if s.Status.CronJobName != "" || s.Status.NextScheduleTime != nil {
		t.Errorf("status = %+v, want no CronJob and no next run", s.Status)
	}
	var cronJobs batchv1.CronJobList
	if err := c.List(ctx, &cronJobs); err != nil || len(cronJobs.Items) != 0 {
		t.Errorf("CronJobs = %v (%v), want none", cronJobs.Items, err)
	}
	if !slices.Contains(s.Finalizers, v1alpha1.FinalizerCronJob) {
		t.Errorf("finalizers = %v, want %s", s.Finalizers, v1alpha1.FinalizerCronJob)
	}
}

// scheduleOnFakeClient is a valid summary schedule, team-a/daily, on a fake client, and its
// reconciler, whose Jobs run image (empty: the operator's own, which it cannot read here).
func scheduleOnFakeClient(image string) (*EmailReportScheduleReconciler, *v1alpha1.EmailReportSchedule, client.Client) {
	s := &v1alpha1.EmailReportSchedule{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "daily", Generation: 1},
		Spec: v1alpha1.EmailReportScheduleSpec{Schedule: "@daily", ReportType: v1alpha1.EmailReportSummary,
			Recipients: []string{"a@example.com"}, SMTP: &v1alpha1.SMTPSettings{Host: "smtp.example.com", From: "h@example.com"}},
	}
	c := fake.NewClientBuilder().WithScheme(scheme.New()).WithObjects(s).WithStatusSubresource(s).Build()
	r := &EmailReportScheduleReconciler{
		Deps: Deps{Client: c, SecretReader: c}, PlatformNamespace: "policy-herald-system", Jobs: c, Pods: c,
		Image: NewJobImage(image, client.ObjectKey{}, c),
	}
	return r, s, c
}

func reconcileRequest(o client.Object) reconcile.Request {
	return reconcile.Request{NamespacedName: client.ObjectKeyFromObject(o)}
}

// The operator's --console-url reaches the CronJob's arguments, so that its e-mails link to the
// console (emailjob's contract test checks the subcommand takes them).
func TestScheduleCronJobCarriesTheConsoleURL(t *testing.T) {
	ctx := context.Background()
	r, s, c := scheduleOnFakeClient("example.com/ph:v1")
	r.ConsoleURL = "https://herald.example.com"
	t.Cleanup(func() { emailRuns.forget(client.ObjectKeyFromObject(s)) }) // the run counters are global
	if _, err := r.Reconcile(ctx, reconcileRequest(s)); err != nil {
		t.Fatal(err)
	}
	var cronJobs batchv1.CronJobList
	if err := c.List(ctx, &cronJobs); err != nil || len(cronJobs.Items) != 1 {
		t.Fatalf("CronJobs = %v (%v), want one", cronJobs.Items, err)
	}
	args := cronJobs.Items[0].Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args
	if !slices.Contains(args, "--console-url=https://herald.example.com") {
		t.Errorf("args %q: want the console URL", args)
	}
}
