package controllers_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
)

var _ = Describe("NotificationTarget dropAfter", func() {
	It("defaults to 24h and refuses less than a minute or what is not a duration", func() {
		ns := newNamespace(nil)
		t := webhookTarget(ns, "default", "https://hooks.example.com/x")
		Expect(k8sClient.Create(ctx, t)).To(Succeed())
		var got v1alpha1.NotificationTarget
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(t), &got)).To(Succeed())
		Expect(got.Spec.DropAfter).To(Equal(&metav1.Duration{Duration: 24 * time.Hour}))

		short := webhookTarget(ns, "short", "https://hooks.example.com/x")
		short.Spec.DropAfter = &metav1.Duration{Duration: 30 * time.Second}
		Expect(k8sClient.Create(ctx, short)).To(MatchError(ContainSubstring("dropAfter must be at least 1m")))

		bad := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": v1alpha1.GroupVersion.String(), "kind": "NotificationTarget",
			"metadata": map[string]any{"namespace": ns, "name": "bad"},
			"spec":     map[string]any{"webhook": map[string]any{"url": "https://hooks.example.com/x"}, "dropAfter": "a day"},
		}}
		Expect(k8sClient.Create(ctx, bad)).To(MatchError(ContainSubstring("spec.dropAfter")))
	})
})
