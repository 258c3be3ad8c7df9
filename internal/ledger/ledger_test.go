package ledger

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/policyherald/policy-herald/internal/scheme"
	"github.com/policyherald/policy-herald/internal/testing/apiserver"
)

// Persistence tests, against the test API server (see env_test.go).

// hasAll tells whether l has every one of ks.
func hasAll(l *Ledger, ks ...uint64) bool {
	for _, k := range ks {
		if !l.Has(k) {
			return false
		}
	}
	return true
}

// headerlessCM is a ConfigMap of nt1 owned by uid holding raw but no ledger header.
func (e *testEnv) headerlessCM(uid types.UID, raw []byte) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: e.ns, Name: testName,
			Labels:          map[string]string{LabelOwner: string(uid)},
			OwnerReferences: []metav1.OwnerReference{ownerOf("nt1", uid)},
		},
		BinaryData: map[string][]byte{otherKey: raw},
	}
}

// otherKey holds what headerlessCM holds.
const otherKey = "other.bin"

func (e *testEnv) create(t testing.TB, cm *corev1.ConfigMap) {
	t.Helper()
	if err := e.direct.Create(context.Background(), cm); err != nil {
		t.Fatal(err)
	}
}

func TestAddOnlyDirtiesOnNewKeys(t *testing.T) {
	e := newEnv(t)
	l := e.load(t)
	l.Add(1)
	e.flush(t, l)
	l.Add(1)
	e.flush(t, l)
	if e.w.total() != 1 {
		t.Errorf("writes = %d, want 1: adding a known key is no change", e.w.total())
	}
}

func TestSweepWithoutChangeDoesNotWrite(t *testing.T) {
	e := newEnv(t)
	l := e.load(t)
	l.Add(1, 2)
	e.flush(t, l)
	l.Sweep(func(uint64) bool { return true }, time.Now(), time.Hour)
	e.flush(t, l)
	if e.w.total() != 1 {
		t.Fatalf("writes = %d, want 1: a sweep that finds everything present changes nothing", e.w.total())
	}
	l.Sweep(func(k uint64) bool { return k == 1 }, time.Now(), time.Hour)
	e.flush(t, l)
	if e.w.total() != 2 {
		t.Fatalf("writes = %d, want 2: a key went missing", e.w.total())
	}
	// The gone time is stored.
	l2 := e.load(t)
	if goneOf(t, l2, 2) == 0 || goneOf(t, l2, 1) != 0 {
		t.Error("gone times not stored")
	}
}

func TestFlushCreatesThenUpdates(t *testing.T) {
	e := newEnv(t)
	l := e.load(t)
	l.SetScope("scope-1")
	l.Add(1, 2)
	e.flush(t, l)
	if e.w.create.Load() != 1 || e.w.update.Load() != 0 {
		t.Fatalf("first Flush: %d creates, %d updates; want one create", e.w.create.Load(), e.w.update.Load())
	}
	cm, h := e.base(t)
	if len(cm.OwnerReferences) != 1 || cm.OwnerReferences[0].UID != "uid-1" || cm.OwnerReferences[0].Kind != "NotificationTarget" ||
		cm.OwnerReferences[0].Name != "nt1" {
		t.Errorf("owner references = %+v", cm.OwnerReferences)
	}
	if got := cm.Labels[LabelOwner]; got != "uid-1" {
		t.Errorf("label %s = %q", LabelOwner, got)
	}
	if len(cm.Data) != 1 || len(cm.BinaryData) != 1 || cm.BinaryData[shardKey] == nil {
		t.Errorf("ConfigMap keys: data %v, binaryData %d keys", cm.Data, len(cm.BinaryData))
	}
	if h.Scope != "scope-1" || h.Shards != 1 || h.Counts != nil {
		t.Errorf("stored header = %+v", h)
	}
	rv1 := cm.ResourceVersion

	// Nothing changed: no write.
	e.flush(t, l)
	if e.w.total() != 1 {
		t.Fatalf("an unchanged ledger was written (%d writes)", e.w.total())
	}

	// A change: an update of the same ConfigMap.
	l.Add(3)
	e.flush(t, l)
	if e.w.create.Load() != 1 || e.w.update.Load() != 1 {
		t.Fatalf("second Flush: %d creates, %d updates; want one of each in all", e.w.create.Load(), e.w.update.Load())
	}
	if cm, _ = e.base(t); cm.ResourceVersion == rv1 {
		t.Error("the ConfigMap was not updated")
	}

	// And a third write goes through with the resourceVersion of the second.
	l.Add(4)
	e.flush(t, l)

	// What was written loads back.
	l2 := e.load(t)
	if !l2.Exists() || l2.Scope() != "scope-1" || l2.Len() != 4 || !hasAll(l2, 1, 2, 3, 4) {
		t.Errorf("reloaded: exists=%v scope=%q len=%d", l2.Exists(), l2.Scope(), l2.Len())
	}
	if _, ok := l2.Counts(); ok {
		t.Error("counts where none were recorded")
	}
	if len(e.configMaps(t, "uid-1")) != 1 {
		t.Error("a small ledger takes more than one ConfigMap")
	}
}

