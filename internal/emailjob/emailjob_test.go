package emailjob_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"k8s.io/utils/ptr"
	"mime"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	openreportsv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	wgpolicyv1alpha2 "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
	"github.com/policyherald/policy-herald/internal/email"
	"github.com/policyherald/policy-herald/internal/emailjob"
	"github.com/policyherald/policy-herald/internal/scheme"
	"github.com/policyherald/policy-herald/internal/testing/smtptest"
)

const (
	platformNS = "policy-herald-system"
	user       = "reports@example.com"
	password   = "Sup3r-S3cret-Pw"
)

var (
	cfg *rest.Config
	k8s client.Client
	now = time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
)

func TestMain(m *testing.M) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Fprintln(os.Stderr, "KUBEBUILDER_ASSETS is not set: run with KUBEBUILDER_ASSETS=$(hack/control-plane.sh)")
		os.Exit(1)
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases"), filepath.Join("..", "..", "hack", "crds")},
		ErrorIfCRDPathMissing: true,
	}
	var err error
	if cfg, err = env.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer func() { _ = env.Stop() }()
		if k8s, err = client.New(cfg, client.Options{Scheme: scheme.New()}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if err := seed(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, "seeding:", err)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// seed creates the namespaces and the reports: real ones from testdata/reports in team-a and
// team-b, a Kyverno-style report per team, an openreports Report, and cluster reports.
func seed(ctx context.Context) error {
	for _, ns := range []string{platformNS, "team-a", "team-b"} {
		if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"tier": ns}}}); err != nil {
			return err
		}
	}
	// Real reports: the CIS benchmark in team-a, Trivy and Falco in team-b.
	for file, ns := range map[string]string{"sample-cis-k8s.yaml": "team-a", "trivy-adapter-policyreport.yaml": "team-b", "sample-falco-policy.yaml": "team-b"} {
		if err := createFixtures(ctx, file, ns); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
	}
	result := func(policy, status, sev, ns, name, msg string) wgpolicyv1alpha2.PolicyReportResult {
		return wgpolicyv1alpha2.PolicyReportResult{Source: "kyverno", Policy: policy, Rule: "check", Result: wgpolicyv1alpha2.PolicyResult(status),
			Severity: wgpolicyv1alpha2.PolicySeverity(sev), Message: msg,
			Resources: []corev1.ObjectReference{{APIVersion: "v1", Kind: "Pod", Namespace: ns, Name: name}}}
	}
	for _, ns := range []string{"team-a", "team-b"} {
		r := &wgpolicyv1alpha2.PolicyReport{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kyverno-" + ns},
			Results: []wgpolicyv1alpha2.PolicyReportResult{
				result("restrict-image-registries", "fail", "high", ns, "web-"+ns, "image of "+ns+" is not from an allowed registry"),
				result("require-labels", "pass", "medium", ns, "web-"+ns, "ok"),
				result("disallow-latest-tag", "warn", "low", ns, "job-"+ns, "mutable tag in "+ns),
			},
		}
		if err := k8s.Create(ctx, r); err != nil {
			return err
		}
	}
	must(k8s.Create(ctx, &openreportsv1alpha1.Report{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "openreports-team-a"},
		Source:     "kube-bench-adapter",
		Results: []openreportsv1alpha1.ReportResult{{
			Source: "kube-bench-adapter", Policy: "pod-security", Rule: "run-as-non-root", Result: "error", Severity: "high",
			Description: "could not evaluate the pod of team-a",
			Subjects:    []corev1.ObjectReference{{APIVersion: "v1", Kind: "Pod", Namespace: "team-a", Name: "batch-team-a"}},
		}},
	}))
	must(k8s.Create(ctx, &wgpolicyv1alpha2.ClusterPolicyReport{
		ObjectMeta: metav1.ObjectMeta{Name: "kyverno-cluster"},
		Results: []wgpolicyv1alpha2.PolicyReportResult{{Source: "kyverno", Policy: "require-ns-owner", Rule: "check", Result: "fail", Severity: "medium",
			Message: "cluster-wide: namespace legacy has no owner", Resources: []corev1.ObjectReference{{APIVersion: "v1", Kind: "Namespace", Name: "legacy"}}}},
	}))
	must(k8s.Create(ctx, &openreportsv1alpha1.ClusterReport{
		ObjectMeta: metav1.ObjectMeta{Name: "openreports-cluster"},
		Results: []openreportsv1alpha1.ReportResult{{Source: "kyverno", Policy: "cluster-openreports", Result: "fail",
			Description: "cluster-wide: a ClusterReport result"}},
	}))
	return nil
}

