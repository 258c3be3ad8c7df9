package access_test

import (
	"context"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/policyherald/policy-herald/internal/console/access"
	"github.com/policyherald/policy-herald/internal/scheme"
)

// The matrix: who is bound how. "quiet" holds no reports, so nobody is asked about it.
var (
	alice = access.User{Name: "alice", Groups: []string{"system:authenticated"}}               // view in team-a and quiet
	bob   = access.User{Name: "bob", Groups: []string{"system:authenticated"}}                 // a Role listing policyreports only, in team-b
	carol = access.User{Name: "carol", Groups: []string{"system:authenticated"}}               // view cluster-wide
	dave  = access.User{Name: "dave", Groups: []string{"team-c-devs", "system:authenticated"}} // view in team-c, through the group
	frank = access.User{Name: "frank", Groups: []string{"system:authenticated"}}               // list clusterpolicyreports only, cluster-wide
	erin  = access.User{Name: "erin", UID: "e-1", Groups: []string{"system:authenticated"}}    // nothing
)

// held is what the report store would say: both report APIs installed, PolicyReports in three
// namespaces, openreports.io Reports in two.
var held = access.Holdings{
	"PolicyReport":        {"team-a", "team-b", "team-c"},
	"Report":              {"team-a", "team-c"},
	"ClusterPolicyReport": nil,
	"ClusterReport":       nil,
}

var matrixOnce sync.Once

// matrix creates the namespaces and bindings once and waits until the API server's authorizer
// has seen every binding.
func matrix(t *testing.T) {
	t.Helper()
	k8s, _ := server(t)
	matrixOnce.Do(func() {
		ctx := context.Background()
		objs := []client.Object{
			role("policyreports-lister", "team-b", "wgpolicyk8s.io", "policyreports"),
			roleBinding("team-a", "alice-view", "ClusterRole", "view", rbacv1.UserKind, "alice"),
			roleBinding("quiet", "alice-view", "ClusterRole", "view", rbacv1.UserKind, "alice"),
			roleBinding("team-b", "bob-lister", "Role", "policyreports-lister", rbacv1.UserKind, "bob"),
			roleBinding("team-c", "devs-view", "ClusterRole", "view", rbacv1.GroupKind, "team-c-devs"),
			clusterRoleBinding("carol-view", "view", "carol"),
			role("clusterpolicyreports-lister", "", "wgpolicyk8s.io", "clusterpolicyreports"),
			clusterRoleBinding("frank-lister", "clusterpolicyreports-lister", "frank"),
		}
		for _, ns := range []string{"team-a", "team-b", "team-c", "quiet"} {
			objs = append([]client.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}}, objs...)
		}
		for _, o := range objs {
			if err := k8s.Create(ctx, o); err != nil {
				t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
			}
		}
	})
	// The last binding of each kind created above, as the authorizer must see it.
	waitAllowed(t, frank, "wgpolicyk8s.io", "clusterpolicyreports", "")
	waitAllowed(t, carol, "openreports.io", "reports", "")
	waitAllowed(t, dave, "openreports.io", "reports", "team-c")
	waitAllowed(t, bob, "wgpolicyk8s.io", "policyreports", "team-b")
	waitAllowed(t, alice, "wgpolicyk8s.io", "policyreports", "quiet")
}

// role returns a Role (a ClusterRole when namespace is "") that may list resource.
func role(name, namespace, group, resource string) client.Object {
	rules := []rbacv1.PolicyRule{{APIGroups: []string{group}, Resources: []string{resource}, Verbs: []string{"list"}}}
	if namespace == "" {
		return &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}
	}
	return &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}, Rules: rules}
}

func roleBinding(namespace, name, roleKind, roleName, subjectKind, subject string) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: roleKind, Name: roleName},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: subjectKind, Name: subject}},
	}
}

func clusterRoleBinding(name, roleName, user string) *rbacv1.ClusterRoleBinding {
	return &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: roleName},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
	}
}

