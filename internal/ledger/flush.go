package ledger

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// errTooBig says a shard would exceed maxBytes: the ledger needs more shards.
var errTooBig = errors.New("shard too big")

// estimate is the expected encoded size of the whole ledger (see the shard format).
func estimate(keys, gone int64) int64 { return 7*keys + 3*gone }

// chooseBits returns the shard bits for an estimated size, starting from the current bits.
func chooseBits(est int64, bits uint8) uint8 {
	for bits < maxShardBits && est>>bits > growAt {
		bits++
	}
	for bits > 0 && est>>bits < shrinkAt {
		bits--
	}
	return bits
}

// Flush writes what changed since the last write: the shards with changed keys, and the header
// if the scope or counts changed, or this instance's claim is not written yet. r reads a
// ConfigMap back after a conflict. Concurrent calls run one after the other. Once a newer
// instance claimed the ledger, Flush writes nothing and returns ErrDeposed.
func (l *Ledger) Flush(ctx context.Context, c client.Client, r client.Reader) error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()

	if l.deposed.Load() {
		return fmt.Errorf("ledger %s: %w", l.base, ErrDeposed)
	}
	if !l.exists.Load() {
		return nil
	}
	err := errMerged
	for round := 0; round < mergeRounds && errors.Is(err, errMerged); round++ {
		err = l.flushOnce(ctx, c, r)
	}
	if errors.Is(err, errMerged) {
		return fmt.Errorf("ledger %s changed by another writer at each of %d attempts; will retry", l.base, mergeRounds)
	}
	if err != nil {
		return err
	}
	return l.retireOld(ctx, c, r)
}

// mergeRounds bounds the writes of one Flush that find what another writer stored and merge it.
const mergeRounds = 3

func (l *Ledger) flushOnce(ctx context.Context, c client.Client, r client.Reader) error {
	l.mu.Lock()
	h := header{Version: formatVersion, Scope: l.scope, Claim: l.claim, Windows: l.windows}
	if l.hasCounts {
		h.Counts = new(l.counts)
	}
	hdrDirty := l.hdrDirty || !l.claimed
	l.hdrDirty = false
	layout, bits := l.layout, l.bits
	l.mu.Unlock()

	err := l.flush(ctx, c, r, &h, hdrDirty, layout, bits)
	if err != nil && hdrDirty {
		l.mu.Lock()
		l.hdrDirty = true
		l.mu.Unlock()
	}
	return err
}

func (l *Ledger) flush(ctx context.Context, c client.Client, r client.Reader, h *header, hdrDirty bool, layout uint64, bits uint8) error {
	want := chooseBits(estimate(l.n.Load(), l.gone.Load()), bits)
	if layout == 0 || want != bits {
		return l.writeLayout(ctx, c, r, h, layout, bits, want)
	}
	h.Layout, h.Shards = layoutString(layout), 1<<bits
	shards := l.dirtyShards(bits)
	if bits == 0 {
		if len(shards) == 0 && !hdrDirty {
			return nil
		}
		raw := encodeShard(nil, layout, 0, 0, l.snapshot(0, 0))
		if len(raw) > maxBytes {
			l.markDirty(0, 0)
			return l.writeLayout(ctx, c, r, h, layout, bits, 1)
		}
		if err := l.writeBase(ctx, c, r, h, raw); err != nil {
			l.markDirty(0, 0)
			return err
		}
		return nil
	}
	if len(shards) > 0 {
		err := l.writeShards(ctx, c, r, layout, bits, shards, false)
		if errors.Is(err, errTooBig) {
			return l.writeLayout(ctx, c, r, h, layout, bits, bits+1)
		}
		if err != nil {
			return err
		}
	}
	if hdrDirty {
		if err := l.writeBase(ctx, c, r, h, nil); err != nil {
			return err
		}
	}
	return nil
}

