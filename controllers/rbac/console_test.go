package rbac_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	wgpolicyv1alpha2 "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
	"github.com/policyherald/policy-herald/internal/testing/testservers"
)

const consoleName = "policy-herald-console"

// TestInstalledConsoleServes runs the real `policy-herald console` binary the way the optional
// console Deployment of config/default runs it, with its args and env, as its ServiceAccount
// with only the permissions the rendered ClusterRole grants (every rendered console object is
// applied first, so the API server validates them all): it becomes ready, answers a person
// whose ServiceAccount token may list reports in one namespace with that namespace's results
// only, logs no refusal of the API server, and stops cleanly on SIGTERM. What the test changes:
// the bind addresses (free loopback ports) and the API server, reached through a kubeconfig.
func TestInstalledConsoleServes(t *testing.T) {
	g := NewWithT(t)
	g.SetDefaultEventuallyTimeout(20 * time.Second)
	g.SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	admin, k8s := startAPIServer(t, true)
	rendered := renderWithConsole(t)
	// Server-side apply, as `make deploy` applies, validates every field of every object
	// (the Deployment makes no Pods: no kube-controller-manager runs).
	for _, o := range consoleObjects(t, rendered) {
		g.Expect(k8s.Apply(ctx, client.ApplyConfigurationFromUnstructured(o), client.FieldOwner("kubectl"), client.ForceOwnership)).
			To(Succeed(), "applying %s %s", o.GetKind(), o.GetName())
	}
	dep := consoleDeployment(t, rendered)
	pod, c := dep.Spec.Template.Spec, dep.Spec.Template.Spec.Containers[0]
	g.Expect(pod.ServiceAccountName).To(Equal(consoleName))
	g.Expect(c.Command).To(Equal([]string{"/policy-herald"}))

	// Reports in two namespaces; the person may list them in team-a only.
	for _, ns := range []string{"team-a", "team-b"} {
		g.Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
		g.Expect(k8s.Create(ctx, &wgpolicyv1alpha2.PolicyReport{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pod-nginx"},
			Results: []wgpolicyv1alpha2.PolicyReportResult{{Source: "kyverno", Policy: "require-labels", Rule: "check", Result: "fail",
				Message: "in " + ns, Resources: []corev1.ObjectReference{{APIVersion: "v1", Kind: "Pod", Namespace: ns, Name: "nginx"}}}},
		})).To(Succeed())
	}
	token := serviceAccountToken(t, k8s, admin, "team-a", "viewer")
	g.Expect(k8s.Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "report-viewer"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"wgpolicyk8s.io"}, Resources: []string{"policyreports"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{v1alpha1.GroupVersion.Group}, Resources: []string{"notificationtargets"}, Verbs: []string{"get"}},
		},
	})).To(Succeed())
	// What the policy and health pages read with the console's own permissions: a Kyverno
	// ClusterPolicy's annotations, and Policy Herald's objects.
	policy := &unstructured.Unstructured{}
	policy.SetAPIVersion("kyverno.io/v1")
	policy.SetKind("ClusterPolicy")
	policy.SetName("require-labels")
	policy.SetAnnotations(map[string]string{"policies.kyverno.io/title": "Require Labels"})
	g.Expect(k8s.Create(ctx, policy)).To(Succeed())
	g.Expect(k8s.Create(ctx, &v1alpha1.NotificationTarget{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "hook"},
		Spec: v1alpha1.NotificationTargetSpec{Destinations: v1alpha1.Destinations{Webhook: &v1alpha1.WebhookDestination{
			HTTPSettings: v1alpha1.HTTPSettings{URL: "https://hooks.example.com/x"}}}},
	})).To(Succeed())
	g.Expect(k8s.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "report-viewer"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "report-viewer"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: "team-a", Name: "viewer"}},
	})).To(Succeed())

	apiPort, probePort := testservers.LoopbackPort(t), testservers.LoopbackPort(t)
	envVars := containerEnv(t, dep.Namespace, c)
	args := expandArgs(t, c.Args, envVars, map[string]string{
		"--bind-address":              "127.0.0.1:" + apiPort,
		"--health-probe-bind-address": "127.0.0.1:" + probePort,
	})
	cmd := exec.CommandContext(ctx, buildBinary(t), args...)
	cmd.Env = []string{"KUBECONFIG=" + kubeconfigAs(t, admin, "system:serviceaccount:"+operatorNamespace+":"+consoleName,
		"system:serviceaccounts", "system:serviceaccounts:"+operatorNamespace, "system:authenticated")}
	for k, v := range envVars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	g.Expect(cmd.Start()).To(Succeed())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			t.Logf("console log:\n%s", logs.String())
		}
	})

	// The kubelet's probes, on the Deployment's paths.
	for _, p := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe} {
		url := "http://127.0.0.1:" + probePort + p.HTTPGet.Path
		g.Eventually(func() (int, error) { return status(http.DefaultClient, url, "") }).Should(Equal(http.StatusOK), url)
	}

	// The person sees team-a's result, and nothing of team-b.
	page := consoleResults(t, g, "http://127.0.0.1:"+apiPort+"/api/v1/results", token)
	g.Expect(page.Total).To(Equal(1))
	g.Expect(page.Rows).To(HaveLen(1))
	g.Expect(page.Rows[0].Namespace).To(Equal("team-a"))
	g.Expect(page.Rows[0].Message).To(Equal("in team-a"))
	g.Expect(status(http.DefaultClient, "http://127.0.0.1:"+apiPort+"/api/v1/results", "")).To(Equal(http.StatusUnauthorized))

	// The policy's annotations and the person's NotificationTarget, read with the console's
	// ClusterRole.
	var pol struct {
		Info *struct{ Title string } `json:"info"`
	}
	consoleGet(t, g, "http://127.0.0.1:"+apiPort+"/api/v1/policies/require-labels", token, &pol)
	g.Expect(pol.Info).NotTo(BeNil(), "the console could not read the ClusterPolicy")
	g.Expect(pol.Info.Title).To(Equal("Require Labels"))
	var health struct {
		Objects []struct{ Kind, Namespace, Name string } `json:"objects"`
	}
	consoleGet(t, g, "http://127.0.0.1:"+apiPort+"/api/v1/health", token, &health)
	g.Expect(health.Objects).To(HaveLen(1))
	g.Expect(health.Objects[0].Name).To(Equal("hook"))

	// SIGTERM, as the kubelet sends it: a clean exit within the grace period.
	grace := time.Duration(ptr.Deref(pod.TerminationGracePeriodSeconds, 30)) * time.Second
	g.Expect(cmd.Process.Signal(syscall.SIGTERM)).To(Succeed())
	select {
	case err := <-exited:
		g.Expect(err).NotTo(HaveOccurred(), "exit status after SIGTERM")
	case <-time.After(grace):
		t.Fatalf("still running %v after SIGTERM; the kubelet would kill it", grace)
	}
	g.Expect(logs.String()).NotTo(MatchRegexp(`(?i)forbidden`), "the API server refused the console something")
}

