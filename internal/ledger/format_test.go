package ledger

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Pure in-memory and encoding tests: no API server.

func memLedger() *Ledger { return newLedger("ns", Name("nt", "nt1"), testOwner) }

func TestName(t *testing.T) {
	if got := Name("nt", "alerts"); got != "policy-herald-ledger-nt-alerts" {
		t.Errorf("Name = %q", got)
	}
	if got := Name("tc", strings.Repeat("a", 300)); len(got) != 253 {
		t.Errorf("len(Name) = %d, want 253", len(got))
	}
}

func TestShardName(t *testing.T) {
	if got := shardName(Name("nt", "alerts"), 5, 7); got != "policy-herald-ledger-shard-nt-alerts-32-7" {
		t.Errorf("shardName = %q", got)
	}
	// Distinct for every destination, shard count and index, and never a base name.
	seen := map[string]string{}
	for _, dest := range []string{"a", "a-2", "a-2-1", "a-4", "shard-nt-a", strings.Repeat("b", 240), strings.Repeat("b", 241), strings.Repeat("b", 300)} {
		for _, kind := range []string{"nt", "tc"} {
			base := Name(kind, dest)
			if prev, dup := seen[base]; dup {
				t.Fatalf("%s is both %s and base %s/%s", base, prev, kind, dest)
			}
			seen[base] = "base " + kind + "/" + dest
			for bits := uint8(1); bits <= maxShardBits; bits++ {
				for i := range 1 << bits {
					n := shardName(base, bits, i)
					if errs := validation.IsDNS1123Subdomain(n); len(errs) > 0 {
						t.Fatalf("%q: %v", n, errs)
					}
					if prev, dup := seen[n]; dup {
						t.Fatalf("%s is both %s and shard %s/%s %d/%d", n, prev, kind, dest, i, 1<<bits)
					}
					seen[n] = "a shard"
				}
			}
		}
	}
}

