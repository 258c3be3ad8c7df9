package sender

import (
	"testing"

	"github.com/policyherald/policy-herald/internal/testing/testservers"
)

// The real servers of hack/test-servers.sh, for the sender tests (see package testservers).

func serverPath(t testing.TB, name string) string { t.Helper(); return testservers.Path(t, name) }

func loopbackPort(t testing.TB) string { t.Helper(); return testservers.LoopbackPort(t) }

func startServer(t testing.TB, ready string, name string, args ...string) {
	t.Helper()
	testservers.Start(t, ready, name, args...)
}
