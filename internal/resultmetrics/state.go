package resultmetrics

import (
	"slices"
	"strings"

	"github.com/policyherald/policy-herald/internal/filter"
	"github.com/policyherald/policy-herald/internal/report"

	dto "github.com/prometheus/client_model/go"
)

// series is one exported series of a profile: its label values (in the order of the profile's
// Names) and the number of results it counts.
type series struct {
	cluster bool
	// values are the label values of the result that made the series; the source is shown by
	// its name (see pairsOf).
	values  []string
	count   int
	gen     int              // stamp of the state pairs and sortKey were built at
	pairs   []*dto.LabelPair // sorted by name; never modified once built (scrapes share them)
	sortKey string           // the label values in the order of pairs, joined by "\x00"
	dead    bool             // removed; dropped from order at the next scrape
}

// contribution is what one report adds to a profile.
type contribution struct {
	series  []*series // one entry per counted result
	refused int       // results not counted because of maxSeries
}

// state is a profile with its series.
type state struct {
	p       *Profile
	names   *report.SourceNames
	active  bool // the default profile only: it applies
	series  map[string]*series
	contrib map[string]contribution
	refused int
	buf     []byte

	// order holds the series in the order a scrape sends them (by sortKey, the order
	// Prometheus' registry sorts them in, so its sort finds them sorted); dirty says series
	// came or went since it was sorted.
	order []*series
	dirty bool

	// layout: where the union's labels come from
	gen         int   // generation of the union laid out
	stamp       int   // changes with the layout and the source names: series rebuild their pairs
	laidOut     int   // stamp of the last layout
	pos         []int // per union label: index in p.Names, or -1 for padding, -2 for profile
	empty       []*dto.LabelPair
	profilePair *dto.LabelPair
}

func newState(p *Profile, names *report.SourceNames) *state {
	return &state{p: p, names: names, series: map[string]*series{}, contrib: map[string]contribution{}}
}

// reset drops every series.
func (st *state) reset() {
	st.series = map[string]*series{}
	st.contrib = map[string]contribution{}
	st.refused = 0
	st.order, st.dirty = nil, false
}

// layout places the profile's labels in the union.
func (st *state) layout(union []string, empty []*dto.LabelPair, gen int) {
	idx := make(map[string]int, len(st.p.Names))
	for i, n := range st.p.Names {
		idx[n] = i
	}
	st.pos = make([]int, len(union))
	for i, n := range union {
		switch j, ok := idx[n]; {
		case n == "profile":
			st.pos[i] = -2
		case ok:
			st.pos[i] = j
		default:
			st.pos[i] = -1
		}
	}
	st.empty, st.gen, st.dirty = empty, gen, true
	st.stamp++
	st.laidOut = st.stamp
	name, value := "profile", st.p.Key
	st.profilePair = &dto.LabelPair{Name: &name, Value: &value}
}

// renamed says a source's name changed: series with a source label look it up again (and sort
// again) at the next scrape.
func (st *state) renamed() {
	if st.p.source >= 0 && len(st.series) > 0 {
		st.stamp++
		st.dirty = true
	}
}

// pairsOf returns the label pairs of s in the current layout.
func (st *state) pairsOf(s *series) []*dto.LabelPair {
	if s.gen == st.stamp && s.pairs != nil {
		return s.pairs
	}
	// Built in this layout: only a source's name changed, the other pairs are kept.
	renamed := s.pairs != nil && s.gen >= st.laidOut
	pairs := make([]*dto.LabelPair, len(st.pos))
	var key strings.Builder
	key.Grow(len(s.sortKey) + 8) // about its old length, when it had one
	for i, j := range st.pos {
		switch {
		case j == -2:
			pairs[i] = st.profilePair
		case j < 0:
			pairs[i] = st.empty[i]
		case j == st.p.source:
			name := st.names.Name(s.values[j])
			pairs[i] = &dto.LabelPair{Name: st.empty[i].Name, Value: &name}
		case renamed:
			pairs[i] = s.pairs[i]
		default:
			pairs[i] = &dto.LabelPair{Name: st.empty[i].Name, Value: &s.values[j]}
		}
		if i > 0 {
			key.WriteByte(0)
		}
		key.WriteString(*pairs[i].Value)
	}
	s.pairs, s.sortKey, s.gen = pairs, key.String(), st.stamp
	return pairs
}

// sorted returns the live series in scrape order.
func (st *state) sorted() []*series {
	if !st.dirty {
		return st.order
	}
	live := st.order[:0]
	for _, s := range st.order {
		if !s.dead {
			st.pairsOf(s)
			live = append(live, s)
		}
	}
	clear(st.order[len(live):])
	slices.SortFunc(live, func(a, b *series) int { return strings.Compare(a.sortKey, b.sortKey) })
	st.order, st.dirty = live, false
	return live
}

// apply replaces the contribution of the report with key (rep, nil when it is gone).
func (st *state) apply(key string, rep *report.Report, ns filter.NamespaceLabels) {
	if old, ok := st.contrib[key]; ok {
		for _, s := range old.series {
			if s.count--; s.count == 0 {
				delete(st.series, string(st.id(s.cluster, s.values)))
				s.dead, st.dirty = true, true
			}
		}
		st.refused -= old.refused
		delete(st.contrib, key)
	}
	if rep == nil || !st.p.covers(rep) {
		return
	}
	var c contribution
	cluster := rep.Namespace == ""
	values := make([]string, len(st.p.fields))
	for i := range rep.Results {
		res := &rep.Results[i]
		if !st.p.filter.Match(rep, res, ns) {
			continue
		}
		for j, f := range st.p.fields {
			values[j] = f(rep, res)
		}
		id := st.id(cluster, values)
		s := st.series[string(id)]
		if s == nil {
			if st.p.maxSeries > 0 && len(st.series) >= st.p.maxSeries {
				c.refused++
				continue
			}
			s = &series{cluster: cluster, values: append([]string(nil), values...)}
			st.series[string(id)] = s
			st.order, st.dirty = append(st.order, s), true
		}
		s.count++
		c.series = append(c.series, s)
	}
	if len(c.series) > 0 || c.refused > 0 {
		st.contrib[key] = c
		st.refused += c.refused
	}
}

// id returns the identity of a series in st.buf (valid until the next call). A source counts by
// its group, so its spellings share one series.
func (st *state) id(cluster bool, values []string) []byte {
	b := st.buf[:0]
	if cluster {
		b = append(b, 'c')
	} else {
		b = append(b, 'n')
	}
	for j, v := range values {
		if j == st.p.source {
			v = st.names.Key(v)
		}
		b = append(b, 0xff)
		b = append(b, v...)
	}
	st.buf = b
	return b
}