// createFixtures creates every document of a report fixture in ns.
func createFixtures(ctx context.Context, file, ns string) error {
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "reports", file))
	if err != nil {
		return err
	}
	for _, doc := range strings.Split(string(data), "\n---\n") {
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			return err
		}
		var obj client.Object
		switch meta.Kind {
		case "PolicyReport":
			r := &wgpolicyv1alpha2.PolicyReport{}
			if err := yaml.Unmarshal([]byte(doc), r); err != nil {
				return err
			}
			r.Namespace = ns
			obj = r
		case "ClusterPolicyReport":
			r := &wgpolicyv1alpha2.ClusterPolicyReport{}
			if err := yaml.Unmarshal([]byte(doc), r); err != nil {
				return err
			}
			obj = r
		default:
			return fmt.Errorf("unexpected kind %q", meta.Kind)
		}
		obj.SetResourceVersion("")
		obj.SetUID("")
		obj.SetCreationTimestamp(metav1.Time{})
		obj.SetOwnerReferences(nil)
		if err := k8s.Create(ctx, obj); err != nil {
			return err
		}
	}
	return nil
}

// smtpServer starts a STARTTLS server with AUTH and creates, in ns, the Secrets of its settings
// (all in the Secret, with the CA in its own Secret).
func smtpServer(t *testing.T, ns, secretName string) *smtptest.Server {
	t.Helper()
	srv := smtptest.Start(t, smtptest.Options{Mode: smtptest.StartTLS, Username: user, Password: password})
	ctx := context.Background()
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: secretName}, StringData: map[string]string{
		"host": srv.Host, "port": fmt.Sprint(srv.Port), "username": user, "password": password,
		"from": "Platform Reports <reports@example.com>", "encryption": "starttls",
	}}
	ca := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: secretName + "-ca"}, StringData: map[string]string{"ca.crt": string(srv.CAPEM)}}
	for _, o := range []client.Object{sec, ca} {
		if err := k8s.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = k8s.Delete(context.Background(), o) })
	}
	return srv
}

func schedule(t *testing.T, ns, name string, typ v1alpha1.EmailReportType, secretName string, mutate ...func(*v1alpha1.EmailReportSchedule)) {
	t.Helper()
	s := &v1alpha1.EmailReportSchedule{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.EmailReportScheduleSpec{
			Schedule: "0 8 * * *", ReportType: typ, ClusterName: "prod-eu",
			Recipients: []string{"ops@example.com", "Team <team@example.com>"},
			SMTP: &v1alpha1.SMTPSettings{
				Host:      "ignored.invalid", // the Secret's key wins
				SecretRef: &v1alpha1.LocalSecretReference{Name: secretName},
				TLS:       &v1alpha1.TLSConfig{CASecretRef: &v1alpha1.SecretKeySelector{Name: secretName + "-ca", Key: "ca.crt"}},
			},
		},
	}
	for _, m := range mutate {
		m(s)
	}
	if err := k8s.Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), s) })
}

type outcome struct {
	code           int
	stdout, stderr string
	termination    string
}

func run(t *testing.T, args ...string) outcome {
	t.Helper()
	return runWith(t, nil, args...)
}

