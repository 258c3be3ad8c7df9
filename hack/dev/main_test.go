package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/policyherald/policy-herald/internal/testing/wait"
)

func TestExitCode(t *testing.T) {
	running := context.Background()
	stopped, cancel := context.WithCancel(context.Background())
	cancel()
	failure := errors.New("listen tcp 127.0.0.1:8080: bind: address already in use")
	for _, tc := range []struct {
		name string
		ctx  context.Context
		err  error
		want int
	}{
		{"a clean stop after Ctrl-C", stopped, nil, 0},
		{"Ctrl-C while the samples were applied", stopped, fmt.Errorf("applying config/samples: %w", context.Canceled), 0},
		{"the operator's shutdown, canceled by Ctrl-C", stopped, context.Canceled, 0},
		{"a failure", running, failure, 1},
		{"a failure during the shutdown", stopped, fmt.Errorf("failed waiting for all runnables to end within grace period: %w", context.DeadlineExceeded), 1},
		{"a cancellation nobody asked for", running, context.Canceled, 1},
		{"a second Ctrl-C", stopped, errForced, 130},
	} {
		if got := exitCode(tc.ctx, tc.err); got != tc.want {
			t.Errorf("%s: exit code %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestConsoleAddressPrinted: `make run` starts the console in development mode on a real
// control plane and prints where it is; that address serves the admin's view without a login.
func TestConsoleAddressPrinted(t *testing.T) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run with KUBEBUILDER_ASSETS=$(hack/control-plane.sh)")
	}
	cfg, _ := startControlPlane(t, t.TempDir())
	var out strings.Builder
	stop, err := startConsole(context.Background(), cfg, "127.0.0.1:0", "127.0.0.1:0", &out)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	m := regexp.MustCompile(`(?m)^Console: (http://127\.0\.0\.1:\d+/) `).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no console address in %q", out.String())
	}
	var status int
	var body []byte
	if !wait.Until(30*time.Second, func() bool {
		resp, err := http.Get(m[1] + "api/v1/access")
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		status = resp.StatusCode
		return status == http.StatusOK
	}) {
		t.Fatalf("%s: %d %s", m[1], status, body)
	}
	if !strings.Contains(string(body), `"all":true`) {
		t.Errorf("the dev console's access: %s, want every namespace", body)
	}
}
