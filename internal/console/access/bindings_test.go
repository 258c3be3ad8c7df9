package access_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	. "github.com/onsi/gomega"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/go-logr/logr/testr"

	"github.com/policyherald/policy-herald/internal/console/access"
)

// The index's cluster: 31 namespaces holding reports, each bound to its own team. quinn is
// bound by name in idx-03, through a group in idx-07, and in idx-11 to a Role that lists
// configmaps only; the ServiceAccount ci/bot is bound in idx-15.
var (
	quinn        = access.User{Name: "quinn", Groups: []string{"quinn-team", "system:authenticated"}}
	bot          = access.User{Name: "system:serviceaccount:ci:bot", Groups: []string{"system:serviceaccounts", "system:authenticated"}}
	indexNSs     []string
	indexHeld    access.Holdings
	indexOnce    sync.Once
	quinnSees    = []string{"idx-03", "idx-07"}
	indexAskWide = 4 // the cluster-wide question of each kind
)

func indexCluster(t *testing.T) {
	t.Helper()
	k8s, _ := server(t)
	indexOnce.Do(func() {
		ctx := context.Background()
		var objs []client.Object
		for i := range 31 {
			ns := fmt.Sprintf("idx-%02d", i)
			indexNSs = append(indexNSs, ns)
			objs = append(objs, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
				roleBinding(ns, "team-view", "ClusterRole", "view", rbacv1.GroupKind, "team-"+ns))
		}
		sa := roleBinding("idx-15", "bot-view", "ClusterRole", "view", rbacv1.UserKind, "")
		sa.Subjects = []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: "ci", Name: "bot"}}
		objs = append(objs,
			roleBinding("idx-03", "quinn-view", "ClusterRole", "view", rbacv1.UserKind, "quinn"),
			roleBinding("idx-07", "quinn-team-view", "ClusterRole", "view", rbacv1.GroupKind, "quinn-team"),
			role("configmaps", "idx-11", "", "configmaps"),
			roleBinding("idx-11", "quinn-configmaps", "Role", "configmaps", rbacv1.UserKind, "quinn"),
			sa)
		for _, o := range objs {
			if err := k8s.Create(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
		indexHeld = access.Holdings{"PolicyReport": indexNSs, "Report": indexNSs, "ClusterPolicyReport": nil, "ClusterReport": nil}
	})
	waitAllowed(t, quinn, "wgpolicyk8s.io", "policyreports", "idx-07")
	waitAllowed(t, bot, "openreports.io", "reports", "idx-15")
}

// watchedBindings returns an index fed by a real informer of the test API server's
// RoleBindings, trimmed as the console's cache trims them, synced.
func watchedBindings(t testing.TB) *access.Bindings {
	t.Helper()
	_, cs := server(t)
	factory := informers.NewSharedInformerFactory(cs, 0)
	b := access.NewBindings(testr.NewWithInterface(t, testr.Options{}))
	inf := factory.Rbac().V1().RoleBindings().Informer()
	if err := inf.SetTransform(access.TrimRoleBinding); err != nil { // as the console's cache does
		t.Fatal(err)
	}
	if err := b.Watch(inf); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop); factory.Shutdown() })
	factory.Start(stop)
	factory.WaitForCacheSync(stop)
	NewWithT(t).Eventually(b.Pruning).Should(BeTrue())
	return b
}

