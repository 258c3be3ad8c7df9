package ledger

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	wgpolicyv1alpha2 "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/scheme"
)

const testNS = "team-a"

func ownerOf(name string, uid types.UID) metav1.OwnerReference {
	return metav1.OwnerReference{
		APIVersion: "reporting.policyherald.io/v1alpha1", Kind: "NotificationTarget", Name: name, UID: uid,
		BlockOwnerDeletion: ptr.To(false),
	}
}

// writes counts the ConfigMap writes that reach the fake API server.
type writes struct{ create, update atomic.Int32 }

func (w *writes) total() int32 { return w.create.Load() + w.update.Load() }

// newFake returns a controller-runtime fake client (an in-memory API server) holding objs, and
// the counts of the writes made through it.
func newFake(t testing.TB, objs ...client.Object) (client.WithWatch, *writes) {
	t.Helper()
	w := &writes{}
	c := fake.NewClientBuilder().WithScheme(scheme.New()).WithObjects(objs...).
		WithInterceptorFuncs(interceptor.Funcs{
			Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
				w.create.Add(1)
				return c.Create(ctx, obj, opts...)
			},
			Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
				w.update.Add(1)
				return c.Update(ctx, obj, opts...)
			},
		}).Build()
	return c, w
}

// load loads the ledger of the NotificationTarget nt1 (UID uid-1) and fails on any error.
func load(t testing.TB, r client.Reader) *Ledger {
	t.Helper()
	l, err := Load(context.Background(), r, testNS, Name("nt", "nt1"), ownerOf("nt1", "uid-1"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return l
}

// stored reads the ledger ConfigMap of nt1 and decodes its state.
func stored(t *testing.T, c client.Reader) (*corev1.ConfigMap, state) {
	t.Helper()
	var cm corev1.ConfigMap
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: testNS, Name: Name("nt", "nt1")}, &cm); err != nil {
		t.Fatalf("reading the ledger ConfigMap: %v", err)
	}
	st, err := decode(cm.BinaryData[dataKey])
	if err != nil {
		t.Fatalf("decoding the stored ledger: %v", err)
	}
	return &cm, st
}

// ledgerCM is a ledger ConfigMap of nt1 owned by uid holding raw.
func ledgerCM(uid types.UID, raw []byte) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: testNS, Name: Name("nt", "nt1"),
			Labels:          map[string]string{LabelOwner: "NotificationTarget.nt1"},
			OwnerReferences: []metav1.OwnerReference{ownerOf("nt1", uid)},
		},
		BinaryData: map[string][]byte{dataKey: raw},
	}
}

