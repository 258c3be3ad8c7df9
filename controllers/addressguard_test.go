package controllers_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/conditions"
)

// ipv6LoopbackReceiver counts the requests it gets on [::1], which the suite's address policy
// refuses like production does (only 127.0.0.0/8 is allowed, for the other specs' receivers).
func ipv6LoopbackReceiver() (url string, requests *atomic.Int32) {
	l, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		Skip("no IPv6 loopback: " + err.Error())
	}
	requests = &atomic.Int32{}
	srv := &httptest.Server{Listener: l, Config: &http.Server{ReadHeaderTimeout: time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		requests.Add(1)
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte("internal answer"))
	})}}
	srv.Start()
	DeferCleanup(srv.Close)
	return srv.URL, requests
}

func guardedWebhookTarget(ns, name, url string, allowPrivate bool) *v1alpha1.NotificationTarget {
	return &v1alpha1.NotificationTarget{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.NotificationTargetSpec{
			Destinations:         v1alpha1.Destinations{Webhook: &v1alpha1.WebhookDestination{HTTPSettings: v1alpha1.HTTPSettings{URL: url}}},
			AllowPrivateNetworks: allowPrivate,
		},
	}
}

// expectAddressNotAllowed waits until obj is Ready=False, reason AddressNotAllowed, Stalled.
func expectAddressNotAllowed(obj conditions.Object) { expectAddressRefused(obj, "::1") }

// expectAddressRefused waits until obj is Ready=False, reason AddressNotAllowed, Stalled, with a
// message naming the refused address addr.
func expectAddressRefused(obj conditions.Object, addr string) {
	Eventually(readyOf(obj)).Should(And(haveReady(metav1.ConditionFalse, v1alpha1.ReasonAddressNotAllowed),
		HaveField("Message", And(ContainSubstring(addr), ContainSubstring("not allowed"), Not(ContainSubstring("internal answer"))))))
	Expect(stalledOf(obj)).To(HaveField("Status", metav1.ConditionTrue))
}

var _ = Describe("Address guard", func() {
	BeforeEach(ensurePlatformNamespace)

	It("refuses a tenant's target on loopback, even with allowPrivateNetworks, and sends it nothing", func() {
		url, requests := ipv6LoopbackReceiver()
		ns := newNamespace(nil)
		plain := guardedWebhookTarget(ns, "loopback", url+"/hook", false)
		opted := guardedWebhookTarget(ns, "opted-in", url+"/hook", true) // honoured in the platform namespace only
		Expect(k8sClient.Create(ctx, plain)).To(Succeed())
		Expect(k8sClient.Create(ctx, opted)).To(Succeed())
		expectAddressNotAllowed(plain)
		expectAddressNotAllowed(opted)

		createReport(ns, "r", result(ns, "tenant-policy", "fail", "a violation"))
		Consistently(requests.Load, 2*time.Second).Should(BeZero())
	})

	It("refuses a platform target on loopback unless it sets allowPrivateNetworks, and then delivers", func() {
		url, requests := ipv6LoopbackReceiver()
		name := newNamespace(nil) // a unique name in the shared platform namespace
		guarded := guardedWebhookTarget(platformNamespace, name+"-guarded", url+"/hook", false)
		Expect(k8sClient.Create(ctx, guarded)).To(Succeed())
		DeferCleanup(k8sClient.Delete, ctx, guarded)
		expectAddressNotAllowed(guarded)

		allowed := guardedWebhookTarget(platformNamespace, name+"-allowed", url+"/hook", true)
		Expect(k8sClient.Create(ctx, allowed)).To(Succeed())
		DeferCleanup(k8sClient.Delete, ctx, allowed)
		Eventually(readyOf(allowed)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))

		createReport(name, "r", result(name, "platform-policy", "fail", "a violation"))
		Eventually(requests.Load).Should(BeNumerically(">=", 1)) // the receiver answers 400: sent once, not retried
	})

	It("refuses a tenant's channel that points a platform target's channel at loopback", func() {
		url, requests := ipv6LoopbackReceiver()
		name := newNamespace(nil)
		root := guardedWebhookTarget(platformNamespace, name+"-root", "https://hooks.example.invalid/x", true)
		root.Spec.AllowedChannels = &v1alpha1.AllowedChannels{Namespaces: &v1alpha1.ChannelNamespaces{From: v1alpha1.NamespacesFromAll}}
		Expect(k8sClient.Create(ctx, root)).To(Succeed())
		DeferCleanup(k8sClient.Delete, ctx, root)

		c := &v1alpha1.TargetChannel{
			ObjectMeta: metav1.ObjectMeta{Namespace: name, Name: "mine"},
			Spec: v1alpha1.TargetChannelSpec{
				TargetRef:    v1alpha1.TargetReference{Name: root.Name, Namespace: platformNamespace},
				Destinations: v1alpha1.Destinations{Webhook: &v1alpha1.WebhookDestination{HTTPSettings: v1alpha1.HTTPSettings{URL: url + "/hook"}}},
			},
		}
		Expect(k8sClient.Create(ctx, c)).To(Succeed())
		expectAddressNotAllowed(c)
		createReport(name, "r", result(name, "tenant-policy", "fail", "a violation"))
		Consistently(requests.Load, 2*time.Second).Should(BeZero())
	})

	It("refuses a tenant's target whose host is a refused address in another notation, when reconciled", func() {
		// Go's resolver reads none of these hosts as an address, but a proxy or a curl-like
		// client does (inet_aton: one to four parts, each decimal, octal or hex).
		ns := newNamespace(nil)
		hosts := map[string]string{
			"169.254.43518": "169.254.169.254", "0xa9fea9fe": "169.254.169.254", "0251.0376.0251.0376": "169.254.169.254",
			"2852039166": "169.254.169.254", "10.1": "10.0.0.1", "0x0a.0.0.1": "10.0.0.1",
		}
		var targets []*v1alpha1.NotificationTarget
		for host := range hosts {
			nt := guardedWebhookTarget(ns, "t-"+strings.NewReplacer(".", "-").Replace(host)+"-x", "http://"+host+"/hook", false)
			Expect(k8sClient.Create(ctx, nt)).To(Succeed())
			targets = append(targets, nt)
		}
		for _, nt := range targets {
			host := strings.TrimPrefix(strings.TrimSuffix(nt.Spec.Webhook.URL, "/hook"), "http://")
			By(host)
			expectAddressRefused(nt, hosts[host])
		}
	})
})
