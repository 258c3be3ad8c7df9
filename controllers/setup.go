package controllers

import (
	"context"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/policyherald/policy-herald/internal/delivery"
	"github.com/policyherald/policy-herald/internal/store"
)

// Options configure the controllers.
type Options struct {
	// PlatformNamespace holds the NotificationTargets that see every namespace and
	// cluster-scoped reports; targets elsewhere see only their own namespace.
	PlatformNamespace string
	// Delivery tunes the delivery engine.
	Delivery delivery.Options
	// SecretReader reads the Secrets the reconcilers reference. Nil means the manager's API
	// reader (uncached), as in production; tests wrap that one to count the reads.
	SecretReader client.Reader
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
	if err := mgr.Add(reports); err != nil {
		return nil, err
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
	for _, r := range []interface {
		SetupWithManager(context.Context, ctrl.Manager) error
	}{
		&NotificationTargetReconciler{Deps: deps, Engine: engine, PlatformNamespace: opts.PlatformNamespace},
		&TargetChannelReconciler{Deps: deps, Engine: engine, PlatformNamespace: opts.PlatformNamespace},
		&EmailReportScheduleReconciler{Deps: deps},
		&MetricsProfileReconciler{Deps: deps},
		&BlockReportPolicyReconciler{Deps: deps},
	} {
		if err := r.SetupWithManager(ctx, mgr); err != nil {
			return nil, err
		}
	}
	return engine, nil
}
