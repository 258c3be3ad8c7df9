// Package apiserver is the test API server (envtest: a kube-apiserver and etcd) of the packages
// whose tests need a real one but not the controllers' suite (the ledger, delivery across
// restarts): started once per test binary on first use, stopped by the package's TestMain.
package apiserver

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/policyherald/policy-herald/internal/scheme"
)

// Server is the running test API server.
type Server struct {
	Config *rest.Config
	Client client.WithWatch
	ns     atomic.Int64
}

var (
	once    sync.Once
	env     *envtest.Environment
	server  *Server
	started error
)

// Get returns the test API server, started on first use; it fails the test when it cannot
// start (KUBEBUILDER_ASSETS unset: run the tests with make test, or
// KUBEBUILDER_ASSETS=$(hack/control-plane.sh)).
func Get(t testing.TB) *Server {
	t.Helper()
	once.Do(func() {
		if os.Getenv("KUBEBUILDER_ASSETS") == "" {
			started = fmt.Errorf("KUBEBUILDER_ASSETS is not set: run KUBEBUILDER_ASSETS=$(hack/control-plane.sh) go test")
			return
		}
		env = &envtest.Environment{}
		cfg, err := env.Start()
		if err != nil {
			started = err
			return
		}
		cfg.QPS, cfg.Burst = -1, 0 // no client-side rate limit
		c, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme.New()})
		server, started = &Server{Config: cfg, Client: c}, err
	})
	if started != nil {
		t.Fatalf("test API server: %v", started)
	}
	return server
}

// Namespace creates a namespace of its own for a test, named prefix-N.
func (s *Server) Namespace(t testing.TB, prefix string) string {
	t.Helper()
	ns := fmt.Sprintf("%s-%d", prefix, s.ns.Add(1))
	if err := s.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	return ns
}

// UserConfig returns the configuration of a new user of the server (with no rights: grant
// them with RBAC).
func (s *Server) UserConfig(name string) (*rest.Config, error) {
	u, err := env.AddUser(envtest.User{Name: name}, nil)
	if err != nil {
		return nil, err
	}
	return u.Config(), nil
}

// Run runs a package's tests (TestMain's m.Run), then stops the server if they started it, and
// returns the exit code.
func Run(m *testing.M) int {
	code := m.Run()
	if env != nil {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the test control plane:", err)
		}
	}
	return code
}
