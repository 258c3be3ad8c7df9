package controllers_test

import (
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/controllers"
	"github.com/policyherald/policy-herald/internal/emailjob"
)

// cronJobOf waits for the CronJob of s in the platform namespace and returns it.
func cronJobOf(s *v1alpha1.EmailReportSchedule) *batchv1.CronJob {
	cj := &batchv1.CronJob{}
	key := client.ObjectKey{Namespace: platformNamespace, Name: emailjob.CronJobName(s.Namespace, s.Name)}
	Eventually(func() error { return k8sClient.Get(ctx, key, cj) }).Should(Succeed(), "CronJob %s", key)
	return cj
}

// jobsOf lists the Jobs of cj.
func jobsOf(cj *batchv1.CronJob) func(Gomega) []batchv1.Job {
	return func(g Gomega) []batchv1.Job {
		var jobs batchv1.JobList
		g.Expect(k8sClient.List(ctx, &jobs, client.InNamespace(platformNamespace),
			client.MatchingLabels{"reporting.policyherald.io/cronjob": cj.Name})).To(Succeed())
		return jobs.Items
	}
}

// updateSchedule re-reads s, changes it and writes it, retrying on conflicts (the controller
// writes the finalizer and status meanwhile).
func updateSchedule(s *v1alpha1.EmailReportSchedule, mutate func()) {
	Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(s), s); err != nil {
			return err
		}
		mutate()
		return k8sClient.Update(ctx, s)
	})).To(Succeed())
}

// scheduledJob creates a Job of cj as the CronJob controller would (no kube-controller-manager
// runs here): from its template, owned by it.
func scheduledJob(cj *batchv1.CronJob, suffix string) *batchv1.Job {
	tmpl := cj.Spec.JobTemplate
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: platformNamespace, Name: cj.Name + "-" + suffix,
			Labels: tmpl.Labels, Annotations: tmpl.Annotations,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "CronJob", Name: cj.Name, UID: cj.UID, Controller: ptr.To(true)}},
		},
		Spec: *tmpl.Spec.DeepCopy(),
	}
	Expect(k8sClient.Create(ctx, j)).To(Succeed())
	return j
}

// finishJob writes the status of a Job that ran from started to done (no kubelet runs here).
func finishJob(j *batchv1.Job, succeeded bool, started, done time.Time, message string) {
	Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(j), j)).To(Succeed())
	st, end := metav1.NewTime(started), metav1.NewTime(done)
	j.Status.StartTime = &st
	if succeeded {
		j.Status.Succeeded = 1
		j.Status.CompletionTime = &end
		j.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: end, LastProbeTime: end},
			{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: end, LastProbeTime: end},
		}
	} else {
		j.Status.Failed = 3
		j.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: message, LastTransitionTime: end, LastProbeTime: end},
			{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: message, LastTransitionTime: end, LastProbeTime: end},
		}
	}
	Expect(k8sClient.Status().Update(ctx, j)).To(Succeed())
}

// failedPod creates a Pod of Job j whose container exited 1 with message in its termination log.
func failedPod(j *batchv1.Job, name string, finishedAt time.Time, message string) {
	spec := j.Spec.Template.Spec.DeepCopy()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: platformNamespace, Name: name,
			Labels: map[string]string{batchv1.JobNameLabel: j.Name, "job-name": j.Name}},
		Spec: *spec,
	}
	Expect(k8sClient.Create(ctx, p)).To(Succeed())
	p.Status.Phase = corev1.PodFailed
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name: spec.Containers[0].Name, Image: spec.Containers[0].Image,
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: 1, Reason: "Error", Message: message,
			StartedAt: metav1.NewTime(finishedAt.Add(-time.Second)), FinishedAt: metav1.NewTime(finishedAt),
		}},
	}}
	Expect(k8sClient.Status().Update(ctx, p)).To(Succeed())
}

