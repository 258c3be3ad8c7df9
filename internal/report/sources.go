package report

import (
	"sync"
	"unicode"
	"unicode/utf8"
)

// SourceNames gives every source one name whatever its letter case: Kyverno 1.13+ writes
// "kyverno", older versions "Kyverno", and readers (e-mail, metrics, the console) must group
// them as one source and show it one way. Spellings are one source when strings.EqualFold says
// so, as filters compare them; the source's name is its spelling with the most results counted,
// a tie going to the spelling that sorts first byte by byte ("Kyverno" before "kyverno").
//
// Counting is incremental: Replace costs the distinct spellings of the two reports it is given,
// never the number of reports counted. SourceNames is safe for concurrent use.
type SourceNames struct {
	mu     sync.RWMutex
	groups map[string]*sourceGroup // by SourceKey
	// spellings are the spellings counted now, for a lookup without computing their key.
	spellings map[string]*sourceGroup
	gen       uint64
}

type sourceGroup struct {
	key    string
	name   string
	counts map[string]int // results per spelling; only spellings with results
}

// NewSourceNames returns names with nothing counted.
func NewSourceNames() *SourceNames {
	return &SourceNames{groups: map[string]*sourceGroup{}, spellings: map[string]*sourceGroup{}}
}

// SourceNamesOf counts the results of reps.
func SourceNamesOf(reps []*Report) *SourceNames {
	n := NewSourceNames()
	for _, r := range reps {
		n.Replace(nil, r)
	}
	return n
}

// Replace counts the results of rep instead of those of old, which must be what was counted
// for that report before (nil for none); rep is nil when the report is gone.
func (n *SourceNames) Replace(old, rep *Report) {
	var before, after []SourceCount
	if old != nil {
		before = old.SourceCounts()
	}
	if rep != nil {
		after = rep.SourceCounts()
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	// Names are decided once every count is in, so replacing a report by an equal one never
	// flips a name, not even for a moment.
	touched := make(map[*sourceGroup]string, len(before)+len(after))
	for _, c := range before {
		n.add(c.Source, -c.Results, touched)
	}
	for _, c := range after {
		n.add(c.Source, c.Results, touched)
	}
	for g, was := range touched {
		if len(g.counts) == 0 {
			delete(n.groups, g.key)
			continue
		}
		g.name = mostCommon(g.counts)
		if was != "" && g.name != was {
			n.gen++
		}
	}
}

// add counts delta results of spelling s; touched records the name each group had before.
func (n *SourceNames) add(s string, delta int, touched map[*sourceGroup]string) {
	if s == "" || delta == 0 {
		return
	}
	g := n.spellings[s]
	if g == nil {
		key := SourceKey(s)
		if g = n.groups[key]; g == nil {
			g = &sourceGroup{key: key, counts: map[string]int{}}
			n.groups[key] = g
		}
		n.spellings[s] = g
	}
	if _, ok := touched[g]; !ok {
		touched[g] = g.name
	}
	if c := g.counts[s] + delta; c > 0 {
		g.counts[s] = c
	} else {
		delete(g.counts, s)
		delete(n.spellings, s)
	}
}

func mostCommon(counts map[string]int) string {
	best, most := "", 0
	for s, c := range counts {
		if c > most || (c == most && s < best) {
			best, most = s, c
		}
	}
	return best
}

// Name returns the name of source: the most common spelling of its group, source itself when
// no result of its group is counted.
func (n *SourceNames) Name(source string) string {
	if source == "" {
		return ""
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	if g := n.group(source); g != nil {
		return g.name
	}
	return source
}

// Key returns the identity of source's group: SourceKey(source), without computing it for a
// spelling counted now.
func (n *SourceNames) Key(source string) string {
	n.mu.RLock()
	g := n.spellings[source]
	n.mu.RUnlock()
	if g != nil {
		return g.key
	}
	return SourceKey(source)
}

func (n *SourceNames) group(source string) *sourceGroup {
	if g := n.spellings[source]; g != nil {
		return g
	}
	return n.groups[SourceKey(source)]
}

// Generation changes whenever the name of a counted source changes, so a reader that keeps
// names (the metrics' label values) knows to look them up again.
func (n *SourceNames) Generation() uint64 {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.gen
}

// SourceKey returns the same string for spellings that strings.EqualFold finds equal, and
// different strings otherwise: each character becomes the lower-case ASCII letter of its
// case-folding orbit when there is one (k for K, k and the Kelvin sign), else the orbit's
// smallest character. A lower-case ASCII spelling is its own key.
func SourceKey(s string) string {
	if isFolded(s) {
		return s
	}
	b := make([]byte, 0, len(s))
	for _, r := range s { // an invalid byte reads as utf8.RuneError, as EqualFold reads it
		b = utf8.AppendRune(b, foldRune(r))
	}
	return string(b)
}

// isFolded reports whether s is ASCII without capital letters.
func isFolded(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || ('A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

func foldRune(r rune) rune {
	least := r
	for c := unicode.SimpleFold(r); c != r; c = unicode.SimpleFold(c) {
		if 'a' <= c && c <= 'z' {
			return c
		}
		least = min(least, c)
	}
	if 'a' <= r && r <= 'z' {
		return r
	}
	return least
}

// SourceCount is how many results of a report one spelling of a source has.
type SourceCount struct {
	Source  string
	Results int
}

// SourceCounts returns the results of r per source spelling (results without a source are not
// counted). Conversion counts them once; a report built otherwise is counted on each call.
func (r *Report) SourceCounts() []SourceCount {
	if r.sources != nil || len(r.Results) == 0 {
		return r.sources
	}
	return countSources(r.Results)
}

// countSources counts results per source; never nil. Results of one source are mostly
// consecutive, and a report has few sources: past a handful, a map keeps the cost linear.
func countSources(results []Result) []SourceCount {
	out := []SourceCount{}
	var index map[string]int
	last := -1
	for i := range results {
		s := results[i].Source
		if s == "" {
			continue
		}
		if last >= 0 && out[last].Source == s {
			out[last].Results++
			continue
		}
		last = findSource(out, index, s)
		if last < 0 {
			out = append(out, SourceCount{Source: s})
			last = len(out) - 1
			if index != nil || len(out) > 8 {
				index = indexSources(index, out)
			}
		}
		out[last].Results++
	}
	return out
}

func findSource(counts []SourceCount, index map[string]int, s string) int {
	if index != nil {
		if i, ok := index[s]; ok {
			return i
		}
		return -1
	}
	for i := range counts {
		if counts[i].Source == s {
			return i
		}
	}
	return -1
}

// indexSources adds the sources of counts missing from index (a new one, or all at first).
func indexSources(index map[string]int, counts []SourceCount) map[string]int {
	if index == nil {
		index = make(map[string]int, 2*len(counts))
		for i, c := range counts {
			index[c.Source] = i
		}
		return index
	}
	index[counts[len(counts)-1].Source] = len(counts) - 1
	return index
}
