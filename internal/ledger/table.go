package ledger

import "math/bits"

// mix scrambles a key (the splitmix64 finalizer, a bijection on uint64), so that the bucket,
// shard and slot of a key are uniform whatever the keys are (FNV-64a, or counters in tests).
// mix(0) is 0.
func mix(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// unmix is the inverse of mix: the ledger stores mixed keys and gives callers their own back.
func unmix(z uint64) uint64 {
	z = z ^ (z >> 31) ^ (z >> 62)
	z *= inv94
	z = z ^ (z >> 27) ^ (z >> 54)
	z *= invBF
	return z ^ (z >> 30) ^ (z >> 60)
}

// inv94 and invBF are the multiplicative inverses (mod 2^64) of the constants of mix.
var inv94, invBF = inverse(0x94d049bb133111eb), inverse(0xbf58476d1ce4e5b9)

// inverse returns the multiplicative inverse of an odd a modulo 2^64 (Newton's iteration; each
// step doubles the correct low bits, from 3 for x = a).
func inverse(a uint64) uint64 {
	x := a
	for range 5 {
		x *= 2 - a*x
	}
	return x
}

// table is an open-addressing hash set of mixed keys with a gone time each: two parallel arrays
// (12 bytes a slot), linear probing, backward-shift deletion (no tombstones), grown by half when
// 85% full, so it holds a key in 14 to 21 bytes. Slot 0 of keys means empty; the key 0 itself is
// kept aside. Not safe for concurrent use: a bucket's mutex guards it.
type table struct {
	keys     []uint64
	gone     []uint32
	n        int // keys in slots (without the zero key)
	zero     bool
	zeroGone uint32
}

const (
	minSlots   = 8
	loadNum    = 85 // grow when more than loadNum/loadDen of the slots are used
	loadDen    = 100
	growNum    = 3 // and grow by growNum/growDen
	growDen    = 2
	bucketBits = 7 // the top bits of a mixed key select one of the buckets
)

// home is the first slot probed for m: the buckets already used the top bucketBits of m, the
// rest is spread over the slots by a multiply-shift (any table size, no modulo).
func (t *table) home(m uint64) int {
	hi, _ := bits.Mul64(m<<bucketBits, uint64(len(t.keys)))
	return int(hi)
}

func (t *table) len() int {
	if t.zero {
		return t.n + 1
	}
	return t.n
}

// find returns the slot of m and whether it is there; for a missing m the slot is where it
// would go. The table must have slots.
func (t *table) find(m uint64) (int, bool) {
	i := t.home(m)
	for {
		switch t.keys[i] {
		case m:
			return i, true
		case 0:
			return i, false
		}
		if i++; i == len(t.keys) {
			i = 0
		}
	}
}

func (t *table) has(m uint64) bool {
	if m == 0 {
		return t.zero
	}
	if t.n == 0 {
		return false
	}
	_, ok := t.find(m)
	return ok
}

// put records m with gone time g and tells whether m is new.
func (t *table) put(m uint64, g uint32) bool {
	if m == 0 {
		added := !t.zero
		t.zero, t.zeroGone = true, g
		return added
	}
	if (t.n+1)*loadDen > len(t.keys)*loadNum {
		t.resize(max(minSlots, len(t.keys)*growNum/growDen, (t.n+1)*loadDen/loadNum+1))
	}
	i, ok := t.find(m)
	t.gone[i] = g
	if ok {
		return false
	}
	t.keys[i] = m
	t.n++
	return true
}

// reserve makes room for n keys in all without growing again.
func (t *table) reserve(n int) {
	if need := n*loadDen/loadNum + 1; need > len(t.keys) {
		t.resize(max(minSlots, need))
	}
}

// resize moves the keys into size slots.
func (t *table) resize(size int) {
	keys, gone := t.keys, t.gone
	t.keys, t.gone = make([]uint64, size), make([]uint32, size)
	for i, m := range keys {
		if m != 0 {
			j, _ := t.find(m)
			t.keys[j], t.gone[j] = m, gone[i]
		}
	}
}

// deleteAt empties slot i and moves back the keys after it that could not take their home slot
// because of it, so that no probe sequence has a hole.
func (t *table) deleteAt(i int) {
	size := len(t.keys)
	j := i
	for {
		if j++; j == size {
			j = 0
		}
		m := t.keys[j]
		if m == 0 {
			break
		}
		h := t.home(m)
		// m stays when its home is cyclically in (i, j].
		if (i < j && i < h && h <= j) || (j < i && (i < h || h <= j)) {
			continue
		}
		t.keys[i], t.gone[i] = m, t.gone[j]
		i = j
	}
	t.keys[i], t.gone[i] = 0, 0
	t.n--
	if t.n == 0 {
		// Give the memory back when a bucket empties (a target or channel whose results all left).
		t.keys, t.gone = nil, nil
	}
}

// each calls f for every key and gone time. f may change the gone time of the current key
// through the returned value and delete it by returning del; nothing else may change t.
func (t *table) each(f func(m uint64, g uint32) (ng uint32, del bool)) {
	if t.zero {
		ng, del := f(0, t.zeroGone)
		t.zeroGone = ng
		if del {
			t.zero, t.zeroGone = false, 0
		}
	}
	// A deletion moves later keys back, possibly into the slot just visited (then visit it
	// again) or, wrapping around, into slots before the start: iterate from a slot that begins a
	// cluster (an empty one before it), so nothing wraps past the end unvisited or twice.
	size := len(t.keys)
	if t.n == 0 {
		return
	}
	start := 0
	for t.keys[start] != 0 {
		start++
	}
	for k := 1; k <= size; k++ {
		i := (start + k) % size
		for t.keys != nil && t.keys[i] != 0 {
			m := t.keys[i]
			ng, del := f(m, t.gone[i])
			if !del {
				t.gone[i] = ng
				break
			}
			t.deleteAt(i)
			// The slot now holds the next key of the cluster (or is empty): visit it too.
		}
		if t.keys == nil {
			return
		}
	}
}
