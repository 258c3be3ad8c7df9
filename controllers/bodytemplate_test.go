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

var _ = Describe("A webhook's bodyTemplate", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace(nil) })

	It("is refused when its output is not JSON, and once fixed delivers the templated body with the contentType", func() {
		type request struct{ contentType, body string }
		var mu sync.Mutex
		var got []request
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			body, _ := io.ReadAll(req.Body)
			mu.Lock()
			got = append(got, request{req.Header.Get("Content-Type"), string(body)})
			mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		}))
		DeferCleanup(srv.Close)
		requests := func() []request {
			mu.Lock()
			defer mu.Unlock()
			return append([]request(nil), got...)
		}

		t := webhookTarget(ns, "hook", srv.URL)
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
		Eventually(requests).Should(Equal([]request{{
			contentType: "application/vnd.alerts+json",
			body:        `{"text": "label \"app\" is required", "policy": "require-labels"}`,
		}}))
	})

	It("refuses a contentType that is not JSON in the schema", func() {
		t := webhookTarget(ns, "hook", "https://example.com/hook")
		t.Spec.Webhook.ContentType = "text/plain"
		Expect(k8sClient.Create(ctx, t)).To(MatchError(ContainSubstring("spec.webhook.contentType")))
	})
})
