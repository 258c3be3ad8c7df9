package login_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/policyherald/policy-herald/internal/console/consoletest"
	"github.com/policyherald/policy-herald/internal/console/consoletest/run"
	"github.com/policyherald/policy-herald/internal/console/login"
	"github.com/policyherald/policy-herald/internal/console/server"
	"github.com/policyherald/policy-herald/internal/testing/wait"
)

// TestDevModeCommand runs `policy-herald console --dev` on loopback with the cluster's admin
// as its kubeconfig (its store lists every report, as under `make run`): a request without any
// credentials is that admin and sees every result; a bearer token still wins over the dev user;
// the sign-in page is served too.
func TestDevModeCommand(t *testing.T) {
	w := cluster(t)
	admin, err := login.DevUser(context.Background(), w.Cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base, stopped, err := run.Console(ctx, w.Cfg, logr.Discard(), "--dev")
	if err != nil {
		t.Fatal(err)
	}
	c := &console{url: base}
	if resp := (browser{http.DefaultClient}).get(t, c, "/login"); resp.StatusCode != http.StatusOK || !strings.Contains(read(t, resp), "Kubernetes token") {
		t.Errorf("the sign-in page: %d", resp.StatusCode)
	}
	var status int
	ready := wait.Until(30*time.Second, func() bool {
		resp := (browser{http.DefaultClient}).get(t, c, "/api/v1/access")
		if status = resp.StatusCode; status != http.StatusOK {
			read(t, resp)
			return false
		}
		a := decode[consoletest.Access](t, resp)
		if a.User.Name != admin.Name || a.User.Name == "" {
			t.Errorf("in dev mode a request is %q, want the kubeconfig's user %q", a.User.Name, admin.Name)
		}
		return true
	})
	if !ready {
		t.Fatalf("the console did not become ready: %d", status)
	}
	if n := (browser{http.DefaultClient}).total(t, c); n != reportsIn["team-a"]+reportsIn["team-b"] {
		t.Errorf("the dev user sees %d results, want all %d", n, reportsIn["team-a"]+reportsIn["team-b"])
	}
	req, _ := http.NewRequest(http.MethodGet, c.url+"/api/v1/results", nil)
	req.Header.Set("Authorization", "Bearer "+w.Tokens["sam"])
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

// TestProxyClientCertificateCommand runs `policy-herald console` serving TLS with the proxy's
// client CA: the proxy's headers count on a connection with a client certificate of that CA and
// an allowed name, and are ignored without one; a certificate of another authority fails the
// handshake.
func TestProxyClientCertificateCommand(t *testing.T) {
	w := cluster(t)
	dir := t.TempDir()
	serving, proxies, strangers := newAuthority(t, "serving"), newAuthority(t, "proxies"), newAuthority(t, "strangers")
	certFile, keyFile := writeKeyPair(t, dir, "console", serving.issue(t, "console", x509.ExtKeyUsageServerAuth))
	f, err := server.ParseFlags([]string{"--bind-address=127.0.0.1:0", "--health-probe-bind-address=127.0.0.1:0",
		"--tls-cert-file=" + certFile, "--tls-private-key-file=" + keyFile,
		"--proxy-client-ca-file=" + proxies.writePEM(t, dir, "proxies.crt"), "--proxy-allowed-names=oauth2-proxy"}, t.Output())
	if err != nil {
		t.Fatal(err)
	}
	base := runCommand(t, w, f, "https")
	client := func(cert *tls.Certificate) *http.Client {
		cfg := &tls.Config{RootCAs: serving.pool()}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
	}
	proxy, other := proxies.issue(t, "oauth2-proxy", x509.ExtKeyUsageClientAuth), proxies.issue(t, "someone", x509.ExtKeyUsageClientAuth)
	stranger := strangers.issue(t, "oauth2-proxy", x509.ExtKeyUsageClientAuth)
	get := func(c *http.Client) (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/access", nil)
		req.Header.Set("X-Forwarded-User", "carol")
		req.Header.Set("X-Forwarded-Groups", "oidc:team-a")
		return c.Do(req)
	}
	waitReady(t, func() (*http.Response, error) { return get(client(&proxy)) })
	resp, err := get(client(&proxy))
	if err != nil {
		t.Fatal(err)
	}
	if a := decode[consoletest.Access](t, resp); a.User.Name != "carol" || strings.Join(a.Namespaced["Report"].Namespaces, ",") != "team-a" {
		t.Errorf("with the proxy's certificate: %+v, want carol seeing team-a", a)
	}
	for name, c := range map[string]*http.Client{"no certificate": client(nil), "a name not allowed": client(&other),
		"a certificate of another authority": client(&stranger)} {
		resp, err := get(c)
		if err != nil {
			t.Fatal(err)
		}
		if read(t, resp); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", name, resp.StatusCode)
		}
	}
	// A client sends no certificate the server's authorities did not sign; forced to, the
	// handshake fails.
	forced := client(nil)
	forced.Transport.(*http.Transport).TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		return &stranger, nil
	}
	if resp, err := get(forced); err == nil {
		read(t, resp)
		t.Errorf("a certificate of another authority: %d, want a failed handshake", resp.StatusCode)
	}
}

// runCommand runs the console with f until the test ends and returns its base URL.
func runCommand(t *testing.T, w *world, f server.Flags, scheme string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addr, stopped, err := run.Start(ctx, w.Cfg, f, logr.Discard())
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-stopped; err != nil {
			t.Errorf("the console stopped with %v", err)
		}
	})
	return scheme + "://" + addr
}

// waitReady calls get until it answers anything but 503 (the store syncing).
func waitReady(t *testing.T, get func() (*http.Response, error)) {
	t.Helper()
	wait.For(t, 30*time.Second, "the console to become ready", func() bool {
		resp, err := get()
		if err != nil {
			t.Fatal(err)
		}
		read(t, resp)
		return resp.StatusCode != http.StatusServiceUnavailable
	})
}
