// Command dev runs Policy Herald on a throwaway local control plane: it starts kube-apiserver and
// etcd (built by hack/control-plane.sh; KUBEBUILDER_ASSETS points at them), installs Policy
// Herald's CRDs and the report CRDs, applies config/samples, starts a webhook receiver on
// 127.0.0.1:8099 that prints every result it gets, runs the operator, then applies the real
// reports in testdata/reports and shows them arriving, with the health of every Policy Herald
// object as it changes. Ctrl-C (or SIGTERM) stops everything it started and exits 0 once that
// went cleanly; a second Ctrl-C skips the operator's graceful shutdown.
//
// Run it with `make run`. While it runs, .dev/kubeconfig reaches the control plane.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/controllers"
	"github.com/policyherald/policy-herald/internal/apply"
	"github.com/policyherald/policy-herald/internal/conditions"
	"github.com/policyherald/policy-herald/internal/delivery"
	"github.com/policyherald/policy-herald/internal/scheme"
	"github.com/policyherald/policy-herald/internal/sender"
)

const fieldOwner = client.FieldOwner("policy-herald-dev")

func main() {
	ctrl.SetLogger(zap.New(zap.UseDevMode(false)))
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
	if err := writeKubeconfig(env, cfg, filepath.Join(".dev", "kubeconfig")); err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		return err
	}
	applied, err := apply.Kustomization(ctx, c, filepath.Join("config", "samples"), fieldOwner)
	if err != nil {
		return err
	}
	for _, u := range applied {
		fmt.Printf("applied %s %s/%s\n", u.GetKind(), u.GetNamespace(), u.GetName())
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: scheme.New(), Metrics: metricsserver.Options{BindAddress: "127.0.0.1:8080"}})
	if err != nil {
		return err
	}
	if _, err := controllers.SetupAll(ctx, mgr, controllers.Options{
		PlatformNamespace: "policy-herald-system",
		Delivery:          delivery.DefaultOptions(),
		// The demo's receiver listens on 127.0.0.1, which the production policy refuses.
		Addresses: controllers.LocalAddressPolicy(),
		// The operator runs outside a Pod here, so it cannot read its image from one. No kubelet
		// runs either: the CronJobs of e-mail reports are made (and shown in status) but never run.
		EmailReportImage: "policy-herald:dev",
	}); err != nil {
		return err
	}
	stopReceiver, err := startReceiver(receiverAddr)
	if err != nil {
		return err
	}
	defer stopReceiver()
	errc := make(chan error, 1)
	go func() { errc <- mgr.Start(ctx) }()
	fmt.Println("operator running; metrics on http://127.0.0.1:8080/metrics; Ctrl-C stops everything")
	go applyReportsWhenReady(ctx, c)
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

// receiverAddr is where the sample webhook target (config/samples) delivers.
const receiverAddr = "127.0.0.1:8099"

// startReceiver serves a webhook endpoint that prints each result it receives.
func startReceiver(addr string) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("starting the webhook receiver: %w", err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/slack/") {
			printSlack(w, r)
			return
		}
		var d sender.ResultDocument
		if err := json.NewDecoder(r.Body).Decode(&d); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if d.ID == "" {
			fmt.Printf("receiver: %s\n", "heartbeat")
			return
		}
		where := d.Report.Namespace + "/" + d.Report.Name
		if d.Resource != nil {
			where = d.Resource.Kind + " " + d.Resource.Namespace + "/" + d.Resource.Name
		}
		fmt.Printf("receiver: %-5s %-8s %-7s %s on %s %s\n", or(string(d.Status), "-"), or(string(d.Severity), "-"), d.Source,
			truncate(strings.Trim(d.Policy+"/"+d.Rule, "/"), 60), where, truncate(d.Message, 60))
		w.WriteHeader(http.StatusNoContent)
	})}
	go func() { _ = srv.Serve(ln) }()
	fmt.Printf("webhook receiver listening on http://%s\n", addr)
	return func() { _ = srv.Close() }, nil
}

// printSlack prints the notification text of a Slack message, as a phone would show it.
func printSlack(w http.ResponseWriter, r *http.Request) {
	var m struct {
		Channel string `json:"channel"`
		Text    string `json:"text"`
	}
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	for _, line := range strings.Split(m.Text, "\n") {
		fmt.Printf("receiver: slack %s%s %s\n", strings.TrimPrefix(r.URL.Path, "/slack/"), m.Channel, truncate(line, 120))
	}
	_, _ = w.Write([]byte("ok"))
}

func or(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// applyReportsWhenReady applies the real reports once the sample webhook target delivers, so
// its results are new to it and arrive at the receiver.
func applyReportsWhenReady(ctx context.Context, c client.Client) {
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
		return
	}
	for _, u := range applied {
		fmt.Printf("applied %s %s/%s\n", u.GetKind(), u.GetNamespace(), u.GetName())
	}
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

// watchHealth prints a table of every Policy Herald object whenever their health changes.
func watchHealth(ctx context.Context, c client.Client) {
	last := ""
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		if table, err := healthTable(ctx, c); err == nil && table != last {
			fmt.Printf("\n%s\n%s", time.Now().Format(time.TimeOnly), table)
			last = table
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func healthTable(ctx context.Context, c client.Client) (string, error) {
	lists := map[string]client.ObjectList{
		"NotificationTarget":  &v1alpha1.NotificationTargetList{},
		"TargetChannel":       &v1alpha1.TargetChannelList{},
		"EmailReportSchedule": &v1alpha1.EmailReportScheduleList{},
		"MetricsProfile":      &v1alpha1.MetricsProfileList{},
		"BlockReportPolicy":   &v1alpha1.BlockReportPolicyList{},
	}
	var rows []string
	for kind, list := range lists {
		if err := c.List(ctx, list); err != nil {
			return "", err
		}
		err := meta.EachListItem(list, func(o runtime.Object) error {
			obj := o.(conditions.Object)
			ready, reason, message := "-", "", ""
			if cond := conditions.Ready(obj); cond != nil {
				ready, reason, message = string(cond.Status), cond.Reason, cond.Message
			}
			delivered := ""
			if t, ok := obj.(*v1alpha1.NotificationTarget); ok && t.Status.Delivery != nil {
				delivered = fmt.Sprintf("%d/%d/%d", t.Status.Delivery.Sent, t.Status.Delivery.Failed, t.Status.Delivery.Pending)
			}
			rows = append(rows, fmt.Sprintf("%s\t%s/%s\t%s\t%s\t%s\t%s", kind, obj.GetNamespace(), obj.GetName(), ready, reason, delivered, message))
			return nil
		})
		if err != nil {
			return "", err
		}
	}
	sort.Strings(rows)
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "KIND\tNAME\tREADY\tREASON\tSENT/FAILED/PENDING\tMESSAGE")
	for _, r := range rows {
		fmt.Fprintln(w, r)
	}
	_ = w.Flush()
	return b.String(), nil
}
