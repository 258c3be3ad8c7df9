package ledger

// Fencing: a leader that lost its lease may still write (its final flush, or a write delayed
// until after the new leader started), and must not replace what the new leader wrote.
//
// Every write and delete is conditional on the resourceVersion this instance last read or
// wrote (a create, on the ConfigMap not existing), so a write never replaces one it has not
// seen. Each instance claims the ledger with one more than the claim of the header it loaded,
// and its first write puts its claim in the header (the delivery engine sends nothing before
// that write). A write that finds its ConfigMap changed (or created, or deleted) by another
// writer reads the header:
//
//   - a greater claim there means a newer instance took over: this one is deposed; the write
//     is refused (ErrDeposed) and so is every later one, without any request;
//   - otherwise the other writer is an older instance whose write landed late (or one that
//     cannot be ordered: two that both loaded no ledger), and this one merges what it stored:
//     keys are a set (union; this instance's gone times win), counts add up (what the other
//     stored, minus what this one last read or wrote), then writes again. A shard of another
//     layout than this instance's or the header's holds nothing to merge: it is overwritten.

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ErrDeposed is returned by Flush once a newer instance (the next leader) claimed the ledger:
// this one does not write it any more.
var ErrDeposed = errors.New("a newer leader took the ledger over: this replica's writes are refused")

// errMerged says a write found what another writer stored and merged it into memory: the
// write is made again with the merged content.
var errMerged = errors.New("merged another writer's ledger")

// resolve handles a write of cm that found it changed by another writer since this instance
// last read or wrote it.
func (l *Ledger) resolve(ctx context.Context, c client.Client, r client.Reader, cm *corev1.ConfigMap) error {
	base, err := l.fence(ctx, r)
	if err != nil {
		return err
	}
	cur := base
	if cm.Name != l.base.Name || cur == nil {
		cur = &corev1.ConfigMap{}
		if err := r.Get(ctx, client.ObjectKeyFromObject(cm), cur); apierrors.IsNotFound(err) {
			cur = nil
		} else if err != nil {
			return err
		}
	}
	if cur == nil {
		// Deleted (by hand, or with an earlier object of the same name): write it anew.
		l.dropRV(cm.Name)
		cm.ResourceVersion = ""
		return c.Create(ctx, cm)
	}
	merged, err := l.merge(ctx, r, cur, base)
	if err != nil {
		return err
	}
	l.setStored(cur)
	if merged {
		return errMerged
	}
	cm.ResourceVersion = cur.ResourceVersion
	return c.Update(ctx, cm)
}

// fence reads the base ConfigMap (nil if there is none) and returns ErrDeposed if a newer
// instance claimed the ledger.
func (l *Ledger) fence(ctx context.Context, r client.Reader) (*corev1.ConfigMap, error) {
	var base corev1.ConfigMap
	if err := r.Get(ctx, l.base, &base); apierrors.IsNotFound(err) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	if !ownedBy(&base, l.owner) {
		return &base, nil
	}
	if claim := storedClaim(base.Data[headerKey]); claim > l.claim {
		l.deposed.Store(true)
		return nil, fmt.Errorf("%w (its claim %d, this replica's %d)", ErrDeposed, claim, l.claim)
	}
	return &base, nil
}

// merge takes into memory what another writer stored in cur (the base ConfigMap being base):
// the keys this instance lacks, and for the base the counts the other added. It tells whether
// what this instance writes must be made again.
func (l *Ledger) merge(ctx context.Context, r client.Reader, cur, base *corev1.ConfigMap) (bool, error) {
	if !ownedBy(cur, l.owner) {
		return false, nil // another object's: nothing to keep
	}
	if cur.Name == l.base.Name {
		return true, l.mergeBase(ctx, r, cur)
	}
	l.mu.Lock()
	mine := l.layout
	l.mu.Unlock()
	var stored uint64
	if base != nil && ownedBy(base, l.owner) {
		_, stored, _, _ = decodeHeader(base.Data[headerKey])
	}
	raw := cur.BinaryData[shardKey]
	layout, bits, index, ok := shardID(raw)
	if !ok || (layout != mine && layout != stored) || shardName(l.base.Name, bits, index) != cur.Name {
		return false, nil // a stale shard of an abandoned layout
	}
	es, err := decodeShard(raw, layout, bits, index)
	if err != nil {
		return false, nil // damaged: nothing to keep
	}
	return l.absorb(es) > 0, nil
}

// mergeBase merges the base ConfigMap another writer stored: its counts, its thread ids, and its keys (the
// inline shard, or every shard of its layout when that is not this instance's). The header is
// written again in any case.
func (l *Ledger) mergeBase(ctx context.Context, r client.Reader, cur *corev1.ConfigMap) error {
	h, layout, bits, err := decodeHeader(cur.Data[headerKey])
	l.mu.Lock()
	if err == nil {
		other := h.Counts.counts()
		l.counts.add(other, l.storedCounts)
		l.hasCounts = l.hasCounts || h.Counts != nil
		l.storedCounts = other
		l.mergeWindows(h.Windows)
	}
	mine := l.layout
	l.hdrDirty = true
	l.mu.Unlock()
	l.mergeThreads(cur.BinaryData[threadsKey])
	switch {
	case err != nil:
		return nil // unreadable: nothing to keep
	case bits == 0:
		if es, err := decodeShard(cur.BinaryData[shardKey], layout, 0, 0); err == nil {
			l.absorb(es)
		}
		return nil
	case layout == mine:
		return nil // its shards are ours: a write that meets another's change merges it then
	}
	for i := range 1 << bits {
		if err := l.mergeShard(ctx, r, layout, bits, i); err != nil {
			return err
		}
		l.retire = append(l.retire, shardRef{bits, i})
	}
	return nil
}

// mergeShard reads shard i of another writer's layout and takes the keys this instance lacks.
func (l *Ledger) mergeShard(ctx context.Context, r client.Reader, layout uint64, bits uint8, i int) error {
	var cm corev1.ConfigMap
	err := r.Get(ctx, client.ObjectKey{Namespace: l.base.Namespace, Name: shardName(l.base.Name, bits, i)}, &cm)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	l.setStored(&cm)
	if es, err := decodeShard(cm.BinaryData[shardKey], layout, bits, i); err == nil && ownedBy(&cm, l.owner) {
		l.absorb(es)
	}
	return nil
}

// absorb adds the entries this instance does not have (what another writer recorded), with
// their gone times, and returns how many.
func (l *Ledger) absorb(es []entry) int {
	var added, gone int64
	for _, e := range es {
		b := l.bucket(e.m)
		b.mu.Lock()
		if !b.t.has(e.m) {
			b.t.put(e.m, e.g)
			b.dirty = true
			added++
			if e.g != 0 {
				gone++
			}
		}
		b.mu.Unlock()
	}
	l.n.Add(added)
	l.gone.Add(gone)
	if added > 0 {
		l.exists.Store(true)
	}
	return int(added)
}

// delete deletes cm on condition that it is as this instance last read or wrote it; if another
// writer changed it since, it is deleted anyway unless a newer instance claimed the ledger.
func (l *Ledger) delete(ctx context.Context, c client.Client, r client.Reader, cm *corev1.ConfigMap) error {
	rv := l.getRV(cm.Name)
	if rv == "" {
		return c.Delete(ctx, cm)
	}
	err := c.Delete(ctx, cm, client.Preconditions{ResourceVersion: &rv})
	if !apierrors.IsConflict(err) {
		return err
	}
	if _, err := l.fence(ctx, r); err != nil {
		return err
	}
	return c.Delete(ctx, cm)
}