// resultsPage is what this test reads of a GET /api/v1/results answer.
type resultsPage struct {
	Total int `json:"total"`
	Rows  []struct {
		Namespace string `json:"namespace"`
		Message   string `json:"message"`
	} `json:"rows"`
}

// consoleResults GETs url with token until it answers 200 (the console's review caches start
// empty) and decodes the page.
func consoleResults(t *testing.T, g *WithT, url, token string) resultsPage {
	t.Helper()
	var page resultsPage
	consoleGet(t, g, url, token, &page)
	return page
}

// consoleGet GETs url with token until it answers 200 and decodes the answer into v.
func consoleGet(t *testing.T, g *WithT, url, token string, v any) {
	t.Helper()
	g.Eventually(func(g Gomega) {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		g.Expect(err).NotTo(HaveOccurred())
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		g.Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
		g.Expect(json.NewDecoder(resp.Body).Decode(v)).To(Succeed())
	}).Should(Succeed())
}

// buildBinary builds the operator's binary (which is also the console's) into a temporary dir.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "policy-herald")
	build := exec.Command("go", "build", "-o", bin, "github.com/policyherald/policy-herald")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// renderWithConsole renders config/default with its `#- ../console` line enabled, in memory:
// the files on disk stay as they are.
func renderWithConsole(t *testing.T) resmap.ResMap {
	t.Helper()
	root := filepath.Join("..", "..", "config")
	mem := filesys.MakeFsInMemory()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		return mem.WriteFile(filepath.Join("/config", rel), b)
	})
	if err != nil {
		t.Fatal(err)
	}
	kf := "/config/default/kustomization.yaml"
	b, err := mem.ReadFile(kf)
	if err != nil {
		t.Fatal(err)
	}
	enabled := strings.Replace(string(b), "#- ../console", "- ../console", 1)
	if enabled == string(b) {
		t.Fatal("config/default/kustomization.yaml has no `#- ../console` line to enable")
	}
	if err := mem.WriteFile(kf, []byte(enabled)); err != nil {
		t.Fatal(err)
	}
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(mem, "/config/default")
	if err != nil {
		t.Fatalf("kustomize build config/default with ../console: %v", err)
	}
	return m
}

// consoleObjects returns the Namespace and every object of the console in m, in an order that
// applies cleanly.
func consoleObjects(t *testing.T, m resmap.ResMap) []*unstructured.Unstructured {
	t.Helper()
	order := []string{"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Deployment", "PodDisruptionBudget", "Service"}
	var out []*unstructured.Unstructured
	for _, kind := range order {
		for _, r := range m.Resources() {
			if r.GetKind() != kind || (kind != "Namespace" && r.GetName() != consoleName) {
				continue
			}
			content, err := r.Map()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, &unstructured.Unstructured{Object: content})
		}
	}
	if len(out) != len(order) {
		t.Fatalf("want the Namespace and the console's %v, got %d objects", order[1:], len(out))
	}
	return out
}

func consoleDeployment(t *testing.T, m resmap.ResMap) *appsv1.Deployment {
	t.Helper()
	return deploymentIn(t, m, consoleName)
}
