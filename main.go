// Command policy-herald runs the Policy Herald operator.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"
	_ "time/tzdata" // schedules name IANA time zones; the distroless image has no zoneinfo

	_ "golang.org/x/crypto/x509roots/fallback" // CA roots for HTTPS destinations when the image has none (make image: empty base)

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/policyherald/policy-herald/controllers"
	"github.com/policyherald/policy-herald/internal/addrguard"
	"github.com/policyherald/policy-herald/internal/console/server"
	"github.com/policyherald/policy-herald/internal/consolelink"
	"github.com/policyherald/policy-herald/internal/delivery"
	"github.com/policyherald/policy-herald/internal/emailjob"
	"github.com/policyherald/policy-herald/internal/scheme"
)

// flags are the operator's command-line settings.
type flags struct {
	metricsAddr     string
	metricsSecure   bool
	metricsCertPath string
	enableHTTP2     bool
	probeAddr       string
	pprofAddr       string
	workers         int
	slowRetry       time.Duration
	retryMax        time.Duration
	leaderElect     bool
	leaderElectNS   string
	platformNS      string
	blockedCIDRs    string
	tenantCIDRs     string
	emailImage      string
	consoleURL      string
	zap             zap.Options
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "email-report" {
		os.Exit(emailjob.Main(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "console" {
		os.Exit(server.Main(os.Args[2:]))
	}
	f := parseFlags()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&f.zap)))
	log := ctrl.Log.WithName("setup")

	tuneGC()
	if err := run(f); err != nil {
		log.Error(err, "running the operator")
		os.Exit(1)
	}
}

// shutdownWait bounds how long the process waits for delivery to stop: requests in flight
// (delivery.Options.ShutdownGrace) and the last ledger writes.
const shutdownWait = 25 * time.Second

// gcPercent is the operator's GOGC unless the environment sets one. It holds many small,
// long-lived results; half the default headroom cut its peak memory at 100,000 results from
// 126 to 103 MiB for no measurable CPU (make load; GOGC=25 gave 91 MiB for 12% more CPU).
const gcPercent = 50

func tuneGC() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
	}
}

// parseFlags parses the command line.
func parseFlags() flags {
	var f flags
	flag.StringVar(&f.metricsAddr, "metrics-bind-address", ":8443",
		"Address the Prometheus metrics endpoint binds to; 0 disables it. Defaults to :8080 with --metrics-secure=false.")
	flag.BoolVar(&f.metricsSecure, "metrics-secure", true,
		"Serve metrics over HTTPS and only to clients whose bearer token the API server authenticates and "+
			"authorizes for GET /metrics (TokenReview and SubjectAccessReview).")
	flag.StringVar(&f.metricsCertPath, "metrics-cert-path", "",
		"Directory holding tls.crt and tls.key for the metrics endpoint, reloaded when they change; "+
			"empty serves a self-signed certificate generated at start.")
	flag.BoolVar(&f.enableHTTP2, "enable-http2", false,
		"Serve metrics over HTTP/2 too; off by default against the HTTP/2 Stream Cancellation and Rapid Reset CVEs.")
	flag.StringVar(&f.probeAddr, "health-probe-bind-address", ":8081", "Address the health and readiness probes bind to.")
	flag.IntVar(&f.workers, "delivery-workers", delivery.DefaultOptions().Workers,
		"Requests each destination has in flight at most; more hide a destination's latency, fewer spare one that throttles.")
	flag.DurationVar(&f.slowRetry, "delivery-slow-retry-interval", delivery.DefaultOptions().SlowRetryInterval,
		"How often results that exhausted their fast retries are tried again (and a destination in an outage is probed).")
	flag.DurationVar(&f.retryMax, "delivery-retry-max-interval", delivery.DefaultOptions().Retry.MaxInterval,
		"The longest wait between two fast retries of a batch; the fast retries double from 1s up to it.")
	flag.StringVar(&f.pprofAddr, "pprof-bind-address", "0",
		"Address a Go pprof endpoint binds to, for profiling memory and CPU; 0 (the default) disables it. Bind it to localhost only.")
	flag.BoolVar(&f.leaderElect, "leader-elect", false, "Elect a leader so only one replica delivers; every replica serves metrics.")
	flag.StringVar(&f.leaderElectNS, "leader-election-namespace", os.Getenv("POD_NAMESPACE"),
		"Namespace of the leader election Lease (default: $POD_NAMESPACE, else the namespace of the in-cluster ServiceAccount).")
	flag.StringVar(&f.platformNS, "platform-namespace", os.Getenv("POD_NAMESPACE"),
		"Namespace whose NotificationTargets see every namespace and cluster-scoped reports (default: $POD_NAMESPACE, the operator's namespace).")
	flag.StringVar(&f.blockedCIDRs, "blocked-cidrs", strings.Join(addrguard.DefaultBlockedCIDRs, ","),
		"Comma-separated networks no target or channel may connect to (checked on every resolved address and the proxy's), "+
			"except platform-namespace targets with spec.allowPrivateNetworks. Default: loopback, link-local (cloud metadata), unspecified.")
	flag.StringVar(&f.tenantCIDRs, "tenant-blocked-cidrs", strings.Join(addrguard.DefaultTenantBlockedCIDRs, ","),
		"Comma-separated networks also refused to targets and channels outside the platform namespace: set it to the "+
			"cluster's service and pod CIDRs (and any internal network tenants must not reach). Default: every private range.")
	flag.StringVar(&f.emailImage, "email-report-image", "",
		"Image the CronJobs of EmailReportSchedules run (`policy-herald email-report`); empty (the default) runs the operator's own, "+
			"read from its Pod ($POD_NAMESPACE/$POD_NAME, container manager) with its pull policy and pull secrets.")
	flag.StringVar(&f.consoleURL, "console-url", "",
		"The console's external address (https://herald.example.com): chat messages, digests and e-mail reports link to its "+
			"page of each result's resource, policy or namespace. Empty (the default) leaves links out.")
	f.zap.BindFlags(flag.CommandLine)
	flag.Parse()
	if !f.metricsSecure && !isSet("metrics-bind-address") {
		f.metricsAddr = ":8080" // plain HTTP keeps its conventional port
	}
	return f
}

