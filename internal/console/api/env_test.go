package api_test

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	openreportsv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"

	wgpolicyv1alpha2 "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
	"github.com/policyherald/policy-herald/internal/console/api"
	"github.com/policyherald/policy-herald/internal/scheme"
	"github.com/policyherald/policy-herald/internal/store"
)

// The tests run against a real kube-apiserver with RBAC authorization and the report CRDs
// (envtest), started once for the package:
// KUBEBUILDER_ASSETS=$(hack/control-plane.sh) go test ./internal/console/api/

// world is the test cluster: its admin config and clients, the report store running on it,
// and the fixture reports created in it.
type world struct {
	cfg    *rest.Config
	k8s    client.Client
	cs     kubernetes.Interface
	store  *store.Store
	cache  cache.Cache // the store's informer cache, which the health page reads
	ctx    context.Context
	raw    []rawResult
	tokens map[string]string // ServiceAccount → token
}

var (
	setup    sync.Once
	theWorld *world
	setupErr error
	stopEnv  func()
)

func TestMain(m *testing.M) {
	code := m.Run()
	if stopEnv != nil {
		stopEnv()
	}
	os.Exit(code)
}

// cluster starts the test cluster once and returns it.
func cluster(t *testing.T) *world {
	t.Helper()
	setup.Do(func() { theWorld, setupErr = start() })
	if setupErr != nil {
		t.Fatalf("test cluster: %v", setupErr)
	}
	return theWorld
}

func start() (*world, error) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return nil, errors.New("KUBEBUILDER_ASSETS is not set: run KUBEBUILDER_ASSETS=$(hack/control-plane.sh) go test ./internal/console/api/")
	}
	env := &envtest.Environment{CRDDirectoryPaths: []string{
		filepath.Join("..", "..", "..", "hack", "crds"), filepath.Join("..", "..", "..", "config", "crd", "bases"),
		filepath.Join("..", "..", "..", "hack", "crds", "kyverno"),
	}, ErrorIfCRDPathMissing: true}
	cfg, err := env.Start()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopEnv = func() { cancel(); _ = env.Stop() }
	w := &world{cfg: cfg, tokens: map[string]string{}}
	w.ctx = ctx
	sch := scheme.New()
	if w.k8s, err = client.New(cfg, client.Options{Scheme: sch}); err != nil {
		return nil, err
	}
	if w.cs, err = kubernetes.NewForConfig(cfg); err != nil {
		return nil, err
	}
	if err := w.createFixtures(ctx); err != nil {
		return nil, err
	}
	if err := w.createPolicies(ctx); err != nil {
		return nil, err
	}
	if err := w.createHeraldObjects(ctx); err != nil {
		return nil, err
	}
	if err := w.startStore(ctx, sch); err != nil {
		return nil, err
	}
	return w, w.createPeople(ctx)
}

