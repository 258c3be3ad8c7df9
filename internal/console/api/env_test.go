package api_test

import (
	"cmp"
	"context"
	"os"
	"sync"
	"testing"

	openreportsv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	wgpolicyv1alpha2 "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
	"github.com/policyherald/policy-herald/internal/console/consoletest"
)

// The tests run against a real kube-apiserver with RBAC authorization and the report CRDs
// (package consoletest), started once for the package:
// KUBEBUILDER_ASSETS=$(hack/control-plane.sh) go test ./internal/console/api/

// world is the test cluster (the fixtures with their owner references, the Kyverno policies
// and Policy Herald objects they name, and dave, who may get one NotificationTarget of team-b
// and no report), the report store running on it, and the results created as the tests count
// them.
type world struct {
	*consoletest.World
	ctx context.Context
	raw []rawResult
}

var shared consoletest.Shared[*world]

func TestMain(m *testing.M) { os.Exit(shared.Main(m)) }

// cluster starts the test cluster once and returns it.
func cluster(t *testing.T) *world {
	t.Helper()
	return shared.Get(t, start)
}

func start() (*world, error) {
	ctx, cancel := context.WithCancel(context.Background())
	cw, err := consoletest.StartWith(ctx, consoletest.Options{
		KeepOwners: true, Extra: []client.Object{kyvernoPolicies()},
		People: []string{"dave"}, Objects: heraldViewers(consoletest.Subject),
	})
	if err != nil {
		cancel()
		return nil, err
	}
	shared.OnStop(func() { cancel(); _ = cw.Stop() })
	w := &world{World: cw, ctx: ctx, raw: rawResults(cw.Reports)}
	if err := w.createPolicies(ctx); err != nil {
		return nil, err
	}
	if err := w.createHeraldObjects(ctx); err != nil {
		return nil, err
	}
	return w, w.StartStore(ctx)
}

// rawResult is what the tests count of a result, read from the object created: its report's
// namespace, policy, rule, status, and the resource it is about (the one it names, else its
// report's owner), with that resource's namespace (else its report's).
type rawResult struct {
	reportNamespace, policy, rule, status string
	namespace, kind, name                 string
}

func rawResults(objs []client.Object) []rawResult {
	var out []rawResult
	for _, o := range objs {
		base := rawResult{reportNamespace: o.GetNamespace()}
		if owners := o.GetOwnerReferences(); len(owners) > 0 {
			base.namespace, base.kind, base.name = o.GetNamespace(), owners[0].Kind, owners[0].Name
		}
		add := func(policy, rule, status string, subjects []corev1.ObjectReference) {
			r := base
			r.policy, r.rule, r.status = policy, rule, status
			if len(subjects) > 0 {
				r.namespace, r.kind, r.name = subjects[0].Namespace, subjects[0].Kind, subjects[0].Name
			}
			if r.namespace == "" {
				r.namespace = r.reportNamespace
			}
			out = append(out, r)
		}
		switch r := o.(type) {
		case *wgpolicyv1alpha2.PolicyReport:
			for _, x := range r.Results {
				add(x.Policy, x.Rule, string(cmp.Or(x.Result, x.Status)), x.Resources)
			}
		case *wgpolicyv1alpha2.ClusterPolicyReport:
			for _, x := range r.Results {
				add(x.Policy, x.Rule, string(cmp.Or(x.Result, x.Status)), x.Resources)
			}
		case *openreportsv1alpha1.Report:
			for _, x := range r.Results {
				add(x.Policy, x.Rule, string(x.Result), x.Subjects)
			}
		}
	}
	return out
}

// countIn counts the fixture results of reports in namespace ns ("" for cluster reports).
func (w *world) countIn(ns string) int {
	n := 0
	for _, r := range w.raw {
		if r.reportNamespace == ns {
			n++
		}
	}
	return n
}

// counting counts the reviews (TokenReviews, SubjectAccessReviews) made through it.
type counting[R any] struct {
	inner interface {
		Create(ctx context.Context, r R, opts metav1.CreateOptions) (R, error)
	}
	mu sync.Mutex
	n  int
}

func (c *counting[R]) Create(ctx context.Context, r R, opts metav1.CreateOptions) (R, error) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	return c.inner.Create(ctx, r, opts)
}

func (c *counting[R]) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// countingReviews counts the TokenReviews made through it.
type countingReviews = counting[*authenticationv1.TokenReview]

// restTLS is the TLS configuration of a plain HTTP test server.
func restTLS() rest.TLSClientConfig { return rest.TLSClientConfig{} }
