// Package server is the `policy-herald console` command (issue 19): it runs its own report store
// and serves the console's API (package api) to people authenticated by the Kubernetes API
// server, each seeing what RBAC lets them see.
package server

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/policyherald/policy-herald/internal/console/access"
	"github.com/policyherald/policy-herald/internal/console/api"
	"github.com/policyherald/policy-herald/internal/console/health"
	"github.com/policyherald/policy-herald/internal/console/live"
	"github.com/policyherald/policy-herald/internal/console/policies"
	"github.com/policyherald/policy-herald/internal/console/ui"
	"github.com/policyherald/policy-herald/internal/scheme"
	"github.com/policyherald/policy-herald/internal/store"
)

// Flags are the command line of `policy-herald console`.
type Flags struct {
	BindAddress  string
	ProbeAddress string
	CacheTTL     time.Duration
	// RoleBindingIndex turns on access.Bindings (needs list and watch on rolebindings).
	RoleBindingIndex bool
	// PlatformNamespace is the operator's --platform-namespace: what it means for delivery
	// decides what "Delivered to" names.
	PlatformNamespace string
	Identity          IdentityFlags
	Zap               zap.Options
}

// Main runs the command with args (after "console") until SIGINT or SIGTERM; it returns the
// process's exit code.
func Main(args []string) int {
	f, err := ParseFlags(args, os.Stderr)
	if err != nil {
		return 2
	}
	log := zap.New(zap.UseFlagOptions(&f.Zap))
	ctrl.SetLogger(log)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := config.GetConfig()
	if err != nil {
		log.Error(err, "loading the Kubernetes client configuration")
		return 1
	}
	if err := Run(ctx, cfg, f, log, nil); err != nil {
		log.Error(err, "running the console")
		return 1
	}
	return 0
}

// ParseFlags parses the command line; --kubeconfig is controller-runtime's.
func ParseFlags(args []string, out io.Writer) (Flags, error) {
	fs := flag.NewFlagSet("console", flag.ContinueOnError)
	fs.SetOutput(out)
	var f Flags
	fs.StringVar(&f.BindAddress, "bind-address", ":8090", "Address the console's HTTP API binds to.")
	fs.StringVar(&f.ProbeAddress, "health-probe-bind-address", ":8091", "Address the health (/healthz) and readiness (/readyz) probes bind to.")
	fs.DurationVar(&f.CacheTTL, "cache-ttl", 10*time.Second,
		"How long authentication and authorization answers of the API server are remembered: how long a revoked token "+
			"or a changed RoleBinding may take to show.")
	fs.BoolVar(&f.RoleBindingIndex, "rolebinding-index", false,
		"Ask the API server about a namespace only when a RoleBinding there names the person (one review instead of one per "+
			"namespace holding reports). Needs list and watch on rolebindings; for clusters where RBAC alone grants the report kinds "+
			"(it steps aside when it sees another authorizer grant).")
	fs.StringVar(&f.PlatformNamespace, "platform-namespace", os.Getenv("POD_NAMESPACE"),
		"The operator's --platform-namespace (give both the same): its NotificationTargets and TargetChannels deliver results of "+
			"every namespace, so the resource and policy pages name them under \"Delivered to\" (default: $POD_NAMESPACE).")
	f.Identity.bind(fs)
	config.RegisterFlags(fs)
	f.Zap.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if fs.NArg() > 0 {
		err := fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
		fmt.Fprintln(out, err)
		return f, err
	}
	return f, nil
}

// Run serves the console with cfg's identity until ctx ends. listening, when not nil, is told
// the API's address once it listens (tests bind port 0).
func Run(ctx context.Context, cfg *rest.Config, f Flags, log logr.Logger, listening func(net.Addr)) error {
	if err := f.Identity.check(f.BindAddress); err != nil {
		return err
	}
	mgr, err := newManager(cfg, f, log)
	if err != nil {
		return err
	}
	reports, err := addStore(mgr, log)
	if err != nil {
		return err
	}
	bindings, err := watchBindings(mgr, f, log)
	if err != nil {
		return err
	}
	p, err := newParts(ctx, mgr, cfg, reports, bindings, f, log)
	if err != nil {
		return err
	}
	if err := mgr.Add(p.hub); err != nil {
		return err
	}
	h := newHandler(p, log)
	if err := addServer(mgr, f, h, log, listening); err != nil {
		return err
	}
	if err := addProbes(mgr, h); err != nil {
		return err
	}
	return mgr.Start(ctx)
}

// newManager returns the console's manager. The console only reads: every replica runs its own
// store, so no leader election (a runnable that needs a leader, as the store says it does,
// starts at once without one) and no metrics endpoint.
func newManager(cfg *rest.Config, f Flags, log logr.Logger) (ctrl.Manager, error) {
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme.New(),
		LeaderElection:         false,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: f.ProbeAddress,
		Logger:                 log,
	})
	if err != nil {
		return nil, fmt.Errorf("creating the manager: %w", err)
	}
	return mgr, nil
}

// addServer serves h on --bind-address, over TLS when configured. Every answer carries the
// console's security headers, the 503 before the store synced too.
func addServer(mgr ctrl.Manager, f Flags, h http.Handler, log logr.Logger, listening func(net.Addr)) error {
	tlsConfig, err := f.Identity.serverTLS()
	if err != nil {
		return err
	}
	return mgr.Add(&httpServer{addr: f.BindAddress, handler: ui.SecurityHeaders(h), tls: tlsConfig, log: log.WithName("http"), listening: listening})
}

