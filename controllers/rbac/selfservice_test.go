package rbac_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/policyherald/policy-herald/internal/scheme"
)

// tenantKinds are the kinds a namespace's admins and editors manage themselves, with the
// plural resource names; BlockReportPolicies are the platform team's.
var tenantKinds = map[string]string{
	"NotificationTarget":  "notificationtargets",
	"TargetChannel":       "targetchannels",
	"EmailReportSchedule": "emailreportschedules",
	"MetricsProfile":      "metricsprofiles",
}

// TestSelfServiceRBAC proves the install's aggregated ClusterRoles as a cluster grants them:
// the built-in admin, edit and view roles, aggregated by the real kube-controller-manager and
// bound in one namespace only, let people manage (or read) the tenant kinds there and nowhere
// else, never write status, and leave BlockReportPolicies to whoever holds its own role.
func TestSelfServiceRBAC(t *testing.T) {
	g := NewWithT(t)
	g.SetDefaultEventuallyTimeout(30 * time.Second)
	g.SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	admin, k8s := startAPIServer(t, false)
	startAggregation(t, ctx, admin)

	for _, o := range installRBAC(t) {
		if o.GetKind() == "ClusterRole" {
			g.Expect(k8s.Create(ctx, o)).To(Succeed(), "applying ClusterRole %s", o.GetName())
		}
	}
	// The built-in roles now carry the install's rules.
	g.Eventually(func(g Gomega) {
		for role, resource := range map[string]string{"admin": "notificationtargets", "edit": "metricsprofiles", "view": "blockreportpolicies"} {
			var cr rbacv1.ClusterRole
			g.Expect(k8s.Get(ctx, client.ObjectKey{Name: role}, &cr)).To(Succeed())
			g.Expect(grants(cr.Rules, resource)).To(BeTrue(), "ClusterRole %s is not aggregated yet", role)
		}
	}).Should(Succeed())

	const mine, theirs = "team-a", "team-b"
	for _, ns := range []string{mine, theirs} {
		g.Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	}
	bind := func(user, roleName string) {
		g.Expect(k8s.Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: mine, Name: user},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: roleName},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
		})).To(Succeed())
	}
	bind("alice-admin", "admin")
	bind("eve-editor", "edit")
	bind("victor-viewer", "view")
	bind("pat-platform", "policy-herald-blockreportpolicy-editor-role")
	as := func(user string) client.Client {
		cfg := rest.CopyConfig(admin)
		cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: []string{"system:authenticated"}}
		c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
		g.Expect(err).NotTo(HaveOccurred())
		return c
	}
	// The authorizer learns of the bindings through its informers.
	g.Eventually(func() error {
		return as("victor-viewer").List(ctx, listOf(samples(t, "MetricsProfile", mine)), client.InNamespace(mine))
	}).Should(Succeed())

	for _, user := range []string{"alice-admin", "eve-editor"} {
		c := as(user)
		for kind := range tenantKinds {
			t.Run(user+"/"+kind, func(t *testing.T) {
				g := NewWithT(t)
				obj := samples(t, kind, mine)
				g.Expect(c.Create(ctx, obj.DeepCopy())).To(Succeed(), "create")
				live := obj.DeepCopy()
				g.Expect(c.Get(ctx, client.ObjectKeyFromObject(obj), live)).To(Succeed(), "get")
				live.SetLabels(map[string]string{"team": "a"})
				g.Expect(c.Update(ctx, live)).To(Succeed(), "update")
				g.Expect(c.List(ctx, listOf(obj), client.InNamespace(mine))).To(Succeed(), "list")
				// Status belongs to the operator.
				g.Expect(unstructured.SetNestedField(live.Object, int64(9), "status", "observedGeneration")).To(Succeed())
				g.Expect(c.Status().Update(ctx, live)).To(Satisfy(apierrors.IsForbidden), "status update")
				g.Expect(c.Delete(ctx, live)).To(Succeed(), "delete")

				// Nothing in another namespace, nothing cluster-wide.
				other := samples(t, kind, theirs)
				g.Expect(c.Create(ctx, other)).To(Satisfy(apierrors.IsForbidden), "create in %s", theirs)
				g.Expect(c.List(ctx, listOf(obj), client.InNamespace(theirs))).To(Satisfy(apierrors.IsForbidden), "list in %s", theirs)
				g.Expect(c.List(ctx, listOf(obj))).To(Satisfy(apierrors.IsForbidden), "list in all namespaces")
			})
		}
		// BlockReportPolicies: read, not write.
		brp := samples(t, "BlockReportPolicy", mine)
		g.Expect(c.Create(ctx, brp)).To(Satisfy(apierrors.IsForbidden), "%s created a BlockReportPolicy", user)
		g.Expect(c.List(ctx, listOf(brp), client.InNamespace(mine))).To(Succeed(), "%s cannot read BlockReportPolicies", user)
	}

	// The platform role, bound in one namespace, manages BlockReportPolicies there only.
	pat := as("pat-platform")
	brp := samples(t, "BlockReportPolicy", mine)
	g.Expect(pat.Create(ctx, brp.DeepCopy())).To(Succeed())
	g.Expect(pat.Delete(ctx, brp)).To(Succeed())
	g.Expect(pat.Create(ctx, samples(t, "BlockReportPolicy", theirs))).To(Satisfy(apierrors.IsForbidden))
	g.Expect(pat.Create(ctx, samples(t, "NotificationTarget", mine))).To(Satisfy(apierrors.IsForbidden))

	// view reads every kind in its namespace, writes none and reads nothing elsewhere.
	seeded := map[string]*unstructured.Unstructured{}
	for kind := range kinds() {
		obj := samples(t, kind, mine)
		g.Expect(k8s.Create(ctx, obj.DeepCopy())).To(Succeed())
		seeded[kind] = obj
	}
	victor := as("victor-viewer")
	for kind, obj := range seeded {
		live := obj.DeepCopy()
		g.Expect(victor.Get(ctx, client.ObjectKeyFromObject(obj), live)).To(Succeed(), "view cannot get %s", kind)
		live.SetLabels(map[string]string{"team": "a"})
		g.Expect(victor.Update(ctx, live)).To(Satisfy(apierrors.IsForbidden), "view updated %s", kind)
		g.Expect(victor.Delete(ctx, live)).To(Satisfy(apierrors.IsForbidden), "view deleted %s", kind)
		g.Expect(victor.Create(ctx, samples(t, kind, mine))).To(Satisfy(apierrors.IsForbidden), "view created %s", kind)
		g.Expect(victor.List(ctx, listOf(obj), client.InNamespace(theirs))).To(Satisfy(apierrors.IsForbidden), "view listed %s in %s", kind, theirs)
	}
	// Viewers see objects, not the Secrets they name: view grants no Secrets.
	g.Expect(victor.List(ctx, &corev1.SecretList{}, client.InNamespace(mine))).To(Satisfy(apierrors.IsForbidden))
}