func TestFlushOfNewUntouchedLedgerDoesNotWrite(t *testing.T) {
	e := newEnv(t)
	l := e.load(t)
	e.flush(t, l)
	l.AddCounts(Counts{Sent: 0, Failed: 0})
	e.flush(t, l)
	if e.w.total() != 0 {
		t.Errorf("an empty, unchanged ledger was written")
	}
}

func TestSetScope(t *testing.T) {
	e := newEnv(t)
	l := e.load(t)
	l.SetScope("s1")
	if !l.Exists() || l.Scope() != "s1" {
		t.Fatalf("after SetScope: exists=%v scope=%q", l.Exists(), l.Scope())
	}
	e.flush(t, l)
	l.SetScope("s1")
	e.flush(t, l)
	if e.w.total() != 1 {
		t.Errorf("writes = %d, want 1: the same scope again is no change", e.w.total())
	}
	if l2 := e.load(t); !l2.Exists() || l2.Scope() != "s1" || l2.Len() != 0 {
		t.Errorf("reloaded: exists=%v scope=%q", l2.Exists(), l2.Scope())
	}
}

func TestLoadMissingConfigMap(t *testing.T) {
	e := newEnv(t)
	l, err := Load(context.Background(), e.c, e.ns, "nope", testOwner)
	if err != nil || l == nil || l.Exists() || l.Len() != 0 {
		t.Fatalf("Load of a missing ConfigMap: %v, %v", l, err)
	}
}

func TestLoadOfAnotherOwnersConfigMap(t *testing.T) {
	e := newEnv(t)
	e.create(t, e.headerlessCM("uid-0", []byte("an earlier object's")))
	l := e.load(t)
	if l.Exists() || l.Len() != 0 || l.Scope() != "" {
		t.Fatalf("a ConfigMap of an earlier object of the same name was used: exists=%v len=%d scope=%q",
			l.Exists(), l.Len(), l.Scope())
	}

	// The first Flush takes it over: an update (it exists) with our owner and our keys only.
	l.Add(1)
	e.flush(t, l)
	if e.w.create.Load() != 0 || e.w.update.Load() != 1 {
		t.Errorf("%d creates, %d updates; want one update", e.w.create.Load(), e.w.update.Load())
	}
	cm, _ := e.base(t)
	if len(cm.OwnerReferences) != 1 || cm.OwnerReferences[0].UID != "uid-1" || cm.Labels[LabelOwner] != "uid-1" {
		t.Errorf("owner references = %+v, labels %v", cm.OwnerReferences, cm.Labels)
	}
	if _, ok := cm.BinaryData[otherKey]; ok {
		t.Error("the data of the earlier owner is still there")
	}
	if l2 := e.load(t); l2.Len() != 1 || !l2.Has(1) {
		t.Errorf("reloaded len %d", l2.Len())
	}
}

// A shard of an earlier object of the same name: the new owner's ledger does not use it and
// overwrites it.
func TestLoadOfAnotherOwnersShards(t *testing.T) {
	e := newEnv(t)
	l, err := Load(context.Background(), e.c, e.ns, testName, ownerOf("nt1", "uid-0"))
	if err != nil {
		t.Fatal(err)
	}
	l.Add(keys("old", 100_000)...)
	e.flush(t, l)
	if len(e.configMaps(t, "uid-0")) < 3 {
		t.Fatal("not sharded")
	}
	// The new object's ledger: the base of uid-0 is not ours, so nothing is read.
	l = e.load(t)
	if l.Exists() || l.Len() != 0 {
		t.Fatal("the earlier owner's ledger was loaded")
	}
	l.Add(keys("new", 100_000)...)
	e.flush(t, l)
	if got := e.configMaps(t, "uid-0"); len(got) != 0 {
		t.Errorf("%d ConfigMaps of the earlier owner left", len(got))
	}
	l = e.load(t)
	if l.Len() != 100_000 || l.Has(key("old1")) || !l.Has(key("new1")) {
		t.Errorf("reloaded len %d", l.Len())
	}
}

