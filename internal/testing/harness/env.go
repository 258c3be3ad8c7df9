// Package harness is what hack/load, hack/faults and test/e2e share: the operator as its own
// process, the local control plane (envtest) and the harness's client of it, the
// NotificationTarget under test, and the webhook wire format the receivers read. It lives in
// the operator's module because test/e2e does; hack/ is a module of its own.
package harness

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	wgpolicy "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
)

// Context is the context of a whole run: it ends on SIGINT or SIGTERM or after timeout. It also
// silences controller-runtime's logger: envtest's own logging would drown the tables.
func Context(timeout time.Duration) (context.Context, context.CancelFunc) {
	ctrl.SetLogger(logr.Discard())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	return ctx, func() { cancel(); stop() }
}

// CRDPaths are the CRDs the control plane starts with: the operator's and the report APIs'.
var CRDPaths = []string{filepath.Join("config", "crd", "bases"), filepath.Join("hack", "crds")}

// StartEnv starts the local control plane with CRDPaths installed.
func StartEnv() (*envtest.Environment, *rest.Config, error) {
	env := &envtest.Environment{CRDDirectoryPaths: CRDPaths, ErrorIfCRDPathMissing: true}
	cfg, err := env.Start()
	if err != nil {
		return nil, nil, fmt.Errorf("starting the control plane: %w", err)
	}
	return env, cfg, nil
}

// Kubeconfig returns a kubeconfig of a new cluster-admin user for the operator.
func Kubeconfig(env *envtest.Environment, cfg *rest.Config, user string) ([]byte, error) {
	u, err := env.AddUser(envtest.User{Name: user, Groups: []string{"system:masters"}}, cfg)
	if err != nil {
		return nil, err
	}
	return u.KubeConfig()
}

// Client returns the harness's own client, with the core and PolicyReport types and those of
// add, and the rest config it uses. The harness's own client must not be what limits creation.
func Client(cfg *rest.Config, add ...func(*runtime.Scheme) error) (*rest.Config, client.Client, error) {
	hcfg := rest.CopyConfig(cfg)
	hcfg.QPS, hcfg.Burst = 1000, 2000
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = wgpolicy.AddToScheme(s)
	for _, f := range add {
		_ = f(s)
	}
	cl, err := client.New(hcfg, client.Options{Scheme: s})
	return hcfg, cl, err
}

// CreateNamespace creates namespace name unless it exists.
func CreateNamespace(ctx context.Context, c client.Client, name string) error {
	err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// Transient errors of a busy API server are retried; anything else is a harness failure.
func Transient(err error) bool {
	return apierrors.IsTooManyRequests(err) || apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err)
}

// Sleep waits d or until ctx ends, and tells whether ctx is still live.
func Sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// Step prints progress of program prog to stderr, keeping stdout for the tables.
func Step(prog, msg string) {
	fmt.Fprintf(os.Stderr, "%s: %s %s\n", prog, time.Now().Format("15:04:05"), msg)
}

// WorkDir makes the run's work directory (operator binary and logs, kubeconfig). The function
// it returns removes it at the end of the run, unless keep is set or the run failed (errp).
func WorkDir(prog string, keep bool) (dir string, done func(errp *error), err error) {
	dir, err = os.MkdirTemp("", "policy-herald-"+prog+"-")
	if err != nil {
		return "", nil, err
	}
	return dir, func(errp *error) {
		if keep || *errp != nil {
			fmt.Fprintf(os.Stderr, "%s: work directory kept: %s\n", prog, dir)
			return
		}
		_ = os.RemoveAll(dir)
	}, nil
}
