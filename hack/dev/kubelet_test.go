package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/policyherald/policy-herald/internal/testing/syncbuf"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	wgpolicyv1alpha2 "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
	"github.com/policyherald/policy-herald/controllers"
	"github.com/policyherald/policy-herald/internal/addrguard"
	"github.com/policyherald/policy-herald/internal/delivery"
	"github.com/policyherald/policy-herald/internal/scheme"
	"github.com/policyherald/policy-herald/internal/testing/apply"
	"github.com/policyherald/policy-herald/internal/testing/wait"
)

func TestTerminationMessage(t *testing.T) {
	dir := t.TempDir()
	termLog, output := filepath.Join(dir, "termination-log"), filepath.Join(dir, "output")
	var lines []string
	for i := range 100 {
		lines = append(lines, "line "+strconv.Itoa(i))
	}
	if err := os.WriteFile(output, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fallback := corev1.TerminationMessageFallbackToLogsOnError
	if got := terminationMessage(termLog, output, fallback, 1); !strings.HasPrefix(got, "line 20\n") || !strings.HasSuffix(got, "line 99") {
		t.Errorf("a failure without termination log: %q, want the last 80 lines of the output", got)
	}
	if got := terminationMessage(termLog, output, fallback, 0); got != "" {
		t.Errorf("a success without termination log: %q, want nothing", got)
	}
	if got := terminationMessage(termLog, output, corev1.TerminationMessageReadFile, 1); got != "" {
		t.Errorf("policy File: %q, want nothing", got)
	}
	if err := os.WriteFile(termLog, []byte("SMTP server refused"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := terminationMessage(termLog, output, fallback, 1); got != "SMTP server refused" {
		t.Errorf("with a termination log: %q", got)
	}
}

// TestEmailReportJobs runs what `make run` runs for e-mail, short of the screen: the operator,
// kube-controller-manager's CronJob and Job controllers, the pod runner with the real
// policy-herald binary, and the SMTP sink. A schedule asked to send now mails its report to the
// sink and counts a run sent; one whose SMTP server is not there fails three times (the Job's
// backoff limit is 2) and shows the failed Pod's termination message as its reason.
func TestEmailReportJobs(t *testing.T) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run with KUBEBUILDER_ASSETS=$(hack/control-plane.sh)")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	logTo(t, filepath.Join(dir, "operator.log"))
	bin := buildPolicyHerald(t, dir)
	cfg, kubeconfig := startControlPlane(t, dir)
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := apply.Kustomization(ctx, c, "rbac", fieldOwner); err != nil {
		t.Fatal(err)
	}
	stopKCM, err := startControllerManager(kubeconfig, filepath.Join(dir, "kcm.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer stopKCM()
	var out syncbuf.Buffer
	sink, stopSink, err := startSMTPSink("127.0.0.1:0", &out)
	if err != nil {
		t.Fatal(err)
	}
	defer stopSink()
	startOperator(t, ctx, cfg)
	runner := &podRunner{c: c, cfg: cfg, namespace: platformNamespace, binary: bin, dir: filepath.Join(dir, "pods"), out: &out}
	runnerDone := make(chan struct{})
	go func() { defer close(runnerDone); runner.run(ctx) }()
	defer func() { cancel(); <-runnerDone }()

	must(t, c.Create(ctx, &wgpolicyv1alpha2.PolicyReport{
		ObjectMeta: metav1.ObjectMeta{Namespace: platformNamespace, Name: "kyverno"},
		Results:    []wgpolicyv1alpha2.PolicyReportResult{{Source: "kyverno", Policy: "require-labels", Result: "fail", Message: "label app is required"}},
	}))
	must(t, c.Create(ctx, sendNowSchedule("to-sink", sink)))
	must(t, c.Create(ctx, sendNowSchedule("nowhere", closedPort(t))))

	sent := waitFor(t, c, "to-sink", 60*time.Second, func(d *v1alpha1.DeliveryStatus) bool { return d.Sent == 1 })
	if sent.Failed != 0 {
		t.Errorf("to-sink: %d runs failed", sent.Failed)
	}
	for _, want := range []string{
		"mail:     Subject: [Policy Herald] Violations report – Local – 1 result\n",
		"mail:     Scope: all namespaces and cluster reports; Results: 1 (fail 1, warn 0, error 0)\n",
		" exited 0: sent violations report of 1 result to 1 recipient\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the screen lacks %q:\n%s", want, out.String())
		}
	}
	failed := waitFor(t, c, "nowhere", 120*time.Second, func(d *v1alpha1.DeliveryStatus) bool { return d.Failed == 1 })
	if !strings.Contains(failed.LastFailureReason, "127.0.0.1") || failed.Sent != 0 {
		t.Errorf("nowhere: sent %d, last failure %q; want the SMTP error of the Pod's termination message", failed.Sent, failed.LastFailureReason)
	}
	var pods corev1.PodList
	must(t, c.List(ctx, &pods, client.InNamespace(platformNamespace)))
	failedPods := 0
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodFailed && strings.HasPrefix(p.Labels[batchv1.JobNameLabel], failed.jobPrefix) {
			failedPods++
		}
	}
	if failedPods != 3 {
		t.Errorf("%d failed Pods of the nowhere schedule, want 3 (a first try and backoffLimit 2)", failedPods)
	}
	t.Logf("screen:\n%s", out.String())
}

// buildPolicyHerald builds the operator binary, which the e-mail report Pods run, in the
// operator's module (hack/'s lists only the modules hack/ needs).
func buildPolicyHerald(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "policy-herald")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building policy-herald: %v\n%s", err, out)
	}
	return bin
}

