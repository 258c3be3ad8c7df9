package login_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/policyherald/policy-herald/internal/console/login"
	"github.com/policyherald/policy-herald/internal/console/server"
)

// TestDevModeCommand runs `policy-herald console --dev` on loopback with the cluster's admin
// as its kubeconfig (its store lists every report, as under `make run`): a request without any
// credentials is that admin and sees every result; a bearer token still wins over the dev user;
// the sign-in page is served too.
func TestDevModeCommand(t *testing.T) {
	w := cluster(t)
	probe, err := listen()
	if err != nil {
		t.Fatal(err)
	}
	probeAddr := probe.Addr().String()
	probe.Close()
	f, err := server.ParseFlags([]string{"--dev", "--bind-address=127.0.0.1:0", "--health-probe-bind-address=" + probeAddr}, t.Output())
	if err != nil {
		t.Fatal(err)
	}
	admin, err := login.DevUser(context.Background(), w.cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, stopped := make(chan net.Addr, 1), make(chan error, 1)
	go func() { stopped <- server.Run(ctx, w.cfg, f, logr.Discard(), func(a net.Addr) { addr <- a }) }()
	c := &console{}
	select {
	case a := <-addr:
		c.url = "http://" + a.String()
	case err := <-stopped:
		t.Fatalf("the console stopped: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the console did not listen")
	}
	if resp := (browser{http.DefaultClient}).get(t, c, "/login"); resp.StatusCode != http.StatusOK || !strings.Contains(read(t, resp), "Kubernetes token") {
		t.Errorf("the sign-in page: %d", resp.StatusCode)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp := (browser{http.DefaultClient}).get(t, c, "/api/v1/access")
		if resp.StatusCode == http.StatusOK {
			a := decode[accessAnswer](t, resp)
			if a.User.Name != admin.Name || a.User.Name == "" {
				t.Errorf("in dev mode a request is %q, want the kubeconfig's user %q", a.User.Name, admin.Name)
			}
			break
		}
		read(t, resp)
		if time.Now().After(deadline) {
			t.Fatalf("the console did not become ready: %d", resp.StatusCode)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := (browser{http.DefaultClient}).total(t, c); n != reportsIn["team-a"]+reportsIn["team-b"] {
		t.Errorf("the dev user sees %d results, want all %d", n, reportsIn["team-a"]+reportsIn["team-b"])
	}
	req, _ := http.NewRequest(http.MethodGet, c.url+"/api/v1/results", nil)
	req.Header.Set("Authorization", "Bearer "+w.tokens["sam"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if n := decode[struct {
		Total int `json:"total"`
	}](t, resp).Total; n != reportsIn["team-b"] {
		t.Errorf("with sam's token the dev console shows %d results, want sam's %d", n, reportsIn["team-b"])
	}
	cancel()
	if err := <-stopped; err != nil {
		t.Errorf("the console stopped with %v", err)
	}
}
