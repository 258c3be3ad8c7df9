package ledger

// Threads: where a chat destination put each delivered result (the id of the message holding
// it, for Slack's Web API its channel and ts), so that the notice of the result's resolution
// can answer in that message's thread, also after a restart or a failover.
//
// The map is small and bounded: at most MaxThreads entries, each a result key and a thread id
// of at most MaxThreadID bytes, stored in the base ConfigMap under BinaryData[threads.bin] as
// 9 bytes plus the id a entry (38 bytes for a Slack channel and ts; at most 233,472 bytes in
// all, so the base ConfigMap stays under the API server's 1 MiB next to an inline shard of at
// most MaxBytes). Beyond the bound the oldest entries are forgotten: the resolution of those
// results is announced in a message of its own, unthreaded. An entry leaves when its result's
// resolution takes it (TakeThreads), or when the ledger forgets its key (Sweep).
//
// It is written with the header (a change makes the header dirty) and merged like the rest
// under the ledger's fencing: a write that meets another writer's base ConfigMap keeps the
// entries this instance lacks. A damaged threads.bin is ignored (the notices go unthreaded);
// it never makes the ledger start over.

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"slices"
	"sync"
)

const (
	// MaxThreads bounds the thread ids a ledger keeps.
	MaxThreads = 4096
	// MaxThreadID bounds a thread id's bytes; a longer one is not kept.
	MaxThreadID = 48
	// threadsKey is the base ConfigMap's BinaryData key of the threads.
	threadsKey = "threads.bin"
	// threadsVersion is the first byte of threads.bin.
	threadsVersion = 1
)

// threads is a ledger's map from result key to thread id, oldest first.
type threads struct {
	mu  sync.Mutex
	ids map[uint64]threadEntry
	// order holds keys as set, oldest first; an item whose seq is not its key's current one is
	// stale (taken, or set again since) and skipped.
	order []threadRef
	refs  map[string]int // thread id → its keys in ids
	seq   uint64
}

type threadEntry struct {
	id  string
	seq uint64
}

type threadRef struct {
	key uint64
	seq uint64
}

// SetThread records that the result key was delivered in thread id. An empty id, or one
// longer than MaxThreadID, is not kept.
func (l *Ledger) SetThread(key uint64, id string) {
	if id == "" || len(id) > MaxThreadID {
		return
	}
	th := &l.th
	th.mu.Lock()
	if e, ok := th.ids[key]; ok && e.id == id {
		th.mu.Unlock()
		return
	}
	th.set(key, id)
	th.mu.Unlock()
	l.threadsChanged()
}

// Thread returns the thread id of result key, if kept.
func (l *Ledger) Thread(key uint64) (string, bool) {
	l.th.mu.Lock()
	defer l.th.mu.Unlock()
	e, ok := l.th.ids[key]
	return e.id, ok
}

// Threads returns how many thread ids the ledger keeps.
func (l *Ledger) Threads() int {
	l.th.mu.Lock()
	defer l.th.mu.Unlock()
	return len(l.th.ids)
}

// TakeThreads removes the thread ids of keys and returns them by key (nil when none is kept),
// with, for each thread id returned, whether no other result is left in that thread.
func (l *Ledger) TakeThreads(keys []uint64) (ids map[uint64]string, closed map[string]bool) {
	th := &l.th
	th.mu.Lock()
	for _, k := range keys {
		e, ok := th.ids[k]
		if !ok {
			continue
		}
		if ids == nil {
			ids, closed = map[uint64]string{}, map[string]bool{}
		}
		ids[k] = e.id
		th.remove(k, e.id)
	}
	for _, id := range ids {
		closed[id] = th.refs[id] == 0
	}
	th.mu.Unlock()
	if ids != nil {
		l.threadsChanged()
	}
	return ids, closed
}

// threadsChanged makes the next Flush write the base ConfigMap, which holds the threads.
func (l *Ledger) threadsChanged() {
	l.mu.Lock()
	l.hdrDirty = true
	l.mu.Unlock()
}

// sweepThreads drops the thread ids of keys the ledger forgot.
func (l *Ledger) sweepThreads() {
	th := &l.th
	th.mu.Lock()
	var gone bool
	for k, e := range th.ids {
		if !l.Has(k) {
			th.remove(k, e.id)
			gone = true
		}
	}
	th.mu.Unlock()
	if gone {
		l.threadsChanged()
	}
}

