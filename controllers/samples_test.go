package controllers_test

import (
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/conditions"
	"github.com/policyherald/policy-herald/internal/testing/apply"
)

var _ = Describe("config/samples", func() {
	It("are accepted by the API server and every sample becomes Ready, or says it is not implemented", func() {
		applied, err := apply.Kustomization(ctx, k8sClient, filepath.Join("..", "config", "samples"), client.FieldOwner("samples-test"))
		Expect(err).NotTo(HaveOccurred())
		// The samples deliver to the local receiver of `make run`; remove them so they do not
		// pick up the results of later specs.
		DeferCleanup(func() {
			for _, u := range applied {
				Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, u))).To(Succeed())
			}
		})

		kinds := map[string]bool{}
		for _, u := range applied {
			gvk := u.GroupVersionKind()
			if gvk.GroupVersion() != v1alpha1.GroupVersion {
				continue
			}
			kinds[gvk.Kind] = true
			obj := newObject(gvk)
			obj.SetNamespace(u.GetNamespace())
			obj.SetName(u.GetName())
			Eventually(readyOf(obj)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady), "%s %s", gvk.Kind, u.GetName())
		}
		Expect(kinds).To(HaveLen(5), "one sample of each kind")
	})
})

// newObject returns an empty typed Policy Herald object of gvk.
func newObject(gvk schema.GroupVersionKind) conditions.Object {
	o, err := k8sClient.Scheme().New(gvk)
	Expect(err).NotTo(HaveOccurred())
	return o.(conditions.Object)
}
