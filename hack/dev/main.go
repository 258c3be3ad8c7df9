// Command dev runs Policy Herald on a throwaway local control plane: it starts kube-apiserver and
// etcd (built by hack/control-plane.sh; KUBEBUILDER_ASSETS points at them), installs Policy
// Herald's CRDs, RBAC and the report CRDs, applies config/samples, starts a webhook receiver on
// 127.0.0.1:8099 and an SMTP sink on 127.0.0.1:2525 that print what they get, runs the operator,
// then applies the real reports in testdata/reports and shows them arriving, with the health of
// every Policy Herald object as it changes, and asks for the sample e-mail report at once. The
// console runs beside it in development mode on 127.0.0.1:8090 (its address is printed).
// kube-controller-manager's CronJob and Job controllers run the e-mail report Jobs, and
// podRunner plays the kubelet for their Pods. The operator's log goes to .dev/operator.log, so
// the screen shows what arrives. Ctrl-C (or SIGTERM) stops everything it started and exits 0
// once that went cleanly; a second Ctrl-C skips the operator's graceful shutdown.
//
// Run it with `make run`. While it runs, .dev/kubeconfig reaches the control plane.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/controllers"
	"github.com/policyherald/policy-herald/internal/addrguard"
	"github.com/policyherald/policy-herald/internal/conditions"
	"github.com/policyherald/policy-herald/internal/delivery"
	"github.com/policyherald/policy-herald/internal/emailjob"
	"github.com/policyherald/policy-herald/internal/scheme"
	"github.com/policyherald/policy-herald/internal/testing/apply"
)

const fieldOwner = client.FieldOwner("policy-herald-dev")

// Where make run keeps its files: the kubeconfig, the logs, the e-mail report Pods' folders.
const (
	devDir      = ".dev"
	operatorLog = devDir + "/operator.log"
	kcmLog      = devDir + "/controller-manager.log"
	podsDir     = devDir + "/pods"
)

// platformNamespace is the operator's namespace here, as config/default installs it.
const platformNamespace = "policy-herald-system"

func main() {
	if err := logToFile(operatorLog); err != nil {
		fmt.Fprintln(os.Stderr, "dev:", err)
		os.Exit(1)
	}
	ctx, force := signals()
	err := run(ctx, force)
	if code := exitCode(ctx, err); code != 0 {
		fmt.Fprintln(os.Stderr, "dev:", err)
		os.Exit(code)
	}
}

// errForced says a second signal cut the operator's graceful shutdown short.
var errForced = errors.New("stopped without waiting for the operator's graceful shutdown")

// exitCode is 0 after a clean run or a clean stop that a signal asked for (whatever that stop
// cancelled, for example the samples still being applied, returns context.Canceled), 130 when a
// second signal cut the shutdown short, and 1 on a real failure.
func exitCode(ctx context.Context, err error) int {
	switch {
	case err == nil, ctx.Err() != nil && errors.Is(err, context.Canceled):
		return 0
	case errors.Is(err, errForced):
		return 130
	default:
		return 1
	}
}

// signals returns a context cancelled by the first SIGINT or SIGTERM, which stops everything
// gracefully, and a channel closed by the second, which stops waiting for the operator (the
// control plane is still stopped, so no kube-apiserver or etcd is left behind). A third exits
// at once.
func signals() (context.Context, <-chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	force := make(chan struct{})
	c := make(chan os.Signal, 3)
	signal.Notify(c, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-c
		fmt.Println("stopping; Ctrl-C again to skip the operator's graceful shutdown")
		cancel()
		<-c
		close(force)
		<-c
		os.Exit(130)
	}()
	return ctx, force
}

// logToFile sends the operator's log to path: its JSON lines would bury what the screen shows.
func logToFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	ctrl.SetLogger(zap.New(zap.UseDevMode(false), zap.WriteTo(f)))
	return nil
}

