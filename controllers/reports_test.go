package controllers_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	openreportsv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	wgpolicyv1alpha2 "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
)

// fixtureObjects decodes every document of a fixture file.
func fixtureObjects(name string) []*unstructured.Unstructured {
	b, err := os.ReadFile(filepath.Join("..", "testdata", "reports", name))
	Expect(err).NotTo(HaveOccurred())
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	var out []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			return out
		} else {
			Expect(err).NotTo(HaveOccurred())
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
}

// prepare makes an exported fixture creatable in namespace ns: namespaced reports move there,
// cluster-scoped names get a unique prefix, and server-set metadata is dropped.
func prepare(u *unstructured.Unstructured, ns string) {
	if u.GetKind() == "ClusterPolicyReport" {
		u.SetName(ns + "-" + u.GetName())
	} else {
		u.SetNamespace(ns)
	}
	u.SetResourceVersion("")
	u.SetUID("")
	u.SetCreationTimestamp(metav1.Time{})
	u.SetOwnerReferences(nil) // the owning Pods do not exist here
}

var _ = Describe("Report API types", func() {
	DescribeTable("read real reports back from the API server through the Go types",
		func(file string, wantResults []int) {
			ns := newNamespace(nil)
			objs := fixtureObjects(file)
			Expect(objs).To(HaveLen(len(wantResults)))
			for i, u := range objs {
				raw, found, err := unstructured.NestedSlice(u.Object, "results")
				Expect(err).NotTo(HaveOccurred())
				Expect(found).To(BeTrue())
				Expect(raw).To(HaveLen(wantResults[i]))
				prepare(u, ns)
				Expect(k8sClient.Create(ctx, u)).To(Succeed())

				key := client.ObjectKeyFromObject(u)
				var results []wgpolicyv1alpha2.PolicyReportResult
				switch u.GetKind() {
				case "PolicyReport":
					var r wgpolicyv1alpha2.PolicyReport
					Expect(k8sClient.Get(ctx, key, &r)).To(Succeed())
					results = r.Results
				case "ClusterPolicyReport":
					var r wgpolicyv1alpha2.ClusterPolicyReport
					Expect(k8sClient.Get(ctx, key, &r)).To(Succeed())
					results = r.Results
				default:
					Fail("unexpected kind " + u.GetKind())
				}
				Expect(results).To(HaveLen(wantResults[i]))
			}
		},
		Entry("kube-bench CIS (empty policy names)", "sample-cis-k8s.yaml", []int{3}),
		Entry("Falco (a PolicyReport and a ClusterPolicyReport without resources)", "sample-falco-policy.yaml", []int{1, 1}),
		Entry("Trivy adapter (negative timestamp nanos, empty policy)", "trivy-adapter-policyreport.yaml", []int{14}),
	)

	It("keeps the negative timestamp nanos the Trivy adapter writes", func() {
		ns := newNamespace(nil)
		u := fixtureObjects("trivy-adapter-policyreport.yaml")[0]
		prepare(u, ns)
		Expect(k8sClient.Create(ctx, u)).To(Succeed())
		var r wgpolicyv1alpha2.PolicyReport
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(u), &r)).To(Succeed())
		Expect(r.Results[0].Timestamp.Nanos).To(BeNumerically("<", 0))
		Expect(r.Results[0].Resources).To(BeEmpty(), "Trivy names the resource only in the report labels")
		Expect(r.Results[0].Policy).To(BeEmpty())
	})

	It("writes and reads openreports.io Reports with the published types", func() {
		ns := newNamespace(nil)
		r := &openreportsv1alpha1.Report{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pod-nginx"},
			Scope:      &corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Name: "nginx", Namespace: ns},
			Results: []openreportsv1alpha1.ReportResult{{
				Source: "kyverno", Policy: "restrict-image-registries", Rule: "validate-registries",
				Result: "fail", Severity: "high", Description: "Unknown Image registry.",
			}},
		}
		Expect(k8sClient.Create(ctx, r)).To(Succeed())
		var got openreportsv1alpha1.Report
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(r), &got)).To(Succeed())
		Expect(got.Results).To(HaveLen(1))
		Expect(got.Results[0].Description).To(Equal("Unknown Image registry."))
	})
})
