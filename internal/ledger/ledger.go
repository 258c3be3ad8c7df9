// Package ledger remembers, per NotificationTarget or TargetChannel, which results it has already
// handled (delivered, given up on, or found existing when the object was created). It is what makes delivery
// survive restarts and leader failover: a result in the ledger is never sent again, and a result
// that appeared while no replica ran is not in it and so is sent when one runs again.
//
// Results that disappear from the cluster are remembered for a while (Sweep's retention) before
// they are forgotten, so a producer that empties a report while rewriting it, or a result that
// flaps, is not sent twice.
//
// # Keys and memory
//
// A key is a result's identity hash (report.Result.Hash, FNV-64a). The ledger scrambles it
// with a bijective mixer (so any keys spread evenly) and keeps it in one of 128 buckets, each an
// open-addressing hash table of two arrays (mixed key, gone time in Unix seconds, 0 while
// present: 12 bytes a slot, 57% to 85% full) with its own mutex. At 1,000,000 keys a key costs
// about 19 bytes of heap after Adds, 15 after Load (tables sized once); Has and Add lock one
// bucket only.
//
// # Storage (format v2)
//
// The ledger is stored in ConfigMaps next to its target or channel, each labelled
// LabelOwner=<owner UID> and owned by that object (so garbage collected with it):
//
//   - the base ConfigMap Name(kind, name) holds the header (Data[header.json]: version, scope,
//     counts, shard count and layout ID) and, while the ledger has a single shard,
//     that shard (BinaryData[shard.bin]);
//   - with 2^b shards (b from 1 to 7), shard i is the ConfigMap
//     policy-herald-ledger-shard-<kind>-<name>-<2^b>-<i> (hashed when longer than 253
//     characters). Shard names never collide with a base name (no kind is "shard")
//     and differ between shard counts.
//
// Shard i holds the keys whose mixed value starts with the b bits of i, in increasing order,
// delta and varint encoded (random hashes do not compress, gzip is not used), the gone times
// of the keys not present, the layout ID, b and i, and a CRC-32: about 7 bytes a present key at
// 1,000,000 keys, so 32 shards of about 220 KiB. The shard count doubles when a shard would
// average more than 384 KiB and halves below 64 KiB (hysteresis), and at once if a shard would
// exceed MaxBytes.
//
// # Writes
//
// Each bucket has a dirty flag. Flush rewrites only the shards with a dirty bucket, and the
// header when the scope or counts changed (or, with one shard, the shard changed). Data is
// copied out of one bucket at a time under its mutex; sorting, encoding and the API calls run
// without any lock the other methods take (Flush calls are serialized among themselves); up to
// four shards are written at once. A failed write marks its buckets dirty again.
//
// A new layout (a reshard, the first write, a migration, or starting over) gets a fresh random
// layout ID: all its shards are written first, then the header that names it, then the shards of
// the previous layout are deleted (or, without the RBAC verb delete, emptied). A crash before the
// header is written leaves the previous header, which names the previous shards, untouched (they
// have other names); a crash after leaves stale shards that no header names and that a header
// of a later layout with the same shard count cannot mistake for its own (the layout ID
// differs).
//
// # Fencing
//
// Every write is conditional on the resourceVersion last read or written, and each instance
// (leader) claims the ledger in the header with one more than the claim it loaded. A write
// that finds another writer's change refuses to overwrite it: a newer claim deposes this
// instance (ErrDeposed, for good); an older writer's late write is merged (see fence.go).
//
// Loading reads the header then every shard. A missing, foreign or damaged shard, or a damaged
// header, starts a new empty ledger (Exists false: the owner re-baselines, as when the
// target or channel is new) and Load returns it with an error; counts of a readable header are kept.
// So does a base ConfigMap with data but no header, or a header of another format version: no
// other format was ever released.
package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// LabelOwner marks ledger ConfigMaps with the UID of their target or channel (a name may be too long
// for a label value; a UID always fits).
const LabelOwner = "reporting.policyherald.io/ledger-of"

