package controllers_test

import (
	"io"
	"net/http"
	"net/http/httptest"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/delivery"
)

// askTest writes the send-test annotation, as `kubectl annotate` and `kubectl herald test` do.
func askTest(obj client.Object, value string) {
	Eventually(func() error {
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		a := obj.GetAnnotations()
		if a == nil {
			a = map[string]string{}
		}
		a[v1alpha1.AnnotationSendTest] = value
		obj.SetAnnotations(a)
		return k8sClient.Update(ctx, obj)
	}).Should(Succeed())
}

// lastTestOf returns status.lastTest of a target or channel once it answers value.
func lastTestOf(obj client.Object, value string) func(Gomega) v1alpha1.TestMessageStatus {
	return func(g Gomega) v1alpha1.TestMessageStatus {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj)).To(Succeed())
		var last *v1alpha1.TestMessageStatus
		switch o := obj.(type) {
		case *v1alpha1.NotificationTarget:
			last = o.Status.LastTest
		case *v1alpha1.TargetChannel:
			last = o.Status.LastTest
		}
		g.Expect(last).NotTo(BeNil(), "no test answered yet")
		g.Expect(last.Value).To(Equal(value))
		g.Expect(last.Time.IsZero()).To(BeFalse())
		return *last
	}
}

// countsOf returns status.delivery of a target or channel; zero while the engine has written
// none (nothing was delivered or attempted).
func countsOf(obj client.Object) func(Gomega) v1alpha1.DeliveryStatus {
	return func(g Gomega) v1alpha1.DeliveryStatus {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj)).To(Succeed())
		var d *v1alpha1.DeliveryStatus
		switch o := obj.(type) {
		case *v1alpha1.NotificationTarget:
			d = o.Status.Delivery
		case *v1alpha1.TargetChannel:
			d = o.Status.Delivery
		}
		if d == nil {
			return v1alpha1.DeliveryStatus{}
		}
		return *d
	}
}

// configMapsOf returns the data of every ConfigMap in namespace (the ledgers), by name.
func configMapsOf(namespace string) func(Gomega) map[string]map[string]string {
	return func(g Gomega) map[string]map[string]string {
		var list corev1.ConfigMapList
		g.Expect(k8sClient.List(ctx, &list, client.InNamespace(namespace))).To(Succeed())
		out := map[string]map[string]string{}
		for _, cm := range list.Items {
			out[cm.Name] = cm.Data
		}
		return out
	}
}

// echoing answers every request 401 with a body that echoes its path and Authorization header,
// as a careless destination might.
func echoing() *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, "bad credentials for "+req.URL.Path+" with "+req.Header.Get("Authorization"))
	}))
	DeferCleanup(s.Close)
	return s
}

