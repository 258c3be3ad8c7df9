package owners

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/scheme"
	"github.com/policyherald/policy-herald/internal/testing/apiserver"
	"github.com/policyherald/policy-herald/internal/testing/wait"
)

// The tests run against a real kube-apiserver and etcd (envtest), started once for the
// package on first use: KUBEBUILDER_ASSETS=$(hack/control-plane.sh) go test ./internal/owners/

func TestMain(m *testing.M) {
	logf.SetLogger(logr.Discard()) // the RESTMapper logs through controller-runtime
	os.Exit(apiserver.Run(m))
}

// cluster is one test's namespace on the test API server, with an admin client.
type cluster struct {
	cfg    *rest.Config
	c      client.Client
	mapper meta.RESTMapper
	ns     string
}

func newCluster(t testing.TB) *cluster {
	t.Helper()
	k := &cluster{cfg: rest.CopyConfig(apiserver.Get(t).Config)}
	var err error
	if k.c, err = client.New(k.cfg, client.Options{Scheme: scheme.New()}); err != nil {
		t.Fatal(err)
	}
	hc, err := rest.HTTPClientFor(k.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if k.mapper, err = apiutil.NewDynamicRESTMapper(k.cfg, hc); err != nil {
		t.Fatal(err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "owners-"}}
	if err := k.c.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	k.ns = ns.Name
	return k
}

// requests counts the metadata requests that reach the API server, and the most in flight at once.
type requests struct {
	n, now, most atomic.Int32
	delay        time.Duration
}

func (r *requests) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		r.n.Add(1)
		cur := r.now.Add(1)
		defer r.now.Add(-1)
		for m := r.most.Load(); cur > m && !r.most.CompareAndSwap(m, cur); m = r.most.Load() {
		}
		time.Sleep(r.delay)
		return rt.RoundTrip(req)
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// lookup returns a lookup on the test API server as cfg's user (nil: the admin), counting its
// requests in reqs (may be nil).
func (k *cluster) lookup(t testing.TB, cfg *rest.Config, opts Options, reqs *requests) *Lookup {
	t.Helper()
	if cfg == nil {
		cfg = k.cfg
	}
	cfg = rest.CopyConfig(cfg)
	if reqs != nil {
		cfg.Wrap(reqs.wrap)
	}
	md, err := metadata.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return New(md, k.mapper, opts, logr.Discard())
}

// controlled says whether a controller owns r.
func (l *Lookup) controlled(ctx context.Context, r *report.Resource) bool {
	_, ok := l.Controller(ctx, r)
	return ok
}

// controllerRef is an ownerReference to a ReplicaSet; controller says whether it controls.
func controllerRef(controller bool) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "carts-5d8f", UID: "uid-rs", Controller: ptr.To(controller)}
}

// pod creates a Pod in the test's namespace with the owner references given.
func (k *cluster) pod(t testing.TB, name string, refs ...metav1.OwnerReference) *report.Resource {
	t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: k.ns, Name: name, OwnerReferences: refs},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app"}}},
	}
	if err := k.c.Create(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	return podRef(k.ns, name)
}

func podRef(ns, name string) *report.Resource {
	return &report.Resource{APIVersion: "v1", Kind: "Pod", Namespace: ns, Name: name}
}

