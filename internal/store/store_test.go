package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	openreportsv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	wgpolicyv1alpha2 "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
	"github.com/policyherald/policy-herald/internal/scheme"
	"github.com/policyherald/policy-herald/internal/testing/wait"
)

var cfg *rest.Config

// TestMain runs the store against a real kube-apiserver and etcd (KUBEBUILDER_ASSETS), with
// only the wgpolicyk8s.io CRDs installed at first, so a test can install openreports.io later.
func TestMain(m *testing.M) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Println("KUBEBUILDER_ASSETS is not set: run through make test")
		os.Exit(1)
	}
	env := &envtest.Environment{
		CRDDirectoryPaths: []string{
			filepath.Join("..", "..", "hack", "crds", "wgpolicyk8s.io_policyreports.yaml"),
			filepath.Join("..", "..", "hack", "crds", "wgpolicyk8s.io_clusterpolicyreports.yaml"),
		},
		ErrorIfCRDPathMissing: true,
	}
	var err error
	if cfg, err = env.Start(); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	code := m.Run()
	_ = env.Stop()
	os.Exit(code)
}

// changes records the report keys a subscriber is told about.
type changes struct {
	mu   sync.Mutex
	keys map[string]int
}

func (c *changes) ReportChanged(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.keys[key]++
}

func (c *changes) count(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.keys[key]
}

func startStore(t *testing.T) (*Store, *changes, client.Client) {
	t.Helper()
	return startStoreLogging(t, zap.New(zap.UseDevMode(true)))
}

func startStoreLogging(t *testing.T, log logr.Logger) (*Store, *changes, client.Client) {
	t.Helper()
	return startStoreRecording(t, log, nil)
}

// startStoreRecording starts a store that records its Events with rec (nil: none).
func startStoreRecording(t *testing.T, log logr.Logger, rec events.EventRecorder) (*Store, *changes, client.Client) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s := newOnCluster(ctx, t, log)
	if rec != nil {
		s.RecordTo(rec)
	}
	ch := &changes{keys: map[string]int{}}
	s.Subscribe(ch)
	go func() {
		if err := s.Start(ctx); err != nil {
			t.Error(err)
		}
	}()
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if !s.WaitForSync(wctx) {
		t.Fatal("store did not sync")
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	return s, ch, c
}

// newOnCluster is a store of the test cluster, not started, on an informer cache that runs
// until ctx ends.
func newOnCluster(ctx context.Context, t *testing.T, log logr.Logger) *Store {
	t.Helper()
	sch := scheme.New()
	ca, err := cache.New(cfg, cache.Options{Scheme: sch})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = ca.Start(ctx) }()
	wc, err := client.NewWithWatch(cfg, client.Options{Scheme: sch})
	if err != nil {
		t.Fatal(err)
	}
	return New(wc, ca, log)
}

func policyReport(ns, name string, messages ...string) *wgpolicyv1alpha2.PolicyReport {
	r := &wgpolicyv1alpha2.PolicyReport{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": "kyverno"}}}
	for _, m := range messages {
		r.Results = append(r.Results, wgpolicyv1alpha2.PolicyReportResult{
			Policy: "require-labels", Rule: "check-app", Result: "fail", Severity: "high", Message: m, Source: "kyverno",
			Resources: []corev1.ObjectReference{{APIVersion: "v1", Kind: "Pod", Namespace: ns, Name: "web", UID: "u1"}},
		})
	}
	return r
}

func TestStoreFollowsReports(t *testing.T) {
	s, ch, c := startStore(t)
	ctx := context.Background()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a", Labels: map[string]string{"team": "a"}}}); err != nil {
		t.Fatal(err)
	}
	r := policyReport("team-a", "r1", "one", "two")
	if err := c.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	key := "PolicyReport/team-a/r1"
	wait.For(t, 30*time.Second, "the report in the store", func() bool { return s.Get(key) != nil })
	got := s.Get(key)
	if len(got.Results) != 2 || got.Results[0].Message != "one" || got.Labels["app"] != "kyverno" || got.Created.IsZero() {
		t.Errorf("stored report = %+v", got)
	}
	if got.Results[0].Resource != got.Results[1].Resource {
		t.Error("results about the same resource must share one Resource")
	}
	if s.Results() != 2 || s.Len() != 1 {
		t.Errorf("counts = %d reports, %d results", s.Len(), s.Results())
	}
	if ch.count(key) == 0 {
		t.Error("the subscriber was not told about the new report")
	}
	wait.For(t, 30*time.Second, "namespace labels", func() bool { l, ok := s.NamespaceLabels("team-a"); return ok && l["team"] == "a" })

	r.Results = r.Results[:1]
	if err := c.Update(ctx, r); err != nil {
		t.Fatal(err)
	}
	wait.For(t, 30*time.Second, "the update", func() bool { return len(s.Get(key).Results) == 1 })

	// A namespace's labels changing makes its reports changed (selectors may match now).
	before := ch.count(key)
	var ns corev1.Namespace
	if err := c.Get(ctx, client.ObjectKey{Name: "team-a"}, &ns); err != nil {
		t.Fatal(err)
	}
	ns.Labels["team"] = "b"
	if err := c.Update(ctx, &ns); err != nil {
		t.Fatal(err)
	}
	wait.For(t, 30*time.Second, "a change for the namespace's report", func() bool { return ch.count(key) > before })

	if err := c.Delete(ctx, r); err != nil {
		t.Fatal(err)
	}
	wait.For(t, 30*time.Second, "the deletion", func() bool { return s.Get(key) == nil })
	if s.Results() != 0 {
		t.Errorf("results after deletion = %d", s.Results())
	}
}

// A report API installed after the store started is watched once its CRD appears.
func TestStoreWatchesAPIsInstalledLater(t *testing.T) {
	s, _, c := startStore(t)
	ctx := context.Background()
	if _, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{Paths: []string{
		filepath.Join("..", "..", "hack", "crds", "openreports.io_reports.yaml"),
	}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-later"}}); err != nil {
		t.Fatal(err)
	}
	rep := &openreportsv1alpha1.Report{ObjectMeta: metav1.ObjectMeta{Namespace: "team-later", Name: "or1"}, Source: "kyverno",
		Results: []openreportsv1alpha1.ReportResult{{Policy: "p", Result: "fail", Description: "late"}}}
	wait.For(t, 30*time.Second, "the openreports.io API to serve", func() bool { return c.Create(ctx, rep) == nil })
	wait.For(t, 30*time.Second, "the Report in the store", func() bool { return s.Get("Report/team-later/or1") != nil })
	if got := s.Get("Report/team-later/or1").Results[0]; got.Source != "kyverno" || got.Message != "late" {
		t.Errorf("result = %+v", got)
	}
}
