package delivery

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/policyherald/policy-herald/internal/scheme"
)

// The tests that need the ledger on a real API server (restarts that must not repeat what was
// sent) run against a kube-apiserver and etcd (envtest), started once for the package on first
// use: KUBEBUILDER_ASSETS=$(hack/control-plane.sh) go test ./internal/delivery/

var apiServer struct {
	once sync.Once
	env  *envtest.Environment
	c    client.WithWatch
	err  error
	ns   atomic.Int64
}

func TestMain(m *testing.M) {
	code := m.Run()
	if apiServer.env != nil {
		if err := apiServer.env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the test control plane:", err)
		}
	}
	os.Exit(code)
}

// realAPIServer returns a client of the test API server and a new namespace for the test.
func realAPIServer(t *testing.T) (client.WithWatch, string) {
	t.Helper()
	s := &apiServer
	s.once.Do(func() {
		if os.Getenv("KUBEBUILDER_ASSETS") == "" {
			s.err = fmt.Errorf("KUBEBUILDER_ASSETS is not set: run KUBEBUILDER_ASSETS=$(hack/control-plane.sh) go test ./internal/delivery/")
			return
		}
		s.env = &envtest.Environment{}
		cfg, err := s.env.Start()
		if err != nil {
			s.err = err
			return
		}
		cfg.QPS, cfg.Burst = -1, 0 // no client-side rate limit
		s.c, s.err = client.NewWithWatch(cfg, client.Options{Scheme: scheme.New()})
	})
	if s.err != nil {
		t.Fatalf("test API server: %v", s.err)
	}
	ns := fmt.Sprintf("delivery-%d", s.ns.Add(1))
	if err := s.c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	return s.c, ns
}