// annotationBase names, on a shard ConfigMap, the base ConfigMap of its ledger (for people).
const annotationBase = "reporting.policyherald.io/ledger"

// MaxBytes is the most one ledger ConfigMap may hold (the API server allows 1 MiB); a shard that
// would be bigger makes the ledger double its shards.
const MaxBytes = 700 * 1024

// MaxShards is the most shard ConfigMaps a ledger spreads over; MaxShards*MaxBytes bounds it.
const MaxShards = 1 << maxShardBits

const (
	numBuckets   = 1 << bucketBits
	maxShardBits = bucketBits // a shard is at least one bucket: at most 128 shards
	namePrefix   = "policy-herald-ledger-"
)

// Resharding thresholds, on the estimated encoded size of a shard; variables for tests.
var (
	growAt   int64 = 384 << 10
	shrinkAt int64 = 64 << 10
	// maxBytes is MaxBytes, lowered by tests.
	maxBytes = MaxBytes
)

// writers is how many shard ConfigMaps Load reads and Flush writes at once.
const writers = 4

// Counts are delivery counts persisted with the keys, so delivery counts shown in status follow
// the ledger after a crash. Digested and Summarised are parts of Sent; Skipped and Muted are
// results handled without a message.
type Counts struct {
	Sent       int64 `json:"sent"`
	Failed     int64 `json:"failed"`
	Dropped    int64 `json:"dropped,omitempty"`
	Skipped    int64 `json:"skipped,omitempty"`
	Muted      int64 `json:"muted,omitempty"`
	Digested   int64 `json:"digested,omitempty"`
	Summarised int64 `json:"summarised,omitempty"`
}

// add adds o's counts, less base's.
func (c *Counts) add(o, base Counts) {
	c.Sent += o.Sent - base.Sent
	c.Failed += o.Failed - base.Failed
	c.Dropped += o.Dropped - base.Dropped
	c.Skipped += o.Skipped - base.Skipped
	c.Muted += o.Muted - base.Muted
	c.Digested += o.Digested - base.Digested
	c.Summarised += o.Summarised - base.Summarised
}

type bucket struct {
	mu    sync.Mutex
	t     table
	dirty bool // changed since its shard was last copied for a write
}

// Ledger is the handled-result record of one target or channel. It is safe for concurrent use.
type Ledger struct {
	buckets [numBuckets]bucket
	n, gone atomic.Int64 // keys, and keys with a gone time
	exists  atomic.Bool  // a stored ledger was loaded, or something was recorded

	mu        sync.Mutex // guards the fields up to flushMu
	scope     string
	counts    Counts
	hasCounts bool
	hdrDirty  bool             // scope, counts or windows changed since the header was last written
	windows   map[string]int64 // open digest windows (windows.go); replaced, never changed in place
	// layout and bits describe the stored shards; layout 0 means none usable (a new,
	// foreign or damaged ledger): the next Flush writes a new layout.
	layout uint64
	bits   uint8
	// claim is this instance's claim (see fence.go): one more than the stored one it loaded.
	// claimed says a header with it was written; until then every Flush writes the header.
	claim   uint64
	claimed bool
	// storedCounts are the counts of the stored header as last read or written: what another
	// writer added since is the difference.
	storedCounts Counts

	// flushMu serializes Flush; it is held across I/O and taken by nothing else, so the other
	// methods never wait for the API server.
	flushMu sync.Mutex
	// deposed says a newer instance claimed the ledger: this one never writes again.
	deposed atomic.Bool
	// retire lists shards (by bits and index) of layouts no header names any more, to delete.
	retire []shardRef

	rvMu sync.Mutex
	// rv is the resourceVersion of each ConfigMap known to exist, by name, as last read or
	// written: the condition of the next write. A write that finds it changed reads it back, so
	// no cached read of ConfigMaps (and no cluster-wide ConfigMap informer) is needed.
	rv map[string]string
	// size is the bytes of data each ConfigMap of rv holds (keys and values), for Bytes.
	size map[string]int64

	base    client.ObjectKey
	owner   metav1.OwnerReference
	ownerID string

	// th maps delivered results to the thread of the message holding them (threads.go).
	th threads
}

