package server

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-logr/logr"
)

// TestDevRefusedOffLoopback: --dev serves without login, so the command refuses to start it on
// an address other machines reach, before it connects anywhere.
func TestDevRefusedOffLoopback(t *testing.T) {
	for _, addr := range []string{":8090", "0.0.0.0:8090", "[::]:8090", "192.0.2.1:8090"} {
		f, err := ParseFlags([]string{"--dev", "--bind-address=" + addr}, t.Output())
		if err != nil {
			t.Fatal(err)
		}
		err = Run(context.Background(), nil, f, logr.Discard(), nil)
		if err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("--dev --bind-address=%s: %v, want a refusal naming loopback", addr, err)
		}
	}
}

// TestIdentityFlags: OIDC needs a shared session key of 32 bytes and the console's URL; the
// secret files' contents never appear in an error.
func TestIdentityFlags(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good, short, secret := write("key", strings.Repeat("k", 40)+"\n"), write("short", "tooshort-secret\n"), write("secret", "client-s3cret\n")
	two := write("two", strings.Repeat("n", 40)+"\n"+strings.Repeat("o", 40)+"\n")
	shortSecond := write("short-second", strings.Repeat("n", 40)+"\ntooshort-secret\n")
	oidc := []string{"--oidc-issuer-url=https://idp.example", "--oidc-client-id=console", "--oidc-client-secret-file=" + secret}
	for _, tc := range []struct {
		name string
		args []string
		err  string
	}{
		{"OIDC without a session key", append(oidc, "--external-url=https://console.example"), "session key"},
		{"a short session key", append(oidc, "--external-url=https://console.example", "--session-key-file="+short), "at least 32"},
		{"OIDC without the console's URL", append(oidc, "--session-key-file="+good), "--external-url"},
		{"an issuer without a client", []string{"--oidc-issuer-url=https://idp.example"}, "go together"},
		{"a missing proxy secret file", []string{"--proxy-secret-file=" + filepath.Join(dir, "none")}, "--proxy-secret-file"},
		{"OIDC configured", append(oidc, "--external-url=https://console.example", "--session-key-file="+good), ""},
		{"two session keys", append(oidc, "--external-url=https://console.example", "--session-key-file="+two), ""},
		{"a short second key", append(oidc, "--external-url=https://console.example", "--session-key-file="+shortSecond), "session key 2"},
		{"token login alone", nil, ""},
		{"a certificate without its key", []string{"--tls-cert-file=" + good}, "go together"},
		{"a proxy CA without TLS", []string{"--proxy-client-ca-file=" + good}, "needs the console to serve TLS"},
	} {
		f, err := ParseFlags(tc.args, t.Output())
		if err != nil {
			t.Fatal(err)
		}
		err = f.Identity.check(f.BindAddress)
		if err == nil {
			_, err = newIdentity(context.Background(), nil, f, nil, logr.Discard())
		}
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: %v, want an error saying %q", tc.name, err, tc.err)
		case err != nil && (strings.Contains(err.Error(), "tooshort-secret") || strings.Contains(err.Error(), "client-s3cret")):
			t.Errorf("%s: a secret is in the error %q", tc.name, err)
		}
	}
}