// runWith runs the subcommand with Graph pointed at a test server.
func runWith(t *testing.T, graph *email.GraphEndpoints, args ...string) outcome {
	t.Helper()
	var stdout, stderr bytes.Buffer
	term := filepath.Join(t.TempDir(), "termination-log")
	args = append(args, "--termination-log="+term)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code := emailjob.Run(ctx, emailjob.Env{
		Config: cfg, Stdout: &stdout, Stderr: &stderr,
		Getenv: func(k string) string {
			if k == "POD_NAMESPACE" {
				return platformNS
			}
			return ""
		},
		Now:   func() time.Time { return now },
		Graph: graph,
	}, args)
	tl, _ := os.ReadFile(term)
	o := outcome{code: code, stdout: stdout.String(), stderr: stderr.String(), termination: string(tl)}
	t.Logf("exit %d, termination log %q", o.code, o.termination)
	return o
}

// received returns the one message the server got, with its text and HTML parts.
func received(t *testing.T, srv *smtptest.Server) (smtptest.Message, string) {
	t.Helper()
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages received, want 1", len(msgs))
	}
	return msgs[0], decodeQP(string(msgs[0].Data))
}

// decodeQP undoes quoted-printable soft line breaks and the escapes the reports use, enough to
// search the message for text.
func decodeQP(s string) string {
	s = strings.ReplaceAll(s, "=\r\n", "")
	return strings.NewReplacer("=3D", "=", "=E2=80=93", "–", "=E2=80=94", "—", "=C2=B7", "·").Replace(s)
}

func TestPlatformViolations(t *testing.T) {
	srv := smtpServer(t, platformNS, "smtp")
	schedule(t, platformNS, "daily-violations", v1alpha1.EmailReportViolations, "smtp")
	o := run(t, "--schedule="+platformNS+"/daily-violations")
	// Violations: kyverno team-a 1 fail + 1 warn, team-b the same; CIS 1 fail + 2 warn;
	// Falco 1 fail (namespaced) + 1 fail (cluster); openreports 1 error; cluster 2 fail.
	// Trivy results have no status: not violations.
	const want = "sent violations report of 12 results to 2 recipients"
	if o.code != 0 || o.termination != want || !strings.Contains(o.stderr, want) {
		t.Fatalf("exit %d, termination %q, stderr %q; want %q", o.code, o.termination, o.stderr, want)
	}
	msg, data := received(t, srv)
	if msg.User != user || !msg.TLS {
		t.Errorf("user %q TLS %v", msg.User, msg.TLS)
	}
	if strings.Join(msg.To, ",") != "ops@example.com,team@example.com" {
		t.Errorf("RCPT TO %v", msg.To)
	}
	for _, want := range []string{
		"From: \"Platform Reports\" <reports@example.com>",
		"X-Policy-Herald-Schedule: policy-herald-system/daily-violations",
		"Scope:     all namespaces and cluster reports",
		"image of team-a is not from an allowed registry", "image of team-b is not from an allowed registry",
		"cluster-wide: namespace legacy has no owner", "cluster-wide: a ClusterReport result",
		"could not evaluate the pod of team-a", "ensure that --basic-auth-file argument is not set",
		"Falco alert created due to the Change thread namespace rule",
	} {
		if !strings.Contains(data, want) {
			t.Errorf("message lacks %q", want)
		}
	}
	if strings.Contains(data, password) {
		t.Error("the message holds the password")
	}
	m, err := mail.ReadMessage(bytes.NewReader(msg.Data))
	if err != nil {
		t.Fatal(err)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if want := "[Policy Herald] Violations report – prod-eu – 12 results"; err != nil || subject != want {
		t.Errorf("Subject %q (%v), want %q", subject, err, want)
	}
}

func TestTenantSeesOnlyItsNamespace(t *testing.T) {
	srv := smtpServer(t, "team-a", "smtp-a")
	schedule(t, "team-a", "team-summary", v1alpha1.EmailReportSummary, "smtp-a")
	o := run(t, "--schedule=team-a/team-summary")
	// team-a: kyverno 3 (pass, fail, warn), CIS 3 (fail, 2 warn), openreports 1 error.
	if want := "sent summary report of 7 results to 2 recipients"; o.code != 0 || o.termination != want {
		t.Fatalf("exit %d, termination %q, want %q", o.code, o.termination, want)
	}
	_, data := received(t, srv)
	for _, want := range []string{"Scope:     namespace team-a", "team-a", "Results:   7 (pass 1, fail 2, warn 3, error 1, skip 0)"} {
		if !strings.Contains(data, want) {
			t.Errorf("message lacks %q", want)
		}
	}
	for _, leak := range []string{"team-b", "Trivy", "Cluster reports", "cluster-wide", "legacy"} {
		if strings.Contains(data, leak) {
			t.Errorf("the tenant's report shows %q", leak)
		}
	}
}

func TestTenantFilterNeverWidens(t *testing.T) {
	srv := smtpServer(t, "team-a", "smtp-a2")
	schedule(t, "team-a", "wide", v1alpha1.EmailReportViolations, "smtp-a2", func(s *v1alpha1.EmailReportSchedule) {
		s.Spec.Filter = &v1alpha1.ResultFilter{Namespaces: &v1alpha1.MatchList{Include: []string{"*"}}, Sources: &v1alpha1.MatchList{Include: []string{"kyverno"}}}
	})
	o := run(t, "--schedule=team-a/wide")
	if want := "sent violations report of 2 results to 2 recipients"; o.code != 0 || o.termination != want {
		t.Fatalf("exit %d, termination %q, want %q", o.code, o.termination, want)
	}
	_, data := received(t, srv)
	if strings.Contains(data, "team-b") || strings.Contains(data, "cluster-wide") || strings.Contains(data, "basic-auth-file") {
		t.Error("the filter widened the tenant's view or did not apply")
	}
}

func TestPlatformSummaryWithFilter(t *testing.T) {
	srv := smtpServer(t, platformNS, "smtp-f")
	schedule(t, platformNS, "kyverno-summary", v1alpha1.EmailReportSummary, "smtp-f", func(s *v1alpha1.EmailReportSchedule) {
		s.Spec.Filter = &v1alpha1.ResultFilter{Sources: &v1alpha1.MatchList{Include: []string{"Kyverno"}}, NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "team-b"}}}
	})
	o := run(t, "--schedule="+platformNS+"/kyverno-summary")
	// Kyverno in the namespaces labelled tier=team-b: team-b's 3 (pass, fail, warn).
	if want := "sent summary report of 3 results to 2 recipients"; o.code != 0 || o.termination != want {
		t.Fatalf("exit %d, termination %q, want %q", o.code, o.termination, want)
	}
	_, data := received(t, srv)
	if !strings.Contains(data, "Results:   3 (pass 1, fail 1, warn 1, error 0, skip 0)") || strings.Contains(data, "team-a") {
		t.Error("wrong counts or namespaces")
	}
}