type shardRef struct {
	bits  uint8
	index int
}

// Name returns the ConfigMap name of the ledger of a target ("nt") or channel ("tc") of name.
// A name too long for a ConfigMap is shortened and made unique again with a hash of the full one.
func Name(kind, name string) string {
	return shorten(namePrefix + kind + "-" + name)
}

func shorten(n string) string {
	if len(n) <= 253 {
		return n
	}
	sum := sha256.Sum256([]byte(n))
	return strings.TrimRight(n[:240], "-.") + "-" + hex.EncodeToString(sum[:])[:12]
}

// shardName is the ConfigMap name of shard index of 1<<bits of the ledger whose base ConfigMap
// is base.
func shardName(base string, bits uint8, index int) string {
	return shorten(namePrefix + "shard-" + strings.TrimPrefix(base, namePrefix) + "-" +
		strconv.Itoa(1<<bits) + "-" + strconv.Itoa(index))
}

func newLedger(namespace, name string, owner metav1.OwnerReference) *Ledger {
	return &Ledger{
		base:    client.ObjectKey{Namespace: namespace, Name: name},
		owner:   owner,
		ownerID: string(owner.UID),
		rv:      map[string]string{},
		size:    map[string]int64{},
		claim:   1,
	}
}

// Load reads the ledger of the target or channel owner from its ConfigMaps; a missing base ConfigMap
// (or one of an earlier object of the same name) gives an empty ledger with Exists() false. A
// failed read gives no ledger and the error; a damaged ledger gives a new empty one and an error
// (the owner starts over, as when it is new).
func Load(ctx context.Context, r client.Reader, namespace, name string, owner metav1.OwnerReference) (*Ledger, error) {
	l := newLedger(namespace, name, owner)
	var cm corev1.ConfigMap
	if err := r.Get(ctx, l.base, &cm); err != nil {
		if apierrors.IsNotFound(err) {
			return l, nil
		}
		return nil, fmt.Errorf("reading ledger %s: %w", l.base, err)
	}
	l.setStored(&cm)
	if !ownedBy(&cm, owner) {
		// Left behind by an earlier object of the same name, not yet garbage collected.
		return l, nil
	}
	s, ok := cm.Data[headerKey]
	switch {
	case ok:
		return l.loadV2(ctx, r, &cm, s)
	case len(cm.Data)+len(cm.BinaryData) > 0:
		return l, l.startOver(fmt.Errorf("no %s: not a ledger of a format this operator reads", headerKey))
	}
	return l, nil // an empty ConfigMap: nothing recorded yet
}

func (l *Ledger) loadV2(ctx context.Context, r client.Reader, cm *corev1.ConfigMap, s string) (*Ledger, error) {
	l.claim = storedClaim(s) + 1
	h, layout, bits, err := decodeHeader(s)
	if err != nil {
		return l, l.startOver(fmt.Errorf("header: %w", err))
	}
	if h.Counts != nil {
		l.counts, l.hasCounts = h.Counts.counts(), true
		l.storedCounts = l.counts
	}
	l.windows = boundWindows(h.Windows)
	if bits == 0 {
		if err := l.decode(cm.BinaryData[shardKey], layout, 0, 0); err != nil {
			return l, l.startOver(fmt.Errorf("shard: %w", err))
		}
	} else {
		var (
			wg             sync.WaitGroup
			emu            sync.Mutex
			readErr, dmged error
		)
		next := atomic.Int64{}
		for range writers {
			wg.Go(func() {
				for {
					i := int(next.Add(1) - 1)
					if i >= 1<<bits {
						return
					}
					emu.Lock()
					stop := readErr != nil || dmged != nil
					emu.Unlock()
					if stop {
						return
					}
					rerr, derr := l.loadShard(ctx, r, layout, bits, i)
					emu.Lock()
					if readErr == nil && rerr != nil {
						readErr = rerr
					}
					if dmged == nil && derr != nil {
						dmged = derr
					}
					emu.Unlock()
				}
			})
		}
		wg.Wait()
		if readErr != nil {
			return nil, readErr
		}
		if dmged != nil {
			for i := range 1 << bits {
				l.retire = append(l.retire, shardRef{bits, i})
			}
			return l, l.startOver(dmged)
		}
	}
	l.scope, l.layout, l.bits = h.Scope, layout, bits
	l.exists.Store(true)
	l.loadThreads(cm.BinaryData[threadsKey])
	return l, nil
}

