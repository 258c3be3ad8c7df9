package ledger

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// Two ledgers of one destination on the test API server stand for two replicas: the old leader
// (loaded first) and the new one (loaded after it took over).

// keyIn returns a key of shard index of 1<<bits.
func keyIn(bits uint8, index int, prefix string) uint64 {
	for i := 0; ; i++ {
		k := key(fmt.Sprintf("%s%d", prefix, i))
		if bits == 0 || int(mix(k)>>(64-bits)) == index {
			return k
		}
	}
}

// shardOf returns the bits of the stored layout and the shard index of k in it.
func (e *testEnv) shardOf(t *testing.T, k uint64) (uint8, int) {
	t.Helper()
	_, h := e.base(t)
	bits := uint8(0)
	for 1<<bits < h.Shards {
		bits++
	}
	if bits == 0 {
		return 0, 0
	}
	return bits, int(mix(k) >> (64 - bits))
}

// sizes are the ledger sizes the fencing tests run with: one ConfigMap, and sharded.
var sizes = []struct {
	name string
	keys int
}{{"inline", 10}, {"sharded", 100_000}}

// Defect (issue 18, 9): the final flush of a leader that lost its lease replaced what the new
// leader had written since. Now the deposed ledger's write is refused, it says so, and it does
// not try again.
func TestDeposedLeaderCannotOverwrite(t *testing.T) {
	for _, size := range sizes {
		t.Run(size.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			old := e.load(t)
			base := keys("base-", size.keys)
			old.Add(base...)
			old.AddCounts(Counts{Sent: int64(size.keys)})
			e.flush(t, old)

			// The new leader loads and writes.
			cur := e.load(t)
			mine := key("new leader")
			cur.Add(mine)
			cur.AddCounts(Counts{Sent: 1})
			e.flush(t, cur)

			// The old one flushes a change of the shard the new leader wrote.
			bits, index := e.shardOf(t, mine)
			late := keyIn(bits, index, "old leader ")
			old.Add(late)
			err := old.Flush(ctx, e.c, e.c)
			if !errors.Is(err, ErrDeposed) {
				t.Fatalf("the deposed leader's Flush returned %v, want ErrDeposed", err)
			}
			l := e.load(t)
			if !l.Has(mine) || !hasAll(l, base...) || l.Has(late) {
				t.Errorf("stored: new leader's key %v, base %v, the deposed one's %v", l.Has(mine), hasAll(l, base...), l.Has(late))
			}
			if c, _ := l.Counts(); c.Sent != int64(size.keys)+1 {
				t.Errorf("stored counts %+v, want the new leader's", c)
			}

			// Refused for good: later flushes, counts and all, write nothing.
			e.w.reset()
			old.Add(key("later"))
			old.AddCounts(Counts{Sent: 5})
			if err := old.Flush(ctx, e.c, e.c); !errors.Is(err, ErrDeposed) || e.w.total() != 0 {
				t.Errorf("a later Flush: %v after %d writes, want ErrDeposed and none", err, e.w.total())
			}

			// The new leader goes on.
			cur.Add(key("next"))
			e.flush(t, cur)
			if l := e.load(t); !hasAll(l, mine, key("next")) || l.Len() != size.keys+2 {
				t.Errorf("after the new leader's next write: len %d", l.Len())
			}
		})
	}
}

// The deposed leader's header write (counts only) is refused as well.
func TestDeposedLeaderCannotOverwriteTheHeader(t *testing.T) {
	e := newEnv(t)
	old := e.load(t)
	old.Add(keys("base-", 100_000)...)
	e.flush(t, old)
	cur := e.load(t)
	cur.SetScope("new scope")
	cur.AddCounts(Counts{Sent: 1})
	e.flush(t, cur)

	old.AddCounts(Counts{Sent: 7})
	if err := old.Flush(context.Background(), e.c, e.c); !errors.Is(err, ErrDeposed) {
		t.Fatalf("Flush = %v, want ErrDeposed", err)
	}
	if _, h := e.base(t); h.Scope != "new scope" || h.Counts == nil || h.Counts.Sent != 1 {
		t.Errorf("stored header %+v, want the new leader's", h)
	}
}