func mustEncode(t testing.TB, st state) []byte {
	t.Helper()
	raw, err := encode(&st)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestName(t *testing.T) {
	if got := Name("nt", "alerts"); got != "policy-herald-ledger-nt-alerts" {
		t.Errorf("Name = %q", got)
	}
	if got := Name("tc", strings.Repeat("a", 300)); len(got) != 253 {
		t.Errorf("len(Name) = %d, want 253", len(got))
	}
}

func TestAddHasLen(t *testing.T) {
	c, _ := newFake(t)
	l := load(t, c)
	if l.Exists() || l.Len() != 0 || l.Has("a") {
		t.Fatalf("a new ledger: exists=%v len=%d", l.Exists(), l.Len())
	}
	l.Add("a", "b")
	l.Add("b", "c") // b again: counted once
	l.Add()
	if l.Len() != 3 {
		t.Errorf("Len = %d, want 3", l.Len())
	}
	for _, id := range []string{"a", "b", "c"} {
		if !l.Has(id) {
			t.Errorf("Has(%q) = false", id)
		}
	}
	if l.Has("d") || l.Has("") {
		t.Error("Has of an ID never added = true")
	}
	if !l.Exists() {
		t.Error("a ledger with IDs must count as existing")
	}
}

func TestAddOnlyDirtiesOnNewIDs(t *testing.T) {
	c, w := newFake(t)
	l := load(t, c)
	l.Add("a")
	if err := l.Flush(context.Background(), c, c); err != nil {
		t.Fatal(err)
	}
	l.Add("a")
	if err := l.Flush(context.Background(), c, c); err != nil {
		t.Fatal(err)
	}
	if w.total() != 1 {
		t.Errorf("writes = %d, want 1: adding a known ID is no change", w.total())
	}
}

func TestSweep(t *testing.T) {
	const retention = time.Hour
	t0 := time.Unix(1_700_000_000, 0)
	c, _ := newFake(t)
	l := load(t, c)
	l.Add("stays", "leaves", "returns")
	present := func(ids ...string) func(string) bool {
		return func(id string) bool {
			for _, p := range ids {
				if p == id {
					return true
				}
			}
			return false
		}
	}
	gone := func(id string) int64 {
		t.Helper()
		l.mu.Lock()
		defer l.mu.Unlock()
		v, ok := l.st.IDs[id]
		if !ok {
			t.Fatalf("%s was forgotten", id)
		}
		return v
	}

	// Present IDs stay at 0; missing ones get the sweep time.
	l.Sweep(present("stays"), t0, retention)
	if gone("stays") != 0 || gone("leaves") != t0.Unix() || gone("returns") != t0.Unix() {
		t.Fatalf("after the first sweep: %v", l.st.IDs)
	}

	// Still missing later: the time it went missing is kept, not moved. One that comes back is
	// present again.
	t1 := t0.Add(10 * time.Minute)
	l.Sweep(present("stays", "returns"), t1, retention)
	if gone("leaves") != t0.Unix() {
		t.Errorf("leaves = %d, want the first time it was seen missing (%d)", gone("leaves"), t0.Unix())
	}
	if gone("returns") != 0 {
		t.Errorf("returns = %d, want 0: it is present again", gone("returns"))
	}

	// Missing for exactly the retention: still remembered.
	l.Sweep(present("stays", "returns"), t0.Add(retention), retention)
	if !l.Has("leaves") {
		t.Fatal("an ID missing for exactly the retention was forgotten")
	}

	// Missing for longer than the retention: forgotten; the others stay.
	l.Sweep(present("stays", "returns"), t0.Add(retention+time.Second), retention)
	if l.Has("leaves") {
		t.Error("an ID missing for longer than the retention is still remembered")
	}
	if !l.Has("stays") || !l.Has("returns") || l.Len() != 2 {
		t.Errorf("after forgetting: %v", l.st.IDs)
	}

	// The one that came back and leaves again starts a new retention from then.
	t2 := t0.Add(2 * retention)
	l.Sweep(present("stays"), t2, retention)
	if gone("returns") != t2.Unix() {
		t.Errorf("returns = %d, want %d", gone("returns"), t2.Unix())
	}
	l.Sweep(present("stays"), t2.Add(retention-time.Second), retention)
	if !l.Has("returns") {
		t.Error("the retention must restart when an ID leaves again")
	}
}

func TestSweepWithoutChangeDoesNotWrite(t *testing.T) {
	c, w := newFake(t)
	l := load(t, c)
	l.Add("a", "b")
	ctx := context.Background()
	if err := l.Flush(ctx, c, c); err != nil {
		t.Fatal(err)
	}
	all := func(string) bool { return true }
	l.Sweep(all, time.Now(), time.Hour)
	if err := l.Flush(ctx, c, c); err != nil {
		t.Fatal(err)
	}
	if w.total() != 1 {
		t.Fatalf("writes = %d, want 1: a sweep that finds everything present changes nothing", w.total())
	}
	l.Sweep(func(id string) bool { return id == "a" }, time.Now(), time.Hour)
	if err := l.Flush(ctx, c, c); err != nil {
		t.Fatal(err)
	}
	if w.total() != 2 {
		t.Fatalf("writes = %d, want 2: an ID went missing", w.total())
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	in := state{Version: 1, Scope: "sha256:abc", IDs: map[string]int64{
		"0123456789abcdef": 0, "fedcba9876543210": 1_700_000_000, "producer-id/1": 0, `quote"and\slash`: 42,
	}}
	raw := mustEncode(t, in)
	if _, err := gzip.NewReader(bytes.NewReader(raw)); err != nil {
		t.Fatalf("the encoding is not gzip: %v", err)
	}
	out, err := decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	if out.Version != in.Version || out.Scope != in.Scope || !maps.Equal(out.IDs, in.IDs) {
		t.Errorf("round trip: got %+v, want %+v", out, in)
	}

	// No IDs at all decodes to an empty, usable map.
	out, err = decode(mustEncode(t, state{Version: 1}))
	if err != nil || out.IDs == nil {
		t.Errorf("decode of a state without IDs: %+v, %v", out, err)
	}
}

func TestDecodeRejectsGarbage(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte(`{"v":1,"ids":[`))
	_ = zw.Close()
	for name, raw := range map[string][]byte{
		"not gzip":      []byte("definitely not gzip"),
		"empty":         nil,
		"truncated":     mustEncode(t, state{Version: 1, IDs: map[string]int64{"a": 0}})[:12],
		"gzip, no JSON": gz.Bytes(),
	} {
		if _, err := decode(raw); err == nil {
			t.Errorf("%s: decode succeeded", name)
		}
	}
}

func TestFlushCreatesThenUpdates(t *testing.T) {
	ctx := context.Background()
	c, w := newFake(t)
	l := load(t, c)
	l.SetScope("scope-1")
	l.Add("a", "b")
	if err := l.Flush(ctx, c, c); err != nil {
		t.Fatalf("first Flush: %v", err)
	}
	if w.create.Load() != 1 || w.update.Load() != 0 {
		t.Fatalf("first Flush: %d creates, %d updates; want one create", w.create.Load(), w.update.Load())
	}
	cm, st := stored(t, c)
	if len(cm.OwnerReferences) != 1 || cm.OwnerReferences[0].UID != "uid-1" || cm.OwnerReferences[0].Kind != "NotificationTarget" ||
		cm.OwnerReferences[0].Name != "nt1" {
		t.Errorf("owner references = %+v", cm.OwnerReferences)
	}
	if got := cm.Labels[LabelOwner]; got != "uid-1" {
		t.Errorf("label %s = %q", LabelOwner, got)
	}
	if len(cm.Data) != 0 || len(cm.BinaryData) != 1 {
		t.Errorf("ConfigMap keys: data %v, binaryData %d keys", cm.Data, len(cm.BinaryData))
	}
	if st.Scope != "scope-1" || !maps.Equal(st.IDs, map[string]int64{"a": 0, "b": 0}) {
		t.Errorf("stored state = %+v", st)
	}
	rv1 := cm.ResourceVersion

	// Nothing changed: no write.
	if err := l.Flush(ctx, c, c); err != nil {
		t.Fatal(err)
	}
	if w.total() != 1 {
		t.Fatalf("an unchanged ledger was written (%d writes)", w.total())
	}

	// A change: an update of the same ConfigMap.
	l.Add("c")
	if err := l.Flush(ctx, c, c); err != nil {
		t.Fatalf("second Flush: %v", err)
	}
	if w.create.Load() != 1 || w.update.Load() != 1 {
		t.Fatalf("second Flush: %d creates, %d updates; want one of each in all", w.create.Load(), w.update.Load())
	}
	cm, st = stored(t, c)
	if cm.ResourceVersion == rv1 {
		t.Error("the ConfigMap was not updated")
	}
	if !maps.Equal(st.IDs, map[string]int64{"a": 0, "b": 0, "c": 0}) {
		t.Errorf("stored IDs = %v", st.IDs)
	}

	// And a third write goes through with the resourceVersion of the second.
	l.Add("d")
	if err := l.Flush(ctx, c, c); err != nil {
		t.Fatalf("third Flush: %v", err)
	}
	if _, st = stored(t, c); len(st.IDs) != 4 {
		t.Errorf("stored IDs = %v", st.IDs)
	}

	// What was written loads back.
	l2 := load(t, c)
	if !l2.Exists() || l2.Scope() != "scope-1" || l2.Len() != 4 || !l2.Has("d") {
		t.Errorf("reloaded: exists=%v scope=%q len=%d", l2.Exists(), l2.Scope(), l2.Len())
	}
}

func TestFlushOfNewUntouchedLedgerDoesNotWrite(t *testing.T) {
	c, w := newFake(t)
	l := load(t, c)
	if err := l.Flush(context.Background(), c, c); err != nil {
		t.Fatal(err)
	}
	if w.total() != 0 {
		t.Errorf("an empty, unchanged ledger was written")
	}
}

func TestSetScope(t *testing.T) {
	c, w := newFake(t)
	l := load(t, c)
	l.SetScope("s1")
	if !l.Exists() || l.Scope() != "s1" {
		t.Fatalf("after SetScope: exists=%v scope=%q", l.Exists(), l.Scope())
	}
	ctx := context.Background()
	if err := l.Flush(ctx, c, c); err != nil {
		t.Fatal(err)
	}
	l.SetScope("s1")
	if err := l.Flush(ctx, c, c); err != nil {
		t.Fatal(err)
	}
	if w.total() != 1 {
		t.Errorf("writes = %d, want 1: the same scope again is no change", w.total())
	}
}

func TestLoadMissingConfigMap(t *testing.T) {
	c, _ := newFake(t)
	l, err := Load(context.Background(), c, testNS, "nope", ownerOf("nt1", "uid-1"))
	if err != nil || l == nil || l.Exists() || l.Len() != 0 {
		t.Fatalf("Load of a missing ConfigMap: %v, %v", l, err)
	}
}

func TestLoadOfAnotherOwnersConfigMap(t *testing.T) {
	ctx := context.Background()
	old := state{Version: 1, Scope: "old", IDs: map[string]int64{"x": 0, "y": 0}}
	c, w := newFake(t, ledgerCM("uid-0", mustEncode(t, old)))
	l := load(t, c)
	if l.Exists() || l.Len() != 0 || l.Has("x") || l.Scope() != "" {
		t.Fatalf("a ConfigMap of an earlier object of the same name was used: exists=%v len=%d scope=%q",
			l.Exists(), l.Len(), l.Scope())
	}

	// The first Flush takes it over: an update (it exists) with our owner and our IDs only.
	l.Add("a")
	if err := l.Flush(ctx, c, c); err != nil {
		t.Fatal(err)
	}
	if w.create.Load() != 0 || w.update.Load() != 1 {
		t.Errorf("%d creates, %d updates; want one update", w.create.Load(), w.update.Load())
	}
	cm, st := stored(t, c)
	if len(cm.OwnerReferences) != 1 || cm.OwnerReferences[0].UID != "uid-1" {
		t.Errorf("owner references = %+v", cm.OwnerReferences)
	}
	if !maps.Equal(st.IDs, map[string]int64{"a": 0}) {
		t.Errorf("stored IDs = %v", st.IDs)
	}
}

func TestLoadOfGarbage(t *testing.T) {
	ctx := context.Background()
	c, _ := newFake(t, ledgerCM("uid-1", []byte("not a ledger")))
	l, err := Load(ctx, c, testNS, Name("nt", "nt1"), ownerOf("nt1", "uid-1"))
	if err == nil {
		t.Fatal("Load of a damaged ledger gave no error")
	}
	if !strings.Contains(err.Error(), "unreadable") {
		t.Errorf("error = %v", err)
	}
	if l == nil {
		t.Fatal("Load of a damaged ledger gave no ledger: delivery would stop")
	}
	if l.Exists() || l.Len() != 0 {
		t.Errorf("damaged ledger: exists=%v len=%d, want a new empty one", l.Exists(), l.Len())
	}

	// The new ledger replaces the damaged one.
	l.Add("a")
	if err := l.Flush(ctx, c, c); err != nil {
		t.Fatal(err)
	}
	if _, st := stored(t, c); !maps.Equal(st.IDs, map[string]int64{"a": 0}) {
		t.Errorf("stored IDs = %v", st.IDs)
	}
}

func TestLoadWithoutData(t *testing.T) {
	cm := ledgerCM("uid-1", nil)
	cm.BinaryData = nil
	c, _ := newFake(t, cm)
	l := load(t, c)
	if l.Exists() || l.Len() != 0 {
		t.Errorf("exists=%v len=%d", l.Exists(), l.Len())
	}
	l.Add("a")
	if err := l.Flush(context.Background(), c, c); err != nil {
		t.Fatal(err)
	}
}

func TestLoadReadError(t *testing.T) {
	boom := errors.New("boom")
	c := fake.NewClientBuilder().WithScheme(scheme.New()).WithInterceptorFuncs(interceptor.Funcs{
		Get: func(context.Context, client.WithWatch, client.ObjectKey, client.Object, ...client.GetOption) error {
			return boom
		},
	}).Build()
	l, err := Load(context.Background(), c, testNS, "x", ownerOf("nt1", "uid-1"))
	if !errors.Is(err, boom) || l != nil {
		t.Errorf("Load = %v, %v; want nil and the read error", l, err)
	}
}

// reportIDs returns n distinct result IDs made by internal/report (an FNV-64a hash in hex, as
// for every result whose producer gives no resultID property).
func reportIDs(n int) []string {
	pr := &wgpolicyv1alpha2.PolicyReport{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "r"},
		Scope:      &corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: "default", Name: "p", UID: "u"},
		Results:    make([]wgpolicyv1alpha2.PolicyReportResult, n),
	}
	for i := range pr.Results {
		pr.Results[i] = wgpolicyv1alpha2.PolicyReportResult{
			Policy: "require-labels", Rule: "check", Result: "fail", Message: "message " + strconv.Itoa(i),
		}
	}
	rep := report.FromPolicyReport(pr)
	ids := make([]string, n)
	seen := make(map[string]bool, n)
	for i := range rep.Results {
		ids[i] = rep.Results[i].ID
		if seen[ids[i]] {
			panic("duplicate ID " + ids[i])
		}
		seen[ids[i]] = true
	}
	return ids
}