func TestLoadOfGarbage(t *testing.T) {
	for name, cm := range map[string]func(e *testEnv) *corev1.ConfigMap{
		"no header": func(e *testEnv) *corev1.ConfigMap { return e.headerlessCM("uid-1", []byte("not a ledger")) },
		"bad header": func(e *testEnv) *corev1.ConfigMap {
			cm := e.headerlessCM("uid-1", nil)
			cm.BinaryData, cm.Data = nil, map[string]string{headerKey: "{nope"}
			return cm
		},
		"header without its shard": func(e *testEnv) *corev1.ConfigMap {
			cm := e.headerlessCM("uid-1", nil)
			cm.BinaryData = nil
			cm.Data = map[string]string{headerKey: encodeHeader(&header{Version: 2, Layout: layoutString(5), Shards: 1})}
			return cm
		},
		"newer version": func(e *testEnv) *corev1.ConfigMap {
			cm := e.headerlessCM("uid-1", nil)
			cm.BinaryData = nil
			cm.Data = map[string]string{headerKey: `{"version":3,"layout":"1","shards":1}`}
			return cm
		},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.create(t, cm(e))
			l, err := Load(context.Background(), e.c, e.ns, testName, testOwner)
			if err == nil || !strings.Contains(err.Error(), "unreadable") {
				t.Fatalf("error = %v", err)
			}
			if l == nil {
				t.Fatal("Load of a damaged ledger gave no ledger: delivery would stop")
			}
			if l.Exists() || l.Len() != 0 {
				t.Errorf("damaged ledger: exists=%v len=%d, want a new empty one", l.Exists(), l.Len())
			}
			// The new ledger replaces the damaged one.
			l.Add(1)
			e.flush(t, l)
			if l2 := e.load(t); l2.Len() != 1 || !l2.Has(1) {
				t.Errorf("reloaded len %d", l2.Len())
			}
		})
	}
}

func TestLoadWithoutData(t *testing.T) {
	e := newEnv(t)
	cm := e.headerlessCM("uid-1", nil)
	cm.BinaryData = nil
	e.create(t, cm)
	l := e.load(t)
	if l.Exists() || l.Len() != 0 {
		t.Errorf("exists=%v len=%d", l.Exists(), l.Len())
	}
	l.Add(1)
	e.flush(t, l)
}

func TestLoadReadError(t *testing.T) {
	boom := errors.New("boom")
	// Fails reading the base, or (with many keys) a shard.
	for _, failOn := range []string{testName, shardName(testName, 2, 3)} {
		e := newEnv(t)
		l := e.load(t)
		l.Add(keys("r", 120_000)...)
		e.flush(t, l)
		c := interceptor.NewClient(e.direct, interceptor.Funcs{
			Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
				if key.Name == failOn {
					return boom
				}
				return c.Get(ctx, key, obj, opts...)
			},
		})
		l, err := Load(context.Background(), c, e.ns, testName, testOwner)
		if !errors.Is(err, boom) || l != nil {
			t.Errorf("failing on %s: Load = %v, %v; want nil and the read error", failOn, l, err)
		}
	}
}

func TestFlushTooBig(t *testing.T) {
	defer func(m int) { maxBytes = m }(maxBytes)
	maxBytes = 200 // 128 shards of 200 bytes: about 3,000 keys
	e := newEnv(t)
	l := e.load(t)
	l.Add(keys("r", 10_000)...)
	err := l.Flush(context.Background(), e.c, e.c)
	if err == nil {
		t.Fatal("a ledger over 128 shards of maxBytes was written")
	}
	if !strings.Contains(err.Error(), "narrow the filter of its target or channel") {
		t.Errorf("error = %v; want the remedy", err)
	}
	if e.w.total() != 0 {
		t.Errorf("%d writes", e.w.total())
	}
	// Still dirty: the next Flush tries again rather than pretending all is written.
	if err := l.Flush(context.Background(), e.c, e.c); err == nil {
		t.Error("the second Flush of a ledger over the limit succeeded without writing")
	}
	// With room for it (fewer keys), it goes.
	maxBytes = MaxBytes
	e.flush(t, l)
	if l2 := e.load(t); l2.Len() != 10_000 {
		t.Errorf("reloaded len %d", l2.Len())
	}
}

// A shard that grows over maxBytes between estimates makes the ledger reshard at once.
func TestFlushGrowsWhenAShardIsTooBig(t *testing.T) {
	defer func(m int) { maxBytes = m }(maxBytes)
	e := newEnv(t)
	l := e.load(t)
	l.Add(keys("r", 1000)...)
	e.flush(t, l)
	maxBytes = 4000 // 1,000 keys take about 8,000 bytes
	l.Add(key("one more"))
	e.flush(t, l)
	_, h := e.base(t)
	if h.Shards < 2 {
		t.Errorf("%d shards", h.Shards)
	}
	if l2 := e.load(t); l2.Len() != 1001 {
		t.Errorf("reloaded len %d", l2.Len())
	}
}

