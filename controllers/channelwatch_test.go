package controllers_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
)

// untilDelivered creates one report after another in ns, report n with one result
// "<prefix>-<n>", until arrived(n) says result n reached the new endpoint. The next report is
// only created once stale(n) says result n went to the old one, so a result created before the
// controller picked up the change does not fail the spec, and one that is lost does.
func untilDelivered(ns, prefix string, stale, arrived func(n int) bool) {
	n := 0
	Eventually(func() bool {
		if n == 0 || stale(n) {
			n++
			name := fmt.Sprintf("%s-%d", prefix, n)
			createReport(ns, name, result(ns, name, "fail", "x"))
		}
		return arrived(n)
	}).WithPolling(500*time.Millisecond).Should(BeTrue(), "no result created after the change reached the new endpoint")
}

// receivedResult tells whether r received result "<prefix>-<n>".
func receivedResult(r *receiver, prefix string) func(int) bool {
	return func(n int) bool { return slices.Contains(r.received(), fmt.Sprintf("%s-%d/fail/x", prefix, n)) }
}

var _ = Describe("TargetChannel watches", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace(nil) })

	// noneFilter makes a target select nothing itself, so only its channels deliver.
	noneFilter := func() *v1alpha1.ResultFilter {
		return &v1alpha1.ResultFilter{Policies: &v1alpha1.MatchList{Include: []string{"none"}}}
	}

	It("follows a rotation of the target's Secret that the channel inherits", func() {
		a, b := newReceiver(), newReceiver()
		secret := newSecret(ns, "hook", map[string]string{"url": a.URL + "/a"})
		t := &v1alpha1.NotificationTarget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "hook"}}
		t.Spec.Webhook = &v1alpha1.WebhookDestination{}
		t.Spec.SecretRef = &v1alpha1.LocalSecretReference{Name: "hook"}
		t.Spec.Filter = noneFilter()
		readyTarget(t)
		c := channel(ns, "team", v1alpha1.TargetReference{Name: "hook"})
		createTargetChannel(c)
		Eventually(channelCounts(t)).Should(Equal(v1alpha1.ChannelCounts{Attached: 1, Ready: 1}))
		createReport(ns, "before", result(ns, "before", "fail", "x"))
		Eventually(a.received).Should(Equal([]string{"before/fail/x"}))

		By("rotating the Secret's url to receiver B")
		secret.StringData = map[string]string{"url": b.URL + "/b"}
		Expect(k8sClient.Update(ctx, secret)).To(Succeed())
		untilDelivered(ns, "after", receivedResult(a, "after"), receivedResult(b, "after"))
		Expect(b.received()).To(HaveLen(1), "B gets only results created after the rotation")
	})

	It("follows a rotation of the target's CA Secret", func() {
		var got atomic.Int32
		server := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			got.Add(1)
			w.WriteHeader(http.StatusNoContent)
		}))
		DeferCleanup(server.Close)
		ca := newSecret(ns, "ca", map[string]string{"ca.crt": selfSignedCA()}) // not the server's
		t := webhookTarget(ns, "tls", server.URL+"/hook")
		t.Spec.TLS = &v1alpha1.TLSConfig{CASecretRef: &v1alpha1.SecretKeySelector{Name: "ca", Key: "ca.crt"}}
		t.Spec.Filter = noneFilter()
		readyTarget(t)
		c := channel(ns, "team", v1alpha1.TargetReference{Name: "tls"})
		createTargetChannel(c)
		// An untrusted certificate is not retried: three results make three failures in a row.
		createReport(ns, "untrusted", result(ns, "u1", "fail", "x"), result(ns, "u2", "fail", "x"), result(ns, "u3", "fail", "x"))
		Eventually(readyOf(c)).Should(haveReady(metav1.ConditionFalse, v1alpha1.ReasonDeliveryFailing))
		// Wait until the target has counted the channel as not Ready, so nothing but the
		// rotation is left to reconcile the channel.
		Eventually(channelCounts(t)).Should(Equal(v1alpha1.ChannelCounts{Attached: 1, Ready: 0}))
		Expect(got.Load()).To(BeZero())

		By("putting the server's CA into the Secret")
		ca.StringData = map[string]string{"ca.crt": serverCA(server)}
		Expect(k8sClient.Update(ctx, ca)).To(Succeed())
		// Each untrusted result is given up on at once: result n was refused when n results more
		// than the first three have failed.
		refused := func(n int) bool {
			var cur v1alpha1.TargetChannel
			return k8sClient.Get(ctx, client.ObjectKeyFromObject(c), &cur) == nil &&
				cur.Status.Delivery != nil && cur.Status.Delivery.Failed >= int64(3+n)
		}
		untilDelivered(ns, "trusted", refused, func(int) bool { return got.Load() > 0 })
		Eventually(readyOf(c)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))
	})

	It("does not re-reconcile channels when only the target's status changes", func() {
		rcv := newReceiver()
		newSecret(ns, "hook", map[string]string{"url": rcv.URL})
		// Only the channel's reconciler reads the channel's own Secret: its reads count the
		// channel's reconciles.
		newSecret(ns, "team-token", map[string]string{"token": "Bearer team"})
		t := &v1alpha1.NotificationTarget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "hook"}}
		t.Spec.Webhook = &v1alpha1.WebhookDestination{}
		t.Spec.SecretRef = &v1alpha1.LocalSecretReference{Name: "hook"}
		readyTarget(t)
		c := channel(ns, "team", v1alpha1.TargetReference{Name: "hook"})
		c.Spec.SecretRef = &v1alpha1.LocalSecretReference{Name: "team-token"}
		createTargetChannel(c)
		Eventually(channelCounts(t)).Should(Equal(v1alpha1.ChannelCounts{Attached: 1, Ready: 1}))
		channelReads := func() int { return secretReadCount(ns, "team-token") }
		// Let the writes of the attachment settle.
		before := -1
		Eventually(func() bool {
			settled := channelReads() == before
			before = channelReads()
			return settled
		}).WithPolling(quiet / 2).Should(BeTrue())

		By("writing the target's status.delivery as a busy delivery engine does")
		for i := range 10 {
			patch := []byte(fmt.Sprintf(`{"status":{"delivery":{"sent":%d,"lastSuccessTime":%q}}}`,
				i+1, metav1.Now().UTC().Format("2006-01-02T15:04:05Z")))
			Expect(k8sClient.Status().Patch(ctx, t, client.RawPatch("application/merge-patch+json", patch))).To(Succeed())
		}
		Eventually(deliveryOf(t)).Should(HaveField("Sent", int64(10)))
		Consistently(channelReads, quiet).Should(Equal(before), "a status write of the target re-reconciled its channel")

		By("changing the target's spec")
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(t), t)).To(Succeed())
		t.Spec.Webhook.Headers = map[string]string{"X-Env": "prod"}
		Expect(k8sClient.Update(ctx, t)).To(Succeed())
		Eventually(channelReads).Should(BeNumerically(">", before), "the channel follows its target's spec")
	})
})
