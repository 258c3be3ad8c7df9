// Package consoletest is the console's test cluster: a real kube-apiserver and etcd (envtest)
// with RBAC, the report CRDs, real fixture reports in two team namespaces and a cluster report,
// and people with real tokens, each allowed a different part. The console's packages test
// against it; it is imported by tests only.
package consoletest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"

	openreportsv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	wgpolicyv1alpha2 "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
	"github.com/policyherald/policy-herald/internal/scheme"
)

// World is the test cluster.
type World struct {
	Cfg *rest.Config
	K8s client.Client
	// Tokens are the people's tokens: alice may list reports in team-a, bob nothing, carol
	// every report.
	Tokens map[string]string
	// Results counts the fixture results by their report's namespace ("" for cluster reports).
	Results map[string]int
	stop    func() error
}

// Start starts the cluster and creates the fixtures and the people; extra objects (reports
// of the test's own) are created with them.
func Start(ctx context.Context, extra ...client.Object) (*World, error) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return nil, errors.New("KUBEBUILDER_ASSETS is not set: export KUBEBUILDER_ASSETS=$(hack/control-plane.sh)")
	}
	// The report CRDs, Policy Herald's (the health page) and Kyverno's policies (the policy page).
	env := &envtest.Environment{CRDDirectoryPaths: []string{
		filepath.Join(root(), "hack", "crds"), filepath.Join(root(), "config", "crd", "bases"), filepath.Join(root(), "hack", "crds", "kyverno"),
	}, ErrorIfCRDPathMissing: true}
	cfg, err := env.Start()
	if err != nil {
		return nil, err
	}
	w := &World{Cfg: cfg, Tokens: map[string]string{}, Results: map[string]int{}, stop: env.Stop}
	if w.K8s, err = client.New(cfg, client.Options{Scheme: scheme.New()}); err != nil {
		return nil, errors.Join(err, env.Stop())
	}
	if err := w.create(ctx, extra); err != nil {
		return nil, errors.Join(err, env.Stop())
	}
	return w, nil
}

// Stop stops the cluster.
func (w *World) Stop() error { return w.stop() }

// root is the repository's root.
func root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

func (w *World) create(ctx context.Context, extra []client.Object) error {
	for _, ns := range []string{"team-a", "team-b", "people"} {
		if err := w.K8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return err
		}
	}
	objs, err := fixtures()
	if err != nil {
		return err
	}
	for _, o := range append(objs, extra...) {
		if err := w.K8s.Create(ctx, o); err != nil {
			return fmt.Errorf("creating %s/%s: %w", o.GetNamespace(), o.GetName(), err)
		}
		w.Results[o.GetNamespace()] += ResultCount(o)
	}
	return w.createPeople(ctx)
}

// fixtures are the real reports: kube-bench's and Falco's in team-a (and Falco's
// ClusterPolicyReport), Trivy's in team-b, and an openreports.io Report in each.
func fixtures() ([]client.Object, error) {
	var objs []client.Object
	for _, f := range []struct{ file, namespace string }{
		{"sample-cis-k8s.yaml", "team-a"},
		{"sample-falco-policy.yaml", "team-a"},
		{"trivy-adapter-policyreport.yaml", "team-b"},
	} {
		o, err := loadYAML(filepath.Join(root(), "testdata", "reports", f.file), f.namespace)
		if err != nil {
			return nil, err
		}
		objs = append(objs, o...)
	}
	return append(objs, OpenReport("team-a", "fail", "pass"), OpenReport("team-b", "warn", "fail", "pass")), nil
}

// OpenReport is an openreports.io Report in ns with a result of each status.
func OpenReport(ns string, statuses ...string) *openreportsv1alpha1.Report {
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

// ResultCount is the number of results of a report object.
func ResultCount(o client.Object) int {
	switch r := o.(type) {
	case *wgpolicyv1alpha2.PolicyReport:
		return len(r.Results)
	case *wgpolicyv1alpha2.ClusterPolicyReport:
		return len(r.Results)
	case *openreportsv1alpha1.Report:
		return len(r.Results)
	case *openreportsv1alpha1.ClusterReport:
		return len(r.Results)
	}
	return 0
}

// loadYAML reads every report of a YAML file; namespaced ones are put in namespace.
func loadYAML(path, namespace string) ([]client.Object, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
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
		o.SetOwnerReferences(nil)
		out = append(out, o)
	}
}

// createPeople creates the ServiceAccounts alice (may read reports in team-a), bob (nothing)
// and carol (reports everywhere), and a token of each from the TokenRequest API.
func (w *World) createPeople(ctx context.Context) error {
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
	for _, name := range []string{"alice", "bob", "carol"} {
		objs = append(objs, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "people", Name: name}})
	}
	for _, o := range objs {
		if err := w.K8s.Create(ctx, o); err != nil {
			return err
		}
	}
	cs, err := kubernetes.NewForConfig(w.Cfg)
	if err != nil {
		return err
	}
	for _, name := range []string{"alice", "bob", "carol"} {
		tr, err := cs.CoreV1().ServiceAccounts("people").CreateToken(ctx, name, &authenticationv1.TokenRequest{
			Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(3600))}}, metav1.CreateOptions{})
		if err != nil {
			return err
		}
		w.Tokens[name] = tr.Status.Token
	}
	return nil
}

// Total is the number of fixture results.
func (w *World) Total() int {
	n := 0
	for _, c := range w.Results {
		n += c
	}
	return n
}