func TestFlushRetriesAfterAFailedWrite(t *testing.T) {
	var fail atomic.Bool
	fail.Store(true)
	e := newEnv(t, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if fail.Load() {
				return apierrors.NewServiceUnavailable("try later")
			}
			return c.Create(ctx, obj, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			if fail.Load() {
				return apierrors.NewServiceUnavailable("try later")
			}
			return c.Update(ctx, obj, opts...)
		},
	})
	l := e.load(t)
	l.Add(1)
	l.AddCounts(Counts{Sent: 1, Failed: 0})
	if err := l.Flush(context.Background(), e.c, e.c); err == nil {
		t.Fatal("Flush hid the failed write")
	}
	fail.Store(false)
	e.flush(t, l)
	if l2 := e.load(t); !l2.Has(1) {
		t.Error("not stored")
	} else if c, ok := l2.Counts(); !ok || c.Sent != 1 {
		t.Errorf("counts %+v %v", c, ok)
	}

	// The same with shards: one failing shard write is retried, and only what failed.
	l.Add(keys("r", 100_000)...)
	e.flush(t, l)
	var failName atomic.Value
	failName.Store("")
	fail.Store(false)
	e2 := newEnv(t, interceptor.Funcs{
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			if obj.GetName() == failName.Load().(string) {
				return apierrors.NewServiceUnavailable("try later")
			}
			return c.Update(ctx, obj, opts...)
		},
	})
	l = e2.load(t)
	l.Add(keys("r", 100_000)...)
	e2.flush(t, l)
	_, h := e2.base(t)
	bits := uint8(0)
	for 1<<bits < h.Shards {
		bits++
	}
	k := key("new one")
	failName.Store(shardName(testName, bits, int(mix(k)>>(64-bits))))
	l.Add(k)
	if err := l.Flush(context.Background(), e2.c, e2.c); err == nil {
		t.Fatal("Flush hid the failed shard write")
	}
	failName.Store("")
	e2.w.reset()
	e2.flush(t, l)
	if e2.w.total() != 1 {
		t.Errorf("%d writes on retry, want 1 (the shard that failed)", e2.w.total())
	}
	if l2 := e2.load(t); !l2.Has(k) || l2.Len() != 100_001 {
		t.Errorf("reloaded: len %d", l2.Len())
	}
}

// Two ledgers loaded from the same stored version cannot be ordered (neither saw the other's
// claim): the second to write keeps the first one's keys, for Update (Conflict) and, sharded,
// Create of the shards of a new layout (AlreadyExists) alike, and goes on writing.
func TestTwoLedgersOfOneVersionMerge(t *testing.T) {
	e := newEnv(t)
	a0 := e.load(t)
	a0.Add(1)
	e.flush(t, a0)

	a, b := e.load(t), e.load(t)
	a.Add(3)
	e.flush(t, a)
	b.Add(4)
	e.flush(t, b)
	if l := e.load(t); l.Len() != 3 || !hasAll(l, 1, 3, 4) {
		t.Errorf("stored len %d, want both ledgers' keys", l.Len())
	}
	// b keeps writing with the resourceVersion it got.
	b.Add(5)
	e.flush(t, b)

	// The same with shards.
	a, b = e.load(t), e.load(t)
	a.Add(keys("a", 100_000)...)
	e.flush(t, a)
	b.Add(keys("b", 100_000)...)
	e.flush(t, b)
	if l := e.load(t); l.Len() != 200_004 || !l.Has(key("a1")) || !l.Has(key("b1")) {
		t.Errorf("stored len %d, want both ledgers' keys", l.Len())
	}
	e.shardsOf(t) // no stale shards
}

// The ledger ConfigMap deleted after Load (by hand, or by the garbage collector when it belonged
// to an earlier object of the same name): the next Flush should create it again.
func TestFlushRecreatesADeletedConfigMap(t *testing.T) {
	e := newEnv(t)
	e.create(t, e.headerlessCM("uid-0", []byte("an earlier object's")))
	l := e.load(t)
	if err := e.direct.Delete(context.Background(), e.headerlessCM("uid-0", nil)); err != nil {
		t.Fatal(err)
	}
	l.Add(1)
	for i := range 2 {
		if err := l.Flush(context.Background(), e.c, e.c); err != nil {
			t.Fatalf("Flush %d: %v", i, err)
		}
	}
	// A shard deleted: recreated by the next write of it.
	l.Add(keys("r", 100_000)...)
	e.flush(t, l)
	_, h := e.base(t)
	if h.Shards < 2 {
		t.Fatal("not sharded")
	}
	name := shardName(testName, 1, 0)
	if h.Shards != 2 {
		t.Fatalf("%d shards, want 2", h.Shards)
	}
	if err := e.direct.Delete(context.Background(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: name}}); err != nil {
		t.Fatal(err)
	}
	l.markAllDirty()
	e.flush(t, l)
	if l2 := e.load(t); l2.Len() != 100_001 {
		t.Errorf("reloaded len %d", l2.Len())
	}
}