func run(ctx context.Context, force <-chan struct{}) error {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return errors.New("KUBEBUILDER_ASSETS is not set: start this with `make run`")
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("config", "crd", "bases"), filepath.Join("hack", "crds")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		return fmt.Errorf("starting the local control plane: %w", err)
	}
	defer func() {
		fmt.Println("stopping the local control plane")
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "dev: stopping the local control plane:", err)
		}
	}()
	kubeconfig := filepath.Join(devDir, "kubeconfig")
	if err := writeKubeconfig(env, cfg, kubeconfig); err != nil {
		return err
	}
	fmt.Printf("operator log in %s, kube-controller-manager's in %s, e-mail report Jobs' in %s/\n", operatorLog, kcmLog, podsDir)
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		return err
	}
	if err := applyAll(ctx, c); err != nil {
		return err
	}
	stopKCM, err := startControllerManager(kubeconfig, kcmLog)
	if err != nil {
		return err
	}
	defer stopKCM()
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: scheme.New(), Metrics: metricsserver.Options{BindAddress: metricsAddr}})
	if err != nil {
		return err
	}
	if _, err := controllers.SetupAll(ctx, mgr, controllers.Options{
		PlatformNamespace: platformNamespace,
		Delivery:          delivery.DefaultOptions(),
		// The demo's receiver listens on 127.0.0.1, which the production policy refuses.
		Addresses: addrguard.LocalPolicy(),
		// The operator runs outside a Pod here, so it cannot read its image from one; podRunner
		// runs bin/policy-herald for it.
		EmailReportImage: "policy-herald:dev",
	}); err != nil {
		return err
	}
	stopReceiver, err := startReceiver(receiverAddr)
	if err != nil {
		return err
	}
	defer stopReceiver()
	_, stopSink, err := startSMTPSink(smtpSinkAddr, os.Stdout)
	if err != nil {
		return err
	}
	defer stopSink()
	runner, err := newPodRunner(c, cfg)
	if err != nil {
		return err
	}
	// Its own context: a failing operator ends run without a signal, and the Pods it runs too.
	runnerCtx, stopRunner := context.WithCancel(ctx)
	runnerDone := make(chan struct{})
	go func() { defer close(runnerDone); runner.run(runnerCtx) }()
	defer func() { stopRunner(); <-runnerDone }()
	errc := make(chan error, 1)
	go func() { errc <- mgr.Start(ctx) }()
	fmt.Println("operator running; Ctrl-C stops everything")
	fmt.Printf("metrics on http://%s/metrics, for example: curl -s http://%s/metrics | grep '^policy_herald_'\n", metricsAddr, metricsAddr)
	stopConsole, err := startConsole(ctx, cfg, consoleAddr, consoleProbeAddr, os.Stdout)
	if err != nil {
		return err
	}
	defer stopConsole()
	go func() {
		if applyReportsWhenReady(ctx, c) {
			sendSampleReport(ctx, c)
		}
	}()
	go watchHealth(ctx, c)
	// The operator returns once a signal's graceful shutdown is done, or on its own when it
	// fails (then this ends instead of printing health tables of a dead operator).
	select {
	case err := <-errc:
		return err
	case <-force:
		return errForced
	}
}

// receiverAddr is where the sample webhook target (config/samples) delivers; metricsAddr is
// where the operator serves its metrics, over plain HTTP without authentication here.
const (
	receiverAddr = "127.0.0.1:8099"
	metricsAddr  = "127.0.0.1:8080"
)

