package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	wgpolicyv1alpha2 "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
	"github.com/policyherald/policy-herald/internal/scheme"
	"github.com/policyherald/policy-herald/internal/testing/syncbuf"
)

// runInstalledOperator runs the operator's real binary as the installed Deployment would: its
// args and env as Helm installed them, as its ServiceAccount. What differs: the probe and
// metrics ports (off: no kubelet probes them) and the API server, reached through a kubeconfig.
// It then delivers a tenant's result to a platform webhook.
func runInstalledOperator(t *testing.T, env *envtest.Environment, cfg *rest.Config, d *appsv1.Deployment) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	k8s, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "policy-herald")
	// in the operator's own module, with its go.sum
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	build.Dir = "../.."
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the operator: %v\n%s", err, out)
	}
	c := d.Spec.Template.Spec.Containers[0]
	vars := map[string]string{"POD_NAMESPACE": namespace, "POD_NAME": "policy-herald-0"}
	var args []string
	for _, a := range c.Args {
		switch {
		case strings.HasPrefix(a, "--health-probe-bind-address="):
			a = "--health-probe-bind-address=0"
		case strings.HasPrefix(a, "--metrics-bind-address="):
			a = "--metrics-bind-address=0"
		}
		args = append(args, strings.ReplaceAll(a, "$(POD_NAMESPACE)", namespace))
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	sa := "system:serviceaccount:" + namespace + ":" + d.Spec.Template.Spec.ServiceAccountName
	cmd.Env = []string{"KUBECONFIG=" + kubeconfigOf(t, env, cfg, sa, "system:serviceaccounts", "system:serviceaccounts:"+namespace)}
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var logs syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("operator log:\n%s", logs.String())
		}
	}()

	got := make(chan string, 10)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- string(b)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rcv.Close()
	nt := &v1alpha1.NotificationTarget{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "platform"}}
	nt.Spec.Webhook = &v1alpha1.WebhookDestination{HTTPSettings: v1alpha1.HTTPSettings{URL: rcv.URL}}
	nt.Spec.AllowPrivateNetworks = true // the receiver is on loopback
	tenant := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tenant-a"}}
	report := &wgpolicyv1alpha2.PolicyReport{ObjectMeta: metav1.ObjectMeta{Namespace: "tenant-a", Name: "pod-nginx"},
		Results: []wgpolicyv1alpha2.PolicyReportResult{{
			Source: "kyverno", Policy: "require-labels", Rule: "check", Result: "fail", Severity: "high",
			Message: "installed by helm", Timestamp: metav1.Timestamp{Seconds: time.Now().Unix()},
			Resources: []corev1.ObjectReference{{APIVersion: "v1", Kind: "Pod", Namespace: "tenant-a", Name: "nginx", UID: "uid-nginx"}},
		}}}
	for _, o := range []client.Object{nt, tenant} {
		if err := k8s.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	// Results that exist when a target becomes ready are not sent: the report comes after.
	deadline := time.Now().Add(60 * time.Second)
	for !meta.IsStatusConditionTrue(nt.Status.Conditions, v1alpha1.ConditionReady) {
		if time.Now().After(deadline) {
			t.Fatalf("the target is not Ready: %+v", nt.Status.Conditions)
		}
		time.Sleep(100 * time.Millisecond)
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(nt), nt); err != nil {
			t.Fatal(err)
		}
	}
	if err := k8s.Create(ctx, report); err != nil {
		t.Fatal(err)
	}
	select {
	case body := <-got:
		if !strings.Contains(body, "require-labels") || !strings.Contains(body, "installed by helm") {
			t.Errorf("the webhook got %s", body)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("no result delivered within 60s")
	}
	if strings.Contains(strings.ToLower(logs.String()), "forbidden") {
		t.Errorf("the API server refused the operator something:\n%s", logs.String())
	}
}

// kubeconfigOf writes a kubeconfig of a user of the test API server, with a client certificate
// of its own: the API server authenticates it as that user in those groups.
func kubeconfigOf(t *testing.T, env *envtest.Environment, cfg *rest.Config, user string, groups ...string) string {
	t.Helper()
	u, err := env.AddUser(envtest.User{Name: user, Groups: groups}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := u.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