// loadShard reads and decodes one shard; it returns a read error or a damage.
func (l *Ledger) loadShard(ctx context.Context, r client.Reader, layout uint64, bits uint8, i int) (readErr, damaged error) {
	name := shardName(l.base.Name, bits, i)
	var cm corev1.ConfigMap
	if err := r.Get(ctx, client.ObjectKey{Namespace: l.base.Namespace, Name: name}, &cm); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("shard %s is missing", name)
		}
		return fmt.Errorf("reading ledger shard %s/%s: %w", l.base.Namespace, name, err), nil
	}
	l.setStored(&cm)
	if !ownedBy(&cm, l.owner) {
		return nil, fmt.Errorf("shard %s belongs to another object", name)
	}
	if err := l.decode(cm.BinaryData[shardKey], layout, bits, i); err != nil {
		return nil, fmt.Errorf("shard %s: %w", name, err)
	}
	return nil, nil
}

// decode adds the keys of a stored shard.
func (l *Ledger) decode(raw []byte, layout uint64, bits uint8, index int) error {
	es, err := decodeShard(raw, layout, bits, index)
	if err != nil {
		return err
	}
	// The entries come sorted, so by bucket: size each table once.
	var n, gone int64
	for len(es) > 0 {
		bi := es[0].m >> (64 - bucketBits)
		j := 1
		for j < len(es) && es[j].m>>(64-bucketBits) == bi {
			j++
		}
		b := &l.buckets[bi]
		b.mu.Lock()
		b.t.reserve(b.t.len() + j)
		for _, e := range es[:j] {
			if b.t.put(e.m, e.g) {
				n++
				if e.g != 0 {
					gone++
				}
			}
		}
		b.mu.Unlock()
		es = es[j:]
	}
	l.n.Add(n)
	l.gone.Add(gone)
	return nil
}

// startOver empties a ledger found damaged and returns the error for Load.
func (l *Ledger) startOver(cause error) error {
	for i := range l.buckets {
		l.buckets[i].t = table{}
		l.buckets[i].dirty = false
	}
	l.n.Store(0)
	l.gone.Store(0)
	l.scope, l.layout, l.bits = "", 0, 0
	l.exists.Store(false)
	return fmt.Errorf("ledger %s is unreadable, starting a new one: %w", l.base, cause)
}

func ownedBy(cm *corev1.ConfigMap, owner metav1.OwnerReference) bool {
	for _, o := range cm.OwnerReferences {
		if o.UID == owner.UID {
			return true
		}
	}
	return false
}

// Exists tells whether a stored ledger was loaded, or something was recorded since: whether the
// target or channel ran before.
func (l *Ledger) Exists() bool { return l.exists.Load() }

// Scope returns the scope the ledger's keys were recorded under.
func (l *Ledger) Scope() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.scope
}

// SetScope records a new scope.
func (l *Ledger) SetScope(scope string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.scope != scope {
		l.scope, l.hdrDirty = scope, true
		l.exists.Store(true)
	}
}

// Counts returns the delivery counts, and false when the ledger holds none: neither the stored
// ledger (new, or written before counts were recorded) nor AddCounts since.
func (l *Ledger) Counts() (Counts, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.counts, l.hasCounts
}

