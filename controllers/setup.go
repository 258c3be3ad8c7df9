package controllers

import (
	"context"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/metadata"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/policyherald/policy-herald/internal/addrguard"
	"github.com/policyherald/policy-herald/internal/consolelink"
	"github.com/policyherald/policy-herald/internal/delivery"
	"github.com/policyherald/policy-herald/internal/owners"
	"github.com/policyherald/policy-herald/internal/resultmetrics"
	"github.com/policyherald/policy-herald/internal/store"
)

// Options configure the controllers.
type Options struct {
	// PlatformNamespace holds the NotificationTargets that see every namespace and
	// cluster-scoped reports; targets elsewhere see only their own namespace.
	PlatformNamespace string
	// Delivery tunes the delivery engine. A nil Delivery.Owners is the metadata lookup of
	// internal/owners on the manager's connection.
	Delivery delivery.Options
	// SecretReader reads the Secrets the reconcilers reference. Nil means the manager's API
	// reader (uncached), as in production; tests wrap that one to count the reads.
	SecretReader client.Reader
	// Addresses say which networks targets and channels may not connect to. The zero value
	// refuses the defaults, so leaving it out is safe.
	Addresses addrguard.Policy
	// EmailReportImage is the image the CronJobs of EmailReportSchedules run (the operator's
	// own, with its `email-report` subcommand). Empty means the image of the container
	// "manager" of the operator's own Pod, OperatorPod.
	EmailReportImage string
	// MetricsRegistry serves the result metrics. Nil means controller-runtime's
	// metrics.Registry, served on the manager's (secure) metrics endpoint.
	MetricsRegistry prometheus.Registerer
	// MetricsStatusInterval is how often MetricsProfiles' status.series is refreshed; 0 means
	// 15s.
	MetricsStatusInterval time.Duration
	// ConsoleURL is the console's external address (--console-url): messages and e-mail reports
	// link to its pages. Empty leaves links out.
	ConsoleURL consolelink.Base
	// OperatorPod is the operator's own Pod, read for its image when EmailReportImage is empty.
	// Empty means $POD_NAMESPACE/$POD_NAME (config/manager sets both from the downward API).
	OperatorPod client.ObjectKey
}

// SetupAll registers the report store, the delivery engine and every reconciler with the
// manager, and returns the engine, whose WaitStopped the process calls before it exits.
func SetupAll(ctx context.Context, mgr ctrl.Manager, opts Options) (*delivery.Engine, error) {
	reportClient, err := client.NewWithWatch(mgr.GetConfig(), client.Options{
		Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper(), HTTPClient: mgr.GetHTTPClient(),
	})
	if err != nil {
		return nil, err
	}
	reports := store.New(reportClient, mgr.GetCache(), ctrl.Log.WithName("store"))
	reports.RecordTo(mgr.GetEventRecorder("policy-herald"))
	if err := mgr.Add(reports); err != nil {
		return nil, err
	}
	// The result metrics: only the leader runs the store, so only the leader exports them.
	exporter := resultmetrics.New(reports, opts.PlatformNamespace, ctrl.Log.WithName("resultmetrics"))
	reports.Subscribe(exporter)
	if err := mgr.Add(exporter); err != nil {
		return nil, err
	}
	registry := opts.MetricsRegistry
	if registry == nil {
		registry = metrics.Registry
	}
	if err := registry.Register(exporter); err != nil {
		return nil, err
	}
	if opts.Delivery.Owners == nil {
		md, err := metadata.NewForConfigAndClient(mgr.GetConfig(), mgr.GetHTTPClient())
		if err != nil {
			return nil, err
		}
		opts.Delivery.Owners = owners.New(md, mgr.GetRESTMapper(), owners.DefaultOptions(), ctrl.Log.WithName("owners"))
	}
	engine := delivery.New(mgr.GetClient(), mgr.GetAPIReader(), reports, opts.Delivery, ctrl.Log.WithName("delivery"))
	if err := mgr.Add(engine); err != nil {
		return nil, err
	}
	secretReader := opts.SecretReader
	if secretReader == nil {
		secretReader = mgr.GetAPIReader()
	}
	deps := Deps{
		Client:       mgr.GetClient(),
		SecretReader: secretReader,
		Recorder:     mgr.GetEventRecorder("policy-herald"),
	}
	addrs := opts.Addresses.Guards(opts.PlatformNamespace)
	self := opts.OperatorPod
	if self.Name == "" {
		self = client.ObjectKey{Namespace: os.Getenv("POD_NAMESPACE"), Name: os.Getenv("POD_NAME")}
	}
	emailReports := &EmailReportScheduleReconciler{
		Deps: deps, PlatformNamespace: opts.PlatformNamespace, Pods: mgr.GetAPIReader(),
		Image:      NewJobImage(opts.EmailReportImage, self, mgr.GetAPIReader()),
		ConsoleURL: opts.ConsoleURL,
	}
	for _, r := range []interface {
		SetupWithManager(context.Context, ctrl.Manager) error
	}{
		&NotificationTargetReconciler{Deps: deps, Engine: engine, PlatformNamespace: opts.PlatformNamespace, ConsoleURL: opts.ConsoleURL, guards: addrs},
		&TargetChannelReconciler{Deps: deps, Engine: engine, PlatformNamespace: opts.PlatformNamespace, ConsoleURL: opts.ConsoleURL, guards: addrs},
		emailReports,
		&MetricsProfileReconciler{Deps: deps, Exporter: exporter, PlatformNamespace: opts.PlatformNamespace, StatusInterval: opts.MetricsStatusInterval},
		&BlockReportPolicyReconciler{Deps: deps, PlatformNamespace: opts.PlatformNamespace},
	} {
		if err := r.SetupWithManager(ctx, mgr); err != nil {
			return nil, err
		}
	}
	return engine, nil
}
