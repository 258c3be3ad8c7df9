package controllers_test

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/config/argocd"
)

// liveUnstructured reads obj from the API server (not a cache) as Argo CD and kstatus see it.
func liveUnstructured(obj client.Object) *unstructured.Unstructured {
	gvk, err := apiutil.GVKForObject(obj, k8sClient.Scheme())
	Expect(err).NotTo(HaveOccurred())
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), u)).To(Succeed())
	return u
}

// expectHealth checks that health.lua and kstatus agree on u and say what is expected.
func expectHealth(u *unstructured.Unstructured, argo string, kstatus status.Status, message string) {
	GinkgoHelper()
	v, err := argocd.Check(u)
	Expect(err).NotTo(HaveOccurred(), "%s %s", u.GetKind(), u.GetName())
	Expect(v.Lua.Status).To(Equal(argo), "health.lua on %s %s: %s", u.GetKind(), u.GetName(), v.Lua.Message)
	Expect(v.Kstatus.Status).To(Equal(kstatus), "kstatus on %s %s: %s", u.GetKind(), u.GetName(), v.Kstatus.Message)
	Expect(v.Lua.Message).To(ContainSubstring(message), "%s %s", u.GetKind(), u.GetName())
}

// stale is u as it looks right after a spec change, before its controller saw it.
func stale(u *unstructured.Unstructured) *unstructured.Unstructured {
	s := u.DeepCopy()
	s.SetGeneration(u.GetGeneration() + 1)
	return s
}

