package ledger

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestThreadsTakeSaysWhenAThreadIsClosed(t *testing.T) {
	l := memLedger()
	l.SetThread(1, "C1/100.1")
	l.SetThread(2, "C1/100.1")
	l.SetThread(3, "C1/200.2")
	l.SetThread(4, "")                                 // not kept
	l.SetThread(5, strings.Repeat("x", MaxThreadID+1)) // not kept
	if n := l.Threads(); n != 3 {
		t.Fatalf("%d threads kept, want 3", n)
	}
	ids, closed := l.TakeThreads([]uint64{1, 3, 4})
	if len(ids) != 2 || ids[1] != "C1/100.1" || ids[3] != "C1/200.2" {
		t.Errorf("taken %v", ids)
	}
	if closed["C1/100.1"] || !closed["C1/200.2"] {
		t.Errorf("closed %v: 100.1 still holds result 2, 200.2 nothing", closed)
	}
	if _, closed = l.TakeThreads([]uint64{2}); !closed["C1/100.1"] {
		t.Errorf("closed %v once result 2 is taken too", closed)
	}
	if ids, _ := l.TakeThreads([]uint64{1, 2}); ids != nil {
		t.Errorf("taken twice: %v", ids)
	}
}

func TestThreadsBound(t *testing.T) {
	l := memLedger()
	for i := range MaxThreads + 10 {
		l.SetThread(uint64(i), fmt.Sprintf("C1/%d", i))
		if i%3 == 0 {
			l.SetThread(uint64(i), fmt.Sprintf("C1/%d", i)) // the same again: no change
		}
	}
	if n := l.Threads(); n != MaxThreads {
		t.Fatalf("%d threads kept, want the bound %d", n, MaxThreads)
	}
	for i := range 10 {
		if _, ok := l.Thread(uint64(i)); ok {
			t.Errorf("the oldest entry %d is kept beyond the bound", i)
		}
	}
	if id, ok := l.Thread(MaxThreads + 9); !ok || id != fmt.Sprintf("C1/%d", MaxThreads+9) {
		t.Errorf("the newest entry: %q %v", id, ok)
	}
	raw := l.encodeThreads()
	if max := 1 + MaxThreads*(9+MaxThreadID) + 4; len(raw) > max {
		t.Errorf("threads.bin of %d bytes, over the stated bound %d", len(raw), max)
	}
}

func TestThreadsRoundTripAndDamage(t *testing.T) {
	l := memLedger()
	l.SetThread(7, "C1/1.1")
	l.SetThread(8, "C2/2.2")
	raw := l.encodeThreads()
	if want := 1 + 2*(9+len("C1/1.1")) + 4; len(raw) != want {
		t.Errorf("threads.bin of %d bytes, want %d: 9 bytes and the id an entry", len(raw), want)
	}
	m := memLedger()
	m.loadThreads(raw)
	if id, _ := m.Thread(7); id != "C1/1.1" {
		t.Errorf("thread of 7 %q", id)
	}
	if id, _ := m.Thread(8); id != "C2/2.2" {
		t.Errorf("thread of 8 %q", id)
	}
	for name, bad := range map[string][]byte{
		"short":     raw[:3],
		"flipped":   append(append([]byte{}, raw[:5]...), append([]byte{raw[5] ^ 1}, raw[6:]...)...),
		"truncated": raw[:len(raw)-6],
	} {
		d := memLedger()
		d.loadThreads(bad)
		if d.Threads() != 0 {
			t.Errorf("%s: %d threads taken from a damaged threads.bin", name, d.Threads())
		}
	}
}

// Thread ids are stored with the ledger and survive a restart; a sweep that forgets a key
// forgets its thread too.
func TestThreadsPersist(t *testing.T) {
	e := newEnv(t)
	l := e.load(t)
	a, b := key("a"), key("b")
	l.Add(a, b)
	l.SetThread(a, "C1/100.1")
	l.SetThread(b, "C1/100.2")
	e.flush(t, l)

	again := e.load(t)
	if id, _ := again.Thread(a); id != "C1/100.1" {
		t.Fatalf("after a restart the thread of a is %q", id)
	}
	e.w.reset()
	again.TakeThreads([]uint64{a})
	e.flush(t, again)
	if e.w.total() != 1 {
		t.Errorf("%d writes for a taken thread, want the base ConfigMap's 1", e.w.total())
	}
	if _, ok := e.load(t).Thread(a); ok {
		t.Error("a taken thread is stored still")
	}

	now := time.Now()
	again.Sweep(func(k uint64) bool { return k != b }, now, time.Hour)
	again.Sweep(func(k uint64) bool { return k != b }, now.Add(2*time.Hour), time.Hour)
	e.flush(t, again)
	if _, ok := e.load(t).Thread(b); ok {
		t.Error("the thread of a forgotten key is stored still")
	}
}

// A late write of an older leader is merged: the new leader keeps its thread ids too, and the
// bound holds on the union.
func TestThreadsMerge(t *testing.T) {
	e := newEnv(t)
	old := e.load(t)
	old.Add(key("base"))
	e.flush(t, old)

	cur := e.load(t)
	old.Add(key("late"))
	old.SetThread(key("late"), "C1/1.1")
	e.flush(t, old) // before the new leader's first write

	cur.Add(key("mine"))
	cur.SetThread(key("mine"), "C1/2.2")
	e.flush(t, cur)
	l := e.load(t)
	for k, want := range map[string]string{"late": "C1/1.1", "mine": "C1/2.2"} {
		if id, _ := l.Thread(key(k)); id != want {
			t.Errorf("stored thread of %s %q, want %q", k, id, want)
		}
	}
	if id, _ := cur.Thread(key("late")); id != "C1/1.1" {
		t.Errorf("the new leader does not know the thread it merged: %q", id)
	}
}
