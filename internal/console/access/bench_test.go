package access_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/policyherald/policy-herald/internal/console/access"
	"github.com/policyherald/policy-herald/internal/testing/wait"
)

// The case: a person bound in 3 of 2,000 namespaces, all holding reports, each bound to
// its own team as well (so RBAC looks through a binding per namespace, as in a real cluster).
const benchNamespaces = 2000

var (
	pat        = access.User{Name: "pat", Groups: []string{"system:authenticated"}}
	patBound   = []string{"bench-0100", "bench-0900", "bench-1700"}
	benchOnce  sync.Once
	benchNames []string
)

func benchCluster(b *testing.B) {
	b.Helper()
	k8s, _ := server(b)
	benchOnce.Do(func() {
		var objs []client.Object
		for i := range benchNamespaces {
			ns := fmt.Sprintf("bench-%04d", i)
			benchNames = append(benchNames, ns)
			objs = append(objs, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		}
		createAll(b, k8s, objs)
		objs = objs[:0]
		for _, ns := range benchNames {
			objs = append(objs, roleBinding(ns, "team-view", "ClusterRole", "view", rbacv1.GroupKind, "team-"+ns))
		}
		for _, ns := range patBound {
			objs = append(objs, roleBinding(ns, "pat-view", "ClusterRole", "view", rbacv1.UserKind, "pat"))
		}
		createAll(b, k8s, objs)
	})
	waitAllowed(b, pat, "openreports.io", "reports", patBound[2])
}

// createAll creates objs, 16 at a time.
func createAll(b *testing.B, k8s client.Client, objs []client.Object) {
	work := make(chan client.Object)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for o := range work {
				if err := k8s.Create(context.Background(), o); err != nil {
					b.Errorf("creating %T %s/%s: %v", o, o.GetNamespace(), o.GetName(), err)
				}
			}
		})
	}
	for _, o := range objs {
		work <- o
	}
	close(work)
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
}

// BenchmarkScope measures a person's Scope over 2,000 namespaces holding reports, asked as the
// console's ServiceAccount (so the API server's priority and fairness treats the reviews as it
// will in a cluster): with an empty cache each time (cold) and with every answer remembered
// (warm, what each further page costs within the TTL). SARs/op counts the reviews,
// apiserver-CPU-ms/op the API server's CPU time spent meanwhile.
func BenchmarkScope(b *testing.B) {
	benchCluster(b)
	grantReviews(b, "console-system", "bench")
	reviews, err := access.NewReviews(serviceAccountConfig(b, "console-system", "bench"))
	if err != nil {
		b.Fatal(err)
	}
	waitMayReview(b, reviews)
	policyReports := access.Holdings{"PolicyReport": benchNames, "ClusterPolicyReport": nil}
	both := access.Holdings{"PolicyReport": benchNames, "ClusterPolicyReport": nil, "Report": benchNames, "ClusterReport": nil}
	b.Run("cold/policyreports", func(b *testing.B) { benchScope(b, reviews, policyReports, access.Options{}, false) })
	b.Run("cold/policyreports+reports", func(b *testing.B) { benchScope(b, reviews, both, access.Options{}, false) })
	b.Run("warm/policyreports+reports", func(b *testing.B) { benchScope(b, reviews, both, access.Options{}, true) })
	// With the opt-in RoleBinding index, fed by a real informer of the API server's 2,003
	// RoleBindings.
	index := watchedBindings(b)
	b.Run("cold/policyreports/rolebinding-index", func(b *testing.B) { benchScope(b, reviews, policyReports, access.Options{Bindings: index}, false) })
	b.Run("cold/policyreports+reports/rolebinding-index", func(b *testing.B) { benchScope(b, reviews, both, access.Options{Bindings: index}, false) })
}

// BenchmarkScopeClient measures the cold Scope of BenchmarkScope (PolicyReports) with the
// client tuned other ways: protobuf instead of JSON, HTTP/1.1 connections instead of one HTTP/2
// connection, 4 or 64 reviews in flight instead of 16. None changes the API server's CPU per
// review much (docs/console.md: What access costs). On a shared machine compare apiserver-CPU-ms/op,
// which other work disturbs less than the wall time.
func BenchmarkScopeClient(b *testing.B) {
	benchCluster(b)
	grantReviews(b, "console-system", "bench")
	cfg := serviceAccountConfig(b, "console-system", "bench")
	held := access.Holdings{"PolicyReport": benchNames, "ClusterPolicyReport": nil}
	for _, v := range []struct {
		name     string
		tune     func(*rest.Config)
		inFlight int
	}{
		{"json/http2/16", func(*rest.Config) {}, 16},
		{"protobuf/http2/16", func(c *rest.Config) {
			c.ContentType = "application/vnd.kubernetes.protobuf"
			c.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
		}, 16},
		{"json/http1.1/16", func(c *rest.Config) { c.NextProtos = []string{"http/1.1"} }, 16},
		{"json/http2/4", func(*rest.Config) {}, 4},
		{"json/http2/64", func(*rest.Config) {}, 64},
	} {
		c := rest.CopyConfig(cfg)
		v.tune(c)
		reviews, err := access.NewReviews(c)
		if err != nil {
			b.Fatal(err)
		}
		waitMayReview(b, reviews)
		b.Run(v.name, func(b *testing.B) { benchScope(b, reviews, held, access.Options{InFlight: v.inFlight}, false) })
	}
}

func benchScope(b *testing.B, reviews access.SubjectAccessReviews, held access.Holdings, opts access.Options, warm bool) {
	counted := &countingReviews{inner: reviews}
	a := access.New(counted, opts)
	if warm {
		scopeOfPat(b, a, held)
		counted.take()
	}
	cpuBefore, cpuKnown := apiServerCPU()
	b.ResetTimer()
	for range b.N {
		if !warm {
			a = access.New(counted, opts)
		}
		scopeOfPat(b, a, held)
	}
	b.StopTimer()
	b.ReportMetric(float64(len(counted.take()))/float64(b.N), "SARs/op")
	if cpuAfter, ok := apiServerCPU(); ok && cpuKnown {
		b.ReportMetric(float64((cpuAfter-cpuBefore).Milliseconds())/float64(b.N), "apiserver-CPU-ms/op")
	}
}

// scopeOfPat computes pat's Scope and checks it is exactly the three namespaces.
func scopeOfPat(b *testing.B, a *access.Authorizer, held access.Holdings) {
	s, err := a.Scope(context.Background(), pat, held)
	if err != nil {
		b.Fatal(err)
	}
	if len(s.Warnings) > 0 {
		b.Fatal(s.Warnings)
	}
	for kind := range held {
		all, nss := s.Namespaces(kind)
		if all || (kind == "PolicyReport" || kind == "Report") && fmt.Sprint(nss) != fmt.Sprint(patBound) {
			b.Fatalf("%s: all %v, namespaces %v", kind, all, nss)
		}
	}
}

// waitMayReview waits until the API server lets the console's ServiceAccount create reviews.
func waitMayReview(b *testing.B, reviews access.SubjectAccessReviews) {
	var err error
	if !wait.Until(30*time.Second, func() bool {
		_, err = reviews.Create(context.Background(), &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: "pat", ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "list", Resource: "pods"}}}, metav1.CreateOptions{})
		return err == nil
	}) {
		b.Fatal(err)
	}
}