// clusterReports: false leaves the cluster reports out of a platform schedule's report.
func TestPlatformWithoutClusterReports(t *testing.T) {
	srv := smtpServer(t, platformNS, "smtp-nc")
	schedule(t, platformNS, "no-cluster", v1alpha1.EmailReportViolations, "smtp-nc", func(s *v1alpha1.EmailReportSchedule) {
		s.Spec.ClusterReports = ptr.To(false)
	})
	o := run(t, "--schedule="+platformNS+"/no-cluster")
	if o.code != 0 {
		t.Fatalf("exit %d: %s", o.code, o.termination)
	}
	_, data := received(t, srv)
	if !strings.Contains(data, "Scope:     all namespaces") || strings.Contains(data, "all namespaces and cluster reports") {
		t.Error("the scope does not say that cluster reports are left out")
	}
	for _, leak := range []string{"cluster-wide", "Cluster reports"} {
		if strings.Contains(data, leak) {
			t.Errorf("the report shows %q", leak)
		}
	}
	if !strings.Contains(data, "team-b") {
		t.Error("the namespaced results are missing")
	}
}

// Cc recipients are named in a header, Bcc recipients only in the envelope.
func TestCcAndBcc(t *testing.T) {
	srv := smtpServer(t, platformNS, "smtp-cc")
	schedule(t, platformNS, "copied", v1alpha1.EmailReportSummary, "smtp-cc", func(s *v1alpha1.EmailReportSchedule) {
		s.Spec.CC = []string{"Audit <audit@example.com>"}
		s.Spec.BCC = []string{"archive@example.com"}
	})
	o := run(t, "--schedule="+platformNS+"/copied")
	if !strings.HasSuffix(o.termination, "to 4 recipients") || o.code != 0 {
		t.Fatalf("exit %d, termination %q, want 4 recipients", o.code, o.termination)
	}
	msg, data := received(t, srv)
	if got := strings.Join(msg.To, ","); got != "ops@example.com,team@example.com,audit@example.com,archive@example.com" {
		t.Errorf("RCPT TO %s", got)
	}
	m, err := mail.ReadMessage(bytes.NewReader(msg.Data))
	if err != nil {
		t.Fatal(err)
	}
	if cc := m.Header.Get("Cc"); !strings.Contains(cc, "audit@example.com") {
		t.Errorf("Cc header %q", cc)
	}
	if m.Header.Get("Bcc") != "" || strings.Contains(data, "archive@example.com") {
		t.Error("the message names the Bcc recipient")
	}
}

