package controllers_test

import (
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/slack-go/slack"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	wgpolicyv1alpha2 "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
)

// slackReceiver stands in for Slack's incoming webhooks: every path is one webhook. It parses
// each message with slack-go's own types and records "path|channel|policy" per result.
type slackReceiver struct {
	*httptest.Server
	mu        sync.Mutex
	got       []string
	messages  int
	throttled atomic.Int32 // answer this many next requests with 429 Retry-After: 1
}

func newSlackReceiver() *slackReceiver {
	r := &slackReceiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		defer GinkgoRecover()
		if r.throttled.Add(-1) >= 0 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		r.throttled.Store(0)
		body, err := io.ReadAll(req.Body)
		Expect(err).NotTo(HaveOccurred())
		var msg slack.WebhookMessage
		Expect(json.Unmarshal(body, &msg)).To(Succeed(), string(body))
		Expect(msg.Text).NotTo(BeEmpty(), "a notification fallback text")
		Expect(msg.Blocks).NotTo(BeNil())
		Expect(len(msg.Blocks.BlockSet)).To(BeNumerically("<=", 50))
		r.mu.Lock()
		defer r.mu.Unlock()
		r.messages++
		for _, a := range msg.Attachments {
			Expect(a.Blocks.BlockSet).NotTo(BeEmpty())
			header, ok := a.Blocks.BlockSet[0].(*slack.HeaderBlock)
			Expect(ok).To(BeTrue(), "each result starts with a header block")
			Expect(utf8.RuneCountInString(header.Text.Text)).To(BeNumerically("<=", 150))
			for _, b := range a.Blocks.BlockSet[1:] {
				if s, ok := b.(*slack.SectionBlock); ok && s.Text != nil {
					Expect(utf8.RuneCountInString(s.Text.Text)).To(BeNumerically("<=", 3000))
				}
			}
			// "FAIL · policy / rule"
			title := header.Text.Text
			policy := strings.SplitN(strings.SplitN(title, " · ", 2)[1], " / ", 2)[0]
			r.got = append(r.got, req.URL.Path+"|"+msg.Channel+"|"+policy)
		}
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("ok"))
	}))
	DeferCleanup(r.Close)
	return r
}

// received returns the sorted "path|channel|policy" entries.
func (r *slackReceiver) received() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := append([]string(nil), r.got...)
	sort.Strings(out)
	return out
}

func (r *slackReceiver) messageCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.messages
}

// serverCA returns the PEM certificate of an httptest TLS server, to trust it as a CA.
func serverCA(s *httptest.Server) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw}))
}

func createTargetChannel(c *v1alpha1.TargetChannel) {
	Expect(k8sClient.Create(ctx, c)).To(Succeed())
	Eventually(readyOf(c)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))
}

func channelDelivery(c *v1alpha1.TargetChannel) func(Gomega) v1alpha1.DeliveryStatus {
	return func(g Gomega) v1alpha1.DeliveryStatus {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(c), c)).To(Succeed())
		g.Expect(c.Status.Delivery).NotTo(BeNil())
		return *c.Status.Delivery
	}
}

func namespaceNamed(name string, labels map[string]string) string {
	Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}})).To(Succeed())
	return name
}

