package rbac_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/kustomize/api/resmap"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/scheme"
	"github.com/policyherald/policy-herald/internal/testing/testservers"
)

// TestInstalledDeploymentRuns runs the operator's real binary the way the rendered Deployment
// does, with its args, env and resources, as its ServiceAccount: it becomes ready and healthy
// on the probes' paths, leads, reconciles with its shipped defaults (loopback refused), serves
// metrics only to callers the API server authorizes, and stops cleanly on SIGTERM within the
// pod's grace period. What the test changes: the bind addresses (free loopback ports instead of
// :8081 and :8443) and the API server, which it reaches through a kubeconfig, as no kubelet runs.
func TestInstalledDeploymentRuns(t *testing.T) {
	g := NewWithT(t)
	g.SetDefaultEventuallyTimeout(30 * time.Second)
	g.SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	admin, k8s := startAPIServer(t, true)
	for _, o := range installRBAC(t) {
		g.Expect(k8s.Create(ctx, o)).To(Succeed(), "applying %s %s", o.GetKind(), o.GetName())
	}
	dep := renderedDeployment(t)
	pod := dep.Spec.Template.Spec
	c := pod.Containers[0]
	g.Expect(pod.ServiceAccountName).To(Equal(serviceAccount))

	bin := buildBinary(t)

	probePort, metricsPort := testservers.LoopbackPort(t), testservers.LoopbackPort(t)
	envVars := containerEnv(t, dep.Namespace, c)
	args := expandArgs(t, c.Args, envVars, map[string]string{
		"--health-probe-bind-address": "127.0.0.1:" + probePort,
		"--metrics-bind-address":      "127.0.0.1:" + metricsPort,
	})
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = []string{"KUBECONFIG=" + kubeconfigAs(t, admin, "system:serviceaccount:"+operatorNamespace+":"+serviceAccount,
		"system:serviceaccounts", "system:serviceaccounts:"+operatorNamespace, "system:authenticated")}
	for k, v := range envVars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	g.Expect(c.Command).To(Equal([]string{"/policy-herald"}))
	g.Expect(cmd.Start()).To(Succeed())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			t.Logf("operator log:\n%s", logs.String())
		}
	})

	// The kubelet's probes, on the Deployment's paths.
	for _, p := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe} {
		url := "http://127.0.0.1:" + probePort + p.HTTPGet.Path
		g.Eventually(func() (int, error) { return status(http.DefaultClient, url, "") }).Should(Equal(http.StatusOK), url)
	}

	// It leads, through the Lease in its namespace.
	lease := &unstructured.Unstructured{}
	lease.SetAPIVersion("coordination.k8s.io/v1")
	lease.SetKind("Lease")
	g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: operatorNamespace, Name: "policy-herald.reporting.policyherald.io"}, lease)).To(Succeed())
		holder, _, _ := unstructured.NestedString(lease.Object, "spec", "holderIdentity")
		g.Expect(holder).NotTo(BeEmpty())
	}).Should(Succeed())

	// It reconciles with the shipped defaults: loopback is refused even to a platform target, and
	// the status is written under the operator's own field manager.
	nt := &v1alpha1.NotificationTarget{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: "loopback"}}
	nt.Spec.Webhook = &v1alpha1.WebhookDestination{HTTPSettings: v1alpha1.HTTPSettings{URL: "http://127.0.0.1:9/hook"}}
	g.Expect(k8s.Create(ctx, nt)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(nt), nt)).To(Succeed())
		ready := meta.FindStatusCondition(nt.Status.Conditions, v1alpha1.ConditionReady)
		g.Expect(ready).NotTo(BeNil())
		g.Expect(ready.Reason).To(Equal(v1alpha1.ReasonAddressNotAllowed))
	}).Should(Succeed())
	var managers []string
	for _, f := range nt.ManagedFields {
		managers = append(managers, f.Manager+"/"+f.Subresource)
	}
	g.Expect(managers).To(ContainElement("policy-herald/status"))

	// Metrics: HTTPS, and only for a token the API server authenticates and authorizes for
	// GET /metrics, which policy-herald-metrics-reader grants.
	scraper, stranger := serviceAccountToken(t, k8s, admin, "monitoring", "prometheus"), serviceAccountToken(t, k8s, admin, "monitoring", "stranger")
	g.Expect(k8s.Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "prometheus-metrics"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "policy-herald-metrics-reader"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: "monitoring", Name: "prometheus"}},
	})).To(Succeed())
	insecure := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // the default certificate is self-signed
	}}
	metrics := "https://127.0.0.1:" + metricsPort + "/metrics"
	g.Eventually(func() (int, error) { return status(insecure, metrics, scraper) }).Should(Equal(http.StatusOK))
	g.Expect(status(insecure, metrics, "")).To(Equal(http.StatusUnauthorized))
	g.Expect(status(insecure, metrics, stranger)).To(Equal(http.StatusForbidden))

	// SIGTERM, as the kubelet sends it: a clean exit within the grace period.
	grace := time.Duration(ptr.Deref(pod.TerminationGracePeriodSeconds, 30)) * time.Second
	start := time.Now()
	g.Expect(cmd.Process.Signal(syscall.SIGTERM)).To(Succeed())
	select {
	case err := <-exited:
		g.Expect(err).NotTo(HaveOccurred(), "exit status after SIGTERM")
		t.Logf("stopped %v after SIGTERM (grace period %v)", time.Since(start).Round(time.Millisecond), grace)
	case <-time.After(grace):
		t.Fatalf("still running %v after SIGTERM; the kubelet would kill it", grace)
	}
	g.Expect(logs.String()).NotTo(MatchRegexp(`(?i)forbidden`), "the API server refused the operator something")
}

func renderedDeployment(t *testing.T) *appsv1.Deployment {
	t.Helper()
	return deploymentIn(t, renderDefault(t), "")
}