// writeLayout writes the whole ledger as a new layout of 1<<bits shards (more if a shard turns
// out too big), then the header naming it, and queues the shards of the old layout for removal.
func (l *Ledger) writeLayout(ctx context.Context, c client.Client, r client.Reader, h *header, oldLayout uint64, oldBits, bits uint8) error {
	for {
		if bits > maxShardBits {
			l.markAllDirty()
			return fmt.Errorf("ledger %s needs more than %d shards of %d bytes: narrow the filter of its target or channel",
				l.base, 1<<maxShardBits, maxBytes)
		}
		id := newLayoutID()
		var inline []byte
		if bits == 0 {
			inline = encodeShard(nil, id, 0, 0, l.snapshot(0, 0))
			if len(inline) > maxBytes {
				l.markAllDirty()
				bits++
				continue
			}
		} else {
			all := make([]int, 1<<bits)
			for i := range all {
				all[i] = i
			}
			err := l.writeShards(ctx, c, r, id, bits, all, true)
			if errors.Is(err, errTooBig) {
				l.markAllDirty()
				bits++
				continue
			}
			if err != nil {
				l.markAllDirty()
				return err
			}
		}
		h.Layout, h.Shards = layoutString(id), 1<<bits
		if err := l.writeBase(ctx, c, r, h, inline); err != nil {
			l.markAllDirty()
			return err
		}
		l.mu.Lock()
		l.layout, l.bits = id, bits
		l.mu.Unlock()
		if oldLayout != 0 && oldBits > 0 {
			for i := range 1 << oldBits {
				l.retire = append(l.retire, shardRef{oldBits, i})
			}
		}
		return nil
	}
}

// dirtyShards returns the shards (of 1<<bits) with a changed bucket.
func (l *Ledger) dirtyShards(bits uint8) []int {
	var shards []int
	per := numBuckets >> bits
	for s := range 1 << bits {
		for i := s * per; i < (s+1)*per; i++ {
			b := &l.buckets[i]
			b.mu.Lock()
			d := b.dirty
			b.mu.Unlock()
			if d {
				shards = append(shards, s)
				break
			}
		}
	}
	return shards
}

// snapshot copies the entries of shard index of 1<<bits, one bucket at a time, and marks those
// buckets clean.
func (l *Ledger) snapshot(bits uint8, index int) []entry {
	per := numBuckets >> bits
	es := make([]entry, 0, int(l.n.Load()>>bits)*11/10+16)
	for i := index * per; i < (index+1)*per; i++ {
		b := &l.buckets[i]
		b.mu.Lock()
		b.dirty = false
		t := &b.t
		if t.zero {
			es = append(es, entry{0, t.zeroGone})
		}
		for j, m := range t.keys {
			if m != 0 {
				es = append(es, entry{m, t.gone[j]})
			}
		}
		b.mu.Unlock()
	}
	return es
}

// markDirty marks the buckets of shard index of 1<<bits changed, after a failed write.
func (l *Ledger) markDirty(bits uint8, index int) {
	per := numBuckets >> bits
	for i := index * per; i < (index+1)*per; i++ {
		b := &l.buckets[i]
		b.mu.Lock()
		b.dirty = true
		b.mu.Unlock()
	}
}

func (l *Ledger) markAllDirty() { l.markDirty(0, 0) }

// writeShards snapshots, encodes and writes the given shards of a layout, writers at a time.
// A shard that fails is marked dirty again; the first error is returned. With all (a new layout)
// every shard is encoded before any is written, so that a shard too big (errTooBig) costs no
// write; otherwise each shard is written once encoded, and a shard too big stops the rest.
func (l *Ledger) writeShards(ctx context.Context, c client.Client, r client.Reader, layout uint64, bits uint8, shards []int, all bool) error {
	var (
		emu   sync.Mutex
		first error
	)
	failed := func() bool {
		emu.Lock()
		defer emu.Unlock()
		return first != nil
	}
	fail := func(err error) {
		emu.Lock()
		defer emu.Unlock()
		if severity(err) > severity(first) {
			first = err
		}
	}
	encoded := make([][]byte, len(shards))
	encode := func(k int, buf []byte) []byte {
		i := shards[k]
		buf = encodeShard(buf, layout, bits, i, l.snapshot(bits, i))
		if len(buf) > maxBytes {
			fail(errTooBig)
			return nil
		}
		return buf
	}
	send := func(k int, raw []byte) {
		i := shards[k]
		cm := l.configMap(shardName(l.base.Name, bits, i))
		cm.Annotations = map[string]string{annotationBase: l.base.Name}
		cm.BinaryData = map[string][]byte{shardKey: raw}
		if err := l.write(ctx, c, r, cm); err != nil {
			fail(err)
		}
	}
	parallel(len(shards), func(k int, buf *[]byte) {
		if failed() {
			return
		}
		raw := encode(k, *buf)
		switch {
		case raw == nil:
		case all:
			encoded[k] = raw
		default:
			*buf = raw
			send(k, raw)
		}
	})
	if all && !failed() {
		parallel(len(shards), func(k int, _ *[]byte) {
			if !failed() {
				send(k, encoded[k])
			}
		})
	}
	if first != nil {
		// Not knowing which were written, and so as not to lose changes, mark them all.
		for _, i := range shards {
			l.markDirty(bits, i)
		}
	}
	return first
}

