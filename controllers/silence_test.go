package controllers_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
)

// silencesOf returns status.silences as the API server has it.
func silencesOf(t *v1alpha1.NotificationTarget) func(Gomega) []v1alpha1.SilenceStatus {
	return func(g Gomega) []v1alpha1.SilenceStatus {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(t), t)).To(Succeed())
		return t.Status.Silences
	}
}

// columnOf returns what `kubectl get` shows in column of the objects of resource in ns, by
// name: the API server's table, rendered from the CRD's printer columns.
func columnOf(ns, resource, column string) func(Gomega) map[string]string {
	return func(g Gomega) map[string]string {
		hc, err := rest.HTTPClientFor(cfg)
		g.Expect(err).NotTo(HaveOccurred())
		u, err := url.Parse(cfg.Host)
		g.Expect(err).NotTo(HaveOccurred())
		u.Path = path.Join(u.Path, "apis", v1alpha1.GroupVersion.Group, v1alpha1.GroupVersion.Version, "namespaces", ns, resource)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		g.Expect(err).NotTo(HaveOccurred())
		req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
		resp, err := hc.Do(req)
		g.Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(resp.StatusCode).To(Equal(http.StatusOK), string(body))
		var table metav1.Table
		g.Expect(json.Unmarshal(body, &table)).To(Succeed())
		col := -1
		for i, c := range table.ColumnDefinitions {
			if c.Name == column {
				col = i
			}
		}
		g.Expect(col).NotTo(Equal(-1), "no column %s", column)
		out := map[string]string{}
		for _, row := range table.Rows {
			var m metav1.PartialObjectMetadata
			g.Expect(json.Unmarshal(row.Object.Raw, &m)).To(Succeed())
			out[m.Name], _ = row.Cells[col].(string)
		}
		return out
	}
}

