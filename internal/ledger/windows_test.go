package ledger

import (
	"maps"
	"strconv"
	"testing"
)

// Digest windows are written in the header (a header-only write), read back by Load, and
// replaced as a whole; a late write of an older leader's windows is merged, the earlier start
// of a window winning.
func TestWindowsPersistedAndMerged(t *testing.T) {
	e := newEnv(t)
	l := e.load(t)
	l.Add(keys("r", 10)...)
	e.flush(t, l)
	l.SetWindows(map[string]int64{"a": 100, "b": 200})
	e.w.reset()
	e.flush(t, l)
	if e.w.total() != 1 {
		t.Errorf("%d writes for new windows, want 1 (the header)", e.w.total())
	}
	l.SetWindows(map[string]int64{"a": 100, "b": 200})
	e.w.reset()
	e.flush(t, l)
	if e.w.total() != 0 {
		t.Errorf("%d writes for unchanged windows, want 0", e.w.total())
	}

	cur := e.load(t)
	if w := cur.Windows(); !maps.Equal(w, map[string]int64{"a": 100, "b": 200}) {
		t.Fatalf("loaded windows %v", w)
	}
	l.SetWindows(map[string]int64{"a": 50, "c": 300}) // the old leader's late write
	e.flush(t, l)
	cur.SetWindows(map[string]int64{"a": 100, "d": 400})
	e.flush(t, cur)
	want := map[string]int64{"a": 50, "c": 300, "d": 400}
	if w := e.load(t).Windows(); !maps.Equal(w, want) {
		t.Errorf("stored windows %v, want %v", w, want)
	}

	cur.SetWindows(nil)
	e.flush(t, cur)
	if w := e.load(t).Windows(); len(w) != 0 {
		t.Errorf("stored windows %v after all closed", w)
	}
}

// At most MaxWindows windows are kept: the earliest.
func TestWindowsBounded(t *testing.T) {
	w := map[string]int64{}
	for i := range MaxWindows + 10 {
		w[strconv.Itoa(i)] = int64(i)
	}
	var l Ledger
	l.SetWindows(w)
	got := l.Windows()
	if len(got) != MaxWindows {
		t.Fatalf("%d windows kept, want %d", len(got), MaxWindows)
	}
	if _, ok := got[strconv.Itoa(MaxWindows)]; ok {
		t.Error("a later window was kept over an earlier one")
	}
}