// startStore runs the operator's report store on the cluster until it holds every fixture.
func (w *world) startStore(ctx context.Context, sch *runtime.Scheme) error {
	ca, err := cache.New(w.cfg, cache.Options{Scheme: sch})
	if err != nil {
		return err
	}
	w.cache = ca
	go func() { _ = ca.Start(ctx) }()
	wc, err := client.NewWithWatch(w.cfg, client.Options{Scheme: sch})
	if err != nil {
		return err
	}
	w.store = store.New(wc, ca, zap.New(zap.UseDevMode(true)))
	go func() { _ = w.store.Start(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for w.store.Results() != len(w.raw) {
		if time.Now().After(deadline) {
			return errors.New("the store did not get every fixture report")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// createFixtures creates team-a and team-b with the real fixture reports and an openreports.io
// Report each, and the Falco ClusterPolicyReport.
func (w *world) createFixtures(ctx context.Context) error {
	for _, ns := range []string{"team-a", "team-b", "people"} {
		if err := w.k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return err
		}
	}
	var objs []client.Object
	for _, f := range []struct{ file, namespace string }{
		{"sample-cis-k8s.yaml", "team-a"},
		{"sample-falco-policy.yaml", "team-a"}, // and its ClusterPolicyReport
		{"trivy-adapter-policyreport.yaml", "team-b"},
	} {
		o, err := loadYAML(filepath.Join("..", "..", "..", "testdata", "reports", f.file), f.namespace)
		if err != nil {
			return err
		}
		objs = append(objs, o...)
	}
	objs = append(objs, openReport("team-a", "fail", "pass"), openReport("team-b", "warn", "fail", "pass"), kyvernoPolicies())
	for _, o := range objs {
		if err := w.k8s.Create(ctx, o); err != nil {
			return err
		}
	}
	w.raw = rawResults(objs)
	return nil
}

// openReport is an openreports.io Report in ns with a result of each status.
func openReport(ns string, statuses ...string) *openreportsv1alpha1.Report {
	r := &openreportsv1alpha1.Report{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kyverno-" + ns}}
	for i, s := range statuses {
		r.Results = append(r.Results, openreportsv1alpha1.ReportResult{
			Source: "kyverno", Policy: "require-labels", Rule: "rule-" + string(rune('a'+i)),
			Result:   openreportsv1alpha1.Result(s),
			Subjects: []corev1.ObjectReference{{APIVersion: "v1", Kind: "Pod", Namespace: ns, Name: "web"}},
		})
	}
	return r
}

// loadYAML reads every report of a YAML file; namespaced ones are put in namespace.
func loadYAML(path, namespace string) ([]client.Object, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := k8syaml.NewYAMLReader(bufio.NewReader(f))
	var out []client.Object
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			return nil, err
		}
		var o client.Object
		switch tm.Kind {
		case "PolicyReport":
			o = &wgpolicyv1alpha2.PolicyReport{}
		case "ClusterPolicyReport":
			o = &wgpolicyv1alpha2.ClusterPolicyReport{}
		default:
			return nil, errors.New(path + ": unexpected kind " + tm.Kind)
		}
		if err := yaml.Unmarshal(doc, o); err != nil {
			return nil, err
		}
		if tm.Kind == "PolicyReport" {
			o.SetNamespace(namespace)
		}
		o.SetResourceVersion("")
		o.SetUID("")
		out = append(out, o) // owner references stay: the Trivy adapter's names its Pod
	}
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

// people are the test's persons, each a ServiceAccount in namespace people.
var people = []string{"alice", "bob", "carol", "dave"}

// createPeople creates the ServiceAccounts alice (may read reports and Policy Herald's objects
// in team-a), bob (nothing), carol (everything everywhere) and dave (one NotificationTarget of
// team-b, no report), and a token of each from the TokenRequest API.
func (w *world) createPeople(ctx context.Context) error {
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "report-reader"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{"wgpolicyk8s.io"}, Resources: []string{"policyreports", "clusterpolicyreports"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{"openreports.io"}, Resources: []string{"reports", "clusterreports"}, Verbs: []string{"get", "list", "watch"}},
	}}
	ref := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name}
	subject := func(name string) []rbacv1.Subject {
		return []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: "people", Name: name}}
	}
	objs := []client.Object{role,
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "alice"}, RoleRef: ref, Subjects: subject("alice")},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "carol"}, RoleRef: ref, Subjects: subject("carol")},
	}
	objs = append(objs, heraldViewers(subject)...)
	for _, name := range people {
		objs = append(objs, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "people", Name: name}})
	}
	for _, o := range objs {
		if err := w.k8s.Create(ctx, o); err != nil {
			return err
		}
	}
	for _, name := range people {
		tr, err := w.cs.CoreV1().ServiceAccounts("people").CreateToken(ctx, name, &authenticationv1.TokenRequest{
			Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(3600))}}, metav1.CreateOptions{})
		if err != nil {
			return err
		}
		w.tokens[name] = tr.Status.Token
	}
	return nil
}

// countingReviews counts the TokenReviews made through it.
type countingReviews struct {
	inner api.TokenReviews
	mu    sync.Mutex
	n     int
}

func (c *countingReviews) Create(ctx context.Context, tr *authenticationv1.TokenReview, opts metav1.CreateOptions) (*authenticationv1.TokenReview, error) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	return c.inner.Create(ctx, tr, opts)
}

func (c *countingReviews) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// restTLS is the TLS configuration of a plain HTTP test server.
func restTLS() rest.TLSClientConfig { return rest.TLSClientConfig{} }