func TestMix(t *testing.T) {
	if inv94*0x94d049bb133111eb != 1 || invBF*0xbf58476d1ce4e5b9 != 1 {
		t.Fatal("bad inverses")
	}
	for _, k := range []uint64{0, 1, 2, 1 << 63, ^uint64(0), 0x0123456789abcdef} {
		if unmix(mix(k)) != k {
			t.Errorf("unmix(mix(%x)) = %x", k, unmix(mix(k)))
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 100_000 {
		k := r.Uint64()
		if unmix(mix(k)) != k {
			t.Fatalf("unmix(mix(%x)) = %x", k, unmix(mix(k)))
		}
	}
	if mix(0) != 0 {
		t.Error("mix(0) != 0")
	}
}

// TestTable checks the hash table against a map, through insertions, lookups, updates and
// deletions during iteration (the backward shifts), with clustered and random keys.
func TestTable(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for round := range 30 {
		var tb table
		ref := map[uint64]uint32{}
		n := r.IntN(5000)
		for i := range n {
			var m uint64
			switch round % 3 {
			case 0:
				m = r.Uint64()
			case 1:
				m = uint64(r.IntN(3 * n)) // small keys: all home in the first slots, long clusters
			default:
				m = uint64(i) << 57 // the same slot bits: one cluster
			}
			g := uint32(r.IntN(3))
			_, had := ref[m]
			if added := tb.put(m, g); added == had {
				t.Fatalf("put(%x) added=%v, had=%v", m, added, had)
			}
			ref[m] = g
		}
		check := func() {
			t.Helper()
			if tb.len() != len(ref) {
				t.Fatalf("len = %d, want %d", tb.len(), len(ref))
			}
			for m, g := range ref {
				if got, ok := tb.get(m); !ok || got != g {
					t.Fatalf("get(%x) = %d, %v; want %d", m, got, ok, g)
				}
			}
			for range 100 {
				m := r.Uint64()
				if _, in := ref[m]; tb.has(m) != in {
					t.Fatalf("has(%x) wrong", m)
				}
			}
		}
		check()
		// Delete about half, change the rest, each visited exactly once.
		before := len(ref)
		visited := map[uint64]int{}
		tb.each(func(m uint64, g uint32) (uint32, bool) {
			visited[m]++
			if r.IntN(2) == 0 {
				delete(ref, m)
				return g, true
			}
			ref[m] = g + 10
			return g + 10, false
		})
		for m, c := range visited {
			if c != 1 {
				t.Fatalf("%x visited %d times", m, c)
			}
		}
		if len(visited) != before {
			t.Fatalf("visited %d of %d keys", len(visited), before)
		}
		check()
		// And all of them.
		tb.each(func(m uint64, g uint32) (uint32, bool) { delete(ref, m); return 0, true })
		check()
		if tb.keys != nil {
			t.Error("an emptied table keeps its slots")
		}
	}
}

func TestAddHasLen(t *testing.T) {
	l := memLedger()
	if l.Exists() || l.Len() != 0 || l.Has(1) {
		t.Fatalf("a new ledger: exists=%v len=%d", l.Exists(), l.Len())
	}
	l.Add(1, 2)
	l.Add(2, 3) // 2 again: counted once
	l.Add()
	l.Add(0) // the zero key is a key like any other
	if l.Len() != 4 {
		t.Errorf("Len = %d, want 4", l.Len())
	}
	for _, k := range []uint64{0, 1, 2, 3} {
		if !l.Has(k) {
			t.Errorf("Has(%d) = false", k)
		}
	}
	if l.Has(4) || l.Has(^uint64(0)) {
		t.Error("Has of a key never added = true")
	}
	if !l.Exists() {
		t.Error("a ledger with keys must count as existing")
	}
}

// goneOf returns the gone time of key in l, failing if l forgot it.
func goneOf(t *testing.T, l *Ledger, k uint64) int64 {
	t.Helper()
	m := mix(k)
	b := l.bucket(m)
	b.mu.Lock()
	defer b.mu.Unlock()
	g, ok := b.t.get(m)
	if !ok {
		t.Fatalf("%d was forgotten", k)
	}
	return int64(g)
}

func TestSweep(t *testing.T) {
	const retention = time.Hour
	const stays, leaves, returns = 1, 2, 0
	t0 := time.Unix(1_700_000_000, 0)
	l := memLedger()
	l.Add(stays, leaves, returns)
	present := func(ks ...uint64) func(uint64) bool {
		return func(k uint64) bool { return slices.Contains(ks, k) }
	}

	// Present keys stay at 0; missing ones get the sweep time.
	l.Sweep(present(stays), t0, retention)
	if goneOf(t, l, stays) != 0 || goneOf(t, l, leaves) != t0.Unix() || goneOf(t, l, returns) != t0.Unix() {
		t.Fatal("after the first sweep")
	}
	if l.gone.Load() != 2 {
		t.Errorf("gone count = %d", l.gone.Load())
	}

	// Still missing later: the time it went missing is kept, not moved. One that comes back is
	// present again.
	t1 := t0.Add(10 * time.Minute)
	l.Sweep(present(stays, returns), t1, retention)
	if goneOf(t, l, leaves) != t0.Unix() {
		t.Errorf("leaves = %d, want the first time it was seen missing (%d)", goneOf(t, l, leaves), t0.Unix())
	}
	if goneOf(t, l, returns) != 0 {
		t.Errorf("returns = %d, want 0: it is present again", goneOf(t, l, returns))
	}

	// Missing for exactly the retention: still remembered.
	l.Sweep(present(stays, returns), t0.Add(retention), retention)
	if !l.Has(leaves) {
		t.Fatal("a key missing for exactly the retention was forgotten")
	}

	// Missing for longer than the retention: forgotten; the others stay.
	l.Sweep(present(stays, returns), t0.Add(retention+time.Second), retention)
	if l.Has(leaves) {
		t.Error("a key missing for longer than the retention is still remembered")
	}
	if !l.Has(stays) || !l.Has(returns) || l.Len() != 2 || l.gone.Load() != 0 {
		t.Errorf("after forgetting: len %d, gone %d", l.Len(), l.gone.Load())
	}

	// The one that came back and leaves again starts a new retention from then.
	t2 := t0.Add(2 * retention)
	l.Sweep(present(stays), t2, retention)
	if goneOf(t, l, returns) != t2.Unix() {
		t.Errorf("returns = %d, want %d", goneOf(t, l, returns), t2.Unix())
	}
	l.Sweep(present(stays), t2.Add(retention-time.Second), retention)
	if !l.Has(returns) {
		t.Error("the retention must restart when a key leaves again")
	}
}

// TestSweepMany forgets most of many keys: the counts and the tables stay consistent.
func TestSweepMany(t *testing.T) {
	l := memLedger()
	ks := keys("r", 50_000)
	l.Add(ks...)
	keep := map[uint64]bool{}
	for _, k := range ks[:1000] {
		keep[k] = true
	}
	t0 := time.Unix(1_700_000_000, 0)
	l.Sweep(func(k uint64) bool { return keep[k] }, t0, time.Minute)
	if l.Len() != 50_000 || l.gone.Load() != 49_000 {
		t.Fatalf("len %d gone %d", l.Len(), l.gone.Load())
	}
	l.Sweep(func(k uint64) bool { return keep[k] }, t0.Add(time.Hour), time.Minute)
	if l.Len() != 1000 || l.gone.Load() != 0 {
		t.Fatalf("len %d gone %d", l.Len(), l.gone.Load())
	}
	for i, k := range ks {
		if l.Has(k) != (i < 1000) {
			t.Fatalf("Has(key %d) = %v", i, l.Has(k))
		}
	}
}

func entriesOf(t *testing.T, raw []byte, layout uint64, bits uint8, index int) []entry {
	t.Helper()
	out, err := decodeShard(raw, layout, bits, index)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestShardRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, bits := range []uint8{0, 1, 5, 7} {
		for _, n := range []int{0, 1, 2, 1000} {
			index := int(r.Uint64() >> (64 - bits))
			if bits == 0 {
				index = 0
			}
			lo := shardBase(bits, index)
			var es []entry
			seen := map[uint64]bool{}
			for len(es) < n {
				m := lo | (r.Uint64() >> bits)
				if len(es) == 0 {
					m = lo // the lowest key of the shard: a first delta of 0
				}
				if len(es) == 1 {
					m = lo | (^uint64(0) >> bits) // and the highest
				}
				if seen[m] {
					continue
				}
				seen[m] = true
				var g uint32
				if r.IntN(3) == 0 {
					g = 1_700_000_000 + uint32(r.IntN(5))
				}
				es = append(es, entry{m, g})
			}
			want := slices.Clone(es)
			raw := encodeShard(nil, 42, bits, index, es)
			got := entriesOf(t, raw, 42, bits, index)
			slices.SortFunc(want, func(a, b entry) int {
				if a.m < b.m {
					return -1
				}
				return 1
			})
			if !slices.Equal(got, want) {
				t.Fatalf("bits %d n %d: round trip differs", bits, n)
			}
		}
	}
}

func TestShardRejectsDamage(t *testing.T) {
	es := []entry{{mix(1), 0}, {mix(2), 1_700_000_000}, {mix(3), 0}}
	// All three in shard 0 of one shard.
	raw := encodeShard(nil, 7, 0, 0, slices.Clone(es))
	if got := entriesOf(t, raw, 7, 0, 0); len(got) != 3 {
		t.Fatal(got)
	}
	flipped := slices.Clone(raw)
	flipped[len(flipped)/2] ^= 1
	other := slices.Clone(raw)
	other[0] = 'X'
	for name, c := range map[string]struct {
		raw    []byte
		layout uint64
		bits   uint8
	}{
		"empty":            {nil, 7, 0},
		"garbage":          {[]byte("definitely not a shard"), 7, 0},
		"truncated":        {raw[:len(raw)-1], 7, 0},
		"cut in the keys":  {raw[:20], 7, 0},
		"a flipped bit":    {flipped, 7, 0},
		"bad magic":        {other, 7, 0},
		"another layout":   {raw, 8, 0},
		"another shard nr": {raw, 7, 1},
	} {
		if _, err := decodeShard(c.raw, c.layout, c.bits, 0); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
	// A shard of 2 stored at index 1 is not index 0.
	raw1 := encodeShard(nil, 7, 1, 1, nil)
	if _, err := decodeShard(raw1, 7, 1, 0); err == nil {
		t.Error("shard 1 decoded as shard 0")
	}
}

// TestShardSize checks the bytes a key takes at 1,000,000 keys in 32 shards.
func TestShardSize(t *testing.T) {
	l := memLedger()
	l.Add(keys("r", 1_000_000)...)
	raw := encodeShard(nil, 1, 5, 3, l.snapshot(5, 3))
	perKey := float64(len(raw)) / float64(l.Len()/32)
	t.Logf("shard 3 of 32 at 1M keys: %d bytes, %.2f bytes a key", len(raw), perKey)
	if perKey > 7.5 || len(raw) > int(growAt) {
		t.Errorf("%.2f bytes a key, %d bytes", perKey, len(raw))
	}
	if est := estimate(int64(l.Len()), 0) >> 5; est < int64(len(raw))*9/10 {
		t.Errorf("the estimate (%d) is well below the size (%d)", est, len(raw))
	}
}

func TestChooseBits(t *testing.T) {
	for _, c := range []struct {
		est  int64
		bits uint8
		want uint8
	}{
		{0, 0, 0}, {growAt, 0, 0}, {growAt + 1, 0, 1}, {7_000_000, 0, 5}, {7_000_000, 5, 5},
		{2 * shrinkAt, 1, 1}, {2*shrinkAt - 1, 1, 0}, {7_000_000, 7, 6}, {1 << 40, 0, maxShardBits},
		{100 * shrinkAt, 6, 6}, {0, 7, 0},
	} {
		if got := chooseBits(c.est, c.bits); got != c.want {
			t.Errorf("chooseBits(%d, %d) = %d, want %d", c.est, c.bits, got, c.want)
		}
	}
}

func TestHeaderRoundTrip(t *testing.T) {
	h := header{Version: 2, Scope: `sha256:"x"`, Counts: &Counts{Sent: 3, Failed: 4, Dropped: 5}, Layout: layoutString(0xabc), Shards: 8}
	got, id, bits, err := decodeHeader(encodeHeader(&h))
	if err != nil || id != 0xabc || bits != 3 || got.Scope != h.Scope || *got.Counts != *h.Counts {
		t.Fatalf("%+v %x %d %v", got, id, bits, err)
	}
	for _, bad := range []string{"", "{", `{"version":1,"layout":"1","shards":1}`, `{"version":2,"layout":"0","shards":1}`,
		`{"version":2,"layout":"zz","shards":1}`, `{"version":2,"layout":"1","shards":3}`, `{"version":2,"layout":"1","shards":256}`} {
		if _, _, _, err := decodeHeader(bad); err == nil {
			t.Errorf("decodeHeader(%s) succeeded", bad)
		}
	}
}

func TestCounts(t *testing.T) {
	l := memLedger()
	if _, ok := l.Counts(); ok {
		t.Error("a new ledger has counts")
	}
	l.AddCounts(Counts{Sent: 2, Failed: 1})
	l.AddCounts(Counts{Sent: 3, Failed: 0})
	if c, ok := l.Counts(); !ok || c != (Counts{Sent: 5, Failed: 1}) {
		t.Errorf("Counts = %+v, %v", c, ok)
	}
}