func TestMissingSecret(t *testing.T) {
	schedule(t, "team-a", "no-secret", v1alpha1.EmailReportViolations, "does-not-exist")
	o := run(t, "--schedule=team-a/no-secret")
	want := `SecretNotFound: Secret "does-not-exist" not found in namespace "team-a"`
	if o.code != 1 || o.termination != want || !strings.Contains(o.stderr, want) {
		t.Fatalf("exit %d, termination %q; want 1 and %q", o.code, o.termination, want)
	}
}

func TestWrongPassword(t *testing.T) {
	srv := smtpServer(t, "team-b", "smtp-b")
	wrong := "the-Wrong-Pa55word"
	sec := &corev1.Secret{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: "team-b", Name: "smtp-b"}, sec); err != nil {
		t.Fatal(err)
	}
	sec.Data["password"] = []byte(wrong)
	if err := k8s.Update(context.Background(), sec); err != nil {
		t.Fatal(err)
	}
	schedule(t, "team-b", "bad-password", v1alpha1.EmailReportViolations, "smtp-b")
	o := run(t, "--schedule=team-b/bad-password")
	if o.code != 1 || !strings.Contains(o.termination, `refused the credentials of user "reports@example.com"`) {
		t.Fatalf("exit %d, termination %q", o.code, o.termination)
	}
	if strings.Contains(o.termination+o.stderr, wrong) || len(o.termination) > 1024 {
		t.Errorf("termination log holds the password or is too long: %q", o.termination)
	}
	if len(srv.Messages()) != 0 {
		t.Error("a message was sent")
	}
}

func TestSuspended(t *testing.T) {
	srv := smtpServer(t, "team-a", "smtp-s")
	schedule(t, "team-a", "paused", v1alpha1.EmailReportSummary, "smtp-s", func(s *v1alpha1.EmailReportSchedule) { s.Spec.Suspend = true })
	o := run(t, "--schedule=team-a/paused")
	if o.code != 0 || o.termination != "suspended: nothing sent" || len(srv.Messages()) != 0 {
		t.Fatalf("exit %d, termination %q, %d messages", o.code, o.termination, len(srv.Messages()))
	}
}

func TestScheduleNotFound(t *testing.T) {
	o := run(t, "--schedule=team-a/nope")
	if o.code != 1 || o.termination != "EmailReportSchedule team-a/nope not found" {
		t.Fatalf("exit %d, termination %q", o.code, o.termination)
	}
	o = run(t, "--schedule=nope")
	if o.code != 1 || !strings.Contains(o.termination, "--schedule=NAMESPACE/NAME is required") {
		t.Fatalf("exit %d, termination %q", o.code, o.termination)
	}
}