func TestFlushTooBig(t *testing.T) {
	ctx := context.Background()
	c, w := newFake(t)
	l := load(t, c)
	l.Add(reportIDs(150_000)...)
	err := l.Flush(ctx, c, c)
	if err == nil {
		t.Fatal("a ledger over MaxBytes was written")
	}
	if !strings.Contains(err.Error(), strconv.Itoa(MaxBytes)) || !strings.Contains(err.Error(), "narrow the destination's filter") {
		t.Errorf("error = %v; want it to name the limit (%d) and the remedy", err, MaxBytes)
	}
	if w.total() != 0 {
		t.Errorf("%d writes", w.total())
	}
	// Still dirty: the next Flush tries again rather than pretending all is written.
	if err := l.Flush(ctx, c, c); err == nil {
		t.Error("the second Flush of a ledger over MaxBytes succeeded without writing")
	}
}

func TestFlushRetriesAfterAFailedWrite(t *testing.T) {
	ctx := context.Background()
	var fail atomic.Bool
	fail.Store(true)
	c := fake.NewClientBuilder().WithScheme(scheme.New()).WithInterceptorFuncs(interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if fail.Load() {
				return apierrors.NewServiceUnavailable("try later")
			}
			return c.Create(ctx, obj, opts...)
		},
	}).Build()
	l := load(t, c)
	l.Add("a")
	if err := l.Flush(ctx, c, c); err == nil {
		t.Fatal("Flush hid the failed write")
	}
	fail.Store(false)
	if err := l.Flush(ctx, c, c); err != nil {
		t.Fatalf("Flush after the API server recovered: %v", err)
	}
	if _, st := stored(t, c); !st.hasAll("a") {
		t.Errorf("stored IDs = %v", st.IDs)
	}
}

