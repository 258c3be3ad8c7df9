package delivery

import (
	"os"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/policyherald/policy-herald/internal/testing/apiserver"
)

// The tests that need the ledger on a real API server (restarts that must not repeat what was
// sent) run against a kube-apiserver and etcd (envtest), started once for the package on first
// use: KUBEBUILDER_ASSETS=$(hack/control-plane.sh) go test ./internal/delivery/

func TestMain(m *testing.M) { os.Exit(apiserver.Run(m)) }

// realAPIServer returns a client of the test API server and a new namespace for the test.
func realAPIServer(t *testing.T) (client.WithWatch, string) {
	t.Helper()
	s := apiserver.Get(t)
	return s.Client, s.Namespace(t, "delivery")
}
