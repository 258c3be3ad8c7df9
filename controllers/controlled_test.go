package controllers_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	wgpolicyv1alpha2 "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
)

// createCarts creates the seed's carts workload as its controllers would (envtest runs none):
// the Deployment, its ReplicaSet and its Pod, each controlled by the one before; then, as
// Kyverno 1.13+ does, one PolicyReport per resource (named by its UID, owned by it, scoped to
// it) with the same two failures, the autogen rules on the Deployment and the ReplicaSet.
func createCarts(ns string) {
	labels := map[string]string{"app": "carts"}
	pod := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "carts", Image: "weaveworksdemos/carts:latest"}}},
	}
	deploy := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "carts"},
		Spec:       appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: pod},
	}
	Expect(k8sClient.Create(ctx, deploy)).To(Succeed())
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "carts-5d8f7b9c4", OwnerReferences: []metav1.OwnerReference{controllerOf("apps/v1", "Deployment", deploy)}},
		Spec:       appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: pod},
	}
	Expect(k8sClient.Create(ctx, rs)).To(Succeed())
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "carts-5d8f7b9c4-x2vqp", Labels: labels, OwnerReferences: []metav1.OwnerReference{controllerOf("apps/v1", "ReplicaSet", rs)}},
		Spec:       pod.Spec,
	}
	Expect(k8sClient.Create(ctx, p)).To(Succeed())

	for _, o := range []struct {
		apiVersion, kind, rulePrefix string
		obj                          client.Object
	}{
		{"apps/v1", "Deployment", "autogen-", deploy},
		{"apps/v1", "ReplicaSet", "autogen-", rs},
		{"v1", "Pod", "", p},
	} {
		ref := corev1.ObjectReference{APIVersion: o.apiVersion, Kind: o.kind, Namespace: ns, Name: o.obj.GetName(), UID: o.obj.GetUID()}
		failure := func(policy, rule, message string) wgpolicyv1alpha2.PolicyReportResult {
			return wgpolicyv1alpha2.PolicyReportResult{
				Source: "kyverno", Policy: policy, Rule: o.rulePrefix + rule, Result: "fail", Severity: "medium",
				Category: "Best Practices", Message: message, Scored: true,
				Timestamp: metav1.Timestamp{Seconds: time.Now().Unix()},
				Resources: []corev1.ObjectReference{ref},
			}
		}
		r := &wgpolicyv1alpha2.PolicyReport{
			ObjectMeta: metav1.ObjectMeta{
				Namespace: ns, Name: string(o.obj.GetUID()),
				Labels:          map[string]string{"app.kubernetes.io/managed-by": "kyverno"},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: o.apiVersion, Kind: o.kind, Name: o.obj.GetName(), UID: o.obj.GetUID()}},
			},
			Scope: &ref,
			Results: []wgpolicyv1alpha2.PolicyReportResult{
				failure("disallow-latest-tag", "validate-image-tag", "validation error: Using a mutable image tag e.g. 'latest' is not allowed."),
				failure("require-requests-limits", "validate-resources", "validation error: CPU and memory resource requests and limits are required."),
			},
		}
		Expect(k8sClient.Create(ctx, r)).To(Succeed())
	}
}

func controllerOf(apiVersion, kind string, o client.Object) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: o.GetName(), UID: o.GetUID(), Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}
}

var _ = Describe("One notification per problem", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace(nil) })

	DescribeTable("the carts case: a Deployment, its ReplicaSet and its Pod with the same two failures",
		func(mode v1alpha1.ControlledResources, kinds []string, skipped int64) {
			rcv := newReceiver()
			t := webhookTarget(ns, "hook", rcv.URL+"/hook")
			t.Spec.ControlledResources = mode
			readyTarget(t)
			createCarts(ns)

			sent := int64(len(kinds))
			Eventually(deliveryOf(t)).Should(And(HaveField("Sent", sent), HaveField("Skipped", skipped), HaveField("Pending", int64(0))))
			Consistently(func() int { return len(rcv.documents()) }, quiet).Should(BeEquivalentTo(sent))
			var got []string
			for _, d := range rcv.documents() {
				Expect(d.Resource).NotTo(BeNil())
				got = append(got, d.Resource.Kind+"/"+d.Policy)
			}
			Expect(got).To(ConsistOf(kinds))
		},
		Entry("skip (the default): only the Deployment's, the others counted as skipped", v1alpha1.ControlledResources(""),
			[]string{"Deployment/disallow-latest-tag", "Deployment/require-requests-limits"}, int64(4)),
		Entry("include: every resource's", v1alpha1.ControlledResourcesInclude,
			[]string{
				"Deployment/disallow-latest-tag", "Deployment/require-requests-limits",
				"ReplicaSet/disallow-latest-tag", "ReplicaSet/require-requests-limits",
				"Pod/disallow-latest-tag", "Pod/require-requests-limits",
			}, int64(0)),
	)
})