func (st state) hasAll(ids ...string) bool {
	for _, id := range ids {
		if _, ok := st.IDs[id]; !ok {
			return false
		}
	}
	return true
}

// A ledger written by an earlier leader after this one loaded is overwritten, for Create
// (AlreadyExists) and Update (Conflict) alike: only the leader writes, so its state is newest.
func TestFlushAfterAnotherWriter(t *testing.T) {
	ctx := context.Background()
	c, _ := newFake(t)

	// Both load before the ConfigMap exists: the second Create meets AlreadyExists.
	a, b := load(t, c), load(t, c)
	a.Add("from-a")
	if err := a.Flush(ctx, c, c); err != nil {
		t.Fatal(err)
	}
	b.Add("from-b")
	if err := b.Flush(ctx, c, c); err != nil {
		t.Fatalf("Flush after AlreadyExists: %v", err)
	}
	if _, st := stored(t, c); !maps.Equal(st.IDs, map[string]int64{"from-b": 0}) {
		t.Errorf("stored IDs = %v, want b's", st.IDs)
	}

	// Both load the same version: the second Update meets Conflict.
	a, b = load(t, c), load(t, c)
	a.Add("a2")
	if err := a.Flush(ctx, c, c); err != nil {
		t.Fatal(err)
	}
	b.Add("b2")
	if err := b.Flush(ctx, c, c); err != nil {
		t.Fatalf("Flush after Conflict: %v", err)
	}
	if _, st := stored(t, c); !maps.Equal(st.IDs, map[string]int64{"from-b": 0, "b2": 0}) {
		t.Errorf("stored IDs = %v, want b's", st.IDs)
	}
	// b keeps writing with the resourceVersion it got.
	b.Add("b3")
	if err := b.Flush(ctx, c, c); err != nil {
		t.Fatal(err)
	}
}

