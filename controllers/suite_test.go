package controllers_test

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/policyherald/policy-herald/controllers"
	"github.com/policyherald/policy-herald/internal/addrguard"
	"github.com/policyherald/policy-herald/internal/delivery"
	"github.com/policyherald/policy-herald/internal/scheme"
)

// platformNamespace is where targets see every namespace.
const platformNamespace = "policy-herald-system"

// resultMetrics is the registry of the result metrics of every replica the suite starts.
var resultMetrics = prometheus.NewRegistry()

// reportImage is the image the suite's operator gives the CronJobs of e-mail reports.
const reportImage = "registry.example.com/policy-herald:test"

// testDeliveryOptions are the production options with intervals short enough for tests.
func testDeliveryOptions() delivery.Options {
	o := delivery.DefaultOptions()
	o.Retry.InitialInterval, o.Retry.MaxInterval, o.Retry.MaxAttempts = 50*time.Millisecond, 200*time.Millisecond, 4
	// No sweep while the suite runs: every delivery must come from report changes, not the safety net.
	o.SweepInterval, o.FlushInterval, o.StatusInterval = time.Hour, 200*time.Millisecond, 200*time.Millisecond
	// A tiny queue, so every spec with more results than this also exercises the full-queue
	// path (the scanner waits for room).
	o.QueueResults = 4
	o.SlowRetryInterval, o.ShutdownGrace = 200*time.Millisecond, 2*time.Second
	return o
}

var (
	cfg       *rest.Config
	k8sClient client.Client
	testEnv   *envtest.Environment
	ctx       context.Context
	cancel    context.CancelFunc
)

func TestControllers(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(20 * time.Second)
	SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	RunSpecs(t, "Controllers Suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	ctx, cancel = context.WithCancel(context.Background())

	// KUBEBUILDER_ASSETS points at the kube-apiserver and etcd built by hack/control-plane.sh.
	testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "config", "crd", "bases"), filepath.Join("..", "hack", "crds")},
		ErrorIfCRDPathMissing: true,
	}
	var err error
	cfg, err = testEnv.Start()
	Expect(err).NotTo(HaveOccurred())

	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme.New()})
	Expect(err).NotTo(HaveOccurred())

	startManager()
})

// stopManager stops the operator, as a shutdown or lost leadership would.
var stopManager func()

// startManager runs the operator (controllers and delivery engine) until stopManager, with
// leader election as in production.
func startManager() {
	stopManager = newManager()
}

// replicaOptions are the manager options of an operator replica of the suite: every replica
// competes for one short lease.
func replicaOptions() ctrl.Options {
	return ctrl.Options{
		Scheme:                        scheme.New(),
		Metrics:                       metricsserver.Options{BindAddress: "0"},
		LeaderElection:                true,
		LeaderElectionID:              "policy-herald-test",
		LeaderElectionNamespace:       "default",
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 ptr.To(3 * time.Second),
		RenewDeadline:                 ptr.To(2 * time.Second),
		RetryPeriod:                   ptr.To(200 * time.Millisecond),
	}
}

// newManager starts an operator replica and returns what stops it. It delivers only once it
// leads.
func newManager() (stop func()) {
	opts := replicaOptions()
	// Fresh controller names per start: controller-runtime refuses duplicate names per process.
	opts.Controller = config.Controller{SkipNameValidation: ptr.To(true)}
	mgr, err := ctrl.NewManager(cfg, opts)
	Expect(err).NotTo(HaveOccurred())
	mctx, mcancel := context.WithCancel(ctx)
	engine, err := controllers.SetupAll(mctx, mgr, controllers.Options{
		PlatformNamespace: platformNamespace,
		Delivery:          testDeliveryOptions(),
		SecretReader:      countingReader{mgr.GetAPIReader()},
		// The suite's receivers listen on 127.0.0.1; [::1] stays refused (addressguard_test.go).
		Addresses:        addrguard.LocalPolicy(),
		EmailReportImage: reportImage,
		// Every replica registers its exporter here; only the leader's exports.
		MetricsRegistry:       resultMetrics,
		MetricsStatusInterval: 500 * time.Millisecond,
	})
	Expect(err).NotTo(HaveOccurred())
	done := make(chan struct{})
	go func() {
		defer GinkgoRecover()
		defer close(done)
		Expect(mgr.Start(mctx)).To(Succeed())
	}()
	running.Lock()
	running.engines = append(running.engines, engine)
	running.Unlock()
	return func() {
		mcancel()
		<-done
		running.Lock()
		running.engines = slices.DeleteFunc(running.engines, func(e *delivery.Engine) bool { return e == engine })
		running.Unlock()
	}
}

// running holds the delivery engines of the replicas that run; only the leader's runs
// destinations.
var running struct {
	sync.Mutex
	engines []*delivery.Engine
}

// fingerprintOf returns the configuration fingerprint the leading replica's delivery engine
// runs the destination kind namespace/name with, "" when no engine runs it. It changes once a
// change that nothing in the status shows (a rotated Secret) has reached the sender.
func fingerprintOf(kind, namespace, name string) string {
	running.Lock()
	defer running.Unlock()
	for _, e := range running.engines {
		if fp := e.Fingerprint(delivery.ObjectRef{Kind: kind, Namespace: namespace, Name: name}); fp != "" {
			return fp
		}
	}
	return ""
}

// secretReads counts the reconcilers' reads of each Secret, across every replica the suite
// starts, so specs can tell whether a change made a controller re-read credentials.
var secretReads = struct {
	sync.Mutex
	n map[client.ObjectKey]int
}{n: map[client.ObjectKey]int{}}

// secretReadCount returns how often the reconcilers have read the Secret namespace/name.
func secretReadCount(namespace, name string) int {
	secretReads.Lock()
	defer secretReads.Unlock()
	return secretReads.n[client.ObjectKey{Namespace: namespace, Name: name}]
}

// countingReader is the manager's API reader, counting the Secrets it reads.
type countingReader struct{ client.Reader }

func (r countingReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if _, ok := obj.(*corev1.Secret); ok {
		secretReads.Lock()
		secretReads.n[key]++
		secretReads.Unlock()
	}
	return r.Reader.Get(ctx, key, obj, opts...)
}

var _ = AfterSuite(func() {
	stopManager()
	cancel()
	Expect(testEnv.Stop()).To(Succeed())
})
