// Package consoletest is the console's test cluster: a real kube-apiserver and etcd (envtest)
// with RBAC, the report CRDs, real fixture reports in two team namespaces and a cluster report,
// people with real tokens, each allowed a different part, and the operator's report store on
// it. The console's packages test against it, one cluster a package (Shared); package run
// runs the console on it. It imports none of the console's packages, so their own tests may
// import it; it is imported by tests only.
package consoletest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/policyherald/policy-herald/internal/console/consoletest/reportgen"
	"github.com/policyherald/policy-herald/internal/scheme"
	"github.com/policyherald/policy-herald/internal/store"
)

// World is the test cluster.
type World struct {
	Cfg *rest.Config
	K8s client.Client
	CS  kubernetes.Interface
	// Tokens are the people's tokens: alice may list reports in team-a, bob nothing, carol
	// every report, and the Options' people what the Options' objects let them.
	Tokens map[string]string
	// Reports are the report objects created, as created, for tests to count on their own.
	Reports []client.Object
	// Results counts the reports' results by their report's namespace ("" for cluster reports).
	Results map[string]int
	// Store and Cache are the operator's report store and its informer cache, once StartStore ran.
	Store *store.Store
	Cache cache.Cache
	stop  func() error
}

// Options change the cluster from the usual one (the zero value).
type Options struct {
	// APIServer configures the control plane before it starts (login: kube-apiserver's --oidc-*).
	APIServer func(*envtest.Environment)
	// Reports replace the fixtures when not nil.
	Reports []client.Object
	// Extra are reports of the test's own, created after Reports or the fixtures.
	Extra []client.Object
	// Namespaces are created besides team-a, team-b and people, for the test's reports.
	Namespaces []string
	// KeepOwners keeps the fixtures' owner references (the Trivy adapter's names its Pod);
	// without it their results name no resource.
	KeepOwners bool
	// People are more ServiceAccounts in namespace people, each given a token.
	People []string
	// Objects (the test's own RBAC) are created with the people.
	Objects []client.Object
}

// Start starts the usual cluster and creates the fixtures and the people; extra objects
// (reports of the test's own) are created with them.
func Start(ctx context.Context, extra ...client.Object) (*World, error) {
	return StartWith(ctx, Options{Extra: extra})
}

// StartWith starts the cluster as o says.
func StartWith(ctx context.Context, o Options) (*World, error) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return nil, errors.New("KUBEBUILDER_ASSETS is not set: export KUBEBUILDER_ASSETS=$(hack/control-plane.sh)")
	}
	// The report CRDs, Policy Herald's (the health page) and Kyverno's policies (the policy page).
	root := reportgen.Root()
	env := &envtest.Environment{CRDDirectoryPaths: []string{
		filepath.Join(root, "hack", "crds"), filepath.Join(root, "config", "crd", "bases"), filepath.Join(root, "hack", "crds", "kyverno"),
	}, ErrorIfCRDPathMissing: true}
	if o.APIServer != nil {
		o.APIServer(env)
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, err
	}
	w := &World{Cfg: cfg, Tokens: map[string]string{}, Results: map[string]int{}, stop: env.Stop}
	if err := w.connect(); err != nil {
		return nil, errors.Join(err, env.Stop())
	}
	if err := w.create(ctx, o); err != nil {
		return nil, errors.Join(err, env.Stop())
	}
	return w, nil
}

// Stop stops the cluster.
func (w *World) Stop() error { return w.stop() }

func (w *World) connect() (err error) {
	if w.K8s, err = client.New(w.Cfg, client.Options{Scheme: scheme.New()}); err != nil {
		return err
	}
	w.CS, err = kubernetes.NewForConfig(w.Cfg)
	return err
}

func (w *World) create(ctx context.Context, o Options) error {
	for _, ns := range append([]string{"team-a", "team-b", "people"}, o.Namespaces...) {
		if err := w.K8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return err
		}
	}
	reports := o.Reports
	if reports == nil {
		var err error
		if reports, err = fixtures(o.KeepOwners); err != nil {
			return err
		}
	}
	for _, r := range append(reports, o.Extra...) {
		if err := w.K8s.Create(ctx, r); err != nil {
			return fmt.Errorf("creating %s/%s: %w", r.GetNamespace(), r.GetName(), err)
		}
		w.Reports = append(w.Reports, r)
		w.Results[r.GetNamespace()] += reportgen.ResultCount(r)
	}
	return w.createPeople(ctx, o.People, o.Objects)
}

// fixtures are the real reports: kube-bench's and Falco's in team-a (and Falco's
// ClusterPolicyReport), Trivy's in team-b, and an openreports.io Report in each.
func fixtures(keepOwners bool) ([]client.Object, error) {
	var objs []client.Object
	for _, f := range []struct{ file, namespace string }{
		{"sample-cis-k8s.yaml", "team-a"},
		{"sample-falco-policy.yaml", "team-a"},
		{"trivy-adapter-policyreport.yaml", "team-b"},
	} {
		o, err := reportgen.Fixture(f.file, f.namespace)
		if err != nil {
			return nil, err
		}
		objs = append(objs, o...)
	}
	if !keepOwners {
		for _, o := range objs {
			o.SetOwnerReferences(nil)
		}
	}
	return append(objs, reportgen.OpenReport("team-a", "fail", "pass"), reportgen.OpenReport("team-b", "warn", "fail", "pass")), nil
}

// Total is the number of results created.
func (w *World) Total() int {
	n := 0
	for _, c := range w.Results {
		n += c
	}
	return n
}