// waitAllowed waits until the API server's authorizer lets u list resource in namespace (its
// RBAC informers see a new binding a moment after it is created), asking it directly, not
// through an Authorizer whose cache the test counts.
func waitAllowed(t testing.TB, u access.User, group, resource, namespace string) {
	t.Helper()
	_, cs := server(t)
	g := NewWithT(t)
	g.Eventually(func(g Gomega) {
		sar, err := cs.AuthorizationV1().SubjectAccessReviews().Create(context.Background(), &authorizationv1.SubjectAccessReview{
			Spec: authorizationv1.SubjectAccessReviewSpec{User: u.Name, Groups: u.Groups, ResourceAttributes: &authorizationv1.ResourceAttributes{
				Verb: "list", Group: group, Resource: resource, Namespace: namespace}}}, metav1.CreateOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(sar.Status.Allowed).To(BeTrue())
	}).WithTimeout(30 * time.Second).WithPolling(50 * time.Millisecond).Should(Succeed())
}

// visible is a Scope written out: per namespaced kind, "*" or the namespaces; per cluster kind, true.
type visible struct {
	PolicyReport, Report               []string
	ClusterPolicyReport, ClusterReport bool
}

func visibleOf(s *access.Scope) visible {
	ns := func(kind string) []string {
		if all, nss := s.Namespaces(kind); all {
			return []string{"*"}
		} else {
			return nss
		}
	}
	return visible{
		PolicyReport: ns("PolicyReport"), Report: ns("Report"),
		ClusterPolicyReport: s.Allows("ClusterPolicyReport", ""), ClusterReport: s.Allows("ClusterReport", ""),
	}
}

func TestScopeMatrix(t *testing.T) {
	matrix(t)
	a := access.New(adminReviews(t), access.Options{})
	for _, c := range []struct {
		user  access.User
		want  visible
		empty bool
	}{
		{alice, visible{PolicyReport: []string{"team-a"}, Report: []string{"team-a"}}, false},
		{bob, visible{PolicyReport: []string{"team-b"}}, false},
		{carol, visible{PolicyReport: []string{"*"}, Report: []string{"*"}, ClusterPolicyReport: true, ClusterReport: true}, false},
		{dave, visible{PolicyReport: []string{"team-c"}, Report: []string{"team-c"}}, false},
		{frank, visible{ClusterPolicyReport: true}, false},
		{erin, visible{}, true},
	} {
		t.Run(c.user.Name, func(t *testing.T) {
			g := NewWithT(t)
			s, err := a.Scope(context.Background(), c.user, held)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(s.Warnings).To(BeEmpty())
			g.Expect(visibleOf(s)).To(Equal(c.want))
			g.Expect(s.Empty()).To(Equal(c.empty))
			if c.empty {
				g.Expect(s.Reason()).To(Equal("you may not list policyreports or reports in any namespace that holds reports, nor clusterpolicyreports or clusterreports"))
			} else {
				g.Expect(s.Reason()).To(BeEmpty())
			}
			agreesWithLists(t, c.user, s)
		})
	}
}

// reportLists are the list kinds of the report APIs, by report kind.
var reportLists = map[string]schema.GroupVersionKind{
	"PolicyReport":        {Group: "wgpolicyk8s.io", Version: "v1alpha2", Kind: "PolicyReportList"},
	"ClusterPolicyReport": {Group: "wgpolicyk8s.io", Version: "v1alpha2", Kind: "ClusterPolicyReportList"},
	"Report":              {Group: "openreports.io", Version: "v1alpha1", Kind: "ReportList"},
	"ClusterReport":       {Group: "openreports.io", Version: "v1alpha1", Kind: "ClusterReportList"},
}

// agreesWithLists lists every report kind as the user, as kubectl get would, in every namespace
// of the matrix and across all namespaces, and checks the Scope allows exactly what succeeds.
func agreesWithLists(t *testing.T, u access.User, s *access.Scope) {
	t.Helper()
	g := NewWithT(t)
	cfg := rest.CopyConfig(apiServer.cfg)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: u.Name, UID: u.UID, Groups: u.Groups}
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	g.Expect(err).NotTo(HaveOccurred())
	may := func(kind string, opts ...client.ListOption) bool {
		l := &unstructured.UnstructuredList{}
		l.SetGroupVersionKind(reportLists[kind])
		err := c.List(context.Background(), l, opts...)
		g.Expect(err == nil || apierrors.IsForbidden(err)).To(BeTrue(), "listing %s: %v", kind, err)
		return err == nil
	}
	for kind := range reportLists {
		if kind == "ClusterPolicyReport" || kind == "ClusterReport" {
			g.Expect(s.Allows(kind, "")).To(Equal(may(kind)), "%s: list %s", u.Name, kind)
			continue
		}
		all, _ := s.Namespaces(kind)
		g.Expect(all).To(Equal(may(kind)), "%s: list %s in all namespaces", u.Name, kind)
		for _, ns := range held[kind] {
			g.Expect(s.Allows(kind, ns)).To(Equal(may(kind, client.InNamespace(ns))), "%s: list %s in %s", u.Name, kind, ns)
		}
	}
}

// TestMayGetPolicyHeraldObjects: the health page shows the objects a person may get, which view
// grants (through Policy Herald's aggregated viewer role) in the namespaces it is bound in.
func TestMayGetPolicyHeraldObjects(t *testing.T) {
	matrix(t)
	g := NewWithT(t)
	a := access.New(adminReviews(t), access.Options{})
	for _, c := range []struct {
		user      access.User
		namespace string
		want      bool
	}{
		{alice, "team-a", true},
		{alice, "team-b", false},
		{dave, "team-c", true},
		{carol, "team-b", true},
		{bob, "team-b", false}, // his Role lists policyreports, nothing else
		{erin, "team-a", false},
	} {
		ok, err := a.MayGet(context.Background(), c.user, "reporting.policyherald.io", "notificationtargets", c.namespace, "slack")
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(ok).To(Equal(c.want), "%s may get notificationtargets in %s", c.user.Name, c.namespace)
	}
}