// set records key in thread id as the newest entry, forgetting the oldest beyond MaxThreads.
// The caller holds th.mu.
func (th *threads) set(key uint64, id string) {
	if th.ids == nil {
		th.ids, th.refs = map[uint64]threadEntry{}, map[string]int{}
	}
	if e, ok := th.ids[key]; ok {
		th.remove(key, e.id)
	}
	th.seq++
	th.ids[key] = threadEntry{id: id, seq: th.seq}
	th.refs[id]++
	th.order = append(th.order, threadRef{key, th.seq})
	for len(th.ids) > MaxThreads {
		r := th.order[0]
		th.order = th.order[1:]
		if e, ok := th.ids[r.key]; ok && e.seq == r.seq {
			th.remove(r.key, e.id)
		}
	}
	if len(th.order) > 2*MaxThreads {
		th.compact()
	}
}

// remove forgets key, in thread id. The caller holds th.mu.
func (th *threads) remove(key uint64, id string) {
	delete(th.ids, key)
	if th.refs[id]--; th.refs[id] <= 0 {
		delete(th.refs, id)
	}
}

// compact drops the stale items of order. The caller holds th.mu.
func (th *threads) compact() {
	th.order = slices.DeleteFunc(th.order, func(r threadRef) bool {
		e, ok := th.ids[r.key]
		return !ok || e.seq != r.seq
	})
}

// entries returns the entries, oldest first. The caller holds th.mu.
func (th *threads) entries() []threadRef {
	th.compact()
	return slices.Clone(th.order)
}

// encodeThreads is threads.bin: a version byte, then per entry, oldest first, the key (8 bytes,
// big-endian), the id's length (1 byte) and the id, then the CRC-32 (IEEE) of all before. Nil
// when no thread id is kept.
func (l *Ledger) encodeThreads() []byte {
	th := &l.th
	th.mu.Lock()
	defer th.mu.Unlock()
	if len(th.ids) == 0 {
		return nil
	}
	out := make([]byte, 1, 1+len(th.ids)*(9+20)+4)
	out[0] = threadsVersion
	for _, r := range th.entries() {
		id := th.ids[r.key].id
		out = binary.BigEndian.AppendUint64(out, r.key)
		out = append(out, byte(len(id)))
		out = append(out, id...)
	}
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(out))
}

// decodeThreads reads threads.bin: its entries, oldest first.
func decodeThreads(raw []byte) ([]threadRef, []string, error) {
	if len(raw) < 5 {
		return nil, nil, errors.New("threads: too short")
	}
	body := raw[:len(raw)-4]
	if crc32.ChecksumIEEE(body) != binary.BigEndian.Uint32(raw[len(raw)-4:]) {
		return nil, nil, errors.New("threads: checksum mismatch")
	}
	if body[0] != threadsVersion {
		return nil, nil, errors.New("threads: unknown version")
	}
	var refs []threadRef
	var ids []string
	for p := body[1:]; len(p) > 0; {
		if len(p) < 9 || len(p) < 9+int(p[8]) {
			return nil, nil, errors.New("threads: truncated entry")
		}
		n := int(p[8])
		refs = append(refs, threadRef{key: binary.BigEndian.Uint64(p)})
		ids = append(ids, string(p[9:9+n]))
		p = p[9+n:]
	}
	return refs, ids, nil
}

// loadThreads takes the stored threads of a loaded ledger; damaged ones are ignored.
func (l *Ledger) loadThreads(raw []byte) {
	l.mergeThreads(raw)
}

// mergeThreads takes the stored entries this instance lacks (another writer's), as older than
// its own; it tells whether it took any. Damaged ones are ignored.
func (l *Ledger) mergeThreads(raw []byte) bool {
	if len(raw) == 0 {
		return false
	}
	refs, ids, err := decodeThreads(raw)
	if err != nil {
		return false
	}
	th := &l.th
	th.mu.Lock()
	defer th.mu.Unlock()
	mine := th.entries()
	var taken bool
	old := &threads{}
	for i, r := range refs {
		if _, ok := th.ids[r.key]; ok || ids[i] == "" || len(ids[i]) > MaxThreadID {
			continue
		}
		old.set(r.key, ids[i])
		taken = true
	}
	if !taken {
		return false
	}
	// Theirs first, then this instance's own in their order: the bound drops the oldest.
	for _, r := range mine {
		old.set(r.key, th.ids[r.key].id)
	}
	th.ids, th.order, th.refs, th.seq = old.ids, old.order, old.refs, old.seq
	return true
}
