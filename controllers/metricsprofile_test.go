package controllers_test

import (
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/resultmetrics"
	"github.com/policyherald/policy-herald/internal/testing/metricstest"
)

// profileSeries scrapes the suite's result metrics (linted by expfmt and promtool) and returns
// the series of family whose profile is key, as "k=v,..." (empty labels left out).
func profileSeries(family, key string) map[string]float64 {
	mfs, _ := metricstest.Scrape(GinkgoT(), resultMetrics)
	out := map[string]float64{}
	for k, v := range metricstest.Series(mfs, family) {
		if strings.Contains(","+k+",", ",profile="+key+",") {
			out[k] = v
		}
	}
	return out
}

func profileOf(p *v1alpha1.MetricsProfile) func(Gomega) v1alpha1.MetricsProfileStatus {
	return func(g Gomega) v1alpha1.MetricsProfileStatus {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(p), p)).To(Succeed())
		return p.Status
	}
}

var _ = Describe("MetricsProfile and BlockReportPolicy controllers", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace(nil) })

	DescribeTable("MetricsProfile shows the labels it exports and is Ready",
		func(spec v1alpha1.MetricsProfileSpec, labels []string) {
			p := &v1alpha1.MetricsProfile{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "p"}, Spec: spec}
			Expect(k8sClient.Create(ctx, p)).To(Succeed())
			Eventually(readyOf(p)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))
			Expect(conditionMessage(p)).To(ContainSubstring("namespace " + ns + " only"))
			Expect(p.Status.Labels).To(Equal(labels))
		},
		Entry("detailed by default", v1alpha1.MetricsProfileSpec{},
			[]string{"namespace", "policy", "rule", "report", "kind", "name", "status", "severity", "category", "source"}),
		Entry("simple", v1alpha1.MetricsProfileSpec{Mode: v1alpha1.MetricsSimple},
			[]string{"namespace", "policy", "status", "severity", "category", "source"}),
		Entry("custom", v1alpha1.MetricsProfileSpec{Mode: v1alpha1.MetricsCustom, CustomLabels: []v1alpha1.MetricLabel{"namespace", "label:app.kubernetes.io/name", "property:version"}},
			[]string{"namespace", "label_app_kubernetes_io_name", "property_version"}),
	)

	It("reports a MetricsProfile filter selector that cannot be parsed", func() {
		p := &v1alpha1.MetricsProfile{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "p"}}
		p.Spec.Filter = &v1alpha1.ResultFilter{NamespaceSelector: &metav1.LabelSelector{
			MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: metav1.LabelSelectorOpExists, Values: []string{"x"}}},
		}}
		Expect(k8sClient.Create(ctx, p)).To(Succeed())
		Eventually(readyOf(p)).Should(haveReady(metav1.ConditionFalse, v1alpha1.ReasonInvalidSpec))
	})

	It("refuses custom labels that clash once sanitised, without exporting", func() {
		p := &v1alpha1.MetricsProfile{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "clash"}, Spec: v1alpha1.MetricsProfileSpec{
			Mode: v1alpha1.MetricsCustom, CustomLabels: []v1alpha1.MetricLabel{"label:app.name", "label:app-name"}}}
		Expect(k8sClient.Create(ctx, p)).To(Succeed())
		Eventually(readyOf(p)).Should(haveReady(metav1.ConditionFalse, v1alpha1.ReasonInvalidSpec))
		Expect(conditionMessage(p)).To(ContainSubstring(`"label_app_name"`))
		Expect(profileSeries(resultmetrics.ResultFamily, ns+"/clash")).To(BeEmpty())
	})

	It("exports the results of its namespace, counts its series, stops at maxSeries and goes away with the profile", func() {
		other := newNamespace(nil)
		r := createReport(ns, "pods", result(ns, "require-labels", "fail", "a"), result(ns, "disallow-latest", "fail", "b"), result(ns, "require-labels", "pass", "c"))
		createReport(other, "pods", result(other, "require-labels", "fail", "a"))
		key := ns + "/detailed"
		p := &v1alpha1.MetricsProfile{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "detailed"}}
		Expect(k8sClient.Create(ctx, p)).To(Succeed())
		Eventually(readyOf(p)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))
		Eventually(profileOf(p)).Should(HaveField("Series", int64(2)))
		Expect(profileSeries(resultmetrics.ResultFamily, key)).To(Equal(map[string]float64{
			"category=Best Practices,kind=Pod,name=nginx,namespace=" + ns + ",policy=disallow-latest,profile=" + key + ",report=pods,rule=check,severity=high,source=kyverno,status=fail": 1,
			"category=Best Practices,kind=Pod,name=nginx,namespace=" + ns + ",policy=require-labels,profile=" + key + ",report=pods,rule=check,severity=high,source=kyverno,status=fail":  1,
		}), "the tenant's own failing results, not the other namespace's nor passes (the default status filter)")

		By("a removed result's series goes away")
		setResults(r, result(ns, "require-labels", "fail", "a"))
		Eventually(func() int { return len(profileSeries(resultmetrics.ResultFamily, key)) }).Should(Equal(1))
		Eventually(profileOf(p)).Should(HaveField("Series", int64(1)))

		By("maxSeries: the profile keeps what it has and says so in Ready")
		Eventually(func() error {
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(p), p); err != nil {
				return err
			}
			p.Spec.MaxSeries = ptr.To[int32](1)
			p.Spec.Filter = &v1alpha1.ResultFilter{Statuses: &v1alpha1.StatusList{Include: []v1alpha1.ResultStatus{v1alpha1.StatusFail, v1alpha1.StatusPass}}}
			return k8sClient.Update(ctx, p)
		}).Should(Succeed())
		setResults(r, result(ns, "require-labels", "fail", "a"), result(ns, "require-labels", "pass", "c"))
		Eventually(readyOf(p)).Should(haveReady(metav1.ConditionFalse, v1alpha1.ReasonSeriesLimitReached))
		Expect(stalledOf(p)).To(Or(BeNil(), HaveField("Status", metav1.ConditionFalse)), "a limit is not Stalled")
		Expect(p.Status.Series).To(Equal(int64(1)))
		Expect(profileSeries(resultmetrics.ResultFamily, key)).To(HaveLen(1))

		By("deleting the profile removes its series")
		Expect(k8sClient.Delete(ctx, p)).To(Succeed())
		Eventually(func() map[string]float64 { return profileSeries(resultmetrics.ResultFamily, key) }).Should(BeEmpty())
	})

	It("exports result metrics from the leader only, and from the standby once it leads", func() {
		createReport(ns, "pods", result(ns, "require-labels", "fail", "a"))
		key := ns + "/simple"
		p := &v1alpha1.MetricsProfile{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "simple"}, Spec: v1alpha1.MetricsProfileSpec{Mode: v1alpha1.MetricsSimple}}
		Expect(k8sClient.Create(ctx, p)).To(Succeed())
		want := map[string]float64{"category=Best Practices,namespace=" + ns + ",policy=require-labels,profile=" + key + ",severity=high,source=kyverno,status=fail": 1}
		Eventually(func() map[string]float64 { return profileSeries(resultmetrics.ResultFamily, key) }).Should(Equal(want))

		By("a standby replica, registered in the same registry, exports nothing (a duplicate would fail the scrape)")
		standby := newManager()
		Consistently(func() map[string]float64 { return profileSeries(resultmetrics.ResultFamily, key) }, "1s").Should(Equal(want))

		By("the standby exports once it leads")
		stopManager()
		stopManager = standby
		Eventually(func() map[string]float64 { return profileSeries(resultmetrics.ResultFamily, key) }, "20s").Should(Equal(want))
		Eventually(readyOf(p)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))
	})

	It("says a valid BlockReportPolicy is Ready, and reports a bad selector", func() {
		p := &v1alpha1.BlockReportPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kyverno"}}
		Expect(k8sClient.Create(ctx, p)).To(Succeed())
		Eventually(readyOf(p)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))
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
