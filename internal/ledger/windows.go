package ledger

import (
	"cmp"
	"maps"
	"slices"
)

// Digest windows: when each open digest group of the owner began collecting (Unix seconds), by
// a key the owner chooses. The collected results are not in the ledger (they are in flight), so
// after a restart they are found new and collected again; the window kept here lets the group's
// digest go at its original time, not one interval after the restart. The windows are in the
// header, written and merged with the counts.

// MaxWindows bounds the windows a ledger keeps: about 32 bytes of header each with 16-character
// keys, so at most about 32 KiB.
const MaxWindows = 1024

// Windows returns the open digest windows: key → start in Unix seconds.
func (l *Ledger) Windows() map[string]int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.windows)
}

// SetWindows replaces the open digest windows; beyond MaxWindows the latest are left out. They
// are written with the next Flush that writes the ledger.
func (l *Ledger) SetWindows(w map[string]int64) {
	w = boundWindows(maps.Clone(w))
	l.mu.Lock()
	defer l.mu.Unlock()
	if maps.Equal(l.windows, w) {
		return
	}
	l.windows, l.hdrDirty = w, true
}

// mergeWindows takes the windows of a header another writer stored: the union, the earlier
// start of a key winning (a digest goes early rather than late). The caller holds l.mu.
func (l *Ledger) mergeWindows(other map[string]int64) {
	if len(other) == 0 {
		return
	}
	w := maps.Clone(l.windows)
	if w == nil {
		w = map[string]int64{}
	}
	for k, s := range other {
		if mine, ok := w[k]; !ok || s < mine {
			w[k] = s
		}
	}
	l.windows = boundWindows(w)
}

// boundWindows leaves out the latest windows beyond MaxWindows; empty is nil.
func boundWindows(w map[string]int64) map[string]int64 {
	if len(w) == 0 {
		return nil
	}
	if len(w) <= MaxWindows {
		return w
	}
	keys := slices.SortedFunc(maps.Keys(w), func(a, b string) int { return cmp.Compare(w[a], w[b]) })
	for _, k := range keys[MaxWindows:] {
		delete(w, k)
	}
	return w
}
