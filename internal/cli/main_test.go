package cli

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/policyherald/policy-herald/internal/console/consoletest"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/ with what the commands print")

// world is the test cluster: consoletest's real reports and people (alice may read team-a,
// bob nothing, carol every report), with Policy Herald's CRDs installed too.
var world *consoletest.World

// kubeconfigs are the kubeconfig files of the cluster's administrator ("admin") and people.
var kubeconfigs = map[string]string{}

// testNow is the clock of AGE columns, so golden tables do not age.
var testNow = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// operatorCRDs is the directory of Policy Herald's CRDs.
var operatorCRDs = filepath.Join("..", "..", "config", "crd", "bases")

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx := context.Background()
	var err error
	if world, err = consoletest.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = world.Stop() }()
	crds := envtest.CRDInstallOptions{Paths: []string{operatorCRDs}, ErrorIfPathMissing: true}
	if _, err := envtest.InstallCRDs(world.Cfg, crds); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	dir, err := os.MkdirTemp("", "kubectl-herald-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	users := map[string]*clientcmdapi.AuthInfo{"admin": {ClientCertificateData: world.Cfg.CertData, ClientKeyData: world.Cfg.KeyData}}
	for name, token := range world.Tokens {
		users[name] = &clientcmdapi.AuthInfo{Token: token}
	}
	for name, user := range users {
		path := filepath.Join(dir, name+".kubeconfig")
		if err := writeKubeconfig(path, world.Cfg, world.Cfg.Host, user); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		kubeconfigs[name] = path
	}
	return m.Run()
}

// writeKubeconfig writes a kubeconfig of one context, "envtest", for user on server.
func writeKubeconfig(path string, cfg *rest.Config, server string, user *clientcmdapi.AuthInfo) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["user"] = user
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "user", Namespace: "default"}
	kc.CurrentContext = "envtest"
	return clientcmd.WriteToFile(*kc, path)
}

// herald runs kubectl-herald as user with args and returns what it printed.
func herald(t testing.TB, ctx context.Context, user string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRoot(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, func(o *Options) {
		o.Now = func() time.Time { return testNow }
	})
	root.SetArgs(append([]string{"--kubeconfig", kubeconfigs[user]}, args...))
	err = root.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}

// golden compares got with testdata/name.golden, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/cli/ -update to write it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from %s:\n--- got\n%s\n--- want\n%s", name, path, got, want)
	}
}

// heraldPaged runs kubectl-herald as the administrator with LIST pages of size reports.
func heraldPaged(t testing.TB, size int64, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRoot(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, func(o *Options) {
		o.Now = func() time.Time { return testNow }
		o.PageSize = size
	})
	root.SetArgs(append([]string{"--kubeconfig", kubeconfigs["admin"]}, args...))
	err = root.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}
