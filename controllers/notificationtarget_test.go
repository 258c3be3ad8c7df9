package controllers_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"k8s.io/utils/ptr"
	"math/big"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
)

func webhookTarget(namespace, name, url string) *v1alpha1.NotificationTarget {
	t := &v1alpha1.NotificationTarget{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	t.Spec.Webhook = &v1alpha1.WebhookDestination{HTTPSettings: v1alpha1.HTTPSettings{URL: url}}
	return t
}

func slackTarget(namespace, name, secret string) *v1alpha1.NotificationTarget {
	t := &v1alpha1.NotificationTarget{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	t.Spec.Slack = &v1alpha1.SlackDestination{}
	t.Spec.SecretRef = &v1alpha1.LocalSecretReference{Name: secret}
	return t
}

// selfSignedCA returns a PEM-encoded self-signed CA certificate.
func selfSignedCA() string {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	Expect(err).NotTo(HaveOccurred())
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "policy-herald-test-ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	Expect(err).NotTo(HaveOccurred())
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

var _ = Describe("NotificationTarget controller", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace(nil) })

	It("marks a complete target Ready and records its destination type", func() {
		t := webhookTarget(ns, "hook", "https://example.com/hook")
		Expect(k8sClient.Create(ctx, t)).To(Succeed())
		Eventually(readyOf(t)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))
		Expect(t.Status.Destination).To(Equal(v1alpha1.DestinationWebhook))
		Expect(t.Status.ObservedGeneration).To(Equal(t.Generation))
		Expect(stalledOf(t)).To(BeNil())
		Expect(t.Status.Channels).To(Equal(&v1alpha1.ChannelCounts{}))
	})

	It("follows its Secret: missing, created, rotated without the needed key", func() {
		t := &v1alpha1.NotificationTarget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "hook"}}
		t.Spec.Webhook = &v1alpha1.WebhookDestination{}
		t.Spec.SecretRef = &v1alpha1.LocalSecretReference{Name: "slack-creds"}
		Expect(k8sClient.Create(ctx, t)).To(Succeed())
		Eventually(readyOf(t)).Should(haveReady(metav1.ConditionFalse, v1alpha1.ReasonSecretNotFound))
		Expect(stalledOf(t)).To(HaveField("Status", metav1.ConditionTrue))
		Expect(conditionMessage(t)).To(ContainSubstring(`Secret "slack-creds" not found`))

		secret := newSecret(ns, "slack-creds", map[string]string{"url": "https://hooks.example.com/services/T/B/SECRETTOKEN"})
		Eventually(readyOf(t)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))
		Expect(stalledOf(t)).To(BeNil())

		By("rotating the Secret to one without the url key")
		secret.StringData = nil
		secret.Data = map[string][]byte{"token": []byte("Bearer SECRETTOKEN")}
		Expect(k8sClient.Update(ctx, secret)).To(Succeed())
		Eventually(readyOf(t)).Should(haveReady(metav1.ConditionFalse, v1alpha1.ReasonSecretKeyMissing))
		Expect(conditionMessage(t)).To(ContainSubstring("needs url"))
		Expect(conditionMessage(t)).NotTo(ContainSubstring("SECRETTOKEN"))
	})

	It("prefers the Secret's value and accepts an inline one when the Secret lacks the key", func() {
		newSecret(ns, "hook-creds", map[string]string{"token": "t0ken"})
		t := webhookTarget(ns, "hook", "https://example.com/hook")
		t.Spec.SecretRef = &v1alpha1.LocalSecretReference{Name: "hook-creds"}
		Expect(k8sClient.Create(ctx, t)).To(Succeed())
		Eventually(readyOf(t)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))
	})

	It("checks the CA bundle of its TLS settings", func() {
		newSecret(ns, "bad-ca", map[string]string{"ca.crt": "not a certificate"})
		t := webhookTarget(ns, "hook", "https://example.com/hook")
		t.Spec.TLS = &v1alpha1.TLSConfig{CASecretRef: &v1alpha1.SecretKeySelector{Name: "bad-ca", Key: "ca.crt"}}
		Expect(k8sClient.Create(ctx, t)).To(Succeed())
		Eventually(readyOf(t)).Should(haveReady(metav1.ConditionFalse, v1alpha1.ReasonInvalidCertificate))

		newSecret(ns, "good-ca", map[string]string{"ca.crt": selfSignedCA()})
		Eventually(func() error {
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(t), t); err != nil {
				return err
			}
			t.Spec.TLS.CASecretRef.Name = "good-ca"
			return k8sClient.Update(ctx, t)
		}).Should(Succeed())
		Eventually(readyOf(t)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))

		By("a CA Secret without the selected key")
		t.Spec.TLS.CASecretRef.Key = "tls.crt"
		Expect(k8sClient.Update(ctx, t)).To(Succeed())
		Eventually(readyOf(t)).Should(haveReady(metav1.ConditionFalse, v1alpha1.ReasonSecretKeyMissing))
	})

	It("reports a label selector the schema cannot check", func() {
		t := webhookTarget(ns, "hook", "https://example.com/hook")
		t.Spec.Filter = &v1alpha1.ResultFilter{NamespaceSelector: &metav1.LabelSelector{
			MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: metav1.LabelSelectorOpIn}},
		}}
		Expect(k8sClient.Create(ctx, t)).To(Succeed())
		Eventually(readyOf(t)).Should(haveReady(metav1.ConditionFalse, v1alpha1.ReasonInvalidSpec))
		Expect(conditionMessage(t)).To(ContainSubstring("filter.namespaceSelector"))
	})

	It("delivers to the log destinations: loki, elasticsearch and splunk", func() {
		l := &v1alpha1.NotificationTarget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "loki"}}
		l.Spec.Loki = &v1alpha1.LokiDestination{HTTPSettings: v1alpha1.HTTPSettings{URL: "http://loki.example.com:3100"}, TenantID: "team-a"}
		l.Spec.MessageTemplate = "{{ .Policy }}: {{ .Message }}"
		Expect(k8sClient.Create(ctx, l)).To(Succeed())
		e := &v1alpha1.NotificationTarget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "es"}}
		e.Spec.Elasticsearch = &v1alpha1.ElasticsearchDestination{HTTPSettings: v1alpha1.HTTPSettings{URL: "https://es.example.com:9200"}, Rotation: "monthly", TypelessAPI: ptr.To(true)}
		Expect(k8sClient.Create(ctx, e)).To(Succeed())
		newSecret(ns, "hec", map[string]string{"token": "11111111-2222-3333-4444-555555555555"})
		s := &v1alpha1.NotificationTarget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "splunk"}}
		s.Spec.Splunk = &v1alpha1.SplunkDestination{HTTPSettings: v1alpha1.HTTPSettings{URL: "https://splunk.example.com:8088"}, Index: "k8s"}
		s.Spec.SecretRef = &v1alpha1.LocalSecretReference{Name: "hec"}
		Expect(k8sClient.Create(ctx, s)).To(Succeed())
		for _, t := range []*v1alpha1.NotificationTarget{l, e, s} {
			Eventually(readyOf(t)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))
		}
	})

	It("refuses a messageTemplate its destination does not render, and names those that do", func() {
		t := webhookTarget(ns, "hook", "https://example.com/hook")
		t.Spec.MessageTemplate = "{{ .Policy }}"
		Expect(k8sClient.Create(ctx, t)).To(Succeed())
		Eventually(readyOf(t)).Should(haveReady(metav1.ConditionFalse, v1alpha1.ReasonInvalidSpec))
		Expect(stalledOf(t)).To(HaveField("Status", metav1.ConditionTrue))
		Expect(conditionMessage(t)).To(ContainSubstring("the webhook destination does not render messageTemplate, only "))

		By("accepting it on a chat destination")
		newSecret(ns, "slack", map[string]string{"url": "https://hooks.example.com/services/T/B/X"})
		s := slackTarget(ns, "slack", "slack")
		s.Spec.MessageTemplate = "{{ .Policy }}"
		Expect(k8sClient.Create(ctx, s)).To(Succeed())
		Eventually(readyOf(s)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))
	})

	It("stays Ready with reason Suspended while suspended", func() {
		t := webhookTarget(ns, "hook", "https://example.com/hook")
		t.Spec.Suspend = true
		Expect(k8sClient.Create(ctx, t)).To(Succeed())
		Eventually(readyOf(t)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonSuspended))
	})

	It("emits an Event when Ready changes", func() {
		t := slackTarget(ns, "slack", "absent")
		Expect(k8sClient.Create(ctx, t)).To(Succeed())
		Eventually(func(g Gomega) []string {
			var list eventsv1.EventList
			g.Expect(k8sClient.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
			var reasons []string
			for _, e := range list.Items {
				if e.Regarding.Name == "slack" && e.Regarding.Kind == "NotificationTarget" {
					reasons = append(reasons, e.Type+"/"+e.Reason)
				}
			}
			return reasons
		}).Should(ContainElement(corev1.EventTypeWarning + "/" + v1alpha1.ReasonSecretNotFound))
	})
})

func conditionMessage(obj interface {
	GetConditions() *[]metav1.Condition
}) string {
	for _, c := range *obj.GetConditions() {
		if c.Type == v1alpha1.ConditionReady {
			return c.Message
		}
	}
	return ""
}
