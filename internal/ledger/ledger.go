// Package ledger remembers, per destination, which results it has already handled (delivered,
// given up on, or found existing when the destination was created). It is what makes delivery
// survive restarts and leader failover: a result in the ledger is never sent again, and a result
// that appeared while no replica ran is not in it and so is sent when one runs again.
//
// The ledger is kept in memory and written to a ConfigMap next to the destination (owned by it,
// so it is deleted with it). Results that disappear from the cluster are remembered for a while
// (Retention) before they are forgotten, so a producer that empties a report while rewriting it,
// or a result that flaps, is not sent twice.
package ledger

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// dataKey is the ConfigMap key holding the gzip-compressed JSON state.
const dataKey = "ledger.json.gz"

// LabelOwner marks ledger ConfigMaps with the UID of their destination (a name may be too long
// for a label value; a UID always fits).
const LabelOwner = "reporting.policyherald.io/ledger-of"

// MaxBytes is the most a ledger may take in its ConfigMap (the API server allows 1 MiB).
const MaxBytes = 900 * 1024

// state is what is persisted.
type state struct {
	Version int `json:"v"`
	// Scope says what the recorded IDs were decided under (filters and visibility); a change
	// lets the owner re-baseline instead of treating everything newly in scope as new.
	Scope string `json:"scope"`
	// IDs maps a handled result ID to the Unix time it was last seen missing from the cluster,
	// or 0 while it is present.
	IDs map[string]int64 `json:"ids"`
}

// Ledger is the handled-result record of one destination. It is safe for concurrent use.
type Ledger struct {
	mu      sync.Mutex
	st      state
	exists  bool // a stored ledger was loaded (the destination has run before)
	dirty   bool
	key     client.ObjectKey
	owner   metav1.OwnerReference
	ownerID string
	// rv is the resourceVersion of the stored ConfigMap, "" before it exists. The leader is the
	// only writer, so no cached read of ConfigMaps (and no cluster-wide ConfigMap informer) is
	// needed.
	rv string
}

// Name returns the ConfigMap name of the ledger of a destination of kind ("nt" or "tc") and name.
// A name too long for a ConfigMap is shortened and made unique again with a hash of the full one.
func Name(kind, name string) string {
	n := "policy-herald-ledger-" + kind + "-" + name
	if len(n) <= 253 {
		return n
	}
	sum := sha256.Sum256([]byte(n))
	return strings.TrimRight(n[:240], "-.") + "-" + hex.EncodeToString(sum[:])[:12]
}

// Load reads the ledger of the destination owner from its ConfigMap; a missing ConfigMap gives
// an empty ledger with Exists() false.
func Load(ctx context.Context, r client.Reader, namespace, name string, owner metav1.OwnerReference) (*Ledger, error) {
	l := &Ledger{
		st:      state{Version: 1, IDs: map[string]int64{}},
		key:     client.ObjectKey{Namespace: namespace, Name: name},
		owner:   owner,
		ownerID: string(owner.UID),
	}
	var cm corev1.ConfigMap
	if err := r.Get(ctx, l.key, &cm); err != nil {
		if apierrors.IsNotFound(err) {
			return l, nil
		}
		return nil, fmt.Errorf("reading ledger %s: %w", l.key, err)
	}
	l.rv = cm.ResourceVersion
	if !ownedBy(&cm, owner) {
		// Left behind by an earlier object of the same name, not yet garbage collected.
		return l, nil
	}
	raw, ok := cm.BinaryData[dataKey]
	if !ok {
		return l, nil
	}
	st, err := decode(raw)
	if err != nil {
		// A damaged ledger must not stop delivery; starting over re-baselines the destination.
		return l, fmt.Errorf("ledger %s is unreadable, starting a new one: %w", l.key, err)
	}
	l.st, l.exists, l.rv = st, true, cm.ResourceVersion
	return l, nil
}

func ownedBy(cm *corev1.ConfigMap, owner metav1.OwnerReference) bool {
	for _, o := range cm.OwnerReferences {
		if o.UID == owner.UID {
			return true
		}
	}
	return false
}

