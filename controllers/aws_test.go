package controllers_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
)

// The operator's own AWS identity (IRSA, EKS Pod Identity, instance role) is for objects of the
// platform namespace only: an AWS target or channel anywhere else needs keys in its Secret, and
// a tenant's channel that redirects a platform target inherits none of the target's keys.
var _ = Describe("AWS destinations and the operator's identity", func() {
	const noAmbient = "needs accessKeyID and secretAccessKey in its Secret: only objects in the platform namespace may use the operator's own AWS identity"
	var prefix string
	BeforeEach(func() {
		prefix = newNamespace(nil)
		ensurePlatformNamespace()
	})

	s3Block := func(bucket string) *v1alpha1.S3Destination {
		return &v1alpha1.S3Destination{Bucket: bucket, AWSSettings: v1alpha1.AWSSettings{Region: "eu-west-1", Endpoint: "https://s3.example.com"}}
	}

	It("lets only platform objects go without keys, and never hands a redirecting tenant channel the target's", func() {
		By("a platform target without keys: the operator's identity")
		ambient := &v1alpha1.NotificationTarget{ObjectMeta: metav1.ObjectMeta{Namespace: platformNamespace, Name: prefix + "-ambient"}}
		ambient.Spec.S3 = s3Block("platform-results")
		ambient.Spec.AllowedChannels = &v1alpha1.AllowedChannels{Namespaces: &v1alpha1.ChannelNamespaces{From: v1alpha1.NamespacesFromAll}}
		readyTarget(ambient)
		DeferCleanup(func() { Expect(k8sClient.Delete(ctx, ambient)).To(Succeed()) })

		By("a tenant target without keys: refused")
		tenantTarget := &v1alpha1.NotificationTarget{ObjectMeta: metav1.ObjectMeta{Namespace: prefix, Name: "s3"}}
		tenantTarget.Spec.S3 = s3Block("tenant-results")
		Expect(k8sClient.Create(ctx, tenantTarget)).To(Succeed())
		Eventually(readyOf(tenantTarget)).Should(haveReady(metav1.ConditionFalse, v1alpha1.ReasonInvalidSpec))
		Expect(conditionMessage(tenantTarget)).To(ContainSubstring(noAmbient))

		By("a platform target with keys, open to channels of every namespace")
		newSecret(platformNamespace, prefix+"-keys", map[string]string{"accessKeyID": "AKIDPLATFORM", "secretAccessKey": "platform-secret"})
		keyed := &v1alpha1.NotificationTarget{ObjectMeta: metav1.ObjectMeta{Namespace: platformNamespace, Name: prefix + "-keyed"}}
		keyed.Spec.S3 = s3Block("platform-results")
		keyed.Spec.SecretRef = &v1alpha1.LocalSecretReference{Name: prefix + "-keys"}
		keyed.Spec.AllowedChannels = &v1alpha1.AllowedChannels{Namespaces: &v1alpha1.ChannelNamespaces{From: v1alpha1.NamespacesFromAll}}
		readyTarget(keyed)
		DeferCleanup(func() { Expect(k8sClient.Delete(ctx, keyed)).To(Succeed()) })

		By("a tenant channel that only changes the prefix: the target's keys")
		sameBucket := channel(prefix, "audit", v1alpha1.TargetReference{Name: keyed.Name, Namespace: platformNamespace})
		sameBucket.Spec.S3 = &v1alpha1.S3Destination{Prefix: "team-a"}
		createTargetChannel(sameBucket)

		By("a tenant channel that redirects the bucket: no keys, and not the operator's identity either")
		redirect := channel(prefix, "own-bucket", v1alpha1.TargetReference{Name: keyed.Name, Namespace: platformNamespace})
		redirect.Spec.S3 = &v1alpha1.S3Destination{Bucket: "tenant-results"}
		Expect(k8sClient.Create(ctx, redirect)).To(Succeed())
		Eventually(readyOf(redirect)).Should(haveReady(metav1.ConditionFalse, v1alpha1.ReasonInvalidSpec))
		Expect(conditionMessage(redirect)).To(ContainSubstring(noAmbient))
		Expect(conditionMessage(redirect)).NotTo(ContainSubstring("platform-secret"))

		By("a tenant channel of the ambient platform target: refused too")
		ofAmbient := channel(prefix, "ambient", v1alpha1.TargetReference{Name: ambient.Name, Namespace: platformNamespace})
		Expect(k8sClient.Create(ctx, ofAmbient)).To(Succeed())
		Eventually(readyOf(ofAmbient)).Should(haveReady(metav1.ConditionFalse, v1alpha1.ReasonInvalidSpec))
		Expect(conditionMessage(ofAmbient)).To(ContainSubstring(noAmbient))
	})
})
