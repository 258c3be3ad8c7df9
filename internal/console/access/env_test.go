package access_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/policyherald/policy-herald/internal/console/access"
	"github.com/policyherald/policy-herald/internal/scheme"
	"github.com/policyherald/policy-herald/internal/testing/wait"
)

// The tests run against a real kube-apiserver with RBAC authorization (envtest), with the report
// CRDs and the real kube-controller-manager filling the aggregated view role, started once for
// the package on first use:
// KUBEBUILDER_ASSETS=$(hack/control-plane.sh) go test ./internal/console/access/

type testServer struct {
	once sync.Once
	env  *envtest.Environment
	kcm  *exec.Cmd
	dir  string
	cfg  *rest.Config
	k8s  client.Client
	cs   kubernetes.Interface
	err  error
}

var apiServer testServer

func TestMain(m *testing.M) {
	code := m.Run()
	s := &apiServer
	if s.kcm != nil {
		_ = s.kcm.Process.Kill()
		_ = s.kcm.Wait()
	}
	if s.env != nil {
		if err := s.env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the test control plane:", err)
		}
	}
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
	os.Exit(code)
}

// server starts the test API server once and returns its admin clients.
func server(t testing.TB) (client.Client, kubernetes.Interface) {
	t.Helper()
	s := &apiServer
	s.once.Do(func() { s.err = start(s) })
	if s.err != nil {
		t.Fatalf("test API server: %v", s.err)
	}
	return s.k8s, s.cs
}

func start(s *testServer) error {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		return fmt.Errorf("KUBEBUILDER_ASSETS is not set: run KUBEBUILDER_ASSETS=$(hack/control-plane.sh) go test ./internal/console/access/")
	}
	s.env = &envtest.Environment{CRDDirectoryPaths: []string{filepath.Join("..", "..", "..", "hack", "crds")}, ErrorIfCRDPathMissing: true}
	var err error
	if s.cfg, err = s.env.Start(); err != nil {
		return err
	}
	s.cfg.QPS, s.cfg.Burst = -1, 0 // the setup creates thousands of objects
	if s.k8s, err = client.New(s.cfg, client.Options{Scheme: scheme.New()}); err != nil {
		return err
	}
	if s.cs, err = kubernetes.NewForConfig(s.cfg); err != nil {
		return err
	}
	if s.dir, err = os.MkdirTemp("", "access-test-"); err != nil {
		return err
	}
	if s.kcm, err = startAggregation(s.cfg, assets, s.dir); err != nil {
		return err
	}
	return installViewRoles(s.k8s)
}

// startAggregation runs kube-controller-manager (built by hack/control-plane.sh next to the
// kube-apiserver) with only its ClusterRole aggregation controller, which fills the built-in
// view role in a real cluster. (controllers/rbac runs it the same way.)
func startAggregation(cfg *rest.Config, assets, dir string) (*exec.Cmd, error) {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin"}
	kc.CurrentContext = "envtest"
	path := filepath.Join(dir, "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	cmd := exec.Command(filepath.Join(assets, "kube-controller-manager"), "--kubeconfig="+path,
		"--controllers=clusterrole-aggregation-controller", "--leader-elect=false", "--secure-port=0")
	cmd.Stdout, cmd.Stderr = &out, &out
	return cmd, cmd.Start()
}

// installViewRoles aggregates read access to the report kinds into view, as the policy engines'
// charts do (Kyverno's, for one), and Policy Herald's own viewer role from config/rbac, and waits
// until view carries both.
func installViewRoles(k8s client.Client) error {
	ctx := context.Background()
	reports := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "reports-view", Labels: map[string]string{"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"wgpolicyk8s.io"}, Resources: []string{"policyreports", "clusterpolicyreports"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{"openreports.io"}, Resources: []string{"reports", "clusterreports"}, Verbs: []string{"get", "list", "watch"}},
		},
	}
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "config", "rbac", "viewer_role.yaml"))
	if err != nil {
		return err
	}
	viewer := &rbacv1.ClusterRole{}
	if err := yaml.Unmarshal(b, viewer); err != nil {
		return err
	}
	for _, r := range []*rbacv1.ClusterRole{reports, viewer} {
		if err := k8s.Create(ctx, r); err != nil {
			return err
		}
	}
	var view rbacv1.ClusterRole
	if wait.Until(60*time.Second, func() bool {
		if err = k8s.Get(ctx, client.ObjectKey{Name: "view"}, &view); err != nil {
			return true
		}
		return grants(view.Rules, "policyreports") && grants(view.Rules, "notificationtargets")
	}) {
		return err
	}
	return fmt.Errorf("kube-controller-manager did not aggregate the report kinds into view: %v", view.Rules)
}

func grants(rules []rbacv1.PolicyRule, resource string) bool {
	for _, r := range rules {
		if slices.Contains(r.Resources, resource) {
			return true
		}
	}
	return false
}

// countingReviews asks the real API server and records each question it is asked, in order.
type countingReviews struct {
	inner access.SubjectAccessReviews
	mu    sync.Mutex
	asked []string // "verb resource namespace[/name]"
}

func (c *countingReviews) Create(ctx context.Context, sar *authorizationv1.SubjectAccessReview, opts metav1.CreateOptions) (*authorizationv1.SubjectAccessReview, error) {
	a := sar.Spec.ResourceAttributes
	q := a.Verb + " " + a.Resource + " " + a.Namespace
	if a.Name != "" {
		q += "/" + a.Name
	}
	c.mu.Lock()
	c.asked = append(c.asked, q)
	c.mu.Unlock()
	return c.inner.Create(ctx, sar, opts)
}

// take returns the questions asked since the last take.
func (c *countingReviews) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.asked
	c.asked = nil
	return out
}

// adminReviews counts the reviews of the console made as the test API server's admin.
func adminReviews(t testing.TB) *countingReviews {
	t.Helper()
	server(t)
	r, err := access.NewReviews(apiServer.cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &countingReviews{inner: r}
}
