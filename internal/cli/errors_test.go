package cli

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"

	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// TestUnreachableContext: a context whose server does not answer is named in the error.
func TestUnreachableContext(t *testing.T) {
	addr := unreachableContext(t, "gone")
	_, _, err := herald(t, context.Background(), "gone", "results", "list")
	if err == nil || !strings.Contains(err.Error(), `cannot reach the cluster of context "envtest" at https://`+addr) {
		t.Errorf("err = %v; want it to name the context and the server", err)
	}
}

// TestNoReportAPI: a cluster without any report CRD says so instead of listing nothing, and
// one without Policy Herald says that.
func TestNoReportAPI(t *testing.T) {
	env := &envtest.Environment{}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = env.Stop() }()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := writeKubeconfig(path, cfg, cfg.Host, &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData}); err != nil {
		t.Fatal(err)
	}
	kubeconfigs["bare"] = path
	defer delete(kubeconfigs, "bare")
	for _, args := range [][]string{{"results", "list"}, {"results", "summary", "-A"}} {
		_, _, err := herald(t, context.Background(), "bare", args...)
		if err == nil || !strings.Contains(err.Error(), "no report API is installed") {
			t.Errorf("%v: %v; want it to say no report API is installed", args, err)
		}
	}
	// Policy Herald's own commands say it is not installed.
	for _, args := range [][]string{{"status"}, {"test", "x"}, {"test", "channel", "x"}} {
		_, _, err := herald(t, context.Background(), "bare", args...)
		if err == nil || !strings.Contains(err.Error(), "Policy Herald is not installed") {
			t.Errorf("%v: %v; want it to say Policy Herald is not installed", args, err)
		}
	}
}

// unreachableContext registers user as a kubeconfig whose server is a loopback address nothing listens
// on, until the test ends, and returns that address.
func unreachableContext(t *testing.T, user string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close() // nothing listens there now
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := writeKubeconfig(path, world.Cfg, "https://"+addr, &clientcmdapi.AuthInfo{Token: "x"}); err != nil {
		t.Fatal(err)
	}
	kubeconfigs[user] = path
	t.Cleanup(func() { delete(kubeconfigs, user) })
	return addr
}