var _ = Describe("Silences", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace(nil) })

	It("mutes matching results: recorded and counted, never sent", func() {
		rcv := newReceiver()
		t := webhookTarget(ns, "hook", rcv.URL)
		until := metav1.NewTime(time.Now().Add(time.Hour).Truncate(time.Second))
		t.Spec.Silences = []v1alpha1.Silence{{
			Name: "known-noise", Reason: "fixed in the next release",
			Match: v1alpha1.SilenceMatch{Policies: []string{"noisy-*"}, Severities: []v1alpha1.Severity{v1alpha1.SeverityHigh}},
			Until: until,
		}}
		readyTarget(t)
		Eventually(columnOf(ns, "notificationtargets", "Mode")).Should(HaveKeyWithValue("hook", "each"))

		createReport(ns, "r", result(ns, "noisy-labels", "fail", "muted"), result(ns, "wanted", "fail", "sent"))
		Eventually(rcv.received).Should(Equal([]string{"wanted/fail/sent"}))
		Eventually(deliveryOf(t)).Should(And(HaveField("Muted", int64(1)), HaveField("Sent", int64(1)), HaveField("Pending", int64(0))))
		Eventually(silencesOf(t)).Should(Equal([]v1alpha1.SilenceStatus{
			{Name: "known-noise", State: v1alpha1.SilenceActive, Until: until, Muted: 1},
		}))
		Consistently(rcv.received, quiet).Should(Equal([]string{"wanted/fail/sent"}))
	})

	It("lets new results through once a silence expires, without another event", func() {
		rcv := newReceiver()
		// The result is there before the target, so its pipeline mutes it as it starts.
		rep := createReport(ns, "r", result(ns, "during", "fail", "muted"))
		t := webhookTarget(ns, "hook", rcv.URL)
		t.Spec.SkipExistingOnStartup = ptr.To(false)
		// A few seconds: long enough for the target to start and mute the first result.
		until := metav1.NewTime(time.Now().Add(10 * time.Second).Truncate(time.Second))
		t.Spec.Silences = []v1alpha1.Silence{{Name: "window", Match: v1alpha1.SilenceMatch{Namespaces: []string{ns}}, Until: until}}
		readyTarget(t)
		Eventually(silencesOf(t)).Should(Equal([]v1alpha1.SilenceStatus{
			{Name: "window", State: v1alpha1.SilenceActive, Until: until, Muted: 1},
		}))
		Expect(rcv.received()).To(BeEmpty())

		By("waiting for the silence to expire: the status says so by itself")
		Eventually(silencesOf(t), 30*time.Second).Should(Equal([]v1alpha1.SilenceStatus{
			{Name: "window", State: v1alpha1.SilenceExpired, Until: until, Muted: 1},
		}))
		Expect(time.Now()).To(BeTemporally(">=", until.Time))

		setResults(rep, result(ns, "during", "fail", "muted"), result(ns, "after", "fail", "sent"))
		Eventually(rcv.received).Should(Equal([]string{"after/fail/sent"}))
		Consistently(rcv.received, quiet).Should(Equal([]string{"after/fail/sent"}), "what was muted stays muted")
		Eventually(deliveryOf(t)).Should(And(HaveField("Muted", int64(1)), HaveField("Sent", int64(1))))
	})

	It("refuses a silence more than 90 days ahead, naming it", func() {
		t := webhookTarget(ns, "hook", "http://127.0.0.1:1/hook")
		t.Spec.Silences = []v1alpha1.Silence{
			{Name: "fine", Until: metav1.NewTime(time.Now().Add(24 * time.Hour))},
			{Name: "forever", Until: metav1.NewTime(time.Now().Add(91 * 24 * time.Hour))},
		}
		Expect(k8sClient.Create(ctx, t)).To(Succeed())
		Eventually(readyOf(t)).Should(And(haveReady(metav1.ConditionFalse, v1alpha1.ReasonInvalidSpec),
			HaveField("Message", And(ContainSubstring(`silence "forever"`), ContainSubstring("90 days"), Not(ContainSubstring(`"fine"`))))))
	})

	It("adds a channel's silences to its target's, and shows the channel's mode", func() {
		rcv, chanRcv := newReceiver(), newReceiver()
		t := webhookTarget(ns, "hook", rcv.URL)
		until := metav1.NewTime(time.Now().Add(time.Hour).Truncate(time.Second))
		t.Spec.Silences = []v1alpha1.Silence{{Name: "target-wide", Match: v1alpha1.SilenceMatch{Policies: []string{"from-target"}}, Until: until}}
		readyTarget(t)
		c := channel(ns, "chan", v1alpha1.TargetReference{Name: "hook"})
		c.Spec.Webhook = &v1alpha1.WebhookDestination{HTTPSettings: v1alpha1.HTTPSettings{URL: chanRcv.URL}}
		c.Spec.Silences = []v1alpha1.Silence{{Name: "channel-only", Match: v1alpha1.SilenceMatch{Policies: []string{"from-channel"}}, Until: until}}
		createTargetChannel(c)
		Eventually(columnOf(ns, "targetchannels", "Mode")).Should(HaveKeyWithValue("chan", "each"))

		createReport(ns, "r", result(ns, "from-target", "fail", "a"), result(ns, "from-channel", "fail", "b"), result(ns, "other", "fail", "c"))
		Eventually(rcv.received).Should(Equal([]string{"from-channel/fail/b", "other/fail/c"}))
		Eventually(chanRcv.received).Should(Equal([]string{"other/fail/c"}))
		Eventually(func(g Gomega) []v1alpha1.SilenceStatus {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(c), c)).To(Succeed())
			return c.Status.Silences
		}).Should(Equal([]v1alpha1.SilenceStatus{
			{Name: "target-wide", State: v1alpha1.SilenceActive, Until: until, Muted: 1},
			{Name: "channel-only", State: v1alpha1.SilenceActive, Until: until, Muted: 1},
		}))
		Eventually(channelDelivery(c)).Should(HaveField("Muted", int64(2)))
	})
})