var _ = Describe("GitOps health", func() {
	It("health.lua and kstatus agree on every kind in the states its controller writes", func() {
		ns := newNamespace(nil)
		live := func(obj client.Object) *unstructured.Unstructured { return liveUnstructured(obj) }

		By("right after creation, before any reconcile: the API server's answer to the create")
		rcv := newReceiver()
		hook := webhookTarget(ns, "hook", rcv.URL+"/hook")
		created := &unstructured.Unstructured{Object: toUnstructured(hook)}
		Expect(k8sClient.Create(ctx, created)).To(Succeed())
		Expect(created.GetGeneration()).To(Equal(int64(1)))
		Expect(created.Object).NotTo(HaveKey("status"), "the create response has no status")
		expectHealth(created, argocd.Progressing, status.CurrentStatus, "waiting for the Policy Herald controller")

		By("healthy: a webhook target on loopback and a channel of it")
		Eventually(readyOf(hook)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))
		expectHealth(live(hook), argocd.Healthy, status.CurrentStatus, v1alpha1.ReasonReady)
		expectHealth(stale(live(hook)), argocd.Progressing, status.InProgressStatus, "generation 2")
		ch := channel(ns, "team", v1alpha1.TargetReference{Name: "hook"})
		Expect(k8sClient.Create(ctx, ch)).To(Succeed())
		Eventually(readyOf(ch)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))
		expectHealth(live(ch), argocd.Healthy, status.CurrentStatus, v1alpha1.ReasonReady)
		expectHealth(stale(live(ch)), argocd.Progressing, status.InProgressStatus, "generation 2")

		By("suspended: Ready with reason Suspended is Healthy, not Argo CD's Suspended, which holds back sync waves")
		paused := webhookTarget(ns, "paused", rcv.URL+"/paused")
		paused.Spec.Suspend = true
		Expect(k8sClient.Create(ctx, paused)).To(Succeed())
		Eventually(readyOf(paused)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonSuspended))
		expectHealth(live(paused), argocd.Healthy, status.CurrentStatus, v1alpha1.ReasonSuspended)
		pausedCh := channel(ns, "paused", v1alpha1.TargetReference{Name: "hook"})
		pausedCh.Spec.Suspend = true
		Expect(k8sClient.Create(ctx, pausedCh)).To(Succeed())
		Eventually(readyOf(pausedCh)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonSuspended))
		expectHealth(live(pausedCh), argocd.Healthy, status.CurrentStatus, v1alpha1.ReasonSuspended)

		By("degraded: a target whose Secret does not exist (SecretNotFound, Stalled)")
		noSecret := slackTarget(ns, "no-secret", "absent")
		Expect(k8sClient.Create(ctx, noSecret)).To(Succeed())
		Eventually(readyOf(noSecret)).Should(haveReady(metav1.ConditionFalse, v1alpha1.ReasonSecretNotFound))
		Expect(stalledOf(noSecret)).To(HaveField("Status", metav1.ConditionTrue))
		expectHealth(live(noSecret), argocd.Degraded, status.FailedStatus, v1alpha1.ReasonSecretNotFound)
		expectHealth(stale(live(noSecret)), argocd.Progressing, status.InProgressStatus, "generation 2")

		By("degraded: a channel of a target in another namespace that does not admit it (NotAllowed, Stalled)")
		other := newNamespace(nil)
		Expect(k8sClient.Create(ctx, webhookTarget(other, "closed", rcv.URL+"/closed"))).To(Succeed())
		refused := channel(ns, "refused", v1alpha1.TargetReference{Name: "closed", Namespace: other})
		Expect(k8sClient.Create(ctx, refused)).To(Succeed())
		Eventually(readyOf(refused)).Should(haveReady(metav1.ConditionFalse, v1alpha1.ReasonNotAllowed))
		expectHealth(live(refused), argocd.Degraded, status.FailedStatus, v1alpha1.ReasonNotAllowed)

		By("progressing: a channel whose target is not applied yet (TargetNotFound, not Stalled)")
		early := channel(ns, "early", v1alpha1.TargetReference{Name: "later"})
		Expect(k8sClient.Create(ctx, early)).To(Succeed())
		Eventually(readyOf(early)).Should(haveReady(metav1.ConditionFalse, v1alpha1.ReasonTargetNotFound))
		expectHealth(live(early), argocd.Progressing, status.InProgressStatus, v1alpha1.ReasonTargetNotFound)

		By("healthy: an e-mail report schedule with its CronJob, and one suspended")
		ensurePlatformNamespace()
		schedule := emailSchedule(ns, "daily")
		pausedSchedule := emailSchedule(ns, "paused")
		pausedSchedule.Spec.Suspend = true
		for o, reason := range map[*v1alpha1.EmailReportSchedule]string{schedule: v1alpha1.ReasonReady, pausedSchedule: v1alpha1.ReasonSuspended} {
			Expect(k8sClient.Create(ctx, o)).To(Succeed())
			Eventually(readyOf(o)).Should(haveReady(metav1.ConditionTrue, reason))
			expectHealth(live(o), argocd.Healthy, status.CurrentStatus, reason)
			expectHealth(stale(live(o)), argocd.Progressing, status.InProgressStatus, "generation 2")
		}

		By("healthy: a MetricsProfile that exports")
		profile := &v1alpha1.MetricsProfile{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "default"}}
		Expect(k8sClient.Create(ctx, profile)).To(Succeed())
		Eventually(readyOf(profile)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))
		expectHealth(live(profile), argocd.Healthy, status.CurrentStatus, v1alpha1.ReasonReady)

		By("healthy: a BlockReportPolicy that reports blocked admissions")
		policy := &v1alpha1.BlockReportPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "default"}}
		Expect(k8sClient.Create(ctx, policy)).To(Succeed())
		Eventually(readyOf(policy)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))
		expectHealth(live(policy), argocd.Healthy, status.CurrentStatus, v1alpha1.ReasonReady)
		expectHealth(stale(live(policy)), argocd.Progressing, status.InProgressStatus, "generation 2")

		By("degraded: an invalid MetricsProfile (InvalidSpec, Stalled)")
		bad := &v1alpha1.MetricsProfile{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bad"}}
		bad.Spec.Filter = &v1alpha1.ResultFilter{NamespaceSelector: &metav1.LabelSelector{
			MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: metav1.LabelSelectorOpExists, Values: []string{"x"}}},
		}}
		Expect(k8sClient.Create(ctx, bad)).To(Succeed())
		Eventually(readyOf(bad)).Should(haveReady(metav1.ConditionFalse, v1alpha1.ReasonInvalidSpec))
		expectHealth(live(bad), argocd.Degraded, status.FailedStatus, v1alpha1.ReasonInvalidSpec)

		By("progressing: a target whose deliveries keep failing (DeliveryFailing, not Stalled: it recovers by itself)")
		down := newReceiver()
		down.failing.Store(1 << 30)
		failing := webhookTarget(ns, "failing", down.URL+"/failing")
		Expect(k8sClient.Create(ctx, failing)).To(Succeed())
		// Deleted before the receiver closes (cleanups run last first), so it does not retry for
		// the rest of the suite.
		DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, failing))).To(Succeed()) })
		Eventually(readyOf(failing)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))
		createReport(ns, "r", result(ns, "p", "fail", "a result that cannot be delivered"))
		Eventually(readyOf(failing)).Should(haveReady(metav1.ConditionFalse, v1alpha1.ReasonDeliveryFailing))
		Expect(stalledOf(failing)).To(BeNil())
		expectHealth(live(failing), argocd.Progressing, status.InProgressStatus, v1alpha1.ReasonDeliveryFailing)

		By("and healthy again once the receiver answers")
		down.failing.Store(0)
		Eventually(readyOf(failing)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))
		expectHealth(live(failing), argocd.Healthy, status.CurrentStatus, v1alpha1.ReasonReady)
		Eventually(readyOf(hook)).Should(haveReady(metav1.ConditionTrue, v1alpha1.ReasonReady))
		expectHealth(live(hook), argocd.Healthy, status.CurrentStatus, v1alpha1.ReasonReady)
	})
})