// The ledger ConfigMap deleted after Load (by hand, or by the garbage collector when it belonged
// to an earlier object of the same name): the next Flush should create it again.
func TestFlushRecreatesADeletedConfigMap(t *testing.T) {
	ctx := context.Background()
	c, _ := newFake(t, ledgerCM("uid-0", mustEncode(t, state{Version: 1, IDs: map[string]int64{"x": 0}})))
	l := load(t, c)
	if err := c.Delete(ctx, ledgerCM("uid-0", nil)); err != nil {
		t.Fatal(err)
	}
	l.Add("a")
	for i := range 2 {
		if err := l.Flush(ctx, c, c); err != nil {
			t.Fatalf("Flush %d: %v", i, err)
		}
	}
}

// The owner label must be a valid label value, or the API server rejects the ConfigMap (the fake
// client does not validate labels, so this checks the value itself).
func TestOwnerLabelIsAValidLabelValue(t *testing.T) {
	for _, name := range []string{"nt1", strings.Repeat("a", 44), strings.Repeat("a", 63), strings.Repeat("a", 253)} {
		c, _ := newFake(t)
		l, err := Load(context.Background(), c, testNS, Name("nt", name), ownerOf(name, "u"))
		if err != nil {
			t.Fatal(err)
		}
		if errs := validation.IsValidLabelValue(l.ownerID); len(errs) != 0 {
			t.Errorf("a NotificationTarget named with %d characters gets an invalid %s label (%d characters): %v",
				len(name), LabelOwner, len(l.ownerID), errs)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	c, _ := newFake(t)
	l := load(t, c)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				id := fmt.Sprintf("%d-%d", g, i)
				l.Add(id)
				_ = l.Has(id)
				_ = l.Len()
			}
		}()
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		for range 20 {
			l.Sweep(func(string) bool { return true }, time.Now(), time.Hour)
		}
	}()
	go func() {
		defer wg.Done()
		for range 20 {
			if err := l.Flush(ctx, c, c); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	wg.Wait()
	if err := l.Flush(ctx, c, c); err != nil {
		t.Fatal(err)
	}
	if _, st := stored(t, c); len(st.IDs) != 800 {
		t.Errorf("stored %d IDs, want 800", len(st.IDs))
	}
}

// capacity returns how many of ids (taken in order) fit in MaxBytes, each stored with gone.
// It panics on failure: it runs once for every test and benchmark.
func capacity(ids []string, gone int64) int {
	size := func(n int) int {
		st := state{Version: 1, Scope: strings.Repeat("f", 64), IDs: make(map[string]int64, n)}
		for _, id := range ids[:n] {
			st.IDs[id] = gone
		}
		raw, err := encode(&st)
		if err != nil {
			panic(err)
		}
		return len(raw)
	}
	if size(len(ids)) <= MaxBytes {
		panic(fmt.Sprintf("all %d IDs fit in MaxBytes: give more", len(ids)))
	}
	lo, hi := 0, len(ids) // size(lo) fits, size(hi) does not
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if size(mid) <= MaxBytes {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

// capacities are the results of capacity for IDs stored as present (0) and as missing (a time),
// computed once: the binary search encodes up to 130k IDs about 17 times each.
var capacityOnce struct {
	sync.Once
	ids              []string
	present, missing int
}

func capacities() (ids []string, present, missing int) {
	c := &capacityOnce
	c.Do(func() {
		c.ids = reportIDs(130_000)
		c.present, c.missing = capacity(c.ids, 0), capacity(c.ids, 1_760_000_000)
	})
	return c.ids, c.present, c.missing
}

// TestCapacity measures how many result IDs fit in a ledger: while their results are present
// (stored as 0) and right after all of them left the cluster (stored with a time).
func TestCapacity(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	_, present, missing := capacities()
	t.Logf("result IDs that fit in MaxBytes (%d bytes): %d while present, %d while missing (%.1f / %.1f bytes per ID)",
		MaxBytes, present, missing, float64(MaxBytes)/float64(present), float64(MaxBytes)/float64(missing))
	if present < 50_000 || missing < 50_000 {
		t.Errorf("capacity fell below 50k IDs: %d present, %d missing", present, missing)
	}
}

// BenchmarkFlushAtCapacity measures one Flush of a ledger filled to MaxBytes with present IDs
// (JSON encoding, gzip and an update through the fake client), and reports how many IDs fit
// (ids-at-MaxBytes while present, ids-missing-at-MaxBytes when every one is stored with a time).
func BenchmarkFlushAtCapacity(b *testing.B) {
	ids, n, missing := capacities()
	c, _ := newFake(b)
	l := load(b, c)
	l.Add(ids[:n]...)
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		l.markDirty()
		if err := l.Flush(ctx, c, c); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n), "ids-at-MaxBytes")
	b.ReportMetric(float64(missing), "ids-missing-at-MaxBytes")
}

// BenchmarkEncodeAtCapacity is the encoding (JSON and gzip) part of BenchmarkFlushAtCapacity.
func BenchmarkEncodeAtCapacity(b *testing.B) {
	ids, n, _ := capacities()
	st := state{Version: 1, Scope: strings.Repeat("f", 64), IDs: make(map[string]int64, n)}
	for _, id := range ids[:n] {
		st.IDs[id] = 0
	}
	b.ResetTimer()
	for range b.N {
		if _, err := encode(&st); err != nil {
			b.Fatal(err)
		}
	}
}
