package controllers_test

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	wgpolicyv1alpha2 "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
	"github.com/policyherald/policy-herald/internal/blockreports"
	"github.com/policyherald/policy-herald/internal/blockreports/kyvernotest"
)

// kyvernoEvent creates the Event Kyverno's admission controller writes when it blocks a
// request: the policy as involvedObject, the resource as related, in the policy's namespace
// (default for a ClusterPolicy).
func kyvernoEvent(eventNS, name, policy, rule string, res corev1.ObjectReference, at time.Time, change ...func(*corev1.Event)) *corev1.Event {
	where := res.Kind + " " + res.Name
	if res.Namespace != "" {
		where = res.Kind + " " + res.Namespace + "/" + res.Name
	}
	ev := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Namespace: eventNS, Name: name},
		InvolvedObject: corev1.ObjectReference{APIVersion: "kyverno.io/v1", Kind: "ClusterPolicy", Name: policy, UID: types.UID("uid-" + policy)},
		Related:        &res,
		Reason:         "PolicyViolation",
		Type:           corev1.EventTypeWarning,
		Source:         corev1.EventSource{Component: "kyverno-admission"},
		Message:        fmt.Sprintf("%s: [%s] fail (blocked); validation error: Unknown Image registry. rule %s failed at path /spec/containers/0/image/", where, rule, rule),
		FirstTimestamp: metav1.NewTime(at), LastTimestamp: metav1.NewTime(at), Count: 1,
	}
	for _, f := range change {
		f(ev)
	}
	Expect(k8sClient.Create(ctx, ev)).To(Succeed())
	return ev
}

func podRef(ns, name string) corev1.ObjectReference {
	return corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: ns, Name: name}
}

func blockReport(p *v1alpha1.BlockReportPolicy, ns string) func(Gomega) []wgpolicyv1alpha2.PolicyReportResult {
	return func(g Gomega) []wgpolicyv1alpha2.PolicyReportResult {
		var rep wgpolicyv1alpha2.PolicyReport
		g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: blockreports.ReportName(p.Namespace, p.Name)}, &rep)).To(Succeed())
		g.Expect(rep.Labels).To(HaveKeyWithValue("app.kubernetes.io/managed-by", "policy-herald"))
		g.Expect(rep.Summary.Fail).To(Equal(len(rep.Results)))
		return rep.Results
	}
}

func blockReportErr(p *v1alpha1.BlockReportPolicy, ns string) ([]wgpolicyv1alpha2.PolicyReportResult, error) {
	var rep wgpolicyv1alpha2.PolicyReport
	err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: blockreports.ReportName(p.Namespace, p.Name)}, &rep)
	return rep.Results, err
}

// leaseHolder runs a manager without controllers that takes the operator's lease, so the
// replicas of the suite stay standbys until it stops.
func leaseHolder() (stop func()) {
	mgr, err := ctrl.NewManager(cfg, replicaOptions())
	Expect(err).NotTo(HaveOccurred())
	mctx, mcancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer GinkgoRecover()
		defer close(done)
		Expect(mgr.Start(mctx)).To(Succeed())
	}()
	Eventually(mgr.Elected(), "20s").Should(BeClosed())
	return func() {
		mcancel()
		<-done
	}
}

func brpStatus(p *v1alpha1.BlockReportPolicy) func(Gomega) v1alpha1.BlockReportPolicyStatus {
	return func(g Gomega) v1alpha1.BlockReportPolicyStatus {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(p), p)).To(Succeed())
		return p.Status
	}
}

func resourceNames(results []wgpolicyv1alpha2.PolicyReportResult) []string {
	out := []string{}
	for _, r := range results {
		out = append(out, r.Resources[0].Name)
	}
	return out
}