// toUnstructured converts a typed object as the API server returned it.
func toUnstructured(obj client.Object) map[string]any {
	b, err := json.Marshal(obj)
	Expect(err).NotTo(HaveOccurred())
	var m map[string]any
	Expect(json.Unmarshal(b, &m)).To(Succeed())
	gvk, err := apiutil.GVKForObject(obj, k8sClient.Scheme())
	Expect(err).NotTo(HaveOccurred())
	m["apiVersion"], m["kind"] = gvk.GroupVersion().String(), gvk.Kind
	return m
}

// applier is the field manager Argo CD's server-side apply uses.
const applier = "argocd-controller"

var _ = Describe("GitOps steady state", func() {
	It("config/samples applied with server-side apply reach a steady state with no diff: controllers never write spec", func() {
		res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), filepath.Join("..", "config", "samples"))
		Expect(err).NotTo(HaveOccurred())
		var manifests []*unstructured.Unstructured
		for _, r := range res.Resources() {
			b, err := r.MarshalJSON()
			Expect(err).NotTo(HaveOccurred())
			m := &unstructured.Unstructured{}
			Expect(m.UnmarshalJSON(b)).To(Succeed())
			manifests = append(manifests, m)
		}
		ensurePlatformNamespace()
		kinds := map[string]bool{}
		for _, m := range manifests {
			if m.GroupVersionKind().GroupVersion() == v1alpha1.GroupVersion {
				kinds[m.GetKind()] = true
			}
			// The config/samples spec applies the same objects; start from none.
			Eventually(func() bool {
				return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(m), m.DeepCopy()))
			}).
				Should(BeTrue(), "%s %s is left over", m.GetKind(), m.GetName())
		}
		Expect(kinds).To(HaveLen(5), "one sample of each kind")
		DeferCleanup(func() {
			for _, m := range manifests {
				Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, m.DeepCopy()))).To(Succeed())
			}
			for _, m := range manifests {
				Eventually(func() bool {
					return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(m), m.DeepCopy()))
				}).Should(BeTrue())
			}
		})

		By("applying every manifest as " + applier)
		appliedSpec := map[string]any{}
		for _, m := range manifests {
			u := m.DeepCopy()
			Expect(k8sClient.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(applier))).To(Succeed())
			appliedSpec[id(m)] = normalized(u.Object["spec"])
		}

		By("waiting until every controller has looked at its object")
		for _, m := range manifests {
			if m.GroupVersionKind().GroupVersion() != v1alpha1.GroupVersion {
				continue
			}
			Eventually(func(g Gomega) {
				u := m.DeepCopy()
				g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(m), u)).To(Succeed())
				observed, found, err := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(found).To(BeTrue(), "no status.observedGeneration yet")
				g.Expect(observed).To(Equal(u.GetGeneration()))
			}).Should(Succeed(), "%s", id(m))
		}
		// Delivery status and conditions keep being written for a while; spec must not be: watch
		// the specs for as long, failing at the first write.
		Consistently(func(g Gomega) {
			for _, m := range manifests {
				if m.GroupVersionKind().GroupVersion() != v1alpha1.GroupVersion {
					continue
				}
				live := m.DeepCopy()
				g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(m), live)).To(Succeed())
				g.Expect(live.GetGeneration()).To(Equal(int64(1)), "%s: something wrote its spec", id(m))
				g.Expect(normalized(live.Object["spec"])).To(Equal(appliedSpec[id(m)]), "%s: spec changed after the apply", id(m))
			}
		}, 2*time.Second, 100*time.Millisecond).Should(Succeed())

		for _, m := range manifests {
			live := m.DeepCopy()
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(m), live)).To(Succeed())
			ours := m.GroupVersionKind().GroupVersion() == v1alpha1.GroupVersion

			if ours {
				By("(a) " + id(m) + ": generation 1, spec as applied, every field of the manifest as written")
				Expect(live.GetGeneration()).To(Equal(int64(1)), "%s: something wrote its spec", id(m))
				Expect(normalized(live.Object["spec"])).To(Equal(appliedSpec[id(m)]), "%s: spec changed after the apply", id(m))
				Expect(normalized(live.Object["spec"])).To(containAll(normalized(m.Object["spec"])), "%s: the live spec lost a field of the manifest", id(m))
			}

			By("(b) " + id(m) + ": a dry-run re-apply of the same manifest changes nothing")
			dry := m.DeepCopy()
			Expect(k8sClient.Apply(ctx, client.ApplyConfigurationFromUnstructured(dry), client.FieldOwner(applier), client.DryRunAll)).To(Succeed())
			if ours {
				Expect(normalized(dry.Object["spec"])).To(Equal(normalized(live.Object["spec"])), "%s: re-applying would change the spec", id(m))
				Expect(dry.GetGeneration()).To(Equal(live.GetGeneration()), "%s: re-applying would bump the generation", id(m))
			} else {
				Expect(normalized(dry.Object["data"])).To(Equal(normalized(live.Object["data"])), "%s: re-applying would change the data", id(m))
			}
			Expect(dry.GetResourceVersion()).To(Equal(live.GetResourceVersion()), "%s: re-applying would write the object", id(m))

			By("(c) " + id(m) + ": only " + applier + " owns fields outside status")
			var appliedEntry bool
			for _, f := range live.GetManagedFields() {
				if f.Manager == applier {
					Expect(f.Operation).To(Equal(metav1.ManagedFieldsOperationApply))
					Expect(f.Subresource).To(BeEmpty())
					appliedEntry = true
					continue
				}
				if m.GetKind() == "EmailReportSchedule" && f.Subresource == "" {
					// The one documented exception: the finalizer that removes the schedule's
					// CronJob in the platform namespace. Argo CD does not diff it (no manifest sets
					// finalizers), and the check (b) above shows a re-apply leaves it alone.
					Expect(fieldsOf(f)).To(Equal(map[string]any{"f:metadata": map[string]any{"f:finalizers": map[string]any{
						".": map[string]any{}, `v:"` + v1alpha1.FinalizerCronJob + `"`: map[string]any{},
					}}}), "%s: manager %s writes more than the finalizer", id(m), f.Manager)
					continue
				}
				Expect(f.Subresource).To(Equal("status"), "%s: manager %s (%s) writes the object, not its status: %s", id(m), f.Manager, f.Operation, fieldsOf(f))
				Expect(fieldsOf(f)).NotTo(HaveKey("f:spec"), "%s: manager %s owns spec fields", id(m), f.Manager)
				Expect(fieldsOf(f)).NotTo(HaveKey("f:metadata"), "%s: manager %s owns metadata fields", id(m), f.Manager)
			}
			Expect(appliedEntry).To(BeTrue(), "%s: no managedFields entry of %s", id(m), applier)
		}

		By("and the generations are still 1 after the dry runs")
		for _, m := range manifests {
			if m.GroupVersionKind().GroupVersion() != v1alpha1.GroupVersion {
				continue
			}
			live := m.DeepCopy()
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(m), live)).To(Succeed())
			Expect(live.GetGeneration()).To(Equal(int64(1)), "%s", id(m))
		}
	})
})

