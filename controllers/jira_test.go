package controllers_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
)

var _ = Describe("Jira targets", func() {
	It("are Ready once the jira sender is registered, with a messageTemplate and a resolveTransition", func() {
		ns := newNamespace(nil)
		newSecret(ns, "jira", map[string]string{"username": "alice@example.com", "apiToken": "tok"})
		t := &v1alpha1.NotificationTarget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "jira"}}
		t.Spec.Jira = &v1alpha1.JiraDestination{
			HTTPSettings: v1alpha1.HTTPSettings{URL: "https://example.atlassian.net"}, ProjectKey: "OPS",
			Labels: []string{"kyverno"}, ResolveTransition: "Done",
		}
		t.Spec.SecretRef = &v1alpha1.LocalSecretReference{Name: "jira"}
		t.Spec.MessageTemplate = "{{ .Policy }} failed: {{ .Message }}"
		Expect(k8sClient.Create(ctx, t)).To(Succeed())
		Eventually(readyOf(t)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))
	})
})
