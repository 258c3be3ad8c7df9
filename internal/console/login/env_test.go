package login_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	openreportsv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/policyherald/policy-herald/internal/scheme"
	"github.com/policyherald/policy-herald/internal/store"
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
	cfg    *rest.Config
	k8s    client.Client
	cs     kubernetes.Interface
	store  *store.Store
	op     *provider
	tokens map[string]string // ServiceAccount in "people" → token
}

var (
	setup    sync.Once
	theWorld *world
	setupErr error
	stopAll  []func()
)

func TestMain(m *testing.M) {
	code := m.Run()
	for i := len(stopAll) - 1; i >= 0; i-- {
		stopAll[i]()
	}
	os.Exit(code)
}

func cluster(t *testing.T) *world {
	t.Helper()
	setup.Do(func() { theWorld, setupErr = start() })
	if setupErr != nil {
		t.Fatalf("test cluster: %v", setupErr)
	}
	return theWorld
}

func start() (*world, error) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return nil, errors.New("KUBEBUILDER_ASSETS is not set: run KUBEBUILDER_ASSETS=$(hack/control-plane.sh) go test ./internal/console/login/")
	}
	op, err := startProvider("")
	if err != nil {
		return nil, err
	}
	stopAll = append(stopAll, op.close)
	env, err := apiServerTrusting(op)
	if err != nil {
		return nil, err
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopAll = append(stopAll, func() { cancel(); _ = env.Stop() })
	w := &world{cfg: cfg, op: op, tokens: map[string]string{}}
	if w.k8s, err = client.New(cfg, client.Options{Scheme: scheme.New()}); err != nil {
		return nil, err
	}
	if w.cs, err = kubernetes.NewForConfig(cfg); err != nil {
		return nil, err
	}
	if err := w.createReports(ctx); err != nil {
		return nil, err
	}
	if err := w.createPeople(ctx); err != nil {
		return nil, err
	}
	return w, w.startStore(ctx)
}

// apiServerTrusting is an envtest control plane whose kube-apiserver authenticates ID tokens of
// op with kube-apiserver's own --oidc-* flags (username claim and prefix left at their
// defaults), so a test can compare its names with the console's.
func apiServerTrusting(op *provider) (*envtest.Environment, error) {
	env := &envtest.Environment{CRDDirectoryPaths: []string{filepath.Join("..", "..", "..", "hack", "crds")}, ErrorIfCRDPathMissing: true}
	args := env.ControlPlane.GetAPIServer().Configure()
	args.Set("oidc-issuer-url", op.issuer)
	args.Set("oidc-client-id", clientID)
	args.Set("oidc-ca-file", op.caFile)
	args.Set("oidc-groups-claim", groupsClaim)
	args.Set("oidc-groups-prefix", groupsPrefix)
	return env, nil
}

// createReports creates an openreports.io Report in team-a (2 results) and team-b (3).
func (w *world) createReports(ctx context.Context) error {
	for _, ns := range []string{"team-a", "team-b", "people"} {
		if err := w.k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return err
		}
	}
	for ns, n := range map[string]int{"team-a": 2, "team-b": 3} {
		r := &openreportsv1alpha1.Report{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kyverno-" + ns}}
		for i := range n {
			r.Results = append(r.Results, openreportsv1alpha1.ReportResult{
				Source: "kyverno", Policy: "require-labels", Rule: fmt.Sprintf("rule-%d", i), Result: "fail",
				Subjects: []corev1.ObjectReference{{APIVersion: "v1", Kind: "Pod", Namespace: ns, Name: "web"}},
			})
		}
		if err := w.k8s.Create(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

// reportsIn is how many results the reports of createReports hold in ns.
var reportsIn = map[string]int{"team-a": 2, "team-b": 3}

// createPeople binds the group oidc:team-a (the provider's "team-a" with the groups prefix) to a
// report reader in team-a, and creates the ServiceAccount people/sam, reader in team-b, with a
// token.
func (w *world) createPeople(ctx context.Context) error {
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "report-reader"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{"wgpolicyk8s.io"}, Resources: []string{"policyreports", "clusterpolicyreports"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{"openreports.io"}, Resources: []string{"reports", "clusterreports"}, Verbs: []string{"get", "list", "watch"}},
	}}
	ref := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name}
	objs := []client.Object{role,
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "team-a-readers"}, RoleRef: ref,
			Subjects: []rbacv1.Subject{{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: groupsPrefix + "team-a"}}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: "sam"}, RoleRef: ref,
			Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: "people", Name: "sam"}}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "people", Name: "sam"}},
	}
	for _, o := range objs {
		if err := w.k8s.Create(ctx, o); err != nil {
			return err
		}
	}
	tr, err := w.cs.CoreV1().ServiceAccounts("people").CreateToken(ctx, "sam", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(3600))}}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	w.tokens["sam"] = tr.Status.Token
	return nil
}

// startStore runs the operator's report store on the cluster until it holds every report.
func (w *world) startStore(ctx context.Context) error {
	sch := scheme.New()
	ca, err := cache.New(w.cfg, cache.Options{Scheme: sch})
	if err != nil {
		return err
	}
	go func() { _ = ca.Start(ctx) }()
	wc, err := client.NewWithWatch(w.cfg, client.Options{Scheme: sch})
	if err != nil {
		return err
	}
	w.store = store.New(wc, ca, zap.New(zap.UseDevMode(true)))
	go func() { _ = w.store.Start(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for w.store.Results() != reportsIn["team-a"]+reportsIn["team-b"] {
		if time.Now().After(deadline) {
			return errors.New("the store did not get every report")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
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