func TestDryRun(t *testing.T) {
	srv := smtpServer(t, "team-b", "smtp-d")
	schedule(t, "team-b", "preview", v1alpha1.EmailReportViolations, "smtp-d")
	out := filepath.Join(t.TempDir(), "report.eml")
	o := run(t, "--schedule=team-b/preview", "--dry-run", "--output="+out)
	// team-b: kyverno fail + warn, Falco fail (the namespaced one).
	if want := "dry run: rendered violations report of 3 results for 2 recipients, nothing sent"; o.code != 0 || o.termination != want {
		t.Fatalf("exit %d, termination %q, want %q", o.code, o.termination, want)
	}
	if len(srv.Messages()) != 0 {
		t.Error("the dry run sent a message")
	}
	eml, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	html, err1 := os.ReadFile(out + ".html")
	text, err2 := os.ReadFile(out + ".txt")
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if !bytes.Contains(eml, []byte("Content-Type: multipart/alternative")) || !bytes.Contains(eml, []byte("To: <ops@example.com>, \"Team\" <team@example.com>")) {
		t.Errorf("the .eml is not the complete message:\n%s", eml[:min(len(eml), 800)])
	}
	if !bytes.HasPrefix(html, []byte("<!DOCTYPE html>")) || !bytes.Contains(text, []byte("Results:   3 (fail 2, warn 1, error 0)")) {
		t.Errorf("html or text part wrong:\n%s", text)
	}
	if bytes.Contains(eml, []byte(password)) {
		t.Error("the .eml holds the password")
	}

	// Without --output the text part goes to stdout.
	o = run(t, "--schedule=team-b/preview", "--dry-run")
	if o.code != 0 || !strings.Contains(o.stdout, "Policy Herald – Violations report – prod-eu") || !strings.Contains(o.stdout, "Namespace team-b") {
		t.Fatalf("exit %d, stdout %q", o.code, o.stdout)
	}
	if strings.Contains(o.stdout, "https://") {
		t.Errorf("links without --console-url:\n%s", o.stdout)
	}

	// With the operator's --console-url, the report links to the console.
	o = run(t, "--schedule=team-b/preview", "--dry-run", "--console-url=https://herald.example.com/")
	if o.code != 0 || !strings.Contains(o.stdout, "\n  https://herald.example.com/namespaces/team-b\n") {
		t.Fatalf("exit %d, stdout %q: want the namespace's page under its section", o.code, o.stdout)
	}
}

// TestSkipsAPIsNotInstalled runs against a second API server that has only our CRDs and the
// PolicyReport CRD: the three other report kinds are skipped, not errors.
func TestSkipsAPIsNotInstalled(t *testing.T) {
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases"), filepath.Join("..", "..", "hack", "crds", "wgpolicyk8s.io_policyreports.yaml")},
		ErrorIfCRDPathMissing: true,
	}
	small, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	c, err := client.New(small, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	srv := smtptest.Start(t, smtptest.Options{Mode: smtptest.ImplicitTLS, Username: user, Password: password})
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: platformNS}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: platformNS, Name: "smtp"}, StringData: map[string]string{"username": user, "password": password}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: platformNS, Name: "ca"}, StringData: map[string]string{"ca.crt": string(srv.CAPEM)}},
		&wgpolicyv1alpha2.PolicyReport{ObjectMeta: metav1.ObjectMeta{Namespace: platformNS, Name: "r"}, Results: []wgpolicyv1alpha2.PolicyReportResult{
			{Source: "kyverno", Policy: "p", Result: "fail", Message: "only report"}}},
		&v1alpha1.EmailReportSchedule{ObjectMeta: metav1.ObjectMeta{Namespace: platformNS, Name: "s"}, Spec: v1alpha1.EmailReportScheduleSpec{
			Schedule: "@daily", ReportType: v1alpha1.EmailReportViolations, Recipients: []string{"ops@example.com"},
			SMTP: &v1alpha1.SMTPSettings{Host: srv.Host, Port: int32(srv.Port), From: "reports@example.com", Username: user, Encryption: v1alpha1.SMTPEncryptionTLS,
				SecretRef: &v1alpha1.LocalSecretReference{Name: "smtp"},
				TLS:       &v1alpha1.TLSConfig{CASecretRef: &v1alpha1.SecretKeySelector{Name: "ca", Key: "ca.crt"}}},
		}},
	}
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	var stderr bytes.Buffer
	term := filepath.Join(t.TempDir(), "tl")
	code := emailjob.Run(ctx, emailjob.Env{Config: small, Stderr: &stderr, Now: func() time.Time { return now }},
		[]string{"--schedule=" + platformNS + "/s", "--platform-namespace=" + platformNS, "--termination-log=" + term})
	tl, _ := os.ReadFile(term)
	if want := "sent violations report of 1 result to 1 recipient"; code != 0 || string(tl) != want {
		t.Fatalf("exit %d, termination %q, stderr %q; want %q", code, tl, stderr.String(), want)
	}
	if msgs := srv.Messages(); len(msgs) != 1 || !bytes.Contains(msgs[0].Data, []byte("only report")) {
		t.Errorf("%d messages", len(msgs))
	}
}