// kinds are every Policy Herald kind.
func kinds() map[string]bool {
	out := map[string]bool{"BlockReportPolicy": true}
	for k := range tenantKinds {
		out[k] = true
	}
	return out
}

// samples returns the config/samples object of kind, moved to namespace ns.
func samples(t *testing.T, kind, ns string) *unstructured.Unstructured {
	t.Helper()
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), filepath.Join("..", "..", "config", "samples"))
	if err != nil {
		t.Fatalf("kustomize build config/samples: %v", err)
	}
	for _, r := range m.Resources() {
		if r.GetKind() != kind {
			continue
		}
		b, err := r.MarshalJSON() // JSON numbers, as the API machinery expects
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(b); err != nil {
			t.Fatal(err)
		}
		u.SetNamespace(ns)
		return u
	}
	t.Fatalf("config/samples has no %s", kind)
	return nil
}

// listOf returns an empty list of u's kind.
func listOf(u *unstructured.Unstructured) *unstructured.UnstructuredList {
	l := &unstructured.UnstructuredList{}
	l.SetGroupVersionKind(u.GroupVersionKind().GroupVersion().WithKind(u.GetKind() + "List"))
	return l
}

// grants tells whether rules mention resource of the Policy Herald group.
func grants(rules []rbacv1.PolicyRule, resource string) bool {
	for _, r := range rules {
		if slices.Contains(r.APIGroups, "reporting.policyherald.io") && slices.Contains(r.Resources, resource) {
			return true
		}
	}
	return false
}

// startAggregation runs kube-controller-manager (from hack/control-plane.sh, next to the
// kube-apiserver) with only its ClusterRole aggregation controller, which fills the aggregated
// admin, edit and view roles in a real cluster.
func startAggregation(t *testing.T, ctx context.Context, cfg *rest.Config) {
	t.Helper()
	bin := filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kube-controller-manager")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%v: run hack/control-plane.sh, which builds it next to kube-apiserver", err)
	}
	kubeconfig := kubeconfigAs(t, cfg, "")
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "--kubeconfig="+kubeconfig, "--controllers=clusterrole-aggregation-controller",
		"--leader-elect=false", "--secure-port=0")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("kube-controller-manager:\n%s", out.String())
		}
	})
}
