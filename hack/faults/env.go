package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/policyherald/policy-herald/internal/testing/harness"
)

// rig is what every scenario shares: one control plane, one operator build, and the proxy
// the operators reach the API server through.
type rig struct {
	cfg        config
	dir, bin   string
	env        *envtest.Environment
	rest       *rest.Config
	cl         client.Client
	proxy      *proxy
	kubeconfig string // the operators': through the proxy
}

func startHarness(ctx context.Context, c config, dir string) (*rig, error) {
	h := &rig{cfg: c, dir: dir}
	buildc := make(chan error, 1)
	go func() {
		var err error
		h.bin, err = harness.Build(ctx, dir)
		buildc <- err
	}()
	step("starting the control plane")
	var cfg *rest.Config
	var err error
	if h.env, cfg, err = harness.StartEnv(); err != nil {
		return nil, err
	}
	if h.rest, h.cl, err = harness.Client(cfg, apiextensionsv1.AddToScheme); err != nil {
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

func (h *rig) stop() {
	if h.proxy != nil {
		h.proxy.close()
	}
	_ = h.env.Stop()
}

// writeKubeconfig writes the operators' kubeconfig, pointing at the proxy. The API server's
// certificate is for 127.0.0.1, which the proxy's address is too.
func (h *rig) writeKubeconfig(cfg *rest.Config, host string) error {
	b, err := harness.Kubeconfig(h.env, cfg, "faults-operator")
	if err != nil {
		return err
	}
	if !strings.Contains(string(b), host) {
		return fmt.Errorf("the kubeconfig does not name the API server %s", host)
	}
	h.kubeconfig = filepath.Join(h.dir, "kubeconfig")
	return os.WriteFile(h.kubeconfig, []byte(strings.ReplaceAll(string(b), host, h.proxy.addr)), 0o600)
}

const targetName = "faults-webhook"

// target is the NotificationTarget of a scenario: a webhook to the scenario's receiver, default
// filter, and dropAfter unless empty.
func target(ns, url, dropAfter string) *unstructured.Unstructured {
	var extra map[string]any
	if dropAfter != "" {
		extra = map[string]any{"dropAfter": dropAfter}
	}
	return harness.Target(ns, targetName, url, extra)
}

// delivery returns an integer field of the target's status.delivery (sent, pending, dropped).
func (h *rig) delivery(ctx context.Context, ns, field string) int64 {
	u, err := harness.GetTarget(ctx, h.cl, ns, targetName)
	if err != nil {
		return -1
	}
	n, _, _ := unstructured.NestedInt64(u.Object, "status", "delivery", field)
	return n
}

// ready tells whether the target's Ready condition is True.
func (h *rig) ready(ctx context.Context, ns string) bool {
	return harness.Ready(ctx, h.cl, ns, targetName)
}

func step(msg string) { harness.Step("faults", msg) }

func sleep(ctx context.Context, d time.Duration) bool { return harness.Sleep(ctx, d) }

func keyOf(o client.Object) client.ObjectKey { return client.ObjectKeyFromObject(o) }