// severity ranks the errors of concurrent shard writes, to return the one that decides: being
// deposed stops everything, a shard too big means more shards, a merge means write again.
func severity(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrDeposed):
		return 4
	case errors.Is(err, errTooBig):
		return 3
	case errors.Is(err, errMerged):
		return 1
	}
	return 2
}

// parallel calls f for 0 to n-1, writers at a time; each worker has a reusable buffer.
func parallel(n int, f func(k int, buf *[]byte)) {
	var (
		wg   sync.WaitGroup
		next atomic.Int64
	)
	for range min(writers, n) {
		wg.Go(func() {
			var buf []byte
			for {
				k := int(next.Add(1) - 1)
				if k >= n {
					return
				}
				f(k, &buf)
			}
		})
	}
	wg.Wait()
}

// writeBase writes the base ConfigMap: the header, and the only shard when inline is not nil.
func (l *Ledger) writeBase(ctx context.Context, c client.Client, r client.Reader, h *header, inline []byte) error {
	cm := l.configMap(l.base.Name)
	cm.Data = map[string]string{headerKey: encodeHeader(h)}
	if inline != nil {
		cm.BinaryData = map[string][]byte{shardKey: inline}
	} else if h.Shards == 1 {
		return errors.New("a header of one shard without it") // a bug
	}
	if th := l.encodeThreads(); th != nil {
		if cm.BinaryData == nil {
			cm.BinaryData = map[string][]byte{}
		}
		cm.BinaryData[threadsKey] = th
	}
	if err := l.write(ctx, c, r, cm); err != nil {
		return err
	}
	l.mu.Lock()
	l.claimed, l.storedCounts = true, h.Counts.counts()
	l.mu.Unlock()
	return nil
}

func (l *Ledger) configMap(name string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
		Namespace:       l.base.Namespace,
		Name:            name,
		Labels:          map[string]string{LabelOwner: l.ownerID},
		OwnerReferences: []metav1.OwnerReference{l.owner},
	}}
}

// write replaces the ConfigMap cm (creating it if need be) with what cm holds, on condition
// that it is still as this ledger last read or wrote it; if another writer changed it since,
// see resolve.
func (l *Ledger) write(ctx context.Context, c client.Client, r client.Reader, cm *corev1.ConfigMap) error {
	rv := l.getRV(cm.Name)
	cm.ResourceVersion = rv
	var err error
	if rv != "" {
		err = c.Update(ctx, cm)
	} else {
		err = c.Create(ctx, cm)
	}
	if apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) || (rv != "" && apierrors.IsNotFound(err)) {
		err = l.resolve(ctx, c, r, cm)
	}
	if err != nil {
		return fmt.Errorf("writing ledger %s/%s: %w", cm.Namespace, cm.Name, err)
	}
	l.setStored(cm)
	return nil
}

// retireOld removes the shards of earlier layouts (except those of the current shard count,
// which the current layout has overwritten). Without permission to delete, it empties them.
// Deletes, like writes, are on condition that the shard is as this ledger last saw it.
func (l *Ledger) retireOld(ctx context.Context, c client.Client, r client.Reader) error {
	l.mu.Lock()
	cur := l.bits
	l.mu.Unlock()
	var keep []shardRef
	var first error
	for _, s := range l.retire {
		if s.bits == cur {
			continue
		}
		name := shardName(l.base.Name, s.bits, s.index)
		cm := l.configMap(name)
		err := l.delete(ctx, c, r, cm)
		if apierrors.IsForbidden(err) || apierrors.IsMethodNotSupported(err) {
			// Empty it instead (an update, if it is there at all).
			var current corev1.ConfigMap
			err = r.Get(ctx, client.ObjectKeyFromObject(cm), &current)
			if err == nil {
				if l.getRV(name) == "" {
					l.setRV(name, current.ResourceVersion)
				}
				err = l.write(ctx, c, r, cm)
			} else if apierrors.IsNotFound(err) {
				err = nil
			}
		} else if err == nil || apierrors.IsNotFound(err) {
			err = nil
			l.dropRV(name)
		}
		if errors.Is(err, ErrDeposed) {
			return err
		}
		if err != nil {
			keep = append(keep, s)
			if first == nil {
				first = fmt.Errorf("removing ledger shard %s/%s of an earlier layout: %w", l.base.Namespace, name, err)
			}
		}
	}
	l.retire = keep
	return first
}
