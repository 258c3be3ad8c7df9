package controllers_test

import (
	"encoding/json"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/emailjob"
)

func emailSchedule(namespace, name string) *v1alpha1.EmailReportSchedule {
	return &v1alpha1.EmailReportSchedule{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: v1alpha1.EmailReportScheduleSpec{
			Schedule:   "0 8 * * *",
			TimeZone:   "Europe/Berlin",
			ReportType: v1alpha1.EmailReportViolations,
			Recipients: []string{"operator@example.com"},
			SMTP: &v1alpha1.SMTPSettings{
				Host: "smtp.example.com", From: "policy-herald@example.com", Encryption: v1alpha1.SMTPEncryptionNone,
			},
		},
	}
}

var _ = Describe("EmailReportSchedule controller", func() {
	var ns string
	BeforeEach(func() {
		ensurePlatformNamespace()
		ns = newNamespace(nil)
	})

	It("reports a valid schedule Ready, with its CronJob and the next run", func() {
		s := emailSchedule(ns, "daily")
		Expect(k8sClient.Create(ctx, s)).To(Succeed())
		Eventually(readyOf(s)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))
		Expect(conditionMessage(s)).To(ContainSubstring("CronJob " + s.Status.CronJobName))
		Expect(s.Status.CronJobName).NotTo(BeEmpty())
		Expect(s.Status.NextScheduleTime).NotTo(BeNil())
	})

	DescribeTable("refuses what cron or the time zone database cannot take",
		func(schedule, tz, message string) {
			s := emailSchedule(ns, "bad")
			s.Spec.Schedule, s.Spec.TimeZone = schedule, tz
			Expect(k8sClient.Create(ctx, s)).To(Succeed())
			Eventually(readyOf(s)).Should(haveReady(metav1.ConditionFalse, v1alpha1.ReasonInvalidSchedule))
			Expect(conditionMessage(s)).To(ContainSubstring(message))
			Expect(s.Status.NextScheduleTime).To(BeNil())
		},
		Entry("minute out of range", "61 * * * *", "", "not a valid cron expression"),
		Entry("six fields", "0 0 8 * * *", "", "not a valid cron expression"),
		Entry("unknown zone", "0 8 * * *", "Mars/Olympus", "not a known IANA time zone"),
		Entry("zone in the schedule", "CRON_TZ=UTC 0 8 * * *", "", "set spec.timeZone instead"),
	)

	It("accepts cron macros", func() {
		s := emailSchedule(ns, "macro")
		s.Spec.Schedule = "@weekly"
		Expect(k8sClient.Create(ctx, s)).To(Succeed())
		Eventually(readyOf(s)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))
	})

	It("refuses a recipient that is not an address", func() {
		s := emailSchedule(ns, "bad-to")
		s.Spec.Recipients = []string{"ops@example.com", "not an address"}
		Expect(k8sClient.Create(ctx, s)).To(Succeed())
		Eventually(readyOf(s)).Should(haveReady(metav1.ConditionFalse, v1alpha1.ReasonInvalidSpec))
		Expect(conditionMessage(s)).To(ContainSubstring(`"not an address"`))
	})

	It("needs the SMTP password in the Secret when a username is set, and lets the Secret win", func() {
		s := emailSchedule(ns, "auth")
		s.Spec.SMTP.Username = "mailer"
		Expect(k8sClient.Create(ctx, s)).To(Succeed())
		Eventually(readyOf(s)).Should(haveReady(metav1.ConditionFalse, v1alpha1.ReasonInvalidSpec))
		Expect(conditionMessage(s)).To(ContainSubstring("no smtp.secretRef"))

		secret := newSecret(ns, "smtp", map[string]string{"username": "mailer"})
		updateSchedule(s, func() { s.Spec.SMTP.SecretRef = &v1alpha1.LocalSecretReference{Name: "smtp"} })
		Eventually(readyOf(s)).Should(haveReady(metav1.ConditionFalse, v1alpha1.ReasonSecretKeyMissing))
		Expect(conditionMessage(s)).To(ContainSubstring("password"))

		secret.StringData = map[string]string{"password": "s3cret", "from": "not-an-address"}
		Expect(k8sClient.Update(ctx, secret)).To(Succeed())
		Eventually(readyOf(s)).Should(haveReady(metav1.ConditionFalse, v1alpha1.ReasonInvalidSpec))
		Expect(conditionMessage(s)).To(ContainSubstring("smtp.from"))

		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(secret), secret)).To(Succeed())
		secret.StringData = map[string]string{"from": "reports@example.com", "port": "2525"}
		Expect(k8sClient.Update(ctx, secret)).To(Succeed())
		Eventually(readyOf(s)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))
		Expect(conditionMessage(s)).NotTo(ContainSubstring("s3cret"))
	})

	It("reports a schedule with graph Ready once its client secret is there; its CronJob names the schedule, never the secret", func() {
		const clientSecret = "qWe8Q~graph.Secret-Value_0123456789abcdef"
		s := emailSchedule(ns, "graph")
		s.Spec.SMTP = nil
		s.Spec.Graph = &v1alpha1.GraphSettings{TenantID: "contoso.onmicrosoft.com", ClientID: "6731de76-14a6-49ae-97bc-6eba6914391e",
			User: "reports@contoso.com", ClientSecretRef: v1alpha1.SecretKeySelector{Name: "graph", Key: "client-secret"}}
		Expect(k8sClient.Create(ctx, s)).To(Succeed())
		Eventually(readyOf(s)).Should(haveReady(metav1.ConditionFalse, v1alpha1.ReasonSecretNotFound))
		Expect(conditionMessage(s)).To(ContainSubstring(`Secret "graph" not found`))

		secret := newSecret(ns, "graph", map[string]string{"password": clientSecret})
		Eventually(readyOf(s)).Should(haveReady(metav1.ConditionFalse, v1alpha1.ReasonSecretKeyMissing))
		Expect(conditionMessage(s)).To(ContainSubstring("client-secret"))

		secret.StringData = map[string]string{"client-secret": clientSecret}
		Expect(k8sClient.Update(ctx, secret)).To(Succeed())
		Eventually(readyOf(s)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))
		Expect(s.Status.CronJobName).NotTo(BeEmpty())
		Expect(s.Status.NextScheduleTime).NotTo(BeNil())

		// The Job reads the schedule and then its Secret, by name, as its ServiceAccount: the
		// CronJob carries the schedule's name and nothing of the secret.
		cj := cronJobOf(s)
		pod := cj.Spec.JobTemplate.Spec.Template.Spec
		Expect(pod.ServiceAccountName).To(Equal(emailjob.ServiceAccount))
		Expect(pod.Volumes).To(BeEmpty())
		Expect(pod.Containers).To(HaveLen(1))
		Expect(pod.Containers[0].Args).To(ContainElement("--schedule=" + ns + "/graph"))
		Expect(pod.Containers[0].Env).To(BeEmpty())
		Expect(pod.Containers[0].EnvFrom).To(BeEmpty())
		for _, o := range []any{cj, s} {
			b, err := json.Marshal(o)
			Expect(err).NotTo(HaveOccurred())
			Expect(string(b)).NotTo(ContainSubstring(clientSecret))
		}
	})

	It("reports a suspended schedule Suspended, without a next run, and still validates it", func() {
		s := emailSchedule(ns, "paused")
		s.Spec.Suspend = true
		Expect(k8sClient.Create(ctx, s)).To(Succeed())
		Eventually(readyOf(s)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonSuspended))
		Expect(s.Status.NextScheduleTime).To(BeNil())

		updateSchedule(s, func() { s.Spec.Recipients = []string{"not an address"} })
		Eventually(readyOf(s)).Should(haveReady(metav1.ConditionFalse, v1alpha1.ReasonInvalidSpec))
	})
})