func startControlPlane(t *testing.T, dir string) (*rest.Config, string) {
	t.Helper()
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases"), filepath.Join("..", "crds")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := writeKubeconfig(env, cfg, kubeconfig); err != nil {
		t.Fatal(err)
	}
	return cfg, kubeconfig
}

// logTo sends the control plane's and the operator's log to path.
func logTo(t *testing.T, path string) {
	t.Helper()
	log, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = log.Close() })
	ctrl.SetLogger(zap.New(zap.WriteTo(log)))
}

// startOperator runs the operator's controllers as make run does.
func startOperator(t *testing.T, ctx context.Context, cfg *rest.Config) {
	t.Helper()
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: scheme.New(), Metrics: metricsserver.Options{BindAddress: "0"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := controllers.SetupAll(ctx, mgr, controllers.Options{
		PlatformNamespace: platformNamespace, Delivery: delivery.DefaultOptions(),
		Addresses: addrguard.LocalPolicy(), EmailReportImage: "policy-herald:dev",
	}); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			t.Error(err)
		}
	}()
	t.Cleanup(func() { <-done })
}

// sendNowSchedule is a violations schedule of the platform namespace, mailing to addr without
// TLS, asked to send now.
func sendNowSchedule(name, addr string) *v1alpha1.EmailReportSchedule {
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	return &v1alpha1.EmailReportSchedule{
		ObjectMeta: metav1.ObjectMeta{Namespace: platformNamespace, Name: name, Annotations: map[string]string{v1alpha1.AnnotationSendNow: "1"}},
		Spec: v1alpha1.EmailReportScheduleSpec{
			Schedule: "0 8 * * *", ReportType: v1alpha1.EmailReportViolations, ClusterName: "Local",
			Recipients: []string{"ops@example.com"},
			SMTP:       &v1alpha1.SMTPSettings{Host: host, Port: int32(p), From: "policy-herald@example.com", Encryption: v1alpha1.SMTPEncryptionNone},
		},
	}
}

// closedPort is a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

type runs struct {
	v1alpha1.DeliveryStatus
	jobPrefix string // the schedule's CronJob, which names its Jobs
}

// waitFor waits until the schedule's delivery status satisfies ok.
func waitFor(t *testing.T, c client.Client, name string, timeout time.Duration, ok func(*v1alpha1.DeliveryStatus) bool) runs {
	t.Helper()
	var s v1alpha1.EmailReportSchedule
	if !wait.Until(timeout, func() bool {
		must(t, c.Get(context.Background(), client.ObjectKey{Namespace: platformNamespace, Name: name}, &s))
		return s.Status.Delivery != nil && ok(s.Status.Delivery)
	}) {
		t.Fatalf("%s: no such status after %s: %+v", name, timeout, s.Status)
	}
	return runs{*s.Status.Delivery, s.Status.CronJobName}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