// applyAll installs Policy Herald's RBAC as config/default does (the e-mail report Jobs run as
// their ServiceAccount) and the samples.
func applyAll(ctx context.Context, c client.Client) error {
	rbac, err := apply.Kustomization(ctx, c, filepath.Join("hack", "dev", "rbac"), fieldOwner)
	if err != nil {
		return err
	}
	fmt.Printf("applied config/rbac as config/default installs it (%d objects): the e-mail report Jobs run as ServiceAccount %s/%s\n",
		len(rbac), platformNamespace, emailjob.ServiceAccount)
	applied, err := apply.Kustomization(ctx, c, filepath.Join("config", "samples"), fieldOwner)
	if err != nil {
		return err
	}
	for _, u := range applied {
		fmt.Printf("applied %s %s/%s\n", u.GetKind(), u.GetNamespace(), u.GetName())
	}
	return nil
}

// newPodRunner runs the e-mail report Pods with bin/policy-herald, built next to this program.
func newPodRunner(c client.Client, cfg *rest.Config) (*podRunner, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(filepath.Dir(exe), "policy-herald")
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("%w: the e-mail report Jobs run it; `make run` builds it", err)
	}
	// The Pods of an earlier run went with its control plane.
	if err := os.RemoveAll(podsDir); err != nil {
		return nil, err
	}
	return &podRunner{c: c, cfg: cfg, namespace: platformNamespace, binary: bin, dir: podsDir, out: os.Stdout}, nil
}

// sampleSchedule is the EmailReportSchedule of config/samples; it mails to the SMTP sink.
var sampleSchedule = client.ObjectKey{Namespace: platformNamespace, Name: "daily-violations"}

// sendSampleReport asks for the sample schedule's report now (send-now), so its mail arrives at
// the sink within seconds rather than at 08:00.
func sendSampleReport(ctx context.Context, c client.Client) {
	s := &v1alpha1.EmailReportSchedule{ObjectMeta: metav1.ObjectMeta{Namespace: sampleSchedule.Namespace, Name: sampleSchedule.Name}}
	value := time.Now().UTC().Format(time.RFC3339)
	patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%q}}}`, v1alpha1.AnnotationSendNow, value)
	if err := c.Patch(ctx, s, client.RawPatch(types.MergePatchType, patch)); err != nil {
		if ctx.Err() == nil {
			fmt.Fprintln(os.Stderr, "dev: asking for the sample e-mail report:", err)
		}
		return
	}
	fmt.Printf("annotated EmailReportSchedule %s %s=%s: its report is mailed now\n", sampleSchedule, v1alpha1.AnnotationSendNow, value)
}

// applyReportsWhenReady applies the real reports once the sample webhook target delivers, so
// its results are new to it and arrive at the receiver. It tells whether they were applied.
func applyReportsWhenReady(ctx context.Context, c client.Client) bool {
	key := client.ObjectKey{Namespace: "policy-herald-system", Name: "platform-webhook"}
	for ctx.Err() == nil {
		var t v1alpha1.NotificationTarget
		if c.Get(ctx, key, &t) == nil && conditions.IsReady(&t) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	// Creation times have one-second resolution: make the reports clearly newer than the target.
	time.Sleep(1100 * time.Millisecond)
	files, _ := filepath.Glob(filepath.Join("testdata", "reports", "*.yaml"))
	applied, err := apply.Files(ctx, c, files, "default", fieldOwner)
	if err != nil {
		if ctx.Err() == nil { // not just stopped by Ctrl-C
			fmt.Fprintln(os.Stderr, "dev:", err)
		}
		return false
	}
	for _, u := range applied {
		fmt.Printf("applied %s %s/%s\n", u.GetKind(), u.GetNamespace(), u.GetName())
	}
	return true
}

// writeKubeconfig writes a kubeconfig of an admin user, so kubectl can look while this runs.
func writeKubeconfig(env *envtest.Environment, cfg *rest.Config, path string) error {
	user, err := env.AddUser(envtest.User{Name: "dev-admin", Groups: []string{"system:masters"}}, cfg)
	if err != nil {
		return err
	}
	b, err := user.KubeConfig()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	fmt.Printf("control plane at %s; kubeconfig in %s\n", cfg.Host, path)
	return os.WriteFile(path, b, 0o600)
}