// deploymentIn returns the Deployment named name ("" for the first) that m renders, with its
// one container.
func deploymentIn(t *testing.T, m resmap.ResMap, name string) *appsv1.Deployment {
	t.Helper()
	for _, r := range m.Resources() {
		if r.GetKind() != "Deployment" || name != "" && r.GetName() != name {
			continue
		}
		b, err := r.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		var d appsv1.Deployment
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatal(err)
		}
		if len(d.Spec.Template.Spec.Containers) != 1 {
			t.Fatalf("Deployment %s has %d containers, want 1", d.Name, len(d.Spec.Template.Spec.Containers))
		}
		return &d
	}
	t.Fatalf("the rendered install has no Deployment %q", name)
	return nil
}

// containerEnv resolves the container's env as the kubelet would: values, the pod's namespace,
// and resource limits (in the divisor's units).
func containerEnv(t *testing.T, namespace string, c corev1.Container) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			out[e.Name] = e.Value
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace":
			out[e.Name] = namespace
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name":
			out[e.Name] = "policy-herald-controller-manager-7d9f8b6c5-x2x4z"
		case e.ValueFrom.ResourceFieldRef != nil:
			ref := e.ValueFrom.ResourceFieldRef
			q, ok := c.Resources.Limits[corev1.ResourceName(strings.TrimPrefix(ref.Resource, "limits."))]
			if !ok || !strings.HasPrefix(ref.Resource, "limits.") {
				t.Fatalf("env %s refers to %s, which the container does not set", e.Name, ref.Resource)
			}
			divisor := ref.Divisor.Value()
			if divisor == 0 {
				divisor = 1
			}
			out[e.Name] = strconv.FormatInt((q.Value()+divisor-1)/divisor, 10)
		default:
			t.Fatalf("env %s: a source this test does not resolve: %+v", e.Name, e.ValueFrom)
		}
	}
	return out
}

// expandArgs expands $(VAR) as the kubelet does and replaces the values of the flags in set.
func expandArgs(t *testing.T, args []string, env, set map[string]string) []string {
	t.Helper()
	ref := regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)
	var out []string
	replaced := map[string]bool{}
	for _, a := range args {
		a = ref.ReplaceAllStringFunc(a, func(m string) string {
			v, ok := env[m[2:len(m)-1]]
			if !ok {
				t.Fatalf("arg %q refers to an unset variable", a)
			}
			return v
		})
		name, _, _ := strings.Cut(a, "=")
		if v, ok := set[name]; ok {
			a = name + "=" + v
			replaced[name] = true
		}
		out = append(out, a)
	}
	for name := range set {
		if !replaced[name] {
			t.Fatalf("the Deployment does not set %s", name)
		}
	}
	return out
}

// kubeconfigAs writes a kubeconfig that reaches the API server as admin, impersonating user
// unless it is empty.
func kubeconfigAs(t *testing.T, cfg *rest.Config, user string, groups ...string) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["user"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData,
		Token: cfg.BearerToken, Impersonate: user, ImpersonateGroups: groups}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "user"}
	kc.CurrentContext = "envtest"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// serviceAccountToken creates namespace/name and returns a token of it from the TokenRequest API.
func serviceAccountToken(t *testing.T, k8s client.Client, cfg *rest.Config, namespace, name string) string {
	t.Helper()
	ctx := context.Background()
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}); err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
	if err := k8s.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}); err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := cs.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(3600))}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token of %s/%s: %v", namespace, name, err)
	}
	return tr.Status.Token
}

// status GETs url, with a bearer token if one is given, and returns the status code.
func status(c *http.Client, url, token string) (int, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// TestInstallYAMLApplies applies dist/install.yaml (what `make deploy` applies) and the optional
// NetworkPolicy to a real API server by server-side apply, so its admission and validation
// check every object, and then again, as an upgrade to the same version does: nothing changes.
func TestInstallYAMLApplies(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	env := &envtest.Environment{} // no CRDs: the install brings them
	admin, err := env.Start()
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { _ = env.Stop() })
	k8s, err := client.New(admin, client.Options{Scheme: scheme.New()})
	g.Expect(err).NotTo(HaveOccurred())

	raw, err := os.ReadFile(filepath.Join("..", "..", "dist", "install.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	objs := decodeYAML(t, raw)
	np, err := os.ReadFile(filepath.Join("..", "..", "config", "network-policy", "allow-metrics-traffic.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	for _, o := range decodeYAML(t, np) {
		o.SetNamespace(operatorNamespace)
		objs = append(objs, o)
	}
	apply := func() map[string]string {
		versions := map[string]string{}
		for _, o := range objs {
			u := o.DeepCopy()
			g.Expect(k8s.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner("kubectl"), client.ForceOwnership)).
				To(Succeed(), "applying %s %s", o.GetKind(), o.GetName())
			// The API server writes a CRD's status after it is created; its spec is what counts.
			if u.GetKind() == "CustomResourceDefinition" {
				versions[o.GetKind()+"/"+o.GetName()] = fmt.Sprintf("generation %d", u.GetGeneration())
			} else {
				versions[o.GetKind()+"/"+o.GetName()] = u.GetResourceVersion()
			}
		}
		return versions
	}
	first := apply()
	g.Expect(first).To(HaveKey("Deployment/policy-herald-controller-manager"))
	g.Expect(first).To(HaveKey("NetworkPolicy/allow-metrics-traffic"))
	g.Expect(apply()).To(Equal(first), "applying the same install again changed objects")
}

// decodeYAML splits a multi-document YAML stream into objects.
func decodeYAML(t *testing.T, raw []byte) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err == io.EOF {
			return out
		} else if err != nil {
			t.Fatal(err)
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
}
