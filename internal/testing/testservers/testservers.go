// Package testservers runs, for tests, the real servers that hack/test-servers.sh builds into
// the directory POLICY_HERALD_SERVERS names (`make test` sets it): VictoriaLogs, Prometheus
// Alertmanager, kinesalite. A test whose server is missing fails; it is never skipped.
package testservers

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/policyherald/policy-herald/internal/testing/syncbuf"

	"github.com/policyherald/policy-herald/internal/testing/wait"
)

// Path returns the path of name (a binary, or a folder such as kinesalite) under
// POLICY_HERALD_SERVERS.
func Path(t testing.TB, name string) string {
	t.Helper()
	dir := os.Getenv("POLICY_HERALD_SERVERS")
	if dir == "" {
		t.Fatalf("POLICY_HERALD_SERVERS is not set: run the tests with make test, or set it to the output of hack/test-servers.sh")
	}
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%v: run hack/test-servers.sh", err)
	}
	return p
}

// LoopbackPort returns a TCP port free on 127.0.0.1 right now.
func LoopbackPort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }() // only its port was wanted
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// Start runs a real server until the test ends and waits until GET ready answers 200. Its
// output is logged when the test fails.
func Start(t testing.TB, ready string, name string, args ...string) {
	t.Helper()
	out := run(t, "", name, args...)
	waitFor(t, name, ready, out, func() error {
		resp, err := http.Get(ready)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", ready, resp.Status)
		}
		return nil
	})
}

// StartListening runs a real server without a health URL from dir until the test ends and
// waits until it accepts TCP connections at addr.
func StartListening(t testing.TB, addr, dir string, name string, args ...string) {
	t.Helper()
	out := run(t, dir, name, args...)
	waitFor(t, name, addr, out, func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
		}
		return err
	})
}

// run starts name in dir (a temporary one if empty), stops it when the test ends, and logs its
// output if the test failed.
func run(t testing.TB, dir, name string, args ...string) *syncbuf.Buffer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	if dir == "" {
		cmd.Dir = t.TempDir()
	}
	out := &syncbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting %s: %v", filepath.Base(name), err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(name), out.String())
		}
	})
	return out
}

// waitFor polls ready until it succeeds, for 20 seconds at most.
func waitFor(t testing.TB, name, what string, out *syncbuf.Buffer, ready func() error) {
	t.Helper()
	var err error
	if !wait.Until(20*time.Second, func() bool { err = ready(); return err == nil }) {
		t.Fatalf("%s did not get ready at %s: %v\n%s", filepath.Base(name), what, err, out.String())
	}
}