// TestBindingIndexSparesReviewsAndNeverGrants: with the index, a person's Scope is the same
// as without it, asked with a review per namespace where a RoleBinding names them (by name,
// group or service account) plus one probe per kind, instead of one per namespace. A binding
// to a role that does not grant the kind is asked about and refused: the index never grants.
// An index that has not synced prunes nothing.
func TestBindingIndexSparesReviewsAndNeverGrants(t *testing.T) {
	indexCluster(t)
	g := NewWithT(t)
	b := watchedBindings(t)
	reviews := adminReviews(t)
	for _, c := range []struct {
		u     access.User
		sees  []string
		bound int
	}{{quinn, quinnSees, 3}, {bot, []string{"idx-15"}, 1}} {
		plain, err := access.New(reviews, access.Options{}).Scope(context.Background(), c.u, indexHeld)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(reviews.take()).To(HaveLen(indexAskWide + 2*len(indexNSs)))
		a := access.New(reviews, access.Options{Bindings: b})
		pruned, err := a.Scope(context.Background(), c.u, indexHeld)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(reviews.take()).To(HaveLen(indexAskWide+2*(c.bound+1)), "the bound namespaces and a probe, per kind")
		g.Expect(visibleOf(pruned)).To(Equal(visibleOf(plain)))
		// Within the TTL a view asks nothing: the probe goes with the first view only.
		again, err := a.Scope(context.Background(), c.u, indexHeld)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(reviews.take()).To(BeEmpty())
		g.Expect(visibleOf(again)).To(Equal(visibleOf(plain)))
		g.Expect(visibleOf(pruned)).To(Equal(visible{PolicyReport: c.sees, Report: c.sees}))
	}
	g.Expect(b.Pruning()).To(BeTrue(), "RBAC's own answers must not turn the index off")

	unsynced := access.NewBindings(testr.New(t))
	s, err := access.New(reviews, access.Options{Bindings: unsynced}).Scope(context.Background(), quinn, indexHeld)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(reviews.take()).To(HaveLen(indexAskWide + 2*len(indexNSs)))
	g.Expect(visibleOf(s)).To(Equal(visible{PolicyReport: quinnSees, Report: quinnSees}))
}

// otherAuthorizer answers as an API server whose authorizer chain has, after RBAC, a webhook
// that lets quinn list policyreports in one namespace where no RoleBinding names them: the
// real API server's answer, overridden there as the webhook would.
type otherAuthorizer struct {
	inner     access.SubjectAccessReviews
	namespace string
}

func (o otherAuthorizer) Create(ctx context.Context, sar *authorizationv1.SubjectAccessReview, opts metav1.CreateOptions) (*authorizationv1.SubjectAccessReview, error) {
	out, err := o.inner.Create(ctx, sar, opts)
	a := sar.Spec.ResourceAttributes
	if err == nil && !out.Status.Allowed && sar.Spec.User == "quinn" && a.Resource == "policyreports" && a.Namespace == o.namespace {
		out.Status.Allowed, out.Status.Reason = true, "allowed by the tenancy webhook"
	}
	return out, err
}

// TestBindingIndexStepsAsideForAnotherAuthorizer: when another authorizer grants what no
// RoleBinding shows, the index stops pruning: at once when it grants in a namespace the index
// kept (the answer's reason is not RBAC's), else when the probe reaches the namespace (one
// pruned namespace per kind and cold view, the next one each time). From then on every
// namespace is asked about, in that very Scope too.
func TestBindingIndexStepsAsideForAnotherAuthorizer(t *testing.T) {
	indexCluster(t)
	g := NewWithT(t)
	withWebhook := func(ns string) *countingReviews {
		return &countingReviews{inner: otherAuthorizer{inner: adminReviews(t), namespace: ns}}
	}

	// Granted where quinn is bound (to a role that does not grant it): seen at once.
	b := watchedBindings(t)
	reviews := withWebhook("idx-11")
	s, err := access.New(reviews, access.Options{Bindings: b}).Scope(context.Background(), quinn, indexHeld)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(b.Pruning()).To(BeFalse())
	g.Expect(reviews.take()).To(HaveLen(indexAskWide+2*len(indexNSs)), "the same Scope asked about every namespace")
	g.Expect(visibleOf(s).PolicyReport).To(Equal([]string{"idx-03", "idx-07", "idx-11"}))

	// Granted where quinn is not bound: seen when the probe gets there, within one Scope per
	// pruned namespace; the Scope that sees it shows it.
	b = watchedBindings(t)
	reviews = withWebhook("idx-21")
	scopes := 0
	for b.Pruning() {
		scopes++
		g.Expect(scopes).To(BeNumerically("<=", len(indexNSs)-3), "the probe never reached idx-21")
		s, err = access.New(reviews, access.Options{Bindings: b}).Scope(context.Background(), quinn, indexHeld)
		g.Expect(err).NotTo(HaveOccurred())
	}
	g.Expect(visibleOf(s).PolicyReport).To(Equal([]string{"idx-03", "idx-07", "idx-21"}))
	reviews.take()
	s, err = access.New(reviews, access.Options{Bindings: b}).Scope(context.Background(), quinn, indexHeld)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(reviews.take()).To(HaveLen(indexAskWide + 2*len(indexNSs)))
	g.Expect(visibleOf(s).PolicyReport).To(Equal([]string{"idx-03", "idx-07", "idx-21"}))
}
