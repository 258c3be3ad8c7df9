package api_test

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"

	"github.com/policyherald/policy-herald/internal/console/server"
)

// TestConsoleCommand runs `policy-herald console` as main runs it, on loopback: it becomes
// ready once its own store synced (no leader election), serves the API with the
// person's view, and stops cleanly when its context ends; with the RoleBinding index too.
func TestConsoleCommand(t *testing.T) {
	for _, extra := range []string{"--rolebinding-index=false", "--rolebinding-index"} {
		t.Run(extra, func(t *testing.T) { runConsoleCommand(t, extra) })
	}
}

func runConsoleCommand(t *testing.T, extra string) {
	w := cluster(t)
	f, err := server.ParseFlags([]string{"--bind-address=127.0.0.1:0", "--health-probe-bind-address=" + freeAddr(t), "--cache-ttl=2s", extra}, t.Output())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr := make(chan net.Addr, 1)
	stopped := make(chan error, 1)
	go func() { stopped <- server.Run(ctx, w.cfg, f, testr.New(t), func(a net.Addr) { addr <- a }) }()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a.String()
	case err := <-stopped:
		t.Fatalf("the console stopped: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the console did not listen")
	}
	waitFor(t, "http://"+f.ProbeAddress+"/readyz", "")
	waitFor(t, base+"/api/v1/results?namespace=team-a", w.tokens["alice"])

	var page resultsBody
	getJSON(t, base, w.tokens["alice"], "/api/v1/results", &page)
	if page.Total != w.countIn("team-a") {
		t.Errorf("alice sees %d results through the command, want %d", page.Total, w.countIn("team-a"))
	}
	cancel()
	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("the console stopped with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the console did not stop")
	}
}

// freeAddr returns a loopback address with a port free now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitFor polls url until it answers 200.
func waitFor(t *testing.T, url, token string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer 200: %v %v", url, resp, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
