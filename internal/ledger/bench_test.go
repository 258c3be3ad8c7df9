package ledger

import (
	"context"
	"runtime"
	"sync"
	"testing"
)

// Benchmarks. The in-memory ones need no API server; BenchmarkFlush* use the test API server.

var million struct {
	sync.Once
	keys []uint64
}

// millionKeys returns 1,000,000 distinct keys (FNV-64a of result IDs, as the engine makes).
func millionKeys() []uint64 {
	million.Do(func() { million.keys = keys("result-", 1_000_000) })
	return million.keys
}

func millionLedger() *Ledger {
	l := memLedger()
	l.Add(millionKeys()...)
	return l
}

// BenchmarkHas looks up keys of a ledger of 1,000,000 (present ones and missing ones).
func BenchmarkHas(b *testing.B) {
	l := millionLedger()
	ks := millionKeys()
	missing := keys("missing-", 1<<16)
	b.Run("present", func(b *testing.B) {
		for i := range b.N {
			if !l.Has(ks[i%len(ks)]) {
				b.Fatal("lost")
			}
		}
	})
	b.Run("missing", func(b *testing.B) {
		for i := range b.N {
			if l.Has(missing[i%len(missing)]) {
				b.Fatal("found")
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				l.Has(ks[i%len(ks)])
				i += 7919
			}
		})
	})
}

// BenchmarkAdd adds new keys one at a time, growing a ledger to 1,000,000 (the time includes
// the tables' growth).
func BenchmarkAdd(b *testing.B) {
	ks := millionKeys()
	l := memLedger()
	b.ResetTimer()
	for i := range b.N {
		if i%len(ks) == 0 && i > 0 {
			b.StopTimer()
			l = memLedger()
			b.StartTimer()
		}
		l.Add(ks[i%len(ks)])
	}
}

// BenchmarkAddKnown adds keys the ledger already has (the common case of a sweep's results).
func BenchmarkAddKnown(b *testing.B) {
	l := millionLedger()
	ks := millionKeys()
	b.ResetTimer()
	for i := range b.N {
		l.Add(ks[i%len(ks)])
	}
}

// BenchmarkMemory reports the heap a ledger of 1,000,000 keys takes, per key.
func BenchmarkMemory(b *testing.B) {
	ks := millionKeys()
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		l := memLedger()
		l.Add(ks...)
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(l.Len()), "bytes/key")
		runtime.KeepAlive(l)
	}
}

// BenchmarkMemoryLoaded is BenchmarkMemory for a ledger decoded from its shards (sized tables).
func BenchmarkMemoryLoaded(b *testing.B) {
	src := millionLedger()
	raws := make([][]byte, 32)
	for i := range raws {
		raws[i] = encodeShard(nil, 1, 5, i, src.snapshot(5, i))
	}
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		l := memLedger()
		for i, raw := range raws {
			if err := l.decode(raw, 1, 5, i); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(l.Len()), "bytes/key")
		runtime.KeepAlive(l)
	}
}

// BenchmarkEncodeShard copies and encodes one of the 32 shards of a ledger of 1,000,000 keys.
func BenchmarkEncodeShard(b *testing.B) {
	l := millionLedger()
	var buf []byte
	b.ResetTimer()
	for range b.N {
		buf = encodeShard(buf, 1, 5, 3, l.snapshot(5, 3))
	}
	b.ReportMetric(float64(len(buf)), "bytes/shard")
}

// BenchmarkEncodeAll copies and encodes all 32 shards of a ledger of 1,000,000 keys, as a full
// Flush does (sequentially here; Flush runs 4 at once).
func BenchmarkEncodeAll(b *testing.B) {
	l := millionLedger()
	var buf []byte
	b.ResetTimer()
	for range b.N {
		for i := range 32 {
			buf = encodeShard(buf, 1, 5, i, l.snapshot(5, i))
		}
	}
}

// BenchmarkDecodeShard decodes one shard of 32 at 1,000,000 keys into a ledger.
func BenchmarkDecodeShard(b *testing.B) {
	raw := encodeShard(nil, 1, 5, 3, millionLedger().snapshot(5, 3))
	b.ResetTimer()
	for range b.N {
		l := memLedger()
		if err := l.decode(raw, 1, 5, 3); err != nil {
			b.Fatal(err)
		}
	}
}

// storedMillion returns a ledger of 1,000,000 keys, written to the test API server.
func storedMillion(b *testing.B) (*testEnv, *Ledger) {
	e := newEnv(b)
	l, err := Load(context.Background(), e.c, e.ns, testName, testOwner)
	if err != nil {
		b.Fatal(err)
	}
	l.Add(millionKeys()...)
	e.flush(b, l)
	return e, l
}

// BenchmarkFlushFull writes all of a ledger of 1,000,000 keys to the test API server.
func BenchmarkFlushFull(b *testing.B) {
	e, l := storedMillion(b)
	b.ResetTimer()
	for range b.N {
		l.markAllDirty()
		e.flush(b, l)
	}
}

// BenchmarkFlushSmall writes a ledger of 1,000,000 keys after one new key (one shard).
func BenchmarkFlushSmall(b *testing.B) {
	e, l := storedMillion(b)
	extra := keys("extra-", b.N)
	b.ResetTimer()
	for i := range b.N {
		l.Add(extra[i])
		e.flush(b, l)
	}
}

// BenchmarkLoad reads a ledger of 1,000,000 keys from the test API server.
func BenchmarkLoad(b *testing.B) {
	e, _ := storedMillion(b)
	b.ResetTimer()
	for range b.N {
		if _, err := Load(context.Background(), e.c, e.ns, testName, testOwner); err != nil {
			b.Fatal(err)
		}
	}
}