// The API server rejects a ConfigMap with an invalid label value or name: long destination
// names must still give valid ones, for the base and the shards.
func TestLongNames(t *testing.T) {
	e := newEnv(t)
	for _, name := range []string{strings.Repeat("a", 63), strings.Repeat("a", 253)} {
		owner := ownerOf(name, types.UID("u-"+fmt.Sprint(len(name))))
		l, err := Load(context.Background(), e.c, e.ns, Name("nt", name), owner)
		if err != nil {
			t.Fatal(err)
		}
		l.Add(keys("r", 100_000)...)
		e.flush(t, l)
		l2, err := Load(context.Background(), e.c, e.ns, Name("nt", name), owner)
		if err != nil || l2.Len() != 100_000 {
			t.Fatalf("reload: %v, len %d", err, l2.Len())
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	e := newEnv(t)
	l := e.load(t)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 20_000 {
				k := key(fmt.Sprintf("%d-%d", g, i))
				l.Add(k)
				_ = l.Has(k)
				_ = l.Len()
				if i%1000 == 0 {
					l.AddCounts(Counts{Sent: 1, Failed: 0})
				}
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			l.Sweep(func(uint64) bool { return true }, time.Now(), time.Hour)
		}
	})
	wg.Go(func() {
		for range 20 {
			if err := l.Flush(context.Background(), e.c, e.c); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Wait()
	e.flush(t, l)
	l2 := e.load(t)
	if l2.Len() != 80_000 {
		t.Errorf("stored %d keys, want 80000", l2.Len())
	}
	if c, _ := l2.Counts(); c.Sent != 80 {
		t.Errorf("stored counts %+v", c)
	}
}

// Data without a header is of no format this operator reads (no other was released); the
// error says so, and TestLoadOfGarbage holds what follows.
func TestLoadSaysWhyAHeaderlessConfigMapIsRefused(t *testing.T) {
	e := newEnv(t)
	e.create(t, e.headerlessCM("uid-1", []byte("not a ledger")))
	_, err := Load(context.Background(), e.c, e.ns, testName, testOwner)
	if err == nil || !strings.Contains(err.Error(), "no header.json: not a ledger of a format this operator reads") {
		t.Fatalf("Load = %v", err)
	}
}

// shardsOf returns the shard ConfigMaps of the current layout of nt1 by index, and checks there
// are no others (stale ones removed).
func (e *testEnv) shardsOf(t *testing.T) (header, []*corev1.ConfigMap) {
	t.Helper()
	_, h := e.base(t)
	all := e.configMaps(t, "uid-1")
	bits := uint8(0)
	for 1<<bits < h.Shards {
		bits++
	}
	var out []*corev1.ConfigMap
	if h.Shards > 1 {
		for i := range h.Shards {
			cm, ok := all[shardName(testName, bits, i)]
			if !ok {
				t.Fatalf("shard %d of %d missing", i, h.Shards)
			}
			out = append(out, cm)
		}
	}
	if len(all) != len(out)+1 {
		names := slices.Sorted(func(yield func(string) bool) {
			for n := range all {
				if !yield(n) {
					return
				}
			}
		})
		t.Errorf("ConfigMaps %v, want the base and %d shards", names, len(out))
	}
	return h, out
}

// TestMillionKeys writes 1,000,000 keys, reloads them, and checks that a small change rewrites
// only the shards concerned.
func TestMillionKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	e := newEnv(t)
	ks := keys("result-", 1_000_000)
	l := e.load(t)
	l.SetScope("s")
	l.Add(ks...)
	start := time.Now()
	e.flush(t, l)
	full := time.Since(start)

	h, shards := e.shardsOf(t)
	sizes := make([]int, len(shards))
	for i, cm := range shards {
		sizes[i] = len(cm.BinaryData[shardKey])
		if cm.Labels[LabelOwner] != "uid-1" || len(cm.OwnerReferences) != 1 || cm.OwnerReferences[0].UID != "uid-1" {
			t.Errorf("shard %d: labels %v owners %v", i, cm.Labels, cm.OwnerReferences)
		}
	}
	total := 0
	for _, s := range sizes {
		total += s
	}
	t.Logf("1M keys: %d shards, %d to %d bytes (%.2f bytes a key), full Flush %v (%d writes)",
		h.Shards, slices.Min(sizes), slices.Max(sizes), float64(total)/1e6, full, e.w.total())
	if slices.Max(sizes) > 500<<10 {
		t.Errorf("a shard of %d bytes", slices.Max(sizes))
	}

	start = time.Now()
	l2 := e.load(t)
	t.Logf("Load of 1M keys: %v", time.Since(start))
	if l2.Len() != len(ks) || !l2.Exists() || l2.Scope() != "s" {
		t.Fatalf("reloaded len %d", l2.Len())
	}
	for _, k := range ks {
		if !l2.Has(k) {
			t.Fatalf("key %x lost", k)
		}
	}

	// A few keys change: only their shards are written, and the header not at all.
	bits := uint8(0)
	for 1<<bits < h.Shards {
		bits++
	}
	e.flush(t, l2) // the reloaded ledger's first write: its claim, in the header
	rvs := map[string]string{}
	for n, cm := range e.configMaps(t, "uid-1") {
		rvs[n] = cm.ResourceVersion
	}
	added := []uint64{key("new-1"), key("new-2"), key("new-3")}
	want := map[string]bool{}
	for _, k := range added {
		want[shardName(testName, bits, int(mix(k)>>(64-bits)))] = true
	}
	gone := ks[12345]
	want[shardName(testName, bits, int(mix(gone)>>(64-bits)))] = true
	l2.Add(added...)
	l2.Sweep(func(k uint64) bool { return k != gone }, time.Now(), time.Hour)
	e.w.reset()
	start = time.Now()
	e.flush(t, l2)
	small := time.Since(start)
	t.Logf("Flush after %d keys changed in %d shards: %v (%d writes)", len(added)+1, len(want), small, e.w.total())
	if int(e.w.total()) != len(want) {
		t.Errorf("%d writes, want %d", e.w.total(), len(want))
	}
	for n, cm := range e.configMaps(t, "uid-1") {
		if changed := cm.ResourceVersion != rvs[n]; changed != want[n] {
			t.Errorf("%s: changed=%v, want %v", n, changed, want[n])
		}
	}
	// Counts only: the header only.
	l2.AddCounts(Counts{Sent: 1, Failed: 0})
	e.w.reset()
	e.flush(t, l2)
	if e.w.total() != 1 {
		t.Errorf("%d writes for counts", e.w.total())
	}
	l3 := e.load(t)
	if l3.Len() != len(ks)+3 || !hasAll(l3, added...) || goneOf(t, l3, gone) == 0 {
		t.Errorf("reloaded len %d", l3.Len())
	}
}

// TestReshard grows a ledger from one ConfigMap to several and back, checking at each step that
// the stale shards are removed and everything reloads.
func TestReshard(t *testing.T) {
	e := newEnv(t)
	l := e.load(t)
	var all []uint64
	add := func(n int) {
		ks := keys(fmt.Sprintf("r%d-", len(all)), n)
		all = append(all, ks...)
		l.Add(ks...)
		e.flush(t, l)
	}
	check := func(wantShards int) {
		t.Helper()
		h, _ := e.shardsOf(t)
		if h.Shards != wantShards {
			t.Errorf("%d keys: %d shards, want %d", len(all), h.Shards, wantShards)
		}
		l2 := e.load(t)
		if l2.Len() != len(all) || !hasAll(l2, all...) {
			t.Errorf("reloaded len %d, want %d", l2.Len(), len(all))
		}
		// Bytes is what the ConfigMaps hold, after writes and after a load.
		want := storedBytes(e.configMaps(t, "uid-1"))
		if l.Bytes() != want || l2.Bytes() != want {
			t.Errorf("%d keys: Bytes() = %d, reloaded %d; the ConfigMaps hold %d", len(all), l.Bytes(), l2.Bytes(), want)
		}
	}
	add(40_000) // about 280 KB: one
	check(1)
	add(20_000) // about 420 KB: two
	check(2)
	add(100_000) // about 1.1 MB: four
	check(4)
	add(200_000) // about 2.5 MB: eight
	check(8)
	// Forget most: back to one, through the shrink threshold.
	keep := map[uint64]bool{}
	for _, k := range all[:10_000] {
		keep[k] = true
	}
	t0 := time.Now()
	l.Sweep(func(k uint64) bool { return keep[k] }, t0, time.Minute)
	l.Sweep(func(k uint64) bool { return keep[k] }, t0.Add(time.Hour), time.Minute)
	all = all[:10_000]
	e.flush(t, l)
	check(1)
}

// TestReshardCrashSafety interrupts resharding between its writes, and leaves stale shards of
// abandoned layouts around: no key is lost and no stale shard is read.
func TestReshardCrashSafety(t *testing.T) {
	var failBase, limited atomic.Bool
	var budget atomic.Int32 // shard writes allowed while limited
	failWrite := func(name string) error {
		if name == testName {
			if failBase.Load() {
				return errors.New("crash before the header")
			}
			return nil
		}
		if limited.Load() && budget.Add(-1) < 0 {
			return errors.New("crash amid the shards")
		}
		return nil
	}
	e := newEnv(t, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if err := failWrite(obj.GetName()); err != nil {
				return err
			}
			return c.Create(ctx, obj, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			if err := failWrite(obj.GetName()); err != nil {
				return err
			}
			return c.Update(ctx, obj, opts...)
		},
	})
	l := e.load(t)
	first := keys("a", 150_000) // about 1 MB: four shards
	l.Add(first...)
	e.flush(t, l)
	h0, _ := e.shardsOf(t)

	// Growth, with the header write failing: the new layout's shards are written, the header
	// still names the old ones, which are intact.
	more := keys("b", 400_000)
	l.Add(more...)
	failBase.Store(true)
	if err := l.Flush(context.Background(), e.c, e.c); err == nil {
		t.Fatal("the header write failed unnoticed")
	}
	failBase.Store(false)
	if _, h := e.base(t); h.Layout != h0.Layout || h.Shards != h0.Shards {
		t.Fatal("the header changed")
	}
	if n := len(e.configMaps(t, "uid-1")); n <= h0.Shards+1 {
		t.Fatalf("%d ConfigMaps: the new layout's shards were not written", n)
	}
	lc := e.load(t) // what a new leader would read after the crash
	if lc.Len() != len(first) || !hasAll(lc, first...) {
		t.Fatalf("after a crash before the header: len %d, want %d", lc.Len(), len(first))
	}

	// The same, crashing amid the shards of the new layout.
	budget.Store(3)
	limited.Store(true)
	if err := l.Flush(context.Background(), e.c, e.c); err == nil {
		t.Fatal("the shard write failed unnoticed")
	}
	limited.Store(false)
	lc = e.load(t)
	if lc.Len() != len(first) || !hasAll(lc, first...) {
		t.Fatalf("after a crash amid the shards: len %d, want %d", lc.Len(), len(first))
	}

	// The new leader (lc, which has the old layout) goes on; the stale shards it meets (same
	// names as the new layout's, written by the abandoned reshards) are overwritten.
	lc.Add(more...)
	e.flush(t, lc)
	h1, _ := e.shardsOf(t)
	if h1.Layout == h0.Layout || h1.Shards <= h0.Shards {
		t.Fatalf("no reshard: %+v", h1)
	}
	if l2 := e.load(t); l2.Len() != len(first)+len(more) {
		t.Fatalf("len %d", l2.Len())
	}

	// A stale shard that a header names by count but that belongs to another layout (written by
	// an earlier leader to an abandoned layout of the same count) is not read as ours.
	bits := uint8(0)
	for 1<<bits < h1.Shards {
		bits++
	}
	name := shardName(testName, bits, 1)
	var cm corev1.ConfigMap
	if err := e.direct.Get(context.Background(), client.ObjectKey{Namespace: e.ns, Name: name}, &cm); err != nil {
		t.Fatal(err)
	}
	cm.BinaryData[shardKey] = encodeShard(nil, 12345, bits, 1, []entry{{mix(7), 0}})
	if err := e.direct.Update(context.Background(), &cm); err != nil {
		t.Fatal(err)
	}
	ld, err := Load(context.Background(), e.c, e.ns, testName, testOwner)
	if err == nil || ld == nil || ld.Exists() || ld.Len() != 0 || ld.Has(7) {
		t.Fatalf("a shard of another layout was used: %v", err)
	}
	if !strings.Contains(err.Error(), "layout") {
		t.Errorf("error = %v", err)
	}
}

// TestDamagedShard: a damaged or missing shard starts a new ledger (with an error); delivery
// goes on and the next Flush replaces it all.
func TestDamagedShard(t *testing.T) {
	for _, damage := range []string{"flipped", "missing", "foreign"} {
		t.Run(damage, func(t *testing.T) {
			e := newEnv(t)
			l := e.load(t)
			l.SetScope("s")
			l.Add(keys("r", 200_000)...)
			l.AddCounts(Counts{Sent: 5, Failed: 2})
			e.flush(t, l)
			h, shards := e.shardsOf(t)
			cm := shards[len(shards)/2]
			ctx := context.Background()
			switch damage {
			case "flipped":
				cm.BinaryData[shardKey][100] ^= 0x40
				if err := e.direct.Update(ctx, cm); err != nil {
					t.Fatal(err)
				}
			case "missing":
				if err := e.direct.Delete(ctx, cm); err != nil {
					t.Fatal(err)
				}
			case "foreign":
				cm.OwnerReferences = []metav1.OwnerReference{ownerOf("nt1", "uid-0")}
				if err := e.direct.Update(ctx, cm); err != nil {
					t.Fatal(err)
				}
			}
			l2, err := Load(ctx, e.c, e.ns, testName, testOwner)
			if err == nil || !strings.Contains(err.Error(), "unreadable") || !strings.Contains(err.Error(), cm.Name) {
				t.Fatalf("error = %v", err)
			}
			if l2 == nil || l2.Exists() || l2.Len() != 0 || l2.Scope() != "" {
				t.Fatalf("damaged: %v", l2)
			}
			if c, ok := l2.Counts(); !ok || c != (Counts{Sent: 5, Failed: 2}) {
				t.Errorf("counts of a readable header lost: %+v", c)
			}
			// The owner re-baselines and goes on.
			l2.SetScope("s")
			l2.Add(keys("r", 1000)...)
			e.flush(t, l2)
			h2, _ := e.shardsOf(t) // also checks the old shards are gone
			if h2.Layout == h.Layout || h2.Shards != 1 {
				t.Errorf("header %+v", h2)
			}
			if l3 := e.load(t); l3.Len() != 1000 {
				t.Errorf("len %d", l3.Len())
			}
		})
	}
}

func TestCountsPersisted(t *testing.T) {
	e := newEnv(t)
	l := e.load(t)
	l.Add(keys("r", 100_000)...)
	e.flush(t, l)
	l.AddCounts(Counts{Sent: 10, Failed: 3})
	e.w.reset()
	e.flush(t, l)
	if e.w.total() != 1 {
		t.Errorf("%d writes for new counts, want 1 (the header)", e.w.total())
	}
	l2 := e.load(t)
	if c, ok := l2.Counts(); !ok || c != (Counts{Sent: 10, Failed: 3}) {
		t.Errorf("Counts = %+v, %v", c, ok)
	}
	l2.AddCounts(Counts{Sent: 1, Failed: 1})
	e.flush(t, l2)
	if c, _ := e.load(t).Counts(); c != (Counts{Sent: 11, Failed: 4}) {
		t.Errorf("Counts = %+v", c)
	}
}

// TestRBACWithoutDelete runs the ledger as a user with only the verbs the operator has on
// ConfigMaps (get, create, update): stale shards are emptied instead of deleted.
func TestRBACWithoutDelete(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	user, err := apiserver.Get(t).UserConfig("ledger-" + e.ns)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []client.Object{
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "ledger"}, Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "create", "update"},
		}}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "ledger"},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "ledger"},
			Subjects: []rbacv1.Subject{{Kind: "User", Name: "ledger-" + e.ns}}},
	} {
		if err := e.direct.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	c, err := client.New(user, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	l, err := Load(ctx, c, e.ns, testName, testOwner)
	if err != nil {
		t.Fatal(err)
	}
	l.Add(keys("r", 200_000)...)
	if err := l.Flush(ctx, c, c); err != nil {
		t.Fatal(err)
	}
	n4 := len(e.configMaps(t, "uid-1"))
	l.Sweep(func(k uint64) bool { return false }, time.Now(), time.Hour)
	l.Sweep(func(k uint64) bool { return false }, time.Now().Add(2*time.Hour), time.Hour)
	l.Add(1)
	if err := l.Flush(ctx, c, c); err != nil {
		t.Fatal(err)
	}
	cms := e.configMaps(t, "uid-1")
	if len(cms) != n4 {
		t.Errorf("%d ConfigMaps, want the %d there were (emptied, not deleted)", len(cms), n4)
	}
	for n, cm := range cms {
		if n != testName && (len(cm.BinaryData) != 0 || len(cm.Data) != 0) {
			t.Errorf("stale shard %s not emptied", n)
		}
	}
	if l2, err := Load(ctx, c, e.ns, testName, testOwner); err != nil || l2.Len() != 1 {
		t.Errorf("reload: %v", err)
	}
}

// storedBytes sums the data (keys and values) of ConfigMaps.
func storedBytes(cms map[string]*corev1.ConfigMap) int64 {
	var n int64
	for _, cm := range cms {
		for k, v := range cm.Data {
			n += int64(len(k) + len(v))
		}
		for k, v := range cm.BinaryData {
			n += int64(len(k) + len(v))
		}
	}
	return n
}
