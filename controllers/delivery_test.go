package controllers_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	openreportsv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	wgpolicyv1alpha2 "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
	"github.com/policyherald/policy-herald/internal/sender"
)

// receiver is a webhook endpoint on loopback that records what it gets.
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	docs    []sender.ResultDocument
	auth    []string
	headers []http.Header
	failing atomic.Int32 // answer this many next requests with status
	status  atomic.Int32
}

func newReceiver() *receiver {
	r := &receiver{}
	r.status.Store(http.StatusServiceUnavailable)
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		defer GinkgoRecover()
		if r.failing.Add(-1) >= 0 {
			if r.status.Load() == http.StatusTooManyRequests {
				w.Header().Set("Retry-After", "1")
			}
			w.WriteHeader(int(r.status.Load()))
			return
		}
		r.failing.Store(0)
		Expect(req.Method).To(Equal(http.MethodPost))
		Expect(req.Header.Get("Content-Type")).To(HavePrefix("application/json"))
		var d sender.ResultDocument
		Expect(json.NewDecoder(req.Body).Decode(&d)).To(Succeed())
		r.mu.Lock()
		r.docs = append(r.docs, d)
		r.auth = append(r.auth, req.Header.Get("Authorization"))
		r.headers = append(r.headers, req.Header.Clone())
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	DeferCleanup(r.Close)
	return r
}

// received returns "policy/status/message" of every document received, sorted.
func (r *receiver) received() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.docs))
	for _, d := range r.docs {
		out = append(out, d.Policy+"/"+string(d.Status)+"/"+d.Message)
	}
	sort.Strings(out)
	return out
}

func (r *receiver) documents() []sender.ResultDocument {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sender.ResultDocument(nil), r.docs...)
}

func result(ns, policy, status, message string) wgpolicyv1alpha2.PolicyReportResult {
	return wgpolicyv1alpha2.PolicyReportResult{
		Source: "kyverno", Policy: policy, Rule: "check", Result: wgpolicyv1alpha2.PolicyResult(status),
		Severity: "high", Category: "Best Practices", Message: message,
		Timestamp: metav1.Timestamp{Seconds: time.Now().Unix()},
		Resources: []corev1.ObjectReference{{APIVersion: "v1", Kind: "Pod", Namespace: ns, Name: "nginx", UID: "uid-nginx"}},
	}
}

func createReport(ns, name string, results ...wgpolicyv1alpha2.PolicyReportResult) *wgpolicyv1alpha2.PolicyReport {
	r := &wgpolicyv1alpha2.PolicyReport{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Results: results}
	Expect(k8sClient.Create(ctx, r)).To(Succeed())
	return r
}

func setResults(r *wgpolicyv1alpha2.PolicyReport, results ...wgpolicyv1alpha2.PolicyReportResult) {
	Eventually(func() error {
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(r), r); err != nil {
			return err
		}
		r.Results = results
		return k8sClient.Update(ctx, r)
	}).Should(Succeed())
}

func deliveryOf(t *v1alpha1.NotificationTarget) func(Gomega) v1alpha1.DeliveryStatus {
	return func(g Gomega) v1alpha1.DeliveryStatus {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(t), t)).To(Succeed())
		g.Expect(t.Status.Delivery).NotTo(BeNil())
		return *t.Status.Delivery
	}
}

// readyTarget creates a target and waits until its delivery runs.
func readyTarget(t *v1alpha1.NotificationTarget) {
	Expect(k8sClient.Create(ctx, t)).To(Succeed())
	Eventually(readyOf(t)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))
}

const quiet = 2 * time.Second // how long nothing more must arrive