// AddCounts adds to the delivery counts. They are written with the next Flush that writes the
// ledger (a ledger that does not exist yet is not written for counts alone).
func (l *Ledger) AddCounts(c Counts) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.counts.add(c, Counts{})
	if c != (Counts{}) || !l.hasCounts {
		l.hdrDirty = true
	}
	l.hasCounts = true
}

func (l *Ledger) bucket(m uint64) *bucket { return &l.buckets[m>>(64-bucketBits)] }

// Has tells whether the result key was handled.
func (l *Ledger) Has(key uint64) bool {
	m := mix(key)
	b := l.bucket(m)
	b.mu.Lock()
	ok := b.t.has(m)
	b.mu.Unlock()
	return ok
}

// Add records result keys as handled (present in the cluster).
func (l *Ledger) Add(keys ...uint64) {
	var added int64
	for _, k := range keys {
		m := mix(k)
		b := l.bucket(m)
		b.mu.Lock()
		if !b.t.has(m) {
			b.t.put(m, 0)
			b.dirty = true
			added++
		}
		b.mu.Unlock()
	}
	l.n.Add(added)
	if !l.exists.Load() {
		l.exists.Store(true)
	}
}

// Len returns the number of remembered keys.
func (l *Ledger) Len() int { return int(l.n.Load()) }

// Sweep updates presence from the set of keys currently in the cluster: present keys are marked
// present, missing ones get the time they went missing, and keys missing for longer than
// retention are forgotten. present is called with a bucket's mutex held: it must not call the
// ledger. Sweep holds one bucket at a time, so Has and Add wait for at most one bucket.
func (l *Ledger) Sweep(present func(key uint64) bool, now time.Time, retention time.Duration) {
	cutoff := now.Add(-retention).Unix()
	t := uint32(max(1, min(now.Unix(), 1<<32-1)))
	for i := range l.buckets {
		b := &l.buckets[i]
		var removed, goneDelta int64
		b.mu.Lock()
		b.t.each(func(m uint64, g uint32) (uint32, bool) {
			switch {
			case present(unmix(m)):
				if g != 0 {
					b.dirty = true
					goneDelta--
				}
				return 0, false
			case g == 0:
				b.dirty = true
				goneDelta++
				return t, false
			case int64(g) < cutoff:
				b.dirty = true
				removed++
				goneDelta--
				return g, true
			}
			return g, false
		})
		b.mu.Unlock()
		l.n.Add(-removed)
		l.gone.Add(goneDelta)
	}
	l.sweepThreads()
}

func (l *Ledger) setRV(name, rv string) {
	l.rvMu.Lock()
	l.rv[name] = rv
	l.rvMu.Unlock()
}

func (l *Ledger) getRV(name string) string {
	l.rvMu.Lock()
	defer l.rvMu.Unlock()
	return l.rv[name]
}

func (l *Ledger) dropRV(name string) {
	l.rvMu.Lock()
	delete(l.rv, name)
	delete(l.size, name)
	l.rvMu.Unlock()
}

// setStored notes the resourceVersion and size of a ConfigMap as read or written.
func (l *Ledger) setStored(cm *corev1.ConfigMap) {
	var n int64
	for k, v := range cm.Data {
		n += int64(len(k) + len(v))
	}
	for k, v := range cm.BinaryData {
		n += int64(len(k) + len(v))
	}
	l.rvMu.Lock()
	l.rv[cm.Name] = cm.ResourceVersion
	l.size[cm.Name] = n
	l.rvMu.Unlock()
}

// Bytes returns the data the ledger's ConfigMaps hold as last read or written (keys and
// values, without object metadata): what counts against MaxBytes per ConfigMap. It takes no
// lock that Flush holds across I/O.
func (l *Ledger) Bytes() int64 {
	l.rvMu.Lock()
	defer l.rvMu.Unlock()
	var n int64
	for _, s := range l.size {
		n += s
	}
	return n
}

// newLayoutID returns a random non-zero layout ID.
var newLayoutID = func() uint64 {
	for {
		if id := rand.Uint64(); id != 0 {
			return id
		}
	}
}