// addProbes adds /healthz, and /readyz that holds until the store has synced.
func addProbes(mgr ctrl.Manager, h *syncedHandler) error {
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	return mgr.AddReadyzCheck("store", func(*http.Request) error {
		if !h.synced.Load() {
			return errors.New("the report store is not synced yet")
		}
		return nil
	})
}

// addStore adds the console's own report store to mgr.
func addStore(mgr ctrl.Manager, log logr.Logger) (*store.Store, error) {
	c, err := client.NewWithWatch(mgr.GetConfig(), client.Options{
		Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper(), HTTPClient: mgr.GetHTTPClient(),
	})
	if err != nil {
		return nil, err
	}
	reports := store.New(c, mgr.GetCache(), log.WithName("store"))
	return reports, mgr.Add(reports)
}

// syncedHandler serves the login routes at once and answers 503 elsewhere until the store has
// synced, so nobody is shown a partial picture.
type syncedHandler struct {
	mux    *http.ServeMux // the login's routes, then whenSynced
	next   http.Handler   // everything else, once synced
	synced atomic.Bool
}

// watchBindings returns the RoleBinding index, fed by its own informer, or nil when it is off.
// Not the manager's cache: the manager waits for its cache to sync before serving, and without
// the permission to list RoleBindings that would never happen; the index only prunes once
// synced, so without it the console serves all the same, asking about every namespace.
func watchBindings(mgr ctrl.Manager, f Flags, log logr.Logger) (*access.Bindings, error) {
	if !f.RoleBindingIndex {
		return nil, nil
	}
	cs, err := kubernetes.NewForConfigAndClient(mgr.GetConfig(), mgr.GetHTTPClient())
	if err != nil {
		return nil, err
	}
	factory := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithTransform(access.TrimRoleBinding))
	b := access.NewBindings(log.WithName("rolebinding-index"))
	if err := b.Watch(factory.Rbac().V1().RoleBindings().Informer()); err != nil {
		return nil, err
	}
	return b, mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		factory.Start(ctx.Done())
		<-ctx.Done()
		factory.Shutdown()
		return nil
	}))
}

// parts are what the API, the pages and the live updates share: who a person is, what they may
// see, and the readers of policies and delivery health.
type parts struct {
	reports  *store.Store
	id       *identity
	scoper   *access.Authorizer
	policies *policies.Reader
	health   *health.Lister
	hub      *live.Hub
}

func newParts(ctx context.Context, mgr ctrl.Manager, cfg *rest.Config, reports *store.Store, bindings *access.Bindings, f Flags,
	log logr.Logger) (*parts, error) {
	sars, err := access.NewReviews(cfg)
	if err != nil {
		return nil, err
	}
	trs, err := api.NewTokenReviews(cfg)
	if err != nil {
		return nil, err
	}
	meta, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	p := &parts{reports: reports, scoper: access.New(sars, access.Options{TTL: f.CacheTTL, Bindings: bindings})}
	if p.id, err = newIdentity(ctx, cfg, f, api.NewTokenAuthenticator(trs, api.TokenOptions{TTL: f.CacheTTL}), log.WithName("login")); err != nil {
		return nil, err
	}
	p.policies = policies.New(meta, mgr.GetRESTMapper(), policies.Options{})
	p.health = health.New(mgr.GetClient(), p.scoper).WithRouting(health.Routing{
		PlatformNamespace: f.PlatformNamespace, NamespaceLabels: reports.NamespaceLabels,
	})
	p.hub = live.New(live.Options{Source: reports, Authenticator: p.id.chain, Scoper: p.scoper, Log: log.WithName("live")})
	reports.Subscribe(p.hub)
	return p, nil
}

// newHandler mounts the login's routes, then the API, the live updates and the pages behind
// the store's sync. The pages read policies and health through the API's readers, so both show
// the same.
func newHandler(p *parts, log logr.Logger) *syncedHandler {
	pages := ui.Options{
		Source: p.reports, Authenticator: p.id.chain, Scoper: p.scoper, Policies: p.policies, Health: p.health,
		Log: log.WithName("ui"), Events: eventsPath, SignedIn: p.id.login.SignedIn,
	}
	if p.id.login.Available() {
		pages.SignIn = func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, p.id.login.LoginURL(r.URL.RequestURI()), http.StatusSeeOther)
		}
	}
	h := &syncedHandler{mux: http.NewServeMux(), next: routes(handlers{
		api: api.New(api.Options{Source: p.reports, Authenticator: p.id.chain, Scoper: p.scoper, Policies: p.policies,
			Health: p.health, Log: log.WithName("api")}),
		events: p.hub,
		pages:  ui.New(pages),
	})}
	p.id.login.Mount(h.mux)
	h.mux.HandleFunc("/", h.whenSynced)
	go func() {
		if p.reports.WaitForSync(context.Background()) {
			h.synced.Store(true)
		}
	}()
	return h
}

func (h *syncedHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *syncedHandler) whenSynced(w http.ResponseWriter, r *http.Request) {
	if !h.synced.Load() {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Retry-After", "1")
		const msg = "the console is still reading the reports; try again in a moment"
		if strings.HasPrefix(r.URL.Path, "/api/") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"error":"`+msg+`"}`+"\n")
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "The console is still reading the reports; reload in a moment.\n")
		return
	}
	h.next.ServeHTTP(w, r)
}
