package ui_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	wgpolicyv1alpha2 "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
	"github.com/policyherald/policy-herald/internal/console/consoletest"
	"github.com/policyherald/policy-herald/internal/console/consoletest/run"
)

// The tests run `policy-herald console` against a real kube-apiserver with RBAC (package
// consoletest), started once for the package:
// KUBEBUILDER_ASSETS=$(hack/control-plane.sh) go test ./internal/console/ui/

// env is the test cluster and the console serving it.
type env struct {
	*consoletest.World
	base string
}

var shared consoletest.Shared[*env]

func TestMain(m *testing.M) { os.Exit(shared.Main(m)) }

// console starts the cluster and the console once and returns them.
func console(t testing.TB) *env {
	t.Helper()
	return shared.Get(t, start)
}

func start() (*env, error) {
	ctx, cancel := context.WithCancel(context.Background())
	w, err := consoletest.Start(ctx, xssReport(), secretReport(), trivyReport())
	if err != nil {
		cancel()
		return nil, err
	}
	shared.OnStop(func() { cancel(); _ = w.Stop() })
	if err := createDetailObjects(ctx, w); err != nil {
		return nil, err
	}
	base, stopped, err := run.Console(ctx, w.Cfg, zap.New(zap.UseDevMode(true), zap.WriteTo(io.Discard)), "--cache-ttl=1s", "--platform-namespace="+platformNamespace)
	if err != nil {
		return nil, err
	}
	// Registered after the cluster's stop, so it runs first: the console stops before its cluster.
	shared.OnStop(func() {
		cancel()
		if err := <-stopped; err != nil {
			fmt.Fprintln(os.Stderr, "the console stopped with", err)
		}
	})
	return &env{World: w, base: base}, nil
}

// Payloads of the XSS report: each would run script if it reached the page unescaped.
var xss = map[string]string{
	"policy":   `<script>alert("policy")</script>`,
	"rule":     `"><img src=x onerror=alert("rule")>`,
	"category": `<svg onload=alert("category")>`,
	"message":  `<iframe src="javascript:alert('message')"></iframe>`,
	"source":   `<b onmouseover=alert("source")>src</b>`,
	"kind":     `<script>alert("kind")</script>`,
	"name":     `x" onfocus="alert('name')" autofocus="`,
	"propKey":  `<i onclick=alert("key")>k</i>`,
	"propURL":  `javascript:alert("property")`,
	"propHTML": `<a href="javascript:alert('html')">x</a>`,
}

// xssReport is a PolicyReport in team-a with a payload in every text field of its result.
func xssReport() client.Object {
	return &wgpolicyv1alpha2.PolicyReport{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "xss"},
		Results: []wgpolicyv1alpha2.PolicyReportResult{{
			Source: xss["source"], Policy: xss["policy"], Rule: xss["rule"], Category: xss["category"],
			Severity: "high", Result: "fail", Message: xss["message"],
			Timestamp: metav1.Timestamp{Seconds: time.Now().Unix()},
			Resources: []corev1.ObjectReference{{APIVersion: "v1", Kind: xss["kind"], Namespace: "team-a", Name: xss["name"]}},
			Properties: map[string]string{
				xss["propKey"]: "value", "link": xss["propURL"], "html": xss["propHTML"],
				"advisory": "https://avd.example.com/cve?id=1&x=<y>",
			},
		}},
	}
}

// secret marks team-b's own report: alice must never see these words.
const secret = "only-team-b-sees-this"

// secretReport is a PolicyReport in team-b whose every field names secret.
func secretReport() client.Object {
	return &wgpolicyv1alpha2.PolicyReport{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: "secret"},
		Results: []wgpolicyv1alpha2.PolicyReportResult{{
			Source: "src-" + secret, Policy: "policy-" + secret, Rule: "rule-" + secret, Category: "cat-" + secret,
			Severity: "critical", Result: "fail", Message: "message-" + secret,
			Timestamp: metav1.Timestamp{Seconds: time.Now().Unix()},
			Resources: []corev1.ObjectReference{{APIVersion: "v1", Kind: "Pod", Namespace: "team-b", Name: "pod-" + secret}},
		}},
	}
}

// get sends GET path as person ("" for nobody) and returns the status, headers and body.
// noRedirects answers a redirect as it comes, so a test sees where a page sends a person.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func (e *env) get(t testing.TB, person, path string) (int, http.Header, string) {
	t.Helper()
	resp, body, err := consoletest.Get(noRedirects, e.base+path, e.Tokens[person])
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(body)
}

// page gets path as person and wants a 200 HTML page.
func (e *env) page(t testing.TB, person, path string) string {
	t.Helper()
	status, h, body := e.get(t, person, path)
	if status != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		t.Fatalf("GET %s as %s: %d %s\n%s", path, person, status, h.Get("Content-Type"), body)
	}
	// A template that fails half-way leaves a page cut short: a whole page ends its html.
	if !strings.Contains(path, "fragment=") && !strings.HasSuffix(strings.TrimSpace(body), "</html>") {
		t.Errorf("GET %s as %s: the page is cut short: ...%s", path, person, body[max(0, len(body)-200):])
	}
	return body
}