var _ = Describe("Test messages (send-test)", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace(nil) })

	It("sends one marked test message per value through the target's destination, past its filters, counting nothing", func() {
		rcv := newReceiver()
		t := webhookTarget(ns, "hook", rcv.URL+"/hook")
		t.Spec.CustomFields = map[string]string{"cluster": "prod"}
		// The target's filters pass critical results of the policy "real" only; a test must
		// still arrive.
		t.Spec.MinimumSeverity = v1alpha1.SeverityCritical
		t.Spec.Filter = &v1alpha1.ResultFilter{Policies: &v1alpha1.MatchList{Include: []string{"real"}}}
		readyTarget(t)
		real := result(ns, "real", "fail", "a real result")
		real.Severity = "critical"
		createReport(ns, "pod", real)
		Eventually(rcv.received).Should(Equal([]string{"real/fail/a real result"}))
		Eventually(deliveryOf(t)).Should(HaveField("Sent", int64(1)))
		// The ledger is written on its own schedule, after the status may show the send: take
		// its picture once it holds the real result's count.
		Eventually(func(g Gomega) string {
			return configMapsOf(ns)(g)["policy-herald-ledger-nt-hook"]["header.json"]
		}).Should(ContainSubstring(`"counts":{"sent":1,`))
		counts := countsOf(t)(Default)
		ledgers := configMapsOf(ns)(Default)

		askTest(t, "first")
		last := lastTestOf(t, "first")
		Eventually(last).Should(HaveField("Outcome", v1alpha1.TestSucceeded))
		Expect(rcv.documents()).To(HaveLen(2))
		d := rcv.documents()[1]
		Expect(d.Policy).To(Equal(delivery.TestPolicy))
		Expect(d.Status).To(Equal(v1alpha1.StatusWarn))
		Expect(d.Message).To(And(ContainSubstring("requested with kubectl herald test"), ContainSubstring(`"first"`),
			ContainSubstring("NotificationTarget "+ns+"/hook"), ContainSubstring("not a policy result")))
		Expect(d.Properties).To(HaveKeyWithValue("policyherald.io/test", "true"))
		Expect(d.Resource).NotTo(BeNil())
		Expect(d.Resource.Kind).To(Equal("NotificationTarget"))
		Expect(d.CustomFields).To(Equal(map[string]string{"cluster": "prod"}))

		By("counting nothing and recording nothing in the ledger")
		Consistently(countsOf(t), quiet).Should(Equal(counts))
		Expect(configMapsOf(ns)(Default)).To(Equal(ledgers))

		By("not sending the same value again: after a reconcile and after a restart")
		Eventually(func() error {
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(t), t); err != nil {
				return err
			}
			t.Spec.CustomFields["cluster"] = "prod-2" // a spec change reconciles it
			return k8sClient.Update(ctx, t)
		}).Should(Succeed())
		Eventually(readyOf(t)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))
		stopManager()
		startManager()
		Eventually(readyOf(t)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))
		Consistently(rcv.documents, quiet).Should(HaveLen(2))

		By("sending a new value")
		askTest(t, "second")
		Eventually(lastTestOf(t, "second")).Should(HaveField("Outcome", v1alpha1.TestSucceeded))
		Expect(rcv.documents()).To(HaveLen(3))
		Expect(rcv.documents()[2].Message).To(ContainSubstring(`"second"`))
		Expect(rcv.documents()[2].ID).NotTo(Equal(d.ID))
		Consistently(rcv.documents, quiet).Should(HaveLen(3))
		Expect(countsOf(t)(Default)).To(HaveField("Sent", int64(1)))
	})

	It("answers Failed with a redacted reason when the destination refuses, counting nothing", func() {
		srv := echoing()
		const token = "Bearer topsecret-credential-42"
		const pathSecret = "s3cr3t-webhook-path-token"
		newSecret(ns, "hook", map[string]string{"url": srv.URL + "/hooks/" + pathSecret, "token": token})
		t := &v1alpha1.NotificationTarget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "hook"}}
		t.Spec.Webhook = &v1alpha1.WebhookDestination{}
		t.Spec.SecretRef = &v1alpha1.LocalSecretReference{Name: "hook"}
		readyTarget(t)

		askTest(t, "v1")
		Eventually(lastTestOf(t, "v1")).Should(And(
			HaveField("Outcome", v1alpha1.TestFailed),
			HaveField("Reason", And(ContainSubstring("401"), ContainSubstring("127.0.0.1"),
				Not(ContainSubstring("topsecret")), Not(ContainSubstring(pathSecret)))),
		))
		Consistently(countsOf(t), quiet).Should(Equal(v1alpha1.DeliveryStatus{}))
		Expect(readyOf(t)(Default)).To(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))
	})

	It("answers Failed with the problem when the target cannot deliver", func() {
		t := &v1alpha1.NotificationTarget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "hook"}}
		t.Spec.Webhook = &v1alpha1.WebhookDestination{}
		t.Spec.SecretRef = &v1alpha1.LocalSecretReference{Name: "missing"}
		t.Annotations = map[string]string{v1alpha1.AnnotationSendTest: "early"}
		Expect(k8sClient.Create(ctx, t)).To(Succeed())
		Eventually(lastTestOf(t, "early")).Should(And(
			HaveField("Outcome", v1alpha1.TestFailed),
			HaveField("Reason", And(HavePrefix("not sent: the NotificationTarget is not ready: "), ContainSubstring("missing"))),
		))
	})

	It("sends a channel's test message through the channel's own destination", func() {
		targetRcv, channelRcv := newReceiver(), newReceiver()
		readyTarget(webhookTarget(ns, "hook", targetRcv.URL+"/target"))
		c := channel(ns, "team-a", v1alpha1.TargetReference{Name: "hook"})
		c.Spec.Webhook = &v1alpha1.WebhookDestination{HTTPSettings: v1alpha1.HTTPSettings{URL: channelRcv.URL + "/team-a"}}
		createTargetChannel(c)

		askTest(c, "channel-1")
		Eventually(lastTestOf(c, "channel-1")).Should(HaveField("Outcome", v1alpha1.TestSucceeded))
		Expect(channelRcv.documents()).To(HaveLen(1))
		d := channelRcv.documents()[0]
		Expect(d.Policy).To(Equal(delivery.TestPolicy))
		Expect(d.Resource.Kind).To(Equal("TargetChannel"))
		Expect(d.Message).To(ContainSubstring("TargetChannel " + ns + "/team-a"))
		Consistently(targetRcv.documents, quiet).Should(BeEmpty())
		Consistently(countsOf(c), quiet).Should(Equal(v1alpha1.DeliveryStatus{}))
	})
})
