package controllers_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
)

var _ = Describe("MetricsProfile and BlockReportPolicy controllers", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace(nil) })

	DescribeTable("MetricsProfile shows the labels of its spec and says metrics are not implemented",
		func(spec v1alpha1.MetricsProfileSpec, labels []string) {
			p := &v1alpha1.MetricsProfile{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "p"}, Spec: spec}
			Expect(k8sClient.Create(ctx, p)).To(Succeed())
			expectNotImplemented(p)
			Expect(conditionMessage(p)).To(ContainSubstring("metrics"))
			Expect(p.Status.Labels).To(Equal(labels))
		},
		Entry("detailed by default", v1alpha1.MetricsProfileSpec{},
			[]string{"namespace", "policy", "rule", "report", "kind", "name", "status", "severity", "category", "source"}),
		Entry("simple", v1alpha1.MetricsProfileSpec{Mode: v1alpha1.MetricsSimple},
			[]string{"namespace", "policy", "status", "severity", "source"}),
		Entry("custom", v1alpha1.MetricsProfileSpec{Mode: v1alpha1.MetricsCustom, CustomLabels: []v1alpha1.MetricLabel{"namespace", "label:app", "property:version"}},
			[]string{"namespace", "label:app", "property:version"}),
	)

	It("reports a MetricsProfile filter selector that cannot be parsed", func() {
		p := &v1alpha1.MetricsProfile{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "p"}}
		p.Spec.Filter = &v1alpha1.ResultFilter{NamespaceSelector: &metav1.LabelSelector{
			MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: metav1.LabelSelectorOpExists, Values: []string{"x"}}},
		}}
		Expect(k8sClient.Create(ctx, p)).To(Succeed())
		Eventually(readyOf(p)).Should(haveReady(metav1.ConditionFalse, v1alpha1.ReasonInvalidSpec))
	})

	It("says a valid BlockReportPolicy is not implemented, and reports a bad selector first", func() {
		p := &v1alpha1.BlockReportPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kyverno"}}
		Expect(k8sClient.Create(ctx, p)).To(Succeed())
		expectNotImplemented(p)
		Expect(conditionMessage(p)).To(ContainSubstring(`blocked admissions (source "Kyverno Event"`))
		Expect(p.Spec.Source).To(Equal("Kyverno Event"), "defaulted by the schema")

		p.Spec.NamespaceSelector = &metav1.LabelSelector{
			MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: "Near"}},
		}
		Expect(k8sClient.Update(ctx, p)).To(Succeed())
		Eventually(readyOf(p)).Should(haveReady(metav1.ConditionFalse, v1alpha1.ReasonInvalidSpec))
		Expect(stalledOf(p)).To(HaveField("Status", metav1.ConditionTrue))
	})
})
