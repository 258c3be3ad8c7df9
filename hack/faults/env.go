package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	wgpolicy "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
)

// harness is what every scenario shares: one control plane, one operator build, and the proxy
// the operators reach the API server through.
type harness struct {
	cfg        config
	dir, bin   string
	env        *envtest.Environment
	rest       *rest.Config
	cl         client.Client
	proxy      *proxy
	kubeconfig string // the operators': through the proxy
}

var crdPaths = []string{filepath.Join("config", "crd", "bases"), filepath.Join("hack", "crds")}

func startHarness(ctx context.Context, c config, dir string) (*harness, error) {
	h := &harness{cfg: c, dir: dir}
	buildc := make(chan error, 1)
	go func() {
		var err error
		h.bin, err = buildOperator(ctx, dir)
		buildc <- err
	}()
	step("starting the control plane")
	h.env = &envtest.Environment{CRDDirectoryPaths: crdPaths, ErrorIfCRDPathMissing: true}
	cfg, err := h.env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting the control plane: %w", err)
	}
	h.rest = rest.CopyConfig(cfg)
	h.rest.QPS, h.rest.Burst = 1000, 2000
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = wgpolicy.AddToScheme(s)
	_ = apiextensionsv1.AddToScheme(s)
	if h.cl, err = client.New(h.rest, client.Options{Scheme: s}); err != nil {
		h.stop()
		return nil, err
	}
	u, err := url.Parse(cfg.Host)
	if err != nil {
		h.stop()
		return nil, err
	}
	host := u.Host
	if h.proxy, err = startProxy(host); err != nil {
		h.stop()
		return nil, err
	}
	if err := h.writeKubeconfig(cfg, host); err != nil {
		h.stop()
		return nil, err
	}
	if err := <-buildc; err != nil {
		h.stop()
		return nil, err
	}
	return h, nil
}

func (h *harness) stop() {
	if h.proxy != nil {
		h.proxy.close()
	}
	_ = h.env.Stop()
}

// writeKubeconfig writes the operators' kubeconfig, pointing at the proxy. The API server's
// certificate is for 127.0.0.1, which the proxy's address is too.
func (h *harness) writeKubeconfig(cfg *rest.Config, host string) error {
	user, err := h.env.AddUser(envtest.User{Name: "faults-operator", Groups: []string{"system:masters"}}, cfg)
	if err != nil {
		return err
	}
	b, err := user.KubeConfig()
	if err != nil {
		return err
	}
	if !strings.Contains(string(b), host) {
		return fmt.Errorf("the kubeconfig does not name the API server %s", host)
	}
	h.kubeconfig = filepath.Join(h.dir, "kubeconfig")
	return os.WriteFile(h.kubeconfig, []byte(strings.ReplaceAll(string(b), host, h.proxy.addr)), 0o600)
}

func (h *harness) createNamespace(ctx context.Context, name string) error {
	err := h.cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

const targetName = "faults-webhook"

// target is the NotificationTarget of a scenario, unstructured so the harness depends on the
// CRD only: a webhook to the scenario's receiver, default filter.
func target(ns, url, dropAfter string) *unstructured.Unstructured {
	spec := map[string]any{"webhook": map[string]any{"url": url}}
	if dropAfter != "" {
		spec["dropAfter"] = dropAfter
	}
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetAPIVersion("reporting.policyherald.io/v1alpha1")
	u.SetKind("NotificationTarget")
	u.SetNamespace(ns)
	u.SetName(targetName)
	return u
}

// getTarget reads the scenario's target, with its status.
func (h *harness) getTarget(ctx context.Context, ns string) (*unstructured.Unstructured, error) {
	u := target(ns, "", "")
	err := h.cl.Get(ctx, client.ObjectKeyFromObject(u), u)
	return u, err
}

// delivery returns an integer field of the target's status.delivery (sent, pending, dropped).
func (h *harness) delivery(ctx context.Context, ns, field string) int64 {
	u, err := h.getTarget(ctx, ns)
	if err != nil {
		return -1
	}
	n, _, _ := unstructured.NestedInt64(u.Object, "status", "delivery", field)
	return n
}

// ready tells whether the target's Ready condition is True.
func (h *harness) ready(ctx context.Context, ns string) bool {
	u, err := h.getTarget(ctx, ns)
	if err != nil {
		return false
	}
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, x := range conds {
		m, _ := x.(map[string]any)
		if m["type"] == "Ready" && m["status"] == "True" {
			return true
		}
	}
	return false
}

// step prints progress to stderr, keeping stdout for the tables.
func step(msg string) { fmt.Fprintf(os.Stderr, "faults: %s %s\n", time.Now().Format("15:04:05"), msg) }

// sleep waits d or until ctx ends, and tells whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

func keyOf(o client.Object) client.ObjectKey { return client.ObjectKeyFromObject(o) }