// TestPreviewOutsideAPod runs the preview as docs/email.md shows it, on a workstation: no
// POD_NAMESPACE, no --termination-log. Without the platform namespace the scope of a schedule
// cannot be known, so the preview refuses and says what to pass, rather than render an empty
// report; with it, the report has every result. No termination log is written into /dev.
func TestPreviewOutsideAPod(t *testing.T) {
	if _, err := os.Stat(devTerminationLog); err == nil {
		t.Skipf("%s exists already: cannot tell whether a run writes it", devTerminationLog)
	}
	t.Cleanup(func() { _ = os.Remove(devTerminationLog) })
	srv := smtpServer(t, platformNS, "smtp-p")
	schedule(t, platformNS, "workstation", v1alpha1.EmailReportViolations, "smtp-p")
	preview := func(extra ...string) (int, string, string) {
		out := filepath.Join(t.TempDir(), "report.eml")
		var stderr bytes.Buffer
		code := emailjob.Run(context.Background(), emailjob.Env{
			Config: cfg, Stderr: &stderr, Getenv: func(string) string { return "" }, Now: func() time.Time { return now },
		}, append([]string{"--schedule=" + platformNS + "/workstation", "--dry-run", "--output=" + out}, extra...))
		t.Logf("exit %d, stderr %q", code, stderr.String())
		return code, stderr.String(), out
	}

	code, stderr, out := preview()
	const hint = "--platform-namespace (or $POD_NAMESPACE) is not set: pass the namespace the operator runs in"
	if code != 1 || !strings.Contains(stderr, hint) {
		t.Errorf("exit %d, stderr %q; want 1 and %q", code, stderr, hint)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a preview was written without knowing the schedule's scope")
	}

	code, stderr, out = preview("--platform-namespace=" + platformNS)
	if want := "dry run: rendered violations report of 12 results for 2 recipients, nothing sent"; code != 0 || strings.TrimSpace(stderr) != want {
		t.Errorf("exit %d, stderr %q; want 0 and %q", code, stderr, want)
	}
	if text, err := os.ReadFile(out + ".txt"); err != nil || !bytes.Contains(text, []byte("Scope:     all namespaces and cluster reports")) {
		t.Errorf("the preview is missing or not of the platform's scope (%v)", err)
	}
	if _, err := os.Stat(devTerminationLog); err == nil {
		t.Errorf("%s was written outside a Pod", devTerminationLog)
	}
	if len(srv.Messages()) != 0 {
		t.Error("the preview sent a message")
	}
}

// devTerminationLog is where a container's termination message is kept by default.
const devTerminationLog = "/dev/termination-log"

// TestOutcomeRedactsEveryForm: the outcome line reaches the schedule's status, so the password
// goes in every form a server may echo it in, not only as it is.
func TestOutcomeRedactsEveryForm(t *testing.T) {
	const password = "Hunter2/pw+X?long"
	for _, echo := range []string{password, strings.ToUpper(password), url.QueryEscape(password), base64.RawURLEncoding.EncodeToString([]byte(password))} {
		if got := emailjob.Outcome("535 authentication failed for "+echo, password); got != "535 authentication failed for [redacted]" {
			t.Errorf("Outcome kept the password: %q", got)
		}
	}
}