// isSet tells whether the named flag was given on the command line.
func isSet(name string) bool {
	set := false
	flag.Visit(func(fl *flag.Flag) { set = set || fl.Name == name })
	return set
}

// metricsOptions configures the metrics endpoint from the flags.
func metricsOptions(f flags) (metricsserver.Options, error) {
	opts := metricsserver.Options{BindAddress: f.metricsAddr, SecureServing: f.metricsSecure}
	if !f.enableHTTP2 {
		opts.TLSOpts = append(opts.TLSOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	if !f.metricsSecure {
		return opts, nil
	}
	// Every request must carry a bearer token the API server authenticates (TokenReview) and
	// authorizes for GET on the non-resource URL /metrics (SubjectAccessReview).
	opts.FilterProvider = filters.WithAuthenticationAndAuthorization
	if f.metricsCertPath != "" {
		// controller-runtime watches the files and falls back to a self-signed certificate when they
		// are missing; a path that was asked for but holds no certificate is a mistake, so fail.
		for _, name := range []string{"tls.crt", "tls.key"} {
			if _, err := os.Stat(filepath.Join(f.metricsCertPath, name)); err != nil {
				return opts, fmt.Errorf("--metrics-cert-path: %w", err)
			}
		}
		opts.CertDir = f.metricsCertPath
	}
	return opts, nil
}

func deliveryOptions(f flags) delivery.Options {
	o := delivery.DefaultOptions()
	o.Workers = max(1, f.workers)
	o.SlowRetryInterval = max(time.Second, f.slowRetry)
	o.Retry.MaxInterval = max(time.Second, f.retryMax)
	return o
}

// addressPolicy parses the address flags.
func addressPolicy(f flags) (addrguard.Policy, error) {
	blocked, err := addrguard.ParseCIDRs(strings.Split(f.blockedCIDRs, ","))
	if err != nil {
		return addrguard.Policy{}, fmt.Errorf("--blocked-cidrs: %w", err)
	}
	tenant, err := addrguard.ParseCIDRs(strings.Split(f.tenantCIDRs, ","))
	if err != nil {
		return addrguard.Policy{}, fmt.Errorf("--tenant-blocked-cidrs: %w", err)
	}
	return addrguard.Policy{Blocked: blocked, TenantBlocked: tenant}, nil
}

// run builds the manager, registers the controllers and probes, and runs until a signal.
func run(f flags) error {
	metrics, err := metricsOptions(f)
	if err != nil {
		return err
	}
	addresses, err := addressPolicy(f)
	if err != nil {
		return err
	}
	console, err := consolelink.Parse(f.consoleURL)
	if err != nil {
		return fmt.Errorf("--console-url: %w", err)
	}
	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme: scheme.New(),
		// Names the operator in managedFields (status, ledgers), so GitOps tools see who owns what.
		Client:                  client.Options{FieldOwner: "policy-herald"},
		Metrics:                 metrics,
		HealthProbeBindAddress:  f.probeAddr,
		PprofBindAddress:        f.pprofAddr,
		LeaderElection:          f.leaderElect,
		LeaderElectionID:        "policy-herald.reporting.policyherald.io",
		LeaderElectionNamespace: f.leaderElectNS,
		// Hand the lease over at once on shutdown instead of making the next leader wait it out.
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}
	ctx := ctrl.SetupSignalHandler()
	engine, err := controllers.SetupAll(ctx, mgr, controllers.Options{
		PlatformNamespace: f.platformNS,
		Delivery:          deliveryOptions(f),
		Addresses:         addresses,
		EmailReportImage:  f.emailImage,
		ConsoleURL:        console,
	})
	if err != nil {
		return fmt.Errorf("setting up controllers: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("adding health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return fmt.Errorf("adding readiness check: %w", err)
	}
	ctrl.Log.WithName("setup").Info("starting manager")
	err = mgr.Start(ctx)
	// A lost lease makes the manager return without waiting for its runnables: let delivery
	// finish the requests in flight and write the ledgers, as far as it still can.
	if !engine.WaitStopped(shutdownWait) {
		ctrl.Log.WithName("setup").Info("delivery did not stop in time; the last deliveries may be sent again by the next leader")
	}
	if err != nil {
		return fmt.Errorf("running manager: %w", err)
	}
	return nil
}
