// Package apiserver runs one test API server (envtest: a real kube-apiserver and etcd) per test
// package: started by the first test that needs it, stopped when the package's tests end.
// KUBEBUILDER_ASSETS names the binaries (make test sets it; or $(hack/control-plane.sh)).
package apiserver

import (
	"fmt"
	"os"
	"sync"
	"testing"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Shared is a test package's API server: declare one, run the tests through Main.
type Shared struct {
	// Env is what to start (CRDs to install); nil: a bare API server.
	Env *envtest.Environment

	once sync.Once
	cfg  *rest.Config
	err  error
}

// Main runs the package's tests and stops the API server if they started it; TestMain calls
// it: os.Exit(s.Main(m)).
func (s *Shared) Main(m *testing.M) int {
	code := m.Run()
	if s.cfg != nil {
		if err := s.Env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the test control plane:", err)
		}
	}
	return code
}

// Config starts the API server on first use and returns its admin configuration, without a
// client-side rate limit; t fails when the server cannot start.
func (s *Shared) Config(t testing.TB) *rest.Config {
	t.Helper()
	s.once.Do(func() {
		if os.Getenv("KUBEBUILDER_ASSETS") == "" {
			s.err = fmt.Errorf("KUBEBUILDER_ASSETS is not set: run KUBEBUILDER_ASSETS=$(hack/control-plane.sh) go test")
			return
		}
		if s.Env == nil {
			s.Env = &envtest.Environment{}
		}
		if s.cfg, s.err = s.Env.Start(); s.err == nil {
			s.cfg.QPS, s.cfg.Burst = -1, 0
		}
	})
	if s.err != nil {
		t.Fatalf("test API server: %v", s.err)
	}
	return rest.CopyConfig(s.cfg)
}