var _ = Describe("EmailReportSchedule CronJobs", func() {
	var ns string
	BeforeEach(func() {
		ensurePlatformNamespace()
		ns = newNamespace(nil)
	})

	It("builds the CronJob from every setting, updates it with the schedule and removes it with the schedule", func() {
		s := emailSchedule(ns, "weekdays")
		s.Spec.Schedule = "30 7 * * 1-5"
		Expect(k8sClient.Create(ctx, s)).To(Succeed())
		Eventually(readyOf(s)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))
		Expect(s.Finalizers).To(ContainElement(v1alpha1.FinalizerCronJob))
		Expect(s.Status.NextScheduleTime).NotTo(BeNil())
		Expect(s.Status.NextScheduleTime.Time).To(BeTemporally(">", time.Now()))
		Expect(s.Status.NextScheduleTime.In(mustLoad("Europe/Berlin")).Format("15:04")).To(Equal("07:30"))

		cj := cronJobOf(s)
		Expect(s.Status.CronJobName).To(Equal(cj.Name))
		Expect(cj.Name).To(HavePrefix("ers-" + ns + "-weekdays-"))
		want := map[string]string{
			"reporting.policyherald.io/cronjob":            cj.Name,
			"reporting.policyherald.io/schedule-namespace": ns,
			"reporting.policyherald.io/schedule-name":      "weekdays",
			"app.kubernetes.io/managed-by":                 "policy-herald",
		}
		for k, v := range want {
			Expect(cj.Labels).To(HaveKeyWithValue(k, v))
			Expect(cj.Spec.JobTemplate.Labels).To(HaveKeyWithValue(k, v))
			Expect(cj.Spec.JobTemplate.Spec.Template.Labels).To(HaveKeyWithValue(k, v))
		}
		spec := cj.Spec
		Expect(spec.Schedule).To(Equal("30 7 * * 1-5"))
		Expect(spec.TimeZone).To(HaveValue(Equal("Europe/Berlin")))
		Expect(spec.Suspend).To(HaveValue(BeFalse()))
		Expect(spec.ConcurrencyPolicy).To(Equal(batchv1.ForbidConcurrent))
		Expect(spec.StartingDeadlineSeconds).To(HaveValue(Equal(int64(3600))))
		Expect(spec.SuccessfulJobsHistoryLimit).To(HaveValue(Equal(int32(3))))
		Expect(spec.FailedJobsHistoryLimit).To(HaveValue(Equal(int32(3))))
		job := spec.JobTemplate.Spec
		Expect(job.BackoffLimit).To(HaveValue(Equal(int32(2))))
		Expect(job.ActiveDeadlineSeconds).To(HaveValue(Equal(int64(600))))
		pod := job.Template.Spec
		Expect(pod.RestartPolicy).To(Equal(corev1.RestartPolicyNever))
		Expect(pod.ServiceAccountName).To(Equal("policy-herald-email-reporter"))
		Expect(pod.SecurityContext.RunAsNonRoot).To(HaveValue(BeTrue()))
		Expect(pod.SecurityContext.SeccompProfile).To(HaveField("Type", corev1.SeccompProfileTypeRuntimeDefault))
		Expect(pod.Containers).To(HaveLen(1))
		c := pod.Containers[0]
		Expect(c.Image).To(Equal(reportImage))
		Expect(c.Command).To(Equal([]string{"/policy-herald"}))
		Expect(c.Args).To(Equal([]string{"email-report", "--schedule=" + ns + "/weekdays", "--platform-namespace=" + platformNamespace,
			"--termination-log=/dev/termination-log"}))
		Expect(c.TerminationMessagePath).To(Equal("/dev/termination-log"))
		Expect(c.TerminationMessagePolicy).To(Equal(corev1.TerminationMessageFallbackToLogsOnError))
		Expect(c.SecurityContext.AllowPrivilegeEscalation).To(HaveValue(BeFalse()))
		Expect(c.SecurityContext.ReadOnlyRootFilesystem).To(HaveValue(BeTrue()))
		Expect(c.SecurityContext.Capabilities.Drop).To(Equal([]corev1.Capability{"ALL"}))
		Expect(c.Resources.Limits.Memory().Cmp(resource.MustParse("128Mi"))).To(Equal(0))
		Expect(c.Resources.Limits.Cpu().Cmp(resource.MustParse("500m"))).To(Equal(0))
		Expect(c.Resources.Requests).To(HaveKey(corev1.ResourceMemory))

		By("a quiet resync writes nothing")
		version := cj.ResourceVersion
		updateSchedule(s, func() { s.Labels = map[string]string{"touched": "1"} })
		Consistently(func() string {
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cj), cj)).To(Succeed())
			return cj.ResourceVersion
		}, "1s").Should(Equal(version))

		By("updating the schedule updates the CronJob")
		updateSchedule(s, func() {
			s.Spec.Schedule, s.Spec.TimeZone, s.Spec.Suspend = "@daily", "", true
		})
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cj), cj)).To(Succeed())
			g.Expect(cj.Spec.Schedule).To(Equal("@daily"))
			g.Expect(cj.Spec.TimeZone).To(BeNil())
			g.Expect(cj.Spec.Suspend).To(HaveValue(BeTrue()))
		}).Should(Succeed())
		Eventually(readyOf(s)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonSuspended))
		Expect(s.Status.NextScheduleTime).To(BeNil())

		updateSchedule(s, func() { s.Spec.Suspend = false })
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cj), cj)).To(Succeed())
			g.Expect(cj.Spec.Suspend).To(HaveValue(BeFalse()))
		}).Should(Succeed())
		Eventually(readyOf(s)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))

		By("deleting the schedule deletes the CronJob and its Jobs, then lets the schedule go")
		run := scheduledJob(cj, "29000000")
		Expect(k8sClient.Delete(ctx, s)).To(Succeed())
		Eventually(func() error { return k8sClient.Get(ctx, client.ObjectKeyFromObject(s), s) }).Should(Satisfy(apierrors.IsNotFound))
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cj), cj)).To(Satisfy(apierrors.IsNotFound))
		Eventually(func() error { return k8sClient.Get(ctx, client.ObjectKeyFromObject(run), run) }).Should(Satisfy(apierrors.IsNotFound))
	})

	It("reports the runs: the last success, the last failure with its reason, and Ready from the newest run", func() {
		s := emailSchedule(ns, "runs")
		Expect(k8sClient.Create(ctx, s)).To(Succeed())
		Eventually(readyOf(s)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))
		cj := cronJobOf(s)
		t0 := time.Now().Add(-time.Hour).Truncate(time.Second)

		By("a run that succeeded, with the CronJob's own status")
		ok := scheduledJob(cj, "1001")
		finishJob(ok, true, t0, t0.Add(5*time.Second), "")
		cj.Status.LastScheduleTime = &metav1.Time{Time: t0}
		cj.Status.LastSuccessfulTime = &metav1.Time{Time: t0.Add(5 * time.Second)}
		Expect(k8sClient.Status().Update(ctx, cj)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(readyOf(s)(g)).To(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))
			g.Expect(s.Status.Delivery).NotTo(BeNil())
			g.Expect(s.Status.Delivery.Sent).To(Equal(int64(1)))
			g.Expect(s.Status.Delivery.LastSuccessTime).To(HaveValue(HaveField("Time", BeTemporally("==", t0.Add(5*time.Second)))))
			g.Expect(s.Status.LastSuccessfulTime).To(HaveValue(HaveField("Time", BeTemporally("==", t0.Add(5*time.Second)))))
			g.Expect(s.Status.LastScheduleTime).To(HaveValue(HaveField("Time", BeTemporally(">=", t0))))
		}).Should(Succeed())

		By("a run that failed: the reason is its container's termination message")
		bad := scheduledJob(cj, "1002")
		failedPod(bad, bad.Name+"-a", t0.Add(9*time.Minute), "connecting to the SMTP server failed: 535 authentication failed")
		failedPod(bad, bad.Name+"-b", t0.Add(10*time.Minute), "sending to smtp.example.com:587: 535 5.7.8 authentication failed")
		finishJob(bad, false, t0.Add(8*time.Minute), t0.Add(10*time.Minute), "Job has reached the specified backoff limit")
		Eventually(readyOf(s)).Should(haveReady(metav1.ConditionFalse, v1alpha1.ReasonDeliveryFailing))
		Expect(conditionMessage(s)).To(ContainSubstring("sending to smtp.example.com:587: 535 5.7.8 authentication failed"))
		Expect(stalledOf(s)).To(BeNil(), "the next run may succeed")
		d := s.Status.Delivery
		Expect(d.Failed).To(Equal(int64(1)))
		Expect(d.Sent).To(Equal(int64(1)))
		Expect(d.ConsecutiveFailures).To(Equal(int32(1)))
		Expect(d.LastFailureTime).To(HaveValue(HaveField("Time", BeTemporally("==", t0.Add(10*time.Minute)))))
		Expect(d.LastFailureReason).To(Equal("sending to smtp.example.com:587: 535 5.7.8 authentication failed"))

		By("a run that failed without a Pod to tell why: the Job's Failed condition")
		gone := scheduledJob(cj, "1003")
		finishJob(gone, false, t0.Add(20*time.Minute), t0.Add(30*time.Minute), "Job was active longer than specified deadline")
		Eventually(func(g Gomega) {
			g.Expect(readyOf(s)(g)).To(haveReady(metav1.ConditionFalse, v1alpha1.ReasonDeliveryFailing))
			g.Expect(s.Status.Delivery.Failed).To(Equal(int64(2)))
		}).Should(Succeed())
		Expect(s.Status.Delivery.ConsecutiveFailures).To(Equal(int32(2)))
		Expect(s.Status.Delivery.LastFailureReason).To(Equal("BackoffLimitExceeded: Job was active longer than specified deadline"))

		By("the next success makes it Ready again; the counters go on")
		again := scheduledJob(cj, "1004")
		finishJob(again, true, t0.Add(40*time.Minute), t0.Add(41*time.Minute), "")
		Eventually(readyOf(s)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))
		d = s.Status.Delivery
		Expect(d.Sent).To(Equal(int64(2)))
		Expect(d.Failed).To(Equal(int64(2)))
		Expect(d.ConsecutiveFailures).To(BeZero())
		Expect(s.Status.LastSuccessfulTime).To(HaveValue(HaveField("Time", BeTemporally("==", t0.Add(41*time.Minute)))))
		Expect(d.LastFailureReason).To(ContainSubstring("deadline"), "the last failure stays on record")

		By("the history limit pruning the Jobs does not undo the counts")
		for _, j := range []*batchv1.Job{ok, bad} {
			Expect(k8sClient.Delete(ctx, j, client.PropagationPolicy(metav1.DeletePropagationBackground))).To(Succeed())
		}
		Consistently(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s), s)).To(Succeed())
			g.Expect(s.Status.Delivery.Sent).To(Equal(int64(2)))
			g.Expect(s.Status.Delivery.Failed).To(Equal(int64(2)))
		}, "1s").Should(Succeed())

		By("the runs counter counts each finished Job once, however often the schedule was reconciled")
		Expect(emailRunsMetric(s.Namespace, s.Name)).To(Equal(map[string]float64{"succeeded": 2, "failed": 2}))
		By("deleting the schedule removes its series")
		Expect(k8sClient.Delete(ctx, s)).To(Succeed())
		Eventually(func() map[string]float64 { return emailRunsMetric(s.Namespace, s.Name) }).Should(BeEmpty())
	})

	It("sends now once per new value of the send-now annotation", func() {
		s := emailSchedule(ns, "now")
		s.Annotations = map[string]string{v1alpha1.AnnotationSendNow: "first"}
		Expect(k8sClient.Create(ctx, s)).To(Succeed())
		cj := cronJobOf(s)
		Eventually(jobsOf(cj)).Should(HaveLen(1))
		j := jobsOf(cj)(Default)[0]
		Expect(j.Name).To(Equal(emailjob.SendNowJobName(cj.Name, "first")))
		Expect(len(j.Name)).To(BeNumerically("<=", validation.DNS1123LabelMaxLength))
		Expect(j.Labels).To(HaveKeyWithValue("reporting.policyherald.io/cronjob", cj.Name))
		Expect(j.OwnerReferences).To(ConsistOf(HaveField("UID", cj.UID)))
		Expect(j.Spec.Template.Spec.Containers[0].Args).To(Equal(cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args))
		Expect(j.Spec.BackoffLimit).To(HaveValue(Equal(int32(2))))
		Eventually(func(g Gomega) string {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s), s)).To(Succeed())
			return s.Status.LastSendNow
		}).Should(Equal("first"))

		By("re-reconciling sends nothing more")
		updateSchedule(s, func() { s.Labels = map[string]string{"touched": "1"} })
		finishJob(&j, true, time.Now().Add(-time.Minute), time.Now(), "")
		Eventually(readyOf(s)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))
		Eventually(func(g Gomega) int64 {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s), s)).To(Succeed())
			return ptr.Deref(s.Status.Delivery, v1alpha1.DeliveryStatus{}).Sent
		}).Should(Equal(int64(1)))
		Consistently(jobsOf(cj), "2s").Should(HaveLen(1))
		Expect(s.Status.LastSuccessfulTime).NotTo(BeNil(), "a send-now run counts as a send")

		By("a new value sends again, also while the schedule is suspended")
		updateSchedule(s, func() {
			s.Annotations[v1alpha1.AnnotationSendNow] = "second"
			s.Spec.Suspend = true
		})
		Eventually(jobsOf(cj)).Should(HaveLen(2))
		Expect(jobsOf(cj)(Default)).To(ContainElement(HaveField("Name", emailjob.SendNowJobName(cj.Name, "second"))))
		Eventually(func(g Gomega) {
			g.Expect(readyOf(s)(g)).To(haveReady(metav1.ConditionTrue, v1alpha1.ReasonSuspended))
			g.Expect(s.Status.LastSendNow).To(Equal("second"))
		}).Should(Succeed())

		By("while a run is under way, a new value waits for it to end (concurrency Forbid)")
		updateSchedule(s, func() { s.Annotations[v1alpha1.AnnotationSendNow] = "third" })
		Consistently(jobsOf(cj), "1s").Should(HaveLen(2))
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s), s)).To(Succeed())
		Expect(s.Status.LastSendNow).To(Equal("second"))
		second := &batchv1.Job{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: platformNamespace, Name: emailjob.SendNowJobName(cj.Name, "second")}, second)).To(Succeed())
		finishJob(second, true, time.Now().Add(-time.Minute), time.Now(), "")
		Eventually(jobsOf(cj)).Should(HaveLen(3))
		Eventually(func() (string, error) {
			err := k8sClient.Get(ctx, client.ObjectKeyFromObject(s), s)
			return s.Status.LastSendNow, err
		}).Should(Equal("third"))
	})

	It("puts every team's schedules in the platform namespace, apart, each running for its own schedule only", func() {
		other := newNamespace(nil)
		mine, theirs := emailSchedule(ns, "daily"), emailSchedule(other, "daily")
		long := emailSchedule(ns, strings.Repeat("long.schedule-", 17)+"end")
		for _, s := range []*v1alpha1.EmailReportSchedule{mine, theirs, long} {
			Expect(k8sClient.Create(ctx, s)).To(Succeed())
		}
		names := map[string]bool{}
		for _, s := range []*v1alpha1.EmailReportSchedule{mine, theirs, long} {
			cj := cronJobOf(s)
			names[cj.Name] = true
			Expect(len(cj.Name)).To(BeNumerically("<=", 52), cj.Name)
			Expect(validation.IsDNS1123Label(cj.Name)).To(BeEmpty(), cj.Name)
			Expect(cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args).To(ContainElement("--schedule=" + s.Namespace + "/" + s.Name))
			Expect(cj.Labels).To(HaveKeyWithValue("reporting.policyherald.io/schedule-namespace", s.Namespace))
			Expect(validation.IsValidLabelValue(cj.Labels["reporting.policyherald.io/schedule-name"])).To(BeEmpty())
			Expect(cj.Annotations).To(HaveKeyWithValue("reporting.policyherald.io/schedule", s.Namespace+"/"+s.Name))
			Eventually(readyOf(s)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))
		}
		Expect(names).To(HaveLen(3))
		for _, n := range []string{ns, other} {
			var there batchv1.CronJobList
			Expect(k8sClient.List(ctx, &there, client.InNamespace(n))).To(Succeed())
			Expect(there.Items).To(BeEmpty(), "no CronJob in the tenant's namespace %s", n)
		}

		By("one team's send-now runs only its own schedule")
		updateSchedule(theirs, func() { theirs.Annotations = map[string]string{v1alpha1.AnnotationSendNow: "x"} })
		Eventually(jobsOf(cronJobOf(theirs))).Should(HaveLen(1))
		Consistently(jobsOf(cronJobOf(mine)), "1s").Should(BeEmpty())
	})

	It("makes no CronJob for a schedule with incomplete SMTP settings or a missing Secret, and suspends one whose Secret goes", func() {
		incomplete := emailSchedule(ns, "incomplete")
		incomplete.Spec.SMTP.Username = "mailer"
		missing := emailSchedule(ns, "missing")
		missing.Spec.SMTP.SecretRef = &v1alpha1.LocalSecretReference{Name: "absent"}
		missing.Annotations = map[string]string{v1alpha1.AnnotationSendNow: "asap"}
		Expect(k8sClient.Create(ctx, incomplete)).To(Succeed())
		Expect(k8sClient.Create(ctx, missing)).To(Succeed())
		Eventually(readyOf(incomplete)).Should(haveReady(metav1.ConditionFalse, v1alpha1.ReasonInvalidSpec))
		Eventually(readyOf(missing)).Should(haveReady(metav1.ConditionFalse, v1alpha1.ReasonSecretNotFound))
		for _, s := range []*v1alpha1.EmailReportSchedule{incomplete, missing} {
			Expect(s.Status.CronJobName).To(BeEmpty())
			Expect(s.Status.NextScheduleTime).To(BeNil())
			key := client.ObjectKey{Namespace: platformNamespace, Name: emailjob.CronJobName(s.Namespace, s.Name)}
			Consistently(func() error { return k8sClient.Get(ctx, key, &batchv1.CronJob{}) }, "1s").Should(Satisfy(apierrors.IsNotFound))
		}
		Expect(missing.Status.LastSendNow).To(BeEmpty(), "the send-now waits until the schedule is valid")

		By("the Secret appears: the CronJob is made and the pending send-now runs")
		secret := newSecret(ns, "absent", map[string]string{"from": "reports@example.com"})
		Eventually(readyOf(missing)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))
		cj := cronJobOf(missing)
		Eventually(jobsOf(cj)).Should(HaveLen(1))

		By("the Secret goes: the CronJob stays, with its history, but suspended")
		Expect(k8sClient.Delete(ctx, secret)).To(Succeed())
		Eventually(readyOf(missing)).Should(haveReady(metav1.ConditionFalse, v1alpha1.ReasonSecretNotFound))
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cj), cj)).To(Succeed())
			g.Expect(cj.Spec.Suspend).To(HaveValue(BeTrue()))
		}).Should(Succeed())
		Expect(missing.Status.CronJobName).To(Equal(cj.Name))

		By("it comes back")
		newSecret(ns, "absent", map[string]string{"from": "reports@example.com"})
		Eventually(readyOf(missing)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cj), cj)).To(Succeed())
		Expect(cj.Spec.Suspend).To(HaveValue(BeFalse()))
	})
})

func mustLoad(name string) *time.Location {
	l, err := time.LoadLocation(name)
	Expect(err).NotTo(HaveOccurred())
	return l
}

// emailRunsMetric reads policy_herald_email_report_runs_total of a schedule, by outcome.
func emailRunsMetric(namespace, name string) map[string]float64 {
	mfs, err := metrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != controllers.EmailReportRunsMetric {
			continue
		}
		for _, m := range mf.Metric {
			l := map[string]string{}
			for _, lp := range m.Label {
				l[lp.GetName()] = lp.GetValue()
			}
			if l["namespace"] == namespace && l["name"] == name {
				out[l["outcome"]] = m.Counter.GetValue()
			}
		}
	}
	return out
}
