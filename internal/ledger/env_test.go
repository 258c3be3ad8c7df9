package ledger

import (
	"context"
	"hash/fnv"
	"os"
	"strconv"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/policyherald/policy-herald/internal/scheme"
	"github.com/policyherald/policy-herald/internal/testing/apiserver"
)

// The persistence tests run against a real kube-apiserver and etcd (envtest), started once for
// the package on first use: KUBEBUILDER_ASSETS=$(hack/control-plane.sh) go test ./internal/ledger/

func TestMain(m *testing.M) { os.Exit(apiserver.Run(m)) }

// testEnv is one test's namespace on the test API server, with a client that counts writes.
type testEnv struct {
	ns     string
	c      client.Client    // counts writes
	direct client.WithWatch // does not count
	w      *writes
}

// writes counts the ConfigMap writes that reach the API server.
type writes struct{ create, update, delete atomic.Int32 }

func (w *writes) total() int32 { return w.create.Load() + w.update.Load() + w.delete.Load() }
func (w *writes) reset()       { w.create.Store(0); w.update.Store(0); w.delete.Store(0) }

// newEnv creates a namespace for the test and returns its environment. funcs, if given, are
// interceptors around the real client (to inject failures).
func newEnv(t testing.TB, funcs ...interceptor.Funcs) *testEnv {
	t.Helper()
	srv := apiserver.Get(t)
	ns := srv.Namespace(t, "ledger")
	e := &testEnv{ns: ns, direct: srv.Client, w: &writes{}}
	var inner client.WithWatch
	inner, _ = client.NewWithWatch(srv.Config, client.Options{Scheme: scheme.New()})
	base := inner
	if len(funcs) > 0 {
		base = interceptor.NewClient(inner, funcs[0])
	}
	e.c = interceptor.NewClient(base, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			e.w.create.Add(1)
			return c.Create(ctx, obj, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			e.w.update.Add(1)
			return c.Update(ctx, obj, opts...)
		},
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			e.w.delete.Add(1)
			return c.Delete(ctx, obj, opts...)
		},
	})
	return e
}

func ownerOf(name string, uid types.UID) metav1.OwnerReference {
	return metav1.OwnerReference{
		APIVersion: "reporting.policyherald.io/v1alpha1", Kind: "NotificationTarget", Name: name, UID: uid,
		BlockOwnerDeletion: ptr.To(false),
	}
}

var (
	testName  = Name("nt", "nt1")
	testOwner = ownerOf("nt1", "uid-1")
)

// load loads the ledger of the NotificationTarget nt1 (UID uid-1) and fails on any error.
func (e *testEnv) load(t testing.TB) *Ledger {
	t.Helper()
	l, err := Load(context.Background(), e.c, e.ns, testName, testOwner)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return l
}

func (e *testEnv) flush(t testing.TB, l *Ledger) {
	t.Helper()
	if err := l.Flush(context.Background(), e.c, e.c); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

// configMaps returns the ledger ConfigMaps of owner UID in the namespace, by name.
func (e *testEnv) configMaps(t testing.TB, uid string) map[string]*corev1.ConfigMap {
	t.Helper()
	var list corev1.ConfigMapList
	if err := e.direct.List(context.Background(), &list, client.InNamespace(e.ns), client.MatchingLabels{LabelOwner: uid}); err != nil {
		t.Fatal(err)
	}
	out := map[string]*corev1.ConfigMap{}
	for i := range list.Items {
		out[list.Items[i].Name] = &list.Items[i]
	}
	return out
}

// base reads the base ConfigMap of nt1 and decodes its header.
func (e *testEnv) base(t testing.TB) (*corev1.ConfigMap, header) {
	t.Helper()
	var cm corev1.ConfigMap
	if err := e.direct.Get(context.Background(), client.ObjectKey{Namespace: e.ns, Name: testName}, &cm); err != nil {
		t.Fatalf("reading the ledger ConfigMap: %v", err)
	}
	h, _, _, err := decodeHeader(cm.Data[headerKey])
	if err != nil {
		t.Fatalf("decoding the stored header: %v (%v)", err, cm.Data)
	}
	return &cm, h
}

// key is the key the engine makes of a result ID: its FNV-64a hash.
func key(id string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(id))
	return h.Sum64()
}

// keys returns n distinct keys, the hashes of "<prefix><i>".
func keys(prefix string, n int) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = key(prefix + strconv.Itoa(i))
	}
	return out
}