// Exists tells whether a stored ledger was loaded, that is whether the destination ran before.
func (l *Ledger) Exists() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.exists
}

// Scope returns the scope the ledger's IDs were recorded under.
func (l *Ledger) Scope() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.st.Scope
}

// SetScope records a new scope.
func (l *Ledger) SetScope(scope string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.st.Scope != scope {
		l.st.Scope, l.dirty, l.exists = scope, true, true
	}
}

// Has tells whether the result ID was handled.
func (l *Ledger) Has(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.st.IDs[id]
	return ok
}

// Add records result IDs as handled.
func (l *Ledger) Add(ids ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, id := range ids {
		if _, ok := l.st.IDs[id]; !ok {
			l.st.IDs[id] = 0
			l.dirty = true
		}
	}
	l.exists = true
}

// Len returns the number of remembered IDs.
func (l *Ledger) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.st.IDs)
}

// Sweep updates presence from the set of IDs currently in the cluster: present IDs are marked
// present, missing ones get the time they went missing, and IDs missing for longer than
// retention are forgotten.
func (l *Ledger) Sweep(present func(id string) bool, now time.Time, retention time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	cutoff := now.Add(-retention).Unix()
	for id, gone := range l.st.IDs {
		switch {
		case present(id):
			if gone != 0 {
				l.st.IDs[id], l.dirty = 0, true
			}
		case gone == 0:
			l.st.IDs[id], l.dirty = now.Unix(), true
		case gone < cutoff:
			delete(l.st.IDs, id)
			l.dirty = true
		}
	}
}

// Flush writes the ledger to its ConfigMap if it changed since the last write. r reads the
// ConfigMap back after a conflict.
func (l *Ledger) Flush(ctx context.Context, c client.Client, r client.Reader) error {
	l.mu.Lock()
	if !l.dirty {
		l.mu.Unlock()
		return nil
	}
	raw, err := encode(&l.st)
	l.dirty = false
	l.mu.Unlock()
	if err != nil {
		return err
	}
	if len(raw) > MaxBytes {
		l.markDirty()
		return fmt.Errorf("ledger %s needs %d bytes, more than the %d a ConfigMap can hold: narrow the destination's filter", l.key, len(raw), MaxBytes)
	}
	if err := l.write(ctx, c, r, raw); err != nil {
		l.markDirty()
		return err
	}
	return nil
}

func (l *Ledger) markDirty() {
	l.mu.Lock()
	l.dirty = true
	l.mu.Unlock()
}

func (l *Ledger) write(ctx context.Context, c client.Client, r client.Reader, raw []byte) error {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
		Namespace:       l.key.Namespace,
		Name:            l.key.Name,
		Labels:          map[string]string{LabelOwner: l.ownerID},
		OwnerReferences: []metav1.OwnerReference{l.owner},
		ResourceVersion: l.rv,
	}, BinaryData: map[string][]byte{dataKey: raw}}
	var err error
	if l.rv != "" {
		err = c.Update(ctx, cm)
		if apierrors.IsNotFound(err) {
			// Deleted since we loaded it (by hand, or garbage collected with an earlier object of
			// the same name): write it anew.
			cm.ResourceVersion, l.rv = "", ""
		}
	}
	if l.rv == "" {
		err = c.Create(ctx, cm)
	}
	if apierrors.IsAlreadyExists(err) || apierrors.IsConflict(err) {
		// Written by an earlier leader since we loaded: ours is newer, as only the leader writes.
		var current corev1.ConfigMap
		if gerr := r.Get(ctx, l.key, &current); gerr != nil {
			return gerr
		}
		cm.ResourceVersion = current.ResourceVersion
		err = c.Update(ctx, cm)
	}
	if err != nil {
		return fmt.Errorf("writing ledger %s: %w", l.key, err)
	}
	l.rv = cm.ResourceVersion
	return nil
}

func encode(st *state) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := json.NewEncoder(zw).Encode(st); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func decode(raw []byte) (state, error) {
	var st state
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return st, err
	}
	b, err := io.ReadAll(io.LimitReader(zr, 64<<20))
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, err
	}
	if st.IDs == nil {
		st.IDs = map[string]int64{}
	}
	return st, nil
}