func id(u *unstructured.Unstructured) string {
	return u.GetKind() + " " + u.GetNamespace() + "/" + u.GetName()
}

// normalized is v through JSON, so numbers from YAML and from the API server compare alike.
func normalized(v any) any {
	b, err := json.Marshal(v)
	Expect(err).NotTo(HaveOccurred())
	var out any
	Expect(json.Unmarshal(b, &out)).To(Succeed())
	return out
}

func fieldsOf(f metav1.ManagedFieldsEntry) map[string]any {
	var m map[string]any
	if f.FieldsV1 != nil {
		Expect(json.Unmarshal(f.FieldsV1.GetRawBytes(), &m)).To(Succeed())
	}
	return m
}

// containAll matches a JSON value that has every field of want with the same value; it may have
// more (schema defaults).
func containAll(want any) OmegaMatcher {
	return WithTransform(func(got any) string { return missing(got, want, "spec") }, BeEmpty())
}

// missing returns the first path where got lacks what want has, or "".
func missing(got, want any, path string) string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return path
		}
		for k, wv := range w {
			if p := missing(g[k], wv, path+"."+k); p != "" {
				return p
			}
		}
		return ""
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return path
		}
		for i := range w {
			if p := missing(g[i], w[i], path+"["+strconv.Itoa(i)+"]"); p != "" {
				return p
			}
		}
		return ""
	}
	if !reflect.DeepEqual(normalized(got), normalized(want)) {
		return path
	}
	return ""
}
