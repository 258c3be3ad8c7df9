package controllers_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
)

func channel(namespace, name string, ref v1alpha1.TargetReference) *v1alpha1.TargetChannel {
	return &v1alpha1.TargetChannel{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec:       v1alpha1.TargetChannelSpec{TargetRef: ref},
	}
}

// channelCounts returns the target's channel counts once its controller has written them.
func channelCounts(t *v1alpha1.NotificationTarget) func(Gomega) v1alpha1.ChannelCounts {
	return func(g Gomega) v1alpha1.ChannelCounts {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(t), t)).To(Succeed())
		g.Expect(t.Status.Channels).NotTo(BeNil())
		return *t.Status.Channels
	}
}

var _ = Describe("TargetChannel controller", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace(nil) })

	It("attaches to a target in its namespace, inherits its type and is counted by it", func() {
		newSecret(ns, "slack-creds", map[string]string{"url": "https://hooks.slack.com/services/T/B/root"})
		t := slackTarget(ns, "slack", "slack-creds")
		Expect(k8sClient.Create(ctx, t)).To(Succeed())

		c := channel(ns, "team-a", v1alpha1.TargetReference{Name: "slack"})
		c.Spec.Slack = &v1alpha1.SlackDestination{Channel: "#team-a"}
		Expect(k8sClient.Create(ctx, c)).To(Succeed())
		Eventually(readyOf(c)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))
		Expect(c.Status.Destination).To(Equal(v1alpha1.DestinationSlack))
		Eventually(channelCounts(t)).Should(Equal(v1alpha1.ChannelCounts{Attached: 1, Ready: 1}))

		By("deleting the target")
		Expect(k8sClient.Delete(ctx, t)).To(Succeed())
		Eventually(readyOf(c)).Should(haveReady(metav1.ConditionFalse, v1alpha1.ReasonTargetNotFound))
		Expect(stalledOf(c)).To(BeNil(), "a missing target may still be applied; not stalled")
	})

	It("waits for a target applied after it", func() {
		c := channel(ns, "early", v1alpha1.TargetReference{Name: "later"})
		Expect(k8sClient.Create(ctx, c)).To(Succeed())
		Eventually(readyOf(c)).Should(haveReady(metav1.ConditionFalse, v1alpha1.ReasonTargetNotFound))

		Expect(k8sClient.Create(ctx, webhookTarget(ns, "later", "https://example.com/hook"))).To(Succeed())
		Eventually(readyOf(c)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))
	})

	It("is refused by a target in another namespace until the target admits its namespace", func() {
		platform := newNamespace(nil)
		t := webhookTarget(platform, "hook", "https://example.com/hook")
		Expect(k8sClient.Create(ctx, t)).To(Succeed())

		c := channel(ns, "team", v1alpha1.TargetReference{Name: "hook", Namespace: platform})
		Expect(k8sClient.Create(ctx, c)).To(Succeed())
		Eventually(readyOf(c)).Should(haveReady(metav1.ConditionFalse, v1alpha1.ReasonNotAllowed))
		Expect(stalledOf(c)).To(HaveField("Status", metav1.ConditionTrue))
		Eventually(channelCounts(t)).Should(Equal(v1alpha1.ChannelCounts{}))

		By("admitting namespaces labelled team=a")
		t.Spec.AllowedChannels = &v1alpha1.AllowedChannels{Namespaces: &v1alpha1.ChannelNamespaces{
			From:     v1alpha1.NamespacesFromSelector,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}},
		}}
		Expect(k8sClient.Update(ctx, t)).To(Succeed())
		Consistently(readyOf(c), "1s").Should(haveReady(metav1.ConditionFalse, v1alpha1.ReasonNotAllowed))

		By("labelling the channel's namespace")
		var n corev1.Namespace
		Expect(k8sClient.Get(ctx, client.ObjectKey{Name: ns}, &n)).To(Succeed())
		n.Labels = map[string]string{"team": "a"}
		Expect(k8sClient.Update(ctx, &n)).To(Succeed())
		Eventually(readyOf(c)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))
		Eventually(channelCounts(t)).Should(Equal(v1alpha1.ChannelCounts{Attached: 1, Ready: 1}))

		By("admitting every namespace, then none again")
		t.Spec.AllowedChannels.Namespaces = &v1alpha1.ChannelNamespaces{From: v1alpha1.NamespacesFromAll}
		Expect(k8sClient.Update(ctx, t)).To(Succeed())
		Consistently(readyOf(c), "1s").Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(t), t)).To(Succeed())
		t.Spec.AllowedChannels = nil
		Expect(k8sClient.Update(ctx, t)).To(Succeed())
		Eventually(readyOf(c)).Should(haveReady(metav1.ConditionFalse, v1alpha1.ReasonNotAllowed))
		Eventually(channelCounts(t)).Should(Equal(v1alpha1.ChannelCounts{}))
	})

	It("refuses fields of another destination type than its target's", func() {
		Expect(k8sClient.Create(ctx, webhookTarget(ns, "hook", "https://example.com/hook"))).To(Succeed())
		c := channel(ns, "wrong", v1alpha1.TargetReference{Name: "hook"})
		c.Spec.Teams = &v1alpha1.ChatWebhookDestination{HTTPSettings: v1alpha1.HTTPSettings{URL: "https://example.com/teams"}}
		Expect(k8sClient.Create(ctx, c)).To(Succeed())
		Eventually(readyOf(c)).Should(haveReady(metav1.ConditionFalse, v1alpha1.ReasonDestinationMismatch))
		Expect(conditionMessage(c)).To(ContainSubstring("delivers to webhook"))
	})

	It("needs its own Secret when it names one, and may complete the target's settings with it", func() {
		// The target's Secret lacks a chat ID; the channel brings its own.
		newSecret(ns, "bot", map[string]string{"token": "123:abc"})
		t := &v1alpha1.NotificationTarget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "tg"}}
		t.Spec.Telegram = &v1alpha1.TelegramDestination{}
		t.Spec.SecretRef = &v1alpha1.LocalSecretReference{Name: "bot"}
		Expect(k8sClient.Create(ctx, t)).To(Succeed())
		Eventually(readyOf(t)).Should(haveReady(metav1.ConditionFalse, v1alpha1.ReasonSecretKeyMissing))

		c := channel(ns, "team-chat", v1alpha1.TargetReference{Name: "tg"})
		c.Spec.SecretRef = &v1alpha1.LocalSecretReference{Name: "team-chat"}
		Expect(k8sClient.Create(ctx, c)).To(Succeed())
		Eventually(readyOf(c)).Should(haveReady(metav1.ConditionFalse, v1alpha1.ReasonSecretNotFound))

		newSecret(ns, "team-chat", map[string]string{"chatID": "-1001234"})
		Eventually(readyOf(c)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))
	})

	It("overrides the target's inline fields", func() {
		t := &v1alpha1.NotificationTarget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "tg"}}
		t.Spec.Telegram = &v1alpha1.TelegramDestination{}
		newSecret(ns, "bot", map[string]string{"token": "123:abc"})
		t.Spec.SecretRef = &v1alpha1.LocalSecretReference{Name: "bot"}
		Expect(k8sClient.Create(ctx, t)).To(Succeed())

		c := channel(ns, "team-chat", v1alpha1.TargetReference{Name: "tg"})
		c.Spec.Telegram = &v1alpha1.TelegramDestination{ChatID: "-100999"}
		Expect(k8sClient.Create(ctx, c)).To(Succeed())
		Eventually(readyOf(c)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))
	})

	It("refuses a messageTemplate its target's destination does not render, and names those that do", func() {
		Expect(k8sClient.Create(ctx, webhookTarget(ns, "hook", "https://example.com/hook"))).To(Succeed())
		c := channel(ns, "templated", v1alpha1.TargetReference{Name: "hook"})
		c.Spec.MessageTemplate = "{{ .Policy }}"
		Expect(k8sClient.Create(ctx, c)).To(Succeed())
		Eventually(readyOf(c)).Should(haveReady(metav1.ConditionFalse, v1alpha1.ReasonInvalidSpec))
		Expect(stalledOf(c)).To(HaveField("Status", metav1.ConditionTrue))
		Expect(conditionMessage(c)).To(ContainSubstring("the webhook destination does not render messageTemplate, only discord, googleChat, loki, slack, teams, telegram do"))

		By("dropping it")
		c.Spec.MessageTemplate = ""
		Expect(k8sClient.Update(ctx, c)).To(Succeed())
		Eventually(readyOf(c)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))
	})

	It("does not hand the target's credentials to another namespace's channel that changes the endpoint", func() {
		platform := newNamespace(nil)
		newSecret(platform, "bot", map[string]string{"token": "123:platform"})
		t := &v1alpha1.NotificationTarget{ObjectMeta: metav1.ObjectMeta{Namespace: platform, Name: "tg"}}
		t.Spec.Telegram = &v1alpha1.TelegramDestination{ChatID: "-100"}
		t.Spec.SecretRef = &v1alpha1.LocalSecretReference{Name: "bot"}
		t.Spec.AllowedChannels = &v1alpha1.AllowedChannels{Namespaces: &v1alpha1.ChannelNamespaces{From: v1alpha1.NamespacesFromAll}}
		Expect(k8sClient.Create(ctx, t)).To(Succeed())

		keeps := channel(ns, "keeps-endpoint", v1alpha1.TargetReference{Name: "tg", Namespace: platform})
		keeps.Spec.Telegram = &v1alpha1.TelegramDestination{ChatID: "-200"}
		Expect(k8sClient.Create(ctx, keeps)).To(Succeed())
		Eventually(readyOf(keeps)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))

		redirects := channel(ns, "own-proxy", v1alpha1.TargetReference{Name: "tg", Namespace: platform})
		redirects.Spec.Telegram = &v1alpha1.TelegramDestination{APIURL: "https://proxy.tenant.example"}
		Expect(k8sClient.Create(ctx, redirects)).To(Succeed())
		Eventually(readyOf(redirects)).Should(haveReady(metav1.ConditionFalse, v1alpha1.ReasonSecretKeyMissing))
		Expect(conditionMessage(redirects)).To(ContainSubstring("does not inherit the target's credentials"))
		Expect(conditionMessage(redirects)).NotTo(ContainSubstring("123:platform"))

		By("bringing its own bot token")
		newSecret(ns, "own-bot", map[string]string{"token": "456:tenant"})
		redirects.Spec.SecretRef = &v1alpha1.LocalSecretReference{Name: "own-bot"}
		Expect(k8sClient.Update(ctx, redirects)).To(Succeed())
		Eventually(readyOf(redirects)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))
	})
})