// The new leader reshards: the deposed one neither recreates the shards the new layout retired
// nor replaces those it created.
func TestDeposedLeaderAfterAReshard(t *testing.T) {
	for _, tc := range []struct {
		name string
		more int // keys the deposed ledger adds: one into a retired shard, or enough to reshard too
	}{{"into a retired shard", 1}, {"resharding too", 100_000}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			old := e.load(t)
			a := keys("a", 100_000) // two shards
			old.Add(a...)
			e.flush(t, old)
			_, h0 := e.base(t)

			cur := e.load(t)
			b := keys("b", 100_000) // four
			cur.Add(b...)
			e.flush(t, cur)
			h1, _ := e.shardsOf(t)
			if h1.Shards <= h0.Shards {
				t.Fatalf("no reshard: %d shards, then %d", h0.Shards, h1.Shards)
			}

			old.Add(keys("c", tc.more)...)
			if err := old.Flush(context.Background(), e.c, e.c); !errors.Is(err, ErrDeposed) {
				t.Fatalf("Flush = %v, want ErrDeposed", err)
			}
			if h2, _ := e.shardsOf(t); h2.Layout != h1.Layout || h2.Shards != h1.Shards { // and no stale shard recreated
				t.Errorf("stored header %+v, want the new leader's %+v", h2, h1)
			}
			if l := e.load(t); l.Len() != len(a)+len(b) || !hasAll(l, b...) {
				t.Errorf("stored len %d, want the new leader's %d", l.Len(), len(a)+len(b))
			}
		})
	}
}

// Defect (issue 18, 9), the other way round: the old leader's final flush lands after the new
// leader loaded, before it wrote. The new leader keeps what the old one recorded (the keys are
// a set; the counts add up) instead of replacing it.
func TestNewLeaderKeepsALateFlushOfTheOldOne(t *testing.T) {
	for _, size := range sizes {
		t.Run(size.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			old := e.load(t)
			base := keys("base-", size.keys)
			old.Add(base...)
			old.AddCounts(Counts{Sent: int64(size.keys)})
			e.flush(t, old)

			cur := e.load(t)
			late := key("late")
			old.Add(late)
			old.AddCounts(Counts{Sent: 1})
			e.flush(t, old) // before the new leader's first write: nothing of it to lose

			mine := key("mine")
			cur.Add(mine)
			cur.AddCounts(Counts{Sent: 1, Failed: 1})
			e.flush(t, cur)
			l := e.load(t)
			if !hasAll(l, base...) || !hasAll(l, late, mine) || l.Len() != size.keys+2 {
				t.Errorf("stored len %d: the old leader's late key %v, the new leader's %v", l.Len(), l.Has(late), l.Has(mine))
			}
			if c, _ := l.Counts(); c != (Counts{Sent: int64(size.keys) + 2, Failed: 1}) {
				t.Errorf("stored counts %+v, want both leaders' deliveries", c)
			}
			if c, _ := cur.Counts(); c != (Counts{Sent: int64(size.keys) + 2, Failed: 1}) {
				t.Errorf("the new leader's counts %+v", c)
			}

			// Once the new leader wrote, the old one is deposed.
			old.AddCounts(Counts{Sent: 1})
			if err := old.Flush(ctx, e.c, e.c); !errors.Is(err, ErrDeposed) {
				t.Errorf("the old leader's next Flush = %v, want ErrDeposed", err)
			}
		})
	}
}

// The old leader writes a shard the new leader has not written since it took over (so the write
// goes through: it replaces nothing of the new leader's); when the new leader writes that shard,
// it keeps the old one's keys.
func TestNewLeaderKeepsALateShardOfTheOldOne(t *testing.T) {
	e := newEnv(t)
	old := e.load(t)
	base := keys("base-", 100_000)
	old.Add(base...)
	e.flush(t, old)
	cur := e.load(t)
	cur.AddCounts(Counts{Sent: 1})
	e.flush(t, cur) // the new leader's first write: the header only

	bits, index := e.shardOf(t, base[0])
	late := keyIn(bits, index, "late ")
	old.Add(late)
	e.flush(t, old)
	mine := keyIn(bits, index, "mine ")
	cur.Add(mine)
	e.flush(t, cur)
	if l := e.load(t); !hasAll(l, late, mine) || !hasAll(l, base...) {
		t.Errorf("stored: the old leader's key %v, the new leader's %v", l.Has(late), l.Has(mine))
	}
	if !cur.Has(late) {
		t.Error("the new leader does not know the key it merged")
	}
}

// Two ledgers that started from nothing stored (a new destination around a failover) cannot
// be ordered: the second writer keeps the first one's keys.
func TestTwoNewLedgersMerge(t *testing.T) {
	for _, size := range sizes {
		t.Run(size.name, func(t *testing.T) {
			e := newEnv(t)
			a, b := e.load(t), e.load(t)
			ka, kb := keys("a", size.keys), keys("b", size.keys)
			a.Add(ka...)
			a.AddCounts(Counts{Sent: 2})
			e.flush(t, a)
			b.Add(kb...)
			b.AddCounts(Counts{Sent: 3})
			e.flush(t, b)
			l := e.load(t)
			if l.Len() != 2*size.keys || !hasAll(l, ka...) || !hasAll(l, kb...) {
				t.Errorf("stored len %d, want both ledgers' %d keys", l.Len(), 2*size.keys)
			}
			if c, _ := l.Counts(); c.Sent != 5 {
				t.Errorf("stored counts %+v", c)
			}
			e.shardsOf(t) // no stray shards of the first layout
		})
	}
}
