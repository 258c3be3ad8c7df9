package access_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/policyherald/policy-herald/internal/console/access"
)

// clusterWide are the first questions of a cold Scope: list of every installed kind, in all
// namespaces.
var clusterWide = []string{
	"list policyreports ", "list reports ", "list clusterpolicyreports ", "list clusterreports ",
}

// inNamespaces are the questions about the namespaces that hold reports: quiet holds none.
var inNamespaces = []string{
	"list policyreports team-a", "list policyreports team-b", "list policyreports team-c",
	"list reports team-a", "list reports team-c",
}

func TestScopeAsksClusterWideFirstThenOnlyNamespacesHoldingReports(t *testing.T) {
	matrix(t)
	g := NewWithT(t)
	reviews := adminReviews(t)

	_, err := access.New(reviews, access.Options{}).Scope(context.Background(), alice, held)
	g.Expect(err).NotTo(HaveOccurred())
	asked := reviews.take()
	g.Expect(asked).To(HaveLen(len(clusterWide)+len(inNamespaces)), "%q", asked)
	g.Expect(asked[:len(clusterWide)]).To(ConsistOf(clusterWide))
	g.Expect(asked[len(clusterWide):]).To(ConsistOf(inNamespaces))

	// Cluster-wide view needs no question about any namespace.
	_, err = access.New(reviews, access.Options{}).Scope(context.Background(), carol, held)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(reviews.take()).To(ConsistOf(clusterWide))

	// A kind that is not installed is not asked about.
	_, err = access.New(reviews, access.Options{}).Scope(context.Background(), alice, access.Holdings{"PolicyReport": {"team-a"}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(reviews.take()).To(Equal([]string{"list policyreports ", "list policyreports team-a"}))
}

func TestScopeRemembersAnswersForTheTTL(t *testing.T) {
	matrix(t)
	g := NewWithT(t)
	reviews := adminReviews(t)
	clock := clocktesting.NewFakeClock(time.Now())
	a := access.New(reviews, access.Options{TTL: 10 * time.Second, Clock: clock})
	scope := func(u access.User) visible {
		s, err := a.Scope(context.Background(), u, held)
		g.Expect(err).NotTo(HaveOccurred())
		return visibleOf(s)
	}
	want := visible{PolicyReport: []string{"team-a"}, Report: []string{"team-a"}}

	g.Expect(scope(alice)).To(Equal(want))
	g.Expect(reviews.take()).To(HaveLen(9))
	g.Expect(scope(alice)).To(Equal(want))
	g.Expect(reviews.take()).To(BeEmpty(), "asked again within the TTL")
	clock.Step(9 * time.Second)
	g.Expect(scope(alice)).To(Equal(want))
	g.Expect(reviews.take()).To(BeEmpty(), "asked again within the TTL")
	clock.Step(2 * time.Second)
	g.Expect(scope(alice)).To(Equal(want))
	g.Expect(reviews.take()).To(HaveLen(9), "did not ask again after the TTL")

	// The same person in other groups is another question: dave's group grants team-c.
	g.Expect(scope(access.User{Name: "dave"})).To(Equal(visible{}))
	g.Expect(reviews.take()).To(HaveLen(9))
	g.Expect(scope(dave)).To(Equal(visible{PolicyReport: []string{"team-c"}, Report: []string{"team-c"}}))
	g.Expect(reviews.take()).To(HaveLen(9))
	// Groups are a set: their order changes nothing.
	reordered := dave
	reordered.Groups = slices.Clone(dave.Groups)
	slices.Reverse(reordered.Groups)
	g.Expect(scope(reordered)).To(Equal(visible{PolicyReport: []string{"team-c"}, Report: []string{"team-c"}}))
	g.Expect(reviews.take()).To(BeEmpty())
}

func TestCacheIsBounded(t *testing.T) {
	matrix(t)
	g := NewWithT(t)
	reviews := adminReviews(t)
	a := access.New(reviews, access.Options{MaxEntries: 4})
	get := func(name string) {
		_, err := a.MayGet(context.Background(), alice, "reporting.policyherald.io", "notificationtargets", "team-a", name)
		g.Expect(err).NotTo(HaveOccurred())
	}
	for i := range 5 {
		get(fmt.Sprint("nt-", i))
	}
	g.Expect(reviews.take()).To(HaveLen(5))
	get("nt-4")
	g.Expect(reviews.take()).To(BeEmpty(), "the newest answer was not remembered")
	get("nt-0")
	g.Expect(reviews.take()).To(Equal([]string{"get notificationtargets team-a/nt-0"}), "the oldest answer was not evicted")
}

func TestConcurrentIdenticalQuestionsShareOneReview(t *testing.T) {
	matrix(t)
	g := NewWithT(t)
	reviews := adminReviews(t)
	a := access.New(reviews, access.Options{})
	var wg sync.WaitGroup
	scopes := make([]visible, 8)
	for i := range scopes {
		wg.Go(func() {
			s, err := a.Scope(context.Background(), bob, held)
			if err == nil {
				scopes[i] = visibleOf(s)
			}
		})
	}
	wg.Wait()
	for _, s := range scopes {
		g.Expect(s).To(Equal(visible{PolicyReport: []string{"team-b"}}))
	}
	asked := reviews.take()
	g.Expect(asked).To(ConsistOf(append(slices.Clone(clusterWide), inNamespaces...)), "%d reviews for 8 identical scopes", len(asked))
}

// TestAPIServerErrorsAllowNothingAndAreNotRemembered runs the console as a ServiceAccount that
// may not create SubjectAccessReviews: the API server refuses every question.
func TestAPIServerErrorsAllowNothingAndAreNotRemembered(t *testing.T) {
	matrix(t)
	g := NewWithT(t)
	cfg := serviceAccountConfig(t, "console-system", "console")
	inner, err := access.NewReviews(cfg)
	g.Expect(err).NotTo(HaveOccurred())
	reviews := &countingReviews{inner: inner}
	a := access.New(reviews, access.Options{})

	for range 2 {
		s, err := a.Scope(context.Background(), carol, held)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(visibleOf(s)).To(Equal(visible{}))
		g.Expect(s.Empty()).To(BeTrue())
		g.Expect(s.Warnings).To(HaveLen(6), "%q", s.Warnings)
		g.Expect(s.Warnings[0]).To(HavePrefix(`could not check whether you may list policyreports in all namespaces: subjectaccessreviews.authorization.k8s.io is forbidden: User "system:serviceaccount:console-system:console" cannot create resource`))
		g.Expect(s.Warnings).To(ContainElement(HavePrefix("could not check whether you may list policyreports in 3 namespaces (team-a, team-b, team-c): ")))
		g.Expect(s.Warnings).To(ContainElement(HavePrefix("could not check whether you may list clusterreports: ")))
		g.Expect(s.Reason()).To(HavePrefix("you may not list policyreports or reports in any namespace that holds reports, nor clusterpolicyreports or clusterreports; could not check"))
		// Errors are not remembered: every request asks again.
		g.Expect(reviews.take()).To(HaveLen(9))
	}
	ok, err := a.MayGet(context.Background(), carol, "reporting.policyherald.io", "notificationtargets", "team-a", "slack")
	g.Expect(err).To(MatchError(ContainSubstring("forbidden")))
	g.Expect(ok).To(BeFalse())

	// Once the console may ask, the same Authorizer answers at once: nothing failed was kept.
	grantReviews(t, "console-system", "console")
	g.Eventually(func(g Gomega) {
		s, err := a.Scope(context.Background(), carol, held)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(s.Warnings).To(BeEmpty())
		g.Expect(visibleOf(s)).To(Equal(visible{PolicyReport: []string{"*"}, Report: []string{"*"}, ClusterPolicyReport: true, ClusterReport: true}))
	}).WithTimeout(30 * time.Second).WithPolling(50 * time.Millisecond).Should(Succeed())
}

func TestScopeAfterItsDeadlineAsksNothing(t *testing.T) {
	matrix(t)
	g := NewWithT(t)
	reviews := adminReviews(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s, err := access.New(reviews, access.Options{}).Scope(ctx, carol, held)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(s.Empty()).To(BeTrue())
	g.Expect(strings.Join(s.Warnings, "\n")).To(ContainSubstring("context canceled"))
	g.Expect(reviews.take()).To(BeEmpty())
}

// serviceAccountConfig creates namespace/name and returns a config authenticating as it, with a
// token from the TokenRequest API, as the console's Pod would.
func serviceAccountConfig(t testing.TB, namespace, name string) *rest.Config {
	t.Helper()
	k8s, cs := server(t)
	ctx := context.Background()
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}},
	} {
		if err := k8s.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	tr, err := cs.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(3600))}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return &rest.Config{Host: apiServer.cfg.Host, BearerToken: tr.Status.Token,
		TLSClientConfig: rest.TLSClientConfig{CAData: apiServer.cfg.CAData}}
}

// grantReviews lets the ServiceAccount namespace/name create SubjectAccessReviews, as the
// console's install will.
func grantReviews(t testing.TB, namespace, name string) {
	t.Helper()
	k8s, _ := server(t)
	ctx := context.Background()
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "console-reviews"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"subjectaccessreviews"}, Verbs: []string{"create"}}}}
	if err := k8s.Create(ctx, role); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	if err := k8s.Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "console-reviews-" + name},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "console-reviews"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: namespace, Name: name}}}); err != nil {
		t.Fatal(err)
	}
}