var _ = Describe("BlockReportPolicy", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace(nil) })

	It("turns blocked-admission Events into a PolicyReport, one result per request", func() {
		p := &v1alpha1.BlockReportPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "blocked"}}
		Expect(k8sClient.Create(ctx, p)).To(Succeed())
		Eventually(readyOf(p)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))
		now := time.Now().Truncate(time.Second)
		ev := kyvernoEvent("default", "restrict-image-registries."+ns, "restrict-image-registries", "validate-registries", podRef(ns, "nginx-public"), now.Add(-time.Minute))
		Eventually(blockReport(p, ns)).Should(HaveLen(1))
		res := blockReport(p, ns)(Default)[0]
		Expect(res).To(And(HaveField("Policy", "restrict-image-registries"), HaveField("Rule", "validate-registries"),
			HaveField("Result", wgpolicyv1alpha2.PolicyResult("fail")), HaveField("Source", "Kyverno Event"),
			HaveField("Message", HavePrefix("validation error: Unknown Image registry.")),
			HaveField("Timestamp.Seconds", now.Add(-time.Minute).Unix())))
		Expect(res.Properties).To(And(HaveKeyWithValue("eventName", ev.Name), HaveKey("resultID")))
		Expect(res.Resources).To(Equal([]corev1.ObjectReference{podRef(ns, "nginx-public")}))

		By("the same request again: the Event's count goes up, one result with the new time")
		ev.Count, ev.LastTimestamp = 2, metav1.NewTime(now)
		Expect(k8sClient.Update(ctx, ev)).To(Succeed())
		Eventually(func(g Gomega) int64 { return blockReport(p, ns)(g)[0].Timestamp.Seconds }).Should(Equal(now.Unix()))
		Expect(blockReport(p, ns)(Default)).To(HaveLen(1))

		By("an unreadable Kyverno Event is counted and skipped; other components' Events are ignored")
		garbled := kyvernoEvent("default", "garbled."+ns, "restrict-image-registries", "x", podRef(ns, "y"), now,
			func(e *corev1.Event) { e.Message = "something (blocked) in no known shape; with request values" })
		kyvernoEvent("default", "kubelet."+ns, "restrict-image-registries", "x", podRef(ns, "z"), now,
			func(e *corev1.Event) { e.Source.Component = "kubelet" })
		Eventually(brpStatus(p)).Should(And(HaveField("UnparseableEvents", int64(1)), HaveField("EventsSeen", int64(2)),
			HaveField("ResultsWritten", int64(1)), HaveField("ReportsManaged", int32(1)),
			HaveField("LastEventTime", Not(BeNil()))))
		Expect(blockReport(p, ns)(Default)).To(HaveLen(1))

		By("the unreadable Event makes the policy not Ready, naming it and why, but not Stalled")
		Eventually(readyOf(p)).Should(And(haveReady(metav1.ConditionFalse, v1alpha1.ReasonEventsUnreadable),
			HaveField("Message", And(ContainSubstring("event default/garbled."+ns+": message \"something (blocked) in no known shape\" (cut)"),
				ContainSubstring("no form Kyverno is known to write"), Not(ContainSubstring("request values"))))))
		Expect(stalledOf(p)).To(BeNil())
		Expect(meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ConditionReconciling)).To(BeNil())

		By("with two, the condition counts them and names the newest")
		garbled2 := kyvernoEvent("default", "garbled2."+ns, "restrict-image-registries", "x", podRef(ns, "w"), now.Add(time.Minute),
			func(e *corev1.Event) { e.InvolvedObject.Kind = "Deployment" })
		Eventually(readyOf(p)).Should(And(haveReady(metav1.ConditionFalse, v1alpha1.ReasonEventsUnreadable),
			HaveField("Message", HavePrefix("2 Kyverno Events about blocked requests cannot be read, so their requests are not in the reports; "+
				"the newest: event default/garbled2."+ns+": neither its object (Deployment restrict-image-registries) nor its related object is a Kyverno policy."))))

		By("once the Events are gone the policy is Ready again")
		Expect(k8sClient.Delete(ctx, garbled)).To(Succeed())
		Expect(k8sClient.Delete(ctx, garbled2)).To(Succeed())
		Eventually(readyOf(p)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))
		Expect(p.Status.UnparseableEvents).To(BeZero())

		By("a tenant policy never reports another namespace")
		elsewhere := newNamespace(nil)
		kyvernoEvent("default", "other-ns."+elsewhere, "restrict-image-registries", "validate-registries", podRef(elsewhere, "nginx"), now)
		Consistently(func() error {
			var rep wgpolicyv1alpha2.PolicyReport
			return k8sClient.Get(ctx, client.ObjectKey{Namespace: elsewhere, Name: blockreports.ReportName(ns, "blocked")}, &rep)
		}, quiet).ShouldNot(Succeed())

		By("deleting the policy removes its reports")
		Expect(k8sClient.Delete(ctx, p)).To(Succeed())
		Eventually(func() bool {
			var rep wgpolicyv1alpha2.PolicyReport
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: blockreports.ReportName(ns, "blocked")}, &rep))
		}).Should(BeTrue())
	})

	It("reports the blocked requests of every policy kind from the events.k8s.io/v1 Events Kyverno writes, and ignores those it let through", func() {
		p := &v1alpha1.BlockReportPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kinds"}}
		Expect(k8sClient.Create(ctx, p)).To(Succeed())
		at := time.Now().Truncate(time.Microsecond)
		cel := func(kind, namespace, name string) kyvernotest.Object {
			return kyvernotest.Object{APIVersion: "policies.kyverno.io/v1beta1", Kind: kind, Namespace: namespace, Name: name, UID: "uid-" + name}
		}
		classic := func(kind, namespace, name string) kyvernotest.Object {
			return kyvernotest.Object{APIVersion: "kyverno.io/v1", Kind: kind, Namespace: namespace, Name: name, UID: "uid-" + name}
		}
		pod := func(name string) kyvernotest.Object {
			return kyvernotest.Object{APIVersion: "v1", Kind: "Pod", Namespace: ns, Name: name, UID: "uid-" + name}
		}
		fail := func(rule, message string) kyvernotest.Rule {
			return kyvernotest.Rule{Name: rule, Status: "fail", Message: message}
		}
		hostPath := fail("", "HostPath volumes are forbidden.")
		var created []*eventsv1.Event
		emit := func(ev *eventsv1.Event) {
			Expect(k8sClient.Create(ctx, ev)).To(Succeed())
			created = append(created, ev)
		}
		blocked := func(policy, resource kyvernotest.Object, rule kyvernotest.Rule) {
			emit(kyvernotest.Event(kyvernotest.AdmissionController, policy, resource, rule, true, at))
		}
		blocked(cel("ValidatingPolicy", "", "disallow-host-path-"+ns), pod("hostpath"), hostPath)
		blocked(cel("NamespacedValidatingPolicy", ns, "team-limits"), pod("no-limits"), fail("", "containers need memory limits"))
		blocked(cel("NamespacedValidatingPolicy", ns, "team-probes"), pod("no-probes"), kyvernotest.Rule{Status: "error", Message: "error: no such key: probes"})
		blocked(cel("ImageValidatingPolicy", "", "verify-signatures-"+ns), pod("unsigned"), fail("verify-signatures-"+ns, "signature verification failed"))
		blocked(cel("NamespacedImageValidatingPolicy", ns, "verify-team-images"), pod("unsigned"), fail("verify-team-images", "not signed by the team key"))
		blocked(classic("ClusterPolicy", "", "restrict-image-registries-"+ns), pod("nginx-public"), fail("validate-registries", "validation error: Unknown Image registry."))
		blocked(classic("Policy", ns, "require-team-label"), pod("unlabelled"), fail("check-team", ""))
		By("a request Kyverno let through: the Event on the policy without (blocked), and its twin on the resource")
		audit := cel("ValidatingPolicy", "", "audit-host-path-"+ns)
		emit(kyvernotest.Event(kyvernotest.AdmissionController, audit, pod("audited"), hostPath, false, at))
		emit(kyvernotest.ResourceViolationEvent(kyvernotest.AdmissionController, audit, pod("audited"), hostPath, at))

		Eventually(func(g Gomega) []string {
			out := []string{}
			for _, r := range blockReport(p, ns)(g) {
				out = append(out, r.Policy+" ["+r.Rule+"] "+r.Resources[0].Name+": "+r.Message)
			}
			return out
		}).Should(ConsistOf(
			"disallow-host-path-"+ns+" [] hostpath: HostPath volumes are forbidden.",
			ns+"/team-limits [] no-limits: containers need memory limits",
			ns+"/team-probes [] no-probes: error: no such key: probes",
			"verify-signatures-"+ns+" [verify-signatures-"+ns+"] unsigned: signature verification failed",
			ns+"/verify-team-images [verify-team-images] unsigned: not signed by the team key",
			"restrict-image-registries-"+ns+" [validate-registries] nginx-public: validation error: Unknown Image registry.",
			ns+"/require-team-label [check-team] unlabelled: ",
		))
		Expect(string(blockReport(p, ns)(Default)[0].Resources[0].UID)).To(HavePrefix("uid-"))
		Eventually(brpStatus(p)).Should(And(HaveField("EventsSeen", int64(7)), HaveField("UnparseableEvents", int64(0))))
		Expect(readyOf(p)(Default)).To(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))

		By("the API server serves each Event through core/v1 as kyvernotest.CoreV1 says")
		for _, ev := range created {
			var got corev1.Event
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(ev), &got)).To(Succeed())
			got.TypeMeta, got.UID, got.ResourceVersion, got.CreationTimestamp, got.ManagedFields = metav1.TypeMeta{}, "", "", metav1.Time{}, nil
			want := kyvernotest.CoreV1(ev)
			want.UID, want.ResourceVersion, want.CreationTimestamp, want.ManagedFields = "", "", metav1.Time{}, nil
			Expect(equality.Semantic.DeepEqual(&got, want)).To(BeTrue(), "served %+v\nwant %+v", got, *want)
		}
	})

	It("keeps at most resultsPerReport results, oldest out first, and drops results past retention", func() {
		p := &v1alpha1.BlockReportPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "capped"},
			Spec: v1alpha1.BlockReportPolicySpec{ResultsPerReport: 2}}
		Expect(k8sClient.Create(ctx, p)).To(Succeed())
		two := &v1alpha1.BlockReportPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "retained"},
			Spec: v1alpha1.BlockReportPolicySpec{Source: "Blocked", Retention: &metav1.Duration{Duration: 90 * time.Minute}}}
		Expect(k8sClient.Create(ctx, two)).To(Succeed())
		now := time.Now().Truncate(time.Second)
		for i, age := range []time.Duration{3 * time.Hour, 2 * time.Hour, time.Hour, 0} {
			kyvernoEvent("default", fmt.Sprintf("cap-%d.%s", i, ns), "restrict-image-registries", "validate-registries", podRef(ns, fmt.Sprintf("pod-%d", i)), now.Add(-age))
		}
		Eventually(func(g Gomega) []string { return resourceNames(blockReport(p, ns)(g)) }).Should(Equal([]string{"pod-2", "pod-3"}))
		Eventually(func(g Gomega) []string { return resourceNames(blockReport(two, ns)(g)) }).Should(Equal([]string{"pod-2", "pod-3"}))
		Expect(blockReport(two, ns)(Default)[0].Source).To(Equal("Blocked"))
		Eventually(brpStatus(two)).Should(And(HaveField("EventsSeen", int64(4)), HaveField("ResultsWritten", int64(2))))
	})

	It("writes nothing from a standby replica, and writes once it leads", func() {
		By("another process holds the lease; the operator runs as a standby")
		stopManager()
		stopHolder := leaseHolder()
		standby := newManager()
		stopManager = standby

		p := &v1alpha1.BlockReportPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "standby"}}
		Expect(k8sClient.Create(ctx, p)).To(Succeed())
		kyvernoEvent("default", "standby."+ns, "restrict-image-registries", "validate-registries", podRef(ns, "nginx-public"), time.Now())
		Consistently(func() error { _, err := blockReportErr(p, ns); return err }, quiet).Should(HaveOccurred())
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(p), p)).To(Succeed())
		Expect(p.Status.Conditions).To(BeEmpty(), "a standby writes no status either")

		By("a report left by a policy deleted while no leader ran")
		orphan := &wgpolicyv1alpha2.PolicyReport{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: blockreports.ReportName(ns, "gone"),
			Labels:      map[string]string{"app.kubernetes.io/managed-by": "policy-herald", blockreports.LabelPolicy: blockreports.PolicyLabelValue(ns, "gone")},
			Annotations: map[string]string{"reporting.policyherald.io/block-report-policy-namespace": ns, "reporting.policyherald.io/block-report-policy-name": "gone"}}}
		Expect(k8sClient.Create(ctx, orphan)).To(Succeed())

		By("the standby leads: it writes, and sweeps the orphan")
		stopHolder()
		Eventually(blockReport(p, ns), "20s").Should(HaveLen(1))
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(orphan), orphan))
		}).Should(BeTrue())
	})

	It("notifies blocked requests in a namespace to a webhook target with sources [Kyverno Event] (the seed's example)", func() {
		rcv := newReceiver()
		t := webhookTarget(ns, "blocked", rcv.URL)
		t.Spec.Sources = []string{"Kyverno Event"}
		t.Spec.SkipExistingOnStartup = ptr.To(false)
		readyTarget(t)
		p := &v1alpha1.BlockReportPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kyverno"}}
		Expect(k8sClient.Create(ctx, p)).To(Succeed())
		now := time.Now()
		kyvernoEvent("default", "baseline."+ns, "baseline-policy", "baseline", podRef(ns, "privileged-pod"), now)
		kyvernoEvent("default", "registries."+ns, "restrict-image-registries", "validate-registries", podRef(ns, "nginx-public"), now)
		Eventually(func() []string {
			out := []string{}
			for _, d := range rcv.documents() {
				out = append(out, d.Policy+"/"+d.Rule+"/"+string(d.Status)+"/"+d.Resource.Name)
			}
			return out
		}, "20s").Should(ConsistOf("baseline-policy/baseline/fail/privileged-pod", "restrict-image-registries/validate-registries/fail/nginx-public"))
	})
})