func TestController(t *testing.T) {
	k := newCluster(t)
	l := k.lookup(t, nil, Options{}, nil)
	ctx := context.Background()

	// A cluster-scoped object with a controller: the lookup must not put a namespace in the path.
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{
		Name: k.ns + "-owned", OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Namespace", Name: k.ns, UID: "uid-ns", Controller: ptr.To(true)}},
	}}
	if err := k.c.Create(ctx, role); err != nil {
		t.Fatal(err)
	}

	replicaSet := schema.GroupKind{Group: "apps", Kind: "ReplicaSet"}
	for _, c := range []struct {
		name string
		res  *report.Resource
		want schema.GroupKind // empty: none
	}{
		{"a Pod of a ReplicaSet", k.pod(t, "controlled", controllerRef(true)), replicaSet},
		{"a Pod with no owner", k.pod(t, "bare"), schema.GroupKind{}},
		{"a Pod with an owner that is no controller", k.pod(t, "owned", controllerRef(false)), schema.GroupKind{}},
		{"a missing Pod", podRef(k.ns, "missing"), schema.GroupKind{}},
		{"a kind the API server does not serve", &report.Resource{APIVersion: "example.com/v1", Kind: "Widget", Namespace: k.ns, Name: "w"}, schema.GroupKind{}},
		{"an apiVersion that does not parse", &report.Resource{APIVersion: "a/b/c", Kind: "Pod", Namespace: k.ns, Name: "controlled"}, schema.GroupKind{}},
		{"a cluster-scoped object with a controller", &report.Resource{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole", Name: role.Name}, schema.GroupKind{Kind: "Namespace"}},
		{"no resource", nil, schema.GroupKind{}},
	} {
		for _, round := range []string{"asked", "remembered"} {
			if got, ok := l.Controller(ctx, c.res); got != c.want || ok == c.want.Empty() {
				t.Errorf("%s (%s): Controller = %v, %v; want %v", c.name, round, got, ok, c.want)
			}
		}
	}
}

func TestForbiddenCountsAsUncontrolled(t *testing.T) {
	k := newCluster(t)
	res := k.pod(t, "controlled", controllerRef(true))
	// A user with no permission at all: the API server forbids the read.
	u, err := apiserver.Get(t).UserConfig("nobody")
	if err != nil {
		t.Fatal(err)
	}
	var reqs requests
	l := k.lookup(t, u, Options{}, &reqs)
	if l.controlled(context.Background(), res) {
		t.Error("a Pod the operator may not read: controlled = true, want false (sent, never lost)")
	}
	// Another Pod: the refusal was about Pods, not that one, so it is not asked again.
	if l.controlled(context.Background(), k.pod(t, "other", controllerRef(true))) {
		t.Error("another Pod the operator may not read: controlled = true, want false")
	}
	if n := reqs.n.Load(); n != 1 {
		t.Errorf("two Pods of a forbidden type made %d requests, want 1", n)
	}
	if admin := k.lookup(t, nil, Options{}, nil); !admin.controlled(context.Background(), res) {
		t.Error("the same Pod read by an admin: controlled = false, want true")
	}
}

func TestCachesAnswersAndFailuresBriefly(t *testing.T) {
	k := newCluster(t)
	var reqs requests
	l := k.lookup(t, nil, Options{TTL: time.Minute, FailedTTL: 10 * time.Second}, &reqs)
	clock := time.Now()
	l.now = func() time.Time { return clock }
	ctx := context.Background()

	res := k.pod(t, "controlled", controllerRef(true))
	for range 3 {
		if !l.controlled(ctx, res) {
			t.Fatal("controlled = false, want true")
		}
	}
	if n := reqs.n.Load(); n != 1 {
		t.Errorf("three questions about one Pod made %d requests, want 1", n)
	}
	clock = clock.Add(time.Minute + time.Second)
	l.controlled(ctx, res)
	if n := reqs.n.Load(); n != 2 {
		t.Errorf("after the TTL: %d requests, want 2 (asked again)", n)
	}

	// A Pod the report names before it exists (or after it left): uncontrolled, briefly.
	late := podRef(k.ns, "late")
	if l.controlled(ctx, late) {
		t.Fatal("a missing Pod: controlled = true")
	}
	k.pod(t, "late", controllerRef(true))
	if l.controlled(ctx, late) {
		t.Error("within FailedTTL the failure is remembered: controlled = true, want the remembered false")
	}
	clock = clock.Add(11 * time.Second)
	if !l.controlled(ctx, late) {
		t.Error("after FailedTTL: controlled = false, want true (asked again)")
	}
}

func TestOneRequestPerObjectAndBoundedInFlight(t *testing.T) {
	k := newCluster(t)
	reqs := requests{delay: 50 * time.Millisecond}
	l := k.lookup(t, nil, Options{InFlight: 2}, &reqs)
	ctx := context.Background()

	shared := k.pod(t, "shared", controllerRef(true))
	var wg sync.WaitGroup
	var wrong atomic.Int32
	for range 20 {
		wg.Go(func() {
			if !l.controlled(ctx, shared) {
				wrong.Add(1)
			}
		})
	}
	wg.Wait()
	if n := reqs.n.Load(); n != 1 {
		t.Errorf("20 concurrent questions about one Pod made %d requests, want 1", n)
	}
	if wrong.Load() != 0 {
		t.Errorf("%d of 20 waiting callers got false, want true", wrong.Load())
	}

	reqs.n.Store(0)
	reqs.most.Store(0)
	for i := range 8 {
		res := k.pod(t, fmt.Sprintf("p%d", i), controllerRef(true))
		wg.Go(func() { l.controlled(ctx, res) })
	}
	wg.Wait()
	if n, most := reqs.n.Load(), reqs.most.Load(); n != 8 || most > 2 {
		t.Errorf("8 Pods at once: %d requests, at most %d in flight; want 8, at most 2", n, most)
	}
}

func TestPrefetch(t *testing.T) {
	k := newCluster(t)
	reqs := requests{delay: 200 * time.Millisecond}
	l := k.lookup(t, nil, Options{Ahead: 2}, &reqs)
	a, b, c := k.pod(t, "a", controllerRef(true)), k.pod(t, "b", controllerRef(true)), k.pod(t, "c", controllerRef(true))
	l.Prefetch(a)
	l.Prefetch(b)
	l.Prefetch(c) // two are under way (Ahead): not started
	l.Prefetch(nil)
	wait.For(t, 10*time.Second, "the prefetches to end", func() bool { return len(l.ahead) == 0 })
	l.Prefetch(a) // answered: nothing to do
	if n := reqs.n.Load(); n != 2 {
		t.Fatalf("prefetching a, b, c with Ahead 2, then a again, made %d requests, want 2", n)
	}
	if !l.controlled(context.Background(), a) || !l.controlled(context.Background(), b) {
		t.Error("prefetched Pods: controlled = false, want true")
	}
	if n := reqs.n.Load(); n != 2 {
		t.Errorf("asking about prefetched Pods made %d more requests, want none", n-2)
	}
	if !l.controlled(context.Background(), c) || reqs.n.Load() != 3 {
		t.Errorf("c, not prefetched, is asked when it is needed: %d requests, want 3", reqs.n.Load())
	}
}

// TestNoSlotInTimeIsNotRemembered: a lookup that waited Timeout for a slot among InFlight
// counts as uncontrolled now, but asks again next time.
func TestNoSlotInTimeIsNotRemembered(t *testing.T) {
	k := newCluster(t)
	reqs := requests{delay: 700 * time.Millisecond}
	l := k.lookup(t, nil, Options{InFlight: 1, Timeout: time.Second}, &reqs)
	pods := []*report.Resource{k.pod(t, "a", controllerRef(true)), k.pod(t, "b", controllerRef(true)), k.pod(t, "c", controllerRef(true))}
	got := make([]bool, len(pods))
	var wg sync.WaitGroup
	for i, p := range pods {
		wg.Go(func() { got[i] = l.controlled(context.Background(), p) })
		time.Sleep(50 * time.Millisecond) // in this order: a has the slot, b waits 0.65 s, c 1 s
	}
	wg.Wait()
	if n := reqs.n.Load(); n != 2 {
		t.Errorf("%d requests, want 2 (the third waited too long for the one slot)", n)
	}
	if want := []bool{true, true, false}; !slices.Equal(got, want) {
		t.Errorf("controlled = %v, want %v", got, want)
	}
	reqs.delay = 0
	if !l.controlled(context.Background(), pods[2]) {
		t.Error("asked again: controlled = false, want true (a lookup without a slot is not remembered)")
	}
}

func TestCallerStopsWaiting(t *testing.T) {
	k := newCluster(t)
	reqs := requests{delay: time.Second}
	l := k.lookup(t, nil, Options{}, &reqs)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if l.controlled(ctx, k.pod(t, "slow", controllerRef(true))) {
		t.Error("controlled = true after the caller's ctx ended")
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("the caller waited %v after its ctx ended", d)
	}
}

func TestTimeoutCountsAsUncontrolled(t *testing.T) {
	k := newCluster(t)
	reqs := requests{delay: 300 * time.Millisecond}
	l := k.lookup(t, nil, Options{Timeout: 100 * time.Millisecond}, &reqs)
	if l.controlled(context.Background(), k.pod(t, "slow", controllerRef(true))) {
		t.Error("a lookup that timed out: controlled = true, want false (sent, never lost)")
	}
}

// TestBytesPerEntry measures what one remembered answer costs: the entry, not the strings of
// its key, which it shares with the report's Resource.
func TestBytesPerEntry(t *testing.T) {
	const n = 20000
	l := New(nil, nil, Options{Size: n}, logr.Discard())
	keys := make([]key, n)
	for i := range keys {
		keys[i] = key{"v1", "Pod", "shop", fmt.Sprintf("carts-5d8f-%06d", i)}
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, k := range keys {
		// Decoded per object, as the metadata client does.
		l.cache.Add(k, answer{controller: schema.GroupKind{Group: strings.Clone("apps"), Kind: strings.Clone("ReplicaSet")}, expires: 1})
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n
	t.Logf("%.0f bytes per remembered answer (%d answers: %.1f MB)", per, DefaultOptions().Size, per*float64(DefaultOptions().Size)/1e6)
	if per > 400 {
		t.Errorf("%.0f bytes per remembered answer, want at most 400", per)
	}
	runtime.KeepAlive(keys)
	runtime.KeepAlive(l)
}

// BenchmarkCached is the cost per result once the answer is remembered: what every result of a
// burst about a known resource pays.
func BenchmarkCached(b *testing.B) {
	k := newCluster(b)
	l := k.lookup(b, nil, Options{}, nil)
	res := k.pod(b, "controlled", controllerRef(true))
	ctx := context.Background()
	l.controlled(ctx, res)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if !l.controlled(ctx, res) {
				b.Fatal("controlled = false")
			}
		}
	})
}

// BenchmarkCold is the cost of a first lookup: one metadata GET against the API server.
func BenchmarkCold(b *testing.B) {
	k := newCluster(b)
	l := k.lookup(b, nil, Options{}, nil)
	ctx := context.Background()
	var names []*report.Resource
	for i := range 200 {
		names = append(names, k.pod(b, fmt.Sprintf("p%d", i), controllerRef(true)))
	}
	for i := 0; b.Loop(); i++ {
		if i%len(names) == 0 {
			l.cache.Clear()
		}
		if !l.controlled(ctx, names[i%len(names)]) {
			b.Fatal("controlled = false")
		}
	}
}
