package controllers

import (
	"context"
	"net/netip"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/policyherald/policy-herald/internal/delivery"
	"github.com/policyherald/policy-herald/internal/resultmetrics"
	"github.com/policyherald/policy-herald/internal/sender"
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
	// Addresses say which networks targets and channels may not connect to. The zero value
	// refuses the defaults, so leaving it out is safe.
	Addresses AddressPolicy
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
	// OperatorPod is the operator's own Pod, read for its image when EmailReportImage is empty.
	// Empty means $POD_NAMESPACE/$POD_NAME (config/manager sets both from the downward API).
	OperatorPod client.ObjectKey
}

// AddressPolicy says which networks the senders of targets and channels may not connect to.
// Each address a sender dials is checked after name resolution, and the destination's host
// when it is configured.
type AddressPolicy struct {
	// Blocked are refused to every target and channel, except a platform-namespace target with
	// spec.allowPrivateNetworks and its channels in that namespace. Nil means
	// sender.DefaultBlockedCIDRs (loopback, link-local, unspecified).
	Blocked []netip.Prefix
	// TenantBlocked are refused, on top of Blocked, to targets and channels outside the platform
	// namespace: the cluster's service and pod networks, which cannot be discovered portably.
	// Nil means sender.DefaultTenantBlockedCIDRs (the private, CGNAT and unique local ranges).
	TenantBlocked []netip.Prefix
}

// LocalAddressPolicy is the default policy with IPv4 loopback (127.0.0.0/8) allowed, for
// `make run`, the load harness and the envtest suite, whose receivers listen there. [::1],
// link-local and the tenant networks stay refused. Never for production.
func LocalAddressPolicy() AddressPolicy {
	var blocked []netip.Prefix
	for _, p := range sender.MustParseCIDRs(sender.DefaultBlockedCIDRs) {
		if p != netip.MustParsePrefix("127.0.0.0/8") {
			blocked = append(blocked, p)
		}
	}
	return AddressPolicy{Blocked: blocked}
}

// guards are the address guards of platform and tenant objects.
type guards struct {
	platformNamespace string
	platform, tenant  *sender.AddressGuard
}

func newGuards(platformNamespace string, p AddressPolicy) guards {
	blocked, tenant := p.Blocked, p.TenantBlocked
	if blocked == nil {
		blocked = sender.MustParseCIDRs(sender.DefaultBlockedCIDRs)
	}
	if tenant == nil {
		tenant = sender.MustParseCIDRs(sender.DefaultTenantBlockedCIDRs)
	}
	return guards{
		platformNamespace: platformNamespace,
		platform:          sender.NewAddressGuard(blocked),
		tenant:            sender.NewAddressGuard(append(append([]netip.Prefix(nil), blocked...), tenant...)),
	}
}

// forNamespace is the guard of an object in namespace; allowPrivate (a platform target's
// allowPrivateNetworks) lifts it in the platform namespace only. Nil means unrestricted.
func (g guards) forNamespace(namespace string, allowPrivate bool) *sender.AddressGuard {
	if namespace != g.platformNamespace {
		return g.tenant
	}
	if allowPrivate {
		return nil
	}
	return g.platform
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
	addrs := newGuards(opts.PlatformNamespace, opts.Addresses)
	self := opts.OperatorPod
	if self.Name == "" {
		self = client.ObjectKey{Namespace: os.Getenv("POD_NAMESPACE"), Name: os.Getenv("POD_NAME")}
	}
	emailReports := &EmailReportScheduleReconciler{
		Deps: deps, PlatformNamespace: opts.PlatformNamespace, Pods: mgr.GetAPIReader(),
		Image: NewJobImage(opts.EmailReportImage, self, mgr.GetAPIReader()),
	}
	for _, r := range []interface {
		SetupWithManager(context.Context, ctrl.Manager) error
	}{
		&NotificationTargetReconciler{Deps: deps, Engine: engine, PlatformNamespace: opts.PlatformNamespace, guards: addrs},
		&TargetChannelReconciler{Deps: deps, Engine: engine, PlatformNamespace: opts.PlatformNamespace, guards: addrs},
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