var _ = Describe("Team channels", func() {
	var prefix string
	BeforeEach(func() {
		prefix = newNamespace(nil) // a unique prefix for this spec's namespaces
		ensurePlatformNamespace()
	})

	It("splits the platform team's Slack into Team A and Team B channels, as in the seed", func() {
		rcv := newSlackReceiver()
		finance, subscriptions := namespaceNamed(prefix+"-finance", nil), namespaceNamed(prefix+"-subscriptions", nil)
		email, translation := namespaceNamed(prefix+"-email", nil), namespaceNamed(prefix+"-translation", nil)

		newSecret(platformNamespace, prefix+"-slack", map[string]string{"url": rcv.URL + "/platform"})
		root := slackTarget(platformNamespace, prefix+"-slack", prefix+"-slack")
		root.Spec.MinimumPriority = v1alpha1.PriorityWarning
		root.Spec.SkipExistingOnStartup = ptr.To(true)
		root.Spec.Filter = &v1alpha1.ResultFilter{Namespaces: &v1alpha1.MatchList{Include: []string{prefix + "-*"}}}
		readyTarget(root)
		DeferCleanup(func() { Expect(k8sClient.Delete(ctx, root)).To(Succeed()) })

		team := func(name string, namespaces ...string) *v1alpha1.TargetChannel {
			c := channel(platformNamespace, prefix+"-"+name, v1alpha1.TargetReference{Name: root.Name})
			c.Spec.Slack = &v1alpha1.SlackDestination{HTTPSettings: v1alpha1.HTTPSettings{URL: rcv.URL + "/" + name}}
			c.Spec.Filter = &v1alpha1.ResultFilter{
				Sources:    &v1alpha1.MatchList{Include: []string{"Kyverno"}},
				Namespaces: &v1alpha1.MatchList{Include: namespaces},
			}
			createTargetChannel(c)
			DeferCleanup(func() { Expect(k8sClient.Delete(ctx, c)).To(Succeed()) })
			return c
		}
		teamA := team("team-a", finance, subscriptions)
		team("team-b", email, translation)
		Eventually(channelCounts(root)).Should(Equal(v1alpha1.ChannelCounts{Attached: 2, Ready: 2}))

		for _, ns := range []string{finance, subscriptions, email, translation} {
			low := result(ns, "low-"+ns, "fail", "below the minimum priority")
			low.Severity = "low"
			trivy := result(ns, "cve-"+ns, "fail", "not from Kyverno")
			trivy.Source = "trivy"
			createReport(ns, "r", result(ns, "violation-"+ns, "fail", "a violation"), low, trivy)
		}

		var want []string
		for _, ns := range []string{finance, subscriptions, email, translation} {
			want = append(want, "/platform||violation-"+ns, "/platform||cve-"+ns)
		}
		want = append(want, "/team-a||violation-"+finance, "/team-a||violation-"+subscriptions,
			"/team-b||violation-"+email, "/team-b||violation-"+translation)
		sort.Strings(want)
		Eventually(rcv.received).Should(Equal(want))
		Consistently(rcv.received, quiet).Should(HaveLen(len(want)))
		Eventually(channelDelivery(teamA)).Should(And(HaveField("Sent", int64(2)), HaveField("Failed", int64(0))))
	})

	It("lets a tenant attach its own channel to a platform target and gives it only its namespace", func() {
		rcv := newSlackReceiver()
		tenant := namespaceNamed(prefix+"-tenant", map[string]string{"policyherald.io/channels": "allowed"})
		other := namespaceNamed(prefix+"-other", nil)

		newSecret(platformNamespace, prefix+"-slack", map[string]string{"url": rcv.URL + "/platform"})
		root := slackTarget(platformNamespace, prefix+"-slack", prefix+"-slack")
		root.Spec.Filter = &v1alpha1.ResultFilter{Namespaces: &v1alpha1.MatchList{Include: []string{prefix + "-*"}}}
		root.Spec.AllowedChannels = &v1alpha1.AllowedChannels{Namespaces: &v1alpha1.ChannelNamespaces{
			From:     v1alpha1.NamespacesFromSelector,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"policyherald.io/channels": "allowed"}},
		}}
		readyTarget(root)
		DeferCleanup(func() { Expect(k8sClient.Delete(ctx, root)).To(Succeed()) })

		mine := channel(tenant, "alerts", v1alpha1.TargetReference{Name: root.Name, Namespace: platformNamespace})
		// A channel that keeps the target's endpoint may narrow it with a Slack channel; it may
		// not widen its view with a filter.
		mine.Spec.Slack = &v1alpha1.SlackDestination{Channel: "#tenant"}
		mine.Spec.Filter = &v1alpha1.ResultFilter{Namespaces: &v1alpha1.MatchList{Include: []string{"*"}}}
		createTargetChannel(mine)

		refused := channel(other, "alerts", v1alpha1.TargetReference{Name: root.Name, Namespace: platformNamespace})
		Expect(k8sClient.Create(ctx, refused)).To(Succeed())
		Eventually(readyOf(refused)).Should(haveReady(metav1.ConditionFalse, v1alpha1.ReasonNotAllowed))

		createReport(tenant, "r", result(tenant, "tenant-policy", "fail", "mine"))
		createReport(other, "r", result(other, "other-policy", "fail", "not mine"))
		Eventually(rcv.received).Should(ConsistOf(
			"/platform||other-policy", "/platform||tenant-policy", "/platform|#tenant|tenant-policy",
		))
		Consistently(rcv.received, quiet).Should(HaveLen(3))
	})

	It("inherits the target's type, credentials, headers, minimums, sources and skipExistingOnStartup, and overrides what it sets", func() {
		ns := prefix
		rcv := newReceiver()
		createReport(ns, "before", result(ns, "existed", "fail", "before the channel"))
		newSecret(ns, "hook", map[string]string{"url": rcv.URL, "token": "Bearer platform"})
		t := &v1alpha1.NotificationTarget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "hook"}}
		t.Spec.Webhook = &v1alpha1.WebhookDestination{HTTPSettings: v1alpha1.HTTPSettings{Headers: map[string]string{"X-Team": "platform", "X-Env": "prod"}}}
		t.Spec.SecretRef = &v1alpha1.LocalSecretReference{Name: "hook"}
		t.Spec.MinimumSeverity = v1alpha1.SeverityHigh
		t.Spec.Sources = []string{"kyverno"}
		t.Spec.CustomFields = map[string]string{"cluster": "prod", "team": "platform"}
		// The target's own filter selects nothing; a channel brings its own filter instead.
		t.Spec.Filter = &v1alpha1.ResultFilter{Policies: &v1alpha1.MatchList{Include: []string{"none"}}}
		readyTarget(t)

		c := channel(ns, "team-a", v1alpha1.TargetReference{Name: "hook"})
		c.Spec.Webhook = &v1alpha1.WebhookDestination{HTTPSettings: v1alpha1.HTTPSettings{Headers: map[string]string{"X-Team": "a"}}}
		c.Spec.CustomFields = map[string]string{"team": "a"}
		c.Spec.Filter = &v1alpha1.ResultFilter{Policies: &v1alpha1.MatchList{Exclude: []string{"ignored-*"}}}
		createTargetChannel(c)
		Expect(c.Status.Destination).To(Equal(v1alpha1.DestinationWebhook))

		medium := result(ns, "medium", "fail", "below the target's minimum severity")
		medium.Severity = "medium"
		trivy := result(ns, "trivy", "fail", "not one of the target's sources")
		trivy.Source = "trivy"
		createReport(ns, "after", result(ns, "wanted", "fail", "for team a"), result(ns, "ignored-x", "fail", "channel filter"), medium, trivy)

		Eventually(rcv.received).Should(Equal([]string{"wanted/fail/for team a"}))
		Consistently(rcv.received, quiet).Should(HaveLen(1))
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		Expect(rcv.auth).To(Equal([]string{"Bearer platform"}), "credentials inherited")
		Expect(rcv.headers[0].Get("X-Team")).To(Equal("a"), "headers merged, the channel's win")
		Expect(rcv.headers[0].Get("X-Env")).To(Equal("prod"), "headers merged, the target's kept")
		Expect(rcv.docs[0].CustomFields).To(Equal(map[string]string{"cluster": "prod", "team": "a"}))
	})

	It("sends none of the target's credentials to the endpoint of another namespace's channel", func() {
		platform := prefix
		tenant := namespaceNamed(prefix+"-tenant", nil)
		platformRcv, tenantRcv := newReceiver(), newReceiver()
		newSecret(platform, "hook", map[string]string{"token": "Bearer platform-secret"})
		t := webhookTarget(platform, "hook", platformRcv.URL)
		t.Spec.Webhook.Headers = map[string]string{"Authorization": "Bearer platform-inline", "X-Env": "prod"}
		t.Spec.SecretRef = &v1alpha1.LocalSecretReference{Name: "hook"}
		t.Spec.AllowedChannels = &v1alpha1.AllowedChannels{Namespaces: &v1alpha1.ChannelNamespaces{From: v1alpha1.NamespacesFromAll}}
		readyTarget(t)

		c := channel(tenant, "own-hook", v1alpha1.TargetReference{Name: "hook", Namespace: platform})
		c.Spec.Webhook = &v1alpha1.WebhookDestination{HTTPSettings: v1alpha1.HTTPSettings{
			URL: tenantRcv.URL, Headers: map[string]string{"X-Team": "tenant"},
		}}
		createTargetChannel(c)

		createReport(tenant, "r", result(tenant, "tenant-policy", "fail", "for the tenant"))
		Eventually(tenantRcv.received).Should(Equal([]string{"tenant-policy/fail/for the tenant"}))
		Consistently(tenantRcv.received, quiet).Should(HaveLen(1))
		tenantRcv.mu.Lock()
		defer tenantRcv.mu.Unlock()
		Expect(tenantRcv.auth).To(Equal([]string{""}), "neither the target's inline Authorization header nor its Secret token")
		Expect(tenantRcv.headers[0].Get("X-Env")).To(BeEmpty(), "no header of the target's")
		Expect(tenantRcv.headers[0].Get("X-Team")).To(Equal("tenant"), "the channel's own headers")
		Expect(platformRcv.received()).To(BeEmpty(), "the target sees only its own namespace")
	})

	It("inherits the target's TLS settings", func() {
		ns := prefix
		var got atomic.Int32
		tlsServer := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			got.Add(1)
			w.WriteHeader(http.StatusNoContent)
		}))
		DeferCleanup(tlsServer.Close)
		t := webhookTarget(ns, "tls", tlsServer.URL+"/target")
		t.Spec.TLS = &v1alpha1.TLSConfig{CASecretRef: &v1alpha1.SecretKeySelector{Name: "ca", Key: "ca.crt"}}
		t.Spec.Filter = &v1alpha1.ResultFilter{Policies: &v1alpha1.MatchList{Include: []string{"none"}}}
		newSecret(ns, "ca", map[string]string{"ca.crt": serverCA(tlsServer)})
		readyTarget(t)
		c := channel(ns, "tls-channel", v1alpha1.TargetReference{Name: "tls"})
		createTargetChannel(c)
		createReport(ns, "r", result(ns, "over-tls", "fail", "x"))
		Eventually(got.Load).Should(Equal(int32(1)), "the channel trusts the target's CA")
		Eventually(channelDelivery(c)).Should(And(HaveField("Sent", int64(1)), HaveField("ConsecutiveFailures", int32(0))))
	})

	It("rides out a 429 storm without losing or repeating a result", func() {
		rcv := newSlackReceiver()
		ns := prefix
		newSecret(ns, "slack", map[string]string{"url": rcv.URL + "/root"})
		t := slackTarget(ns, "slack", "slack")
		t.Spec.Filter = &v1alpha1.ResultFilter{Policies: &v1alpha1.MatchList{Include: []string{"none"}}}
		readyTarget(t)
		c := channel(ns, "storm", v1alpha1.TargetReference{Name: "slack"})
		c.Spec.Slack = &v1alpha1.SlackDestination{HTTPSettings: v1alpha1.HTTPSettings{URL: rcv.URL + "/storm"}}
		createTargetChannel(c)

		rcv.throttled.Store(3)
		var results []wgpolicyv1alpha2.PolicyReportResult
		var want []string
		for _, p := range []string{"a", "b", "c", "d", "e"} {
			results = append(results, result(ns, "storm-"+p, "fail", "x"))
			want = append(want, "/storm||storm-"+p)
		}
		createReport(ns, "r", results...)
		Eventually(rcv.received, "30s").Should(Equal(want))
		Consistently(rcv.received, quiet).Should(HaveLen(5))
		Eventually(channelDelivery(c)).Should(And(HaveField("Sent", int64(5)), HaveField("Failed", int64(0)),
			HaveField("ConsecutiveFailures", int32(0)), HaveField("LastFailureReason", ContainSubstring("429"))))
	})

	It("splits and truncates what would pass Slack's limits", func() {
		rcv := newSlackReceiver()
		ns := prefix
		newSecret(ns, "slack", map[string]string{"url": rcv.URL + "/big"})
		readyTarget(slackTarget(ns, "slack", "slack"))

		long := result(ns, "long-message", "fail", strings.Repeat("very long message ", 600))
		results := []wgpolicyv1alpha2.PolicyReportResult{long}
		for i := range 45 {
			results = append(results, result(ns, "many-"+string(rune('a'+i/26))+string(rune('a'+i%26)), "fail", "x"))
		}
		createReport(ns, "r", results...)
		Eventually(func() int { return len(rcv.received()) }).Should(Equal(46))
		Consistently(func() int { return len(rcv.received()) }, quiet).Should(Equal(46))
		Expect(rcv.messageCount()).To(BeNumerically(">=", 3), "46 results do not fit one message")
	})
})
