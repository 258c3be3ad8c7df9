package login_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	openreportsv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/policyherald/policy-herald/internal/console/consoletest"
)

// The tests run a real OpenID Connect provider (zitadel/oidc's example OP, over TLS on
// loopback) and a real kube-apiserver with RBAC (envtest) that trusts the same provider through
// its own --oidc-* flags, started once for the package:
// KUBEBUILDER_ASSETS=$(hack/control-plane.sh) go test ./internal/console/login/

// The OIDC settings both the API server and the console use.
const (
	clientID     = "policy-herald-console"
	clientSecret = "console-client-secret"
	// publicClientID is a client without a secret (--oidc-client-secret-file left out).
	publicClientID = "policy-herald-console-public"
	groupsClaim    = "groups"
	groupsPrefix   = "oidc:"
)

// world is the test cluster with its identity provider, and the report store on it.
type world struct {
	*consoletest.World
	op *provider
}

var shared consoletest.Shared[*world]

func TestMain(m *testing.M) { os.Exit(shared.Main(m)) }

func cluster(t *testing.T) *world {
	t.Helper()
	return shared.Get(t, start)
}

func start() (*world, error) {
	op, err := startProvider("")
	if err != nil {
		return nil, err
	}
	shared.OnStop(op.close)
	ctx, cancel := context.WithCancel(context.Background())
	cw, err := consoletest.StartWith(ctx, consoletest.Options{
		APIServer: trusting(op), Reports: reports(), People: []string{"sam"}, Objects: readers(),
	})
	if err != nil {
		cancel()
		return nil, err
	}
	shared.OnStop(func() { cancel(); _ = cw.Stop() })
	return &world{World: cw, op: op}, cw.StartStore(ctx)
}

// trusting has the kube-apiserver authenticate ID tokens of op with its own --oidc-* flags
// (username claim and prefix left at their defaults), so a test can compare its names with the
// console's.
func trusting(op *provider) func(*envtest.Environment) {
	return func(env *envtest.Environment) {
		args := env.ControlPlane.GetAPIServer().Configure()
		args.Set("oidc-issuer-url", op.issuer)
		args.Set("oidc-client-id", clientID)
		args.Set("oidc-ca-file", op.caFile)
		args.Set("oidc-groups-claim", groupsClaim)
		args.Set("oidc-groups-prefix", groupsPrefix)
	}
}

// reports are an openreports.io Report in team-a (2 results) and team-b (3), every result
// failing.
func reports() []client.Object {
	var out []client.Object
	for _, ns := range []string{"team-a", "team-b"} {
		r := &openreportsv1alpha1.Report{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kyverno-" + ns}}
		for i := range reportsIn[ns] {
			r.Results = append(r.Results, openreportsv1alpha1.ReportResult{
				Source: "kyverno", Policy: "require-labels", Rule: fmt.Sprintf("rule-%d", i), Result: "fail",
				Subjects: []corev1.ObjectReference{{APIVersion: "v1", Kind: "Pod", Namespace: ns, Name: "web"}},
			})
		}
		out = append(out, r)
	}
	return out
}

// reportsIn is how many results the reports hold in ns.
var reportsIn = map[string]int{"team-a": 2, "team-b": 3}

// readers bind the group oidc:team-a (the provider's "team-a" with the groups prefix) to the
// report reader in team-a, and the ServiceAccount people/sam in team-b.
func readers() []client.Object {
	return []client.Object{
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "team-a-readers"}, RoleRef: consoletest.ReportReader,
			Subjects: []rbacv1.Subject{{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: groupsPrefix + "team-a"}}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: "sam"}, RoleRef: consoletest.ReportReader,
			Subjects: consoletest.Subject("sam")},
	}
}

// tlsClientTrusting is an HTTP client that trusts srv's certificate.
func tlsClientTrusting(srv *httptest.Server) *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 30 * time.Second}
}

// writeCA writes srv's certificate as PEM into dir.
func writeCA(srv *httptest.Server, dir string) (string, error) {
	path := filepath.Join(dir, "oidc-ca.crt")
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	return path, os.WriteFile(path, b, 0o600)
}

// listen reserves a loopback port, so a server's URL is known before its handler is built.
func listen() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }
