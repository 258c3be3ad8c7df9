package controllers_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
)

// rawRequest is what rawReceiver records of a request: its Content-Type and body, as sent.
type rawRequest struct{ contentType, body string }

// rawReceiver is an endpoint on loopback that records every request as it came, whatever its
// body (receiver decodes ResultDocuments); requests returns them in order.
func rawReceiver() (url string, requests func() []rawRequest) {
	var mu sync.Mutex
	var got []rawRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		mu.Lock()
		got = append(got, rawRequest{req.Header.Get("Content-Type"), string(body)})
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	DeferCleanup(srv.Close)
	return srv.URL, func() []rawRequest {
		mu.Lock()
		defer mu.Unlock()
		return append([]rawRequest(nil), got...)
	}
}

var _ = Describe("A webhook's bodyTemplate", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace(nil) })

	It("is refused when its output is not JSON, and once fixed delivers the templated body with the contentType", func() {
		url, requests := rawReceiver()
		t := webhookTarget(ns, "hook", url)
		t.Spec.Webhook.BodyTemplate = `{"text": "{{ .Message }}"}` // quotes in a message break it
		Expect(k8sClient.Create(ctx, t)).To(Succeed())
		Eventually(readyOf(t)).Should(haveReady(metav1.ConditionFalse, v1alpha1.ReasonInvalidSpec))
		Expect(conditionMessage(t)).To(ContainSubstring("webhook: bodyTemplate: the output is not JSON"))

		By("writing the message with json")
		Eventually(func() error {
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(t), t); err != nil {
				return err
			}
			t.Spec.Webhook.BodyTemplate = `{"text": {{ json .Message }}, "policy": {{ json .Policy }}}`
			t.Spec.Webhook.ContentType = "application/vnd.alerts+json"
			return k8sClient.Update(ctx, t)
		}).Should(Succeed())
		Eventually(readyOf(t)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))
		createReport(ns, "pod-nginx", result(ns, "require-labels", "fail", `label "app" is required`))
		Eventually(requests).Should(Equal([]rawRequest{{
			contentType: "application/vnd.alerts+json",
			body:        `{"text": "label \"app\" is required", "policy": "require-labels"}`,
		}}))
	})

	It("is overridden by a channel, which inherits the target's contentType", func() {
		url, requests := rawReceiver()
		t := webhookTarget(ns, "hook", url)
		t.Spec.Webhook.BodyTemplate = `{"from": "target"}`
		t.Spec.Webhook.ContentType = "application/cloudevents+json"
		t.Spec.Filter = &v1alpha1.ResultFilter{Policies: &v1alpha1.MatchList{Include: []string{"none"}}} // the channel's results only
		readyTarget(t)

		c := channel(ns, "team-a", v1alpha1.TargetReference{Name: "hook"})
		c.Spec.Webhook = &v1alpha1.WebhookDestination{BodyTemplate: `{"from": "channel", "policy": {{ .Policy }}}`}
		Expect(k8sClient.Create(ctx, c)).To(Succeed())
		Eventually(readyOf(c)).Should(haveReady(metav1.ConditionFalse, v1alpha1.ReasonInvalidSpec))
		Expect(conditionMessage(c)).To(ContainSubstring("webhook: bodyTemplate: the output is not JSON"))
		Eventually(readyOf(t)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady), "the channel's template is the channel's problem")

		By("fixing the channel's template")
		Eventually(func() error {
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(c), c); err != nil {
				return err
			}
			c.Spec.Webhook.BodyTemplate = `{"from": "channel", "policy": {{ json .Policy }}}`
			return k8sClient.Update(ctx, c)
		}).Should(Succeed())
		Eventually(readyOf(c)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))
		createReport(ns, "pod-nginx", result(ns, "require-labels", "fail", "label app is required"))
		Eventually(requests).Should(Equal([]rawRequest{{
			contentType: "application/cloudevents+json", body: `{"from": "channel", "policy": "require-labels"}`,
		}}))
		Consistently(requests, quiet).Should(HaveLen(1))
	})

	It("refuses a contentType that is not JSON in the schema", func() {
		t := webhookTarget(ns, "hook", "https://example.com/hook")
		t.Spec.Webhook.ContentType = "text/plain"
		Expect(k8sClient.Create(ctx, t)).To(MatchError(ContainSubstring("spec.webhook.contentType")))
	})
})