var _ = Describe("Delivery", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace(nil) })

	It("sends exactly the new results through a report's life", func() {
		rcv := newReceiver()
		rep := createReport(ns, "pod-nginx", result(ns, "existing", "fail", "was here first"))
		readyTarget(webhookTarget(ns, "hook", rcv.URL+"/hook"))
		Consistently(rcv.received, quiet).Should(BeEmpty(), "skipExistingOnStartup defaults to true")

		By("adding a fail and a pass result")
		setResults(rep, result(ns, "existing", "fail", "was here first"), result(ns, "new", "fail", "appeared"), result(ns, "passing", "pass", "fine"))
		Eventually(rcv.received).Should(Equal([]string{"new/fail/appeared"}))

		By("re-scanning: new timestamps only")
		later := []wgpolicyv1alpha2.PolicyReportResult{result(ns, "existing", "fail", "was here first"), result(ns, "new", "fail", "appeared"), result(ns, "passing", "pass", "fine")}
		for i := range later {
			later[i].Timestamp.Seconds += 3600
		}
		setResults(rep, later...)

		By("emptying the report while rewriting it, then refilling it")
		setResults(rep)
		setResults(rep, later...)
		Consistently(rcv.received, quiet).Should(Equal([]string{"new/fail/appeared"}))

		By("changing a result's message")
		setResults(rep, result(ns, "existing", "fail", "was here first"), result(ns, "new", "fail", "changed"))
		Eventually(rcv.received).Should(Equal([]string{"new/fail/appeared", "new/fail/changed"}))

		By("deleting the report")
		Expect(k8sClient.Delete(ctx, rep)).To(Succeed())
		Consistently(rcv.received, quiet).Should(HaveLen(2))

		t := &v1alpha1.NotificationTarget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "hook"}}
		Eventually(deliveryOf(t)).Should(And(HaveField("Sent", int64(2)), HaveField("Failed", int64(0)),
			HaveField("Pending", int64(0)), HaveField("LastSuccessTime", Not(BeNil()))))
	})

	It("sends existing results once when skipExistingOnStartup is false", func() {
		rcv := newReceiver()
		createReport(ns, "pod-nginx", result(ns, "existing", "fail", "old"), result(ns, "ok", "pass", "fine"))
		t := webhookTarget(ns, "hook", rcv.URL)
		t.Spec.SkipExistingOnStartup = ptr.To(false)
		t.Spec.CustomFields = map[string]string{"cluster": "test"}
		readyTarget(t)
		Eventually(rcv.received).Should(Equal([]string{"existing/fail/old"}))
		doc := rcv.documents()[0]
		Expect(doc.CustomFields).To(Equal(map[string]string{"cluster": "test"}))
		Expect(doc.Resource).To(Equal(&sender.DocumentResource{APIVersion: "v1", Kind: "Pod", Namespace: ns, Name: "nginx", UID: "uid-nginx"}))
		Expect(doc.Report).To(Equal(sender.DocumentReport{Kind: "PolicyReport", Namespace: ns, Name: "pod-nginx"}))

		By("changing the target, which restarts nothing that was sent")
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(t), t)).To(Succeed())
		t.Spec.CustomFields["team"] = "a"
		Expect(k8sClient.Update(ctx, t)).To(Succeed())
		Consistently(rcv.received, quiet).Should(HaveLen(1))
	})

	It("keeps each tenant to its own namespace, while the platform namespace sees all", func() {
		other := newNamespace(nil)
		mine, theirs, platform := newReceiver(), newReceiver(), newReceiver()
		readyTarget(webhookTarget(ns, "hook", mine.URL))
		// A tenant's filter cannot widen its view.
		wide := webhookTarget(other, "hook", theirs.URL)
		wide.Spec.Filter = &v1alpha1.ResultFilter{Namespaces: &v1alpha1.MatchList{Include: []string{"*"}}}
		readyTarget(wide)
		pt := webhookTarget(platformNamespace, "tenancy-"+ns, platform.URL)
		pt.Spec.Filter = &v1alpha1.ResultFilter{Policies: &v1alpha1.MatchList{Include: []string{"tenancy-" + ns + "-*"}}}
		ensurePlatformNamespace()
		readyTarget(pt)
		DeferCleanup(func() { Expect(k8sClient.Delete(ctx, pt)).To(Succeed()) })

		createReport(ns, "r", result(ns, "tenancy-"+ns+"-a", "fail", "in A"))
		createReport(other, "r", result(other, "tenancy-"+ns+"-b", "fail", "in B"))
		cluster := &wgpolicyv1alpha2.ClusterPolicyReport{ObjectMeta: metav1.ObjectMeta{Name: "tenancy-" + ns},
			Results: []wgpolicyv1alpha2.PolicyReportResult{result("", "tenancy-"+ns+"-c", "fail", "cluster")}}
		Expect(k8sClient.Create(ctx, cluster)).To(Succeed())

		Eventually(platform.received).Should(Equal([]string{
			"tenancy-" + ns + "-a/fail/in A", "tenancy-" + ns + "-b/fail/in B", "tenancy-" + ns + "-c/fail/cluster",
		}))
		Eventually(mine.received).Should(Equal([]string{"tenancy-" + ns + "-a/fail/in A"}))
		Eventually(theirs.received).Should(Equal([]string{"tenancy-" + ns + "-b/fail/in B"}))
		Consistently(mine.received, quiet).Should(HaveLen(1))
		Consistently(theirs.received, quiet).Should(HaveLen(1))
	})

	It("applies the target's filters, minimums and sources", func() {
		rcv := newReceiver()
		t := webhookTarget(ns, "hook", rcv.URL)
		t.Spec.MinimumPriority = v1alpha1.PriorityWarning
		t.Spec.Sources = []string{"Kyverno"}
		t.Spec.Filter = &v1alpha1.ResultFilter{Policies: &v1alpha1.MatchList{Exclude: []string{"noisy-*"}}}
		readyTarget(t)
		low := result(ns, "low", "fail", "low severity")
		low.Severity = "low"
		trivy := result(ns, "cve", "fail", "from trivy")
		trivy.Source = "trivy"
		createReport(ns, "r", result(ns, "keep", "fail", "high"), result(ns, "noisy-x", "fail", "excluded"), low, trivy,
			result(ns, "warned", "warn", "a warning"))
		Eventually(rcv.received).Should(Equal([]string{"keep/fail/high", "warned/warn/a warning"}))
		Consistently(rcv.received, quiet).Should(HaveLen(2))
	})

	It("uses a rotated Secret without a restart", func() {
		first, second := newReceiver(), newReceiver()
		secret := newSecret(ns, "hook", map[string]string{"url": first.URL, "token": "Bearer one"})
		t := &v1alpha1.NotificationTarget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "hook"}}
		t.Spec.Webhook = &v1alpha1.WebhookDestination{}
		t.Spec.SecretRef = &v1alpha1.LocalSecretReference{Name: "hook"}
		readyTarget(t)
		rep := createReport(ns, "r", result(ns, "one", "fail", "first"))
		Eventually(first.received).Should(HaveLen(1))
		Expect(first.auth).To(Equal([]string{"Bearer one"}))

		before := fingerprintOf("NotificationTarget", ns, "hook")
		Expect(before).NotTo(BeEmpty())
		secret.StringData = map[string]string{"url": second.URL, "token": "Bearer two"}
		Expect(k8sClient.Update(ctx, secret)).To(Succeed())
		// Nothing in the status shows the swap; the engine's fingerprint of the target changes
		// once the Secret watch has reconciled it and the new sender is in place.
		Eventually(func() string { return fingerprintOf("NotificationTarget", ns, "hook") }).
			ShouldNot(Or(Equal(before), BeEmpty()))
		setResults(rep, result(ns, "one", "fail", "first"), result(ns, "two", "fail", "second"))
		Eventually(second.received).Should(Equal([]string{"two/fail/second"}))
		Expect(second.auth).To(Equal([]string{"Bearer two"}))
		Expect(first.received()).To(HaveLen(1))
	})

	It("retries a failing receiver, reports it, and recovers", func() {
		rcv := newReceiver()
		t := webhookTarget(ns, "hook", rcv.URL)
		readyTarget(t)

		By("a receiver that answers 503 to more attempts than the fast retries: the result waits, it is not lost")
		rcv.failing.Store(6)
		rep := createReport(ns, "r", result(ns, "waited", "fail", "after the outage"))
		Eventually(readyOf(t)).Should(haveReady(metav1.ConditionFalse, v1alpha1.ReasonDeliveryFailing))
		Eventually(deliveryOf(t)).Should(And(HaveField("Pending", int64(1)), HaveField("ConsecutiveFailures", BeNumerically(">=", 3)),
			HaveField("LastFailureReason", ContainSubstring("503"))))
		Expect(t.Status.Delivery.LastFailureReason).NotTo(ContainSubstring(rcv.URL))
		Eventually(rcv.received).Should(Equal([]string{"waited/fail/after the outage"}))
		Eventually(readyOf(t)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))
		Eventually(deliveryOf(t)).Should(And(HaveField("Sent", int64(1)), HaveField("Failed", int64(0)),
			HaveField("Pending", int64(0)), HaveField("ConsecutiveFailures", int32(0))))

		By("a receiver that recovers after two 503s")
		rcv.failing.Store(2)
		setResults(rep, result(ns, "waited", "fail", "after the outage"), result(ns, "late", "fail", "arrived"))
		Eventually(rcv.received).Should(ConsistOf("waited/fail/after the outage", "late/fail/arrived"))
		Eventually(deliveryOf(t)).Should(And(HaveField("Sent", int64(2)), HaveField("Failed", int64(0)), HaveField("ConsecutiveFailures", int32(0))))

		By("a receiver that asks to slow down with 429 and Retry-After")
		rcv.status.Store(http.StatusTooManyRequests)
		rcv.failing.Store(1)
		start := time.Now()
		setResults(rep, result(ns, "waited", "fail", "after the outage"), result(ns, "late", "fail", "arrived"), result(ns, "slow", "fail", "throttled"))
		Eventually(rcv.received).Should(ContainElement("slow/fail/throttled"))
		Expect(time.Since(start)).To(BeNumerically(">=", time.Second), "Retry-After: 1 was honoured")
	})

	It("loses nothing and repeats nothing across an operator restart", func() {
		rcv := newReceiver()
		readyTarget(webhookTarget(ns, "hook", rcv.URL))
		rep := createReport(ns, "r", result(ns, "before", "fail", "x"))
		Eventually(rcv.received).Should(Equal([]string{"before/fail/x"}))

		stopManager()
		setResults(rep, result(ns, "before", "fail", "x"), result(ns, "during", "fail", "while down"))
		createReport(ns, "r2", result(ns, "during2", "fail", "also while down"))
		startManager()

		Eventually(rcv.received).Should(Equal([]string{"before/fail/x", "during/fail/while down", "during2/fail/also while down"}))
		Consistently(rcv.received, quiet).Should(HaveLen(3))
	})

	It("sends what appeared after a target was created, even if no replica ran in between", func() {
		rcv := newReceiver()
		createReport(ns, "old", result(ns, "old", "fail", "existed before the target"))
		// Creation times have one-second resolution: the sleeps put the target's creation a
		// second after the old report's and a second before the new one's. Time passing is the point.
		time.Sleep(1100 * time.Millisecond)
		stopManager()
		t := webhookTarget(ns, "hook", rcv.URL)
		Expect(k8sClient.Create(ctx, t)).To(Succeed())
		time.Sleep(1100 * time.Millisecond)
		createReport(ns, "new", result(ns, "new", "fail", "appeared while down"))
		startManager()
		Eventually(readyOf(t)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))
		Eventually(rcv.received).Should(Equal([]string{"new/fail/appeared while down"}))
		Consistently(rcv.received, quiet).Should(HaveLen(1))
	})

	It("reads openreports.io Reports and ClusterReports", func() {
		rcv := newReceiver()
		ensurePlatformNamespace()
		pt := webhookTarget(platformNamespace, "openreports-"+ns, rcv.URL)
		pt.Spec.Filter = &v1alpha1.ResultFilter{Policies: &v1alpha1.MatchList{Include: []string{ns + "-*"}}}
		readyTarget(pt)
		DeferCleanup(func() { Expect(k8sClient.Delete(ctx, pt)).To(Succeed()) })

		Expect(k8sClient.Create(ctx, &openreportsv1alpha1.Report{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pod-nginx"}, Source: "kyverno",
			Scope:   &corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: ns, Name: "nginx"},
			Results: []openreportsv1alpha1.ReportResult{{Policy: ns + "-registries", Result: "fail", Description: "namespaced"}},
		})).To(Succeed())
		Expect(k8sClient.Create(ctx, &openreportsv1alpha1.ClusterReport{
			ObjectMeta: metav1.ObjectMeta{Name: ns + "-node"}, Source: "kube-bench",
			Results: []openreportsv1alpha1.ReportResult{{Policy: ns + "-cis", Result: "warn", Description: "cluster"}},
		})).To(Succeed())
		Eventually(rcv.received).Should(Equal([]string{ns + "-cis/warn/cluster", ns + "-registries/fail/namespaced"}))
		for _, d := range rcv.documents() {
			if d.Policy == ns+"-registries" {
				Expect(d.Source).To(Equal("kyverno"))
				Expect(d.Resource).To(HaveField("Name", "nginx"))
			}
		}
	})

	It("delivers the results of real reports", func() {
		rcv := newReceiver()
		t := webhookTarget(ns, "hook", rcv.URL)
		t.Spec.SkipExistingOnStartup = ptr.To(false)
		readyTarget(t)
		u := fixtureObjects("trivy-adapter-policyreport.yaml")[0]
		prepare(u, ns)
		Expect(k8sClient.Create(ctx, u)).To(Succeed())
		Eventually(func() int { return len(rcv.received()) }).Should(Equal(14))
		Consistently(func() int { return len(rcv.received()) }, quiet).Should(Equal(14))
	})

	It("delivers from the leader only and fails over to a standby replica", func() {
		rcv := newReceiver()
		readyTarget(webhookTarget(ns, "hook", rcv.URL))
		first, second, third := result(ns, "first", "fail", "x"), result(ns, "second", "fail", "x"), result(ns, "third", "fail", "x")
		rep := createReport(ns, "r", first)
		Eventually(rcv.received).Should(Equal([]string{"first/fail/x"}))

		By("starting a standby replica")
		standby := newManager()
		setResults(rep, first, second)
		Eventually(rcv.received).Should(Equal([]string{"first/fail/x", "second/fail/x"}))
		Consistently(rcv.received, quiet).Should(HaveLen(2), "the standby sends nothing")

		By("stopping the leader")
		stopManager()
		stopManager = standby
		setResults(rep, first, second, third)
		Eventually(rcv.received).Should(Equal([]string{"first/fail/x", "second/fail/x", "third/fail/x"}))
		Consistently(rcv.received, quiet).Should(HaveLen(3))
	})

	It("starts watching a report API installed after the operator started", func() {
		crd := &unstructured.Unstructured{}
		crd.SetGroupVersionKind(apiextensionsv1.SchemeGroupVersion.WithKind("CustomResourceDefinition"))
		crd.SetName("clusterreports.openreports.io")
		stopManager()
		Expect(k8sClient.Delete(ctx, crd)).To(Succeed())
		Eventually(func() bool { return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(crd), crd)) }).Should(BeTrue())
		startManager()

		rcv := newReceiver()
		ensurePlatformNamespace()
		pt := webhookTarget(platformNamespace, "late-"+ns, rcv.URL)
		pt.Spec.Filter = &v1alpha1.ResultFilter{Policies: &v1alpha1.MatchList{Include: []string{ns + "-*"}}}
		readyTarget(pt)
		DeferCleanup(func() { Expect(k8sClient.Delete(ctx, pt)).To(Succeed()) })

		_, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{Paths: []string{filepath.Join("..", "hack", "crds", "openreports.io_clusterreports.yaml")}})
		Expect(err).NotTo(HaveOccurred())
		Eventually(func() error {
			return k8sClient.Create(ctx, &openreportsv1alpha1.ClusterReport{
				ObjectMeta: metav1.ObjectMeta{Name: ns + "-late"}, Source: "kube-bench",
				Results: []openreportsv1alpha1.ReportResult{{Policy: ns + "-late", Result: "fail", Description: "installed later"}},
			})
		}).Should(Succeed())
		Eventually(rcv.received).Should(Equal([]string{ns + "-late/fail/installed later"}))
	})
})

func ensurePlatformNamespace() {
	err := k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: platformNamespace}})
	if err != nil {
		Expect(client.IgnoreAlreadyExists(err)).To(Succeed())
	}
}
