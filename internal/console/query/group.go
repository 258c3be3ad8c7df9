package query

import (
	"fmt"
	"slices"
	"strings"

	"github.com/policyherald/policy-herald/internal/report"
)

// GroupBy is what a selection is grouped by.
type GroupBy string

// Groupings. A result without the value (a cluster-scoped result, no category, no source, no
// resource) is in the group of key "".
const (
	NoGroup        GroupBy = ""
	GroupNamespace GroupBy = "namespace" // the result's namespace
	GroupPolicy    GroupBy = "policy"
	GroupRule      GroupBy = "rule" // the policy page's pass/fail per rule
	GroupCategory  GroupBy = "category"
	GroupSource    GroupBy = "source" // by the store's source names: one group per source
	GroupKind      GroupBy = "kind"   // the resource's kind
)

// Group is one group of a selection. Groups are ordered by key, byte by byte; the rows of a
// grouped selection come group by group in that order, each group sorted by the selection's
// Sort.
type Group struct {
	// Key is the value the group's results share; for sources, the source's name.
	Key string `json:"key"`
	// Offset is where the group's first row is in the selection: the page that opens it.
	Offset   int          `json:"offset"`
	Total    int          `json:"total"`
	Statuses StatusCounts `json:"statuses"`
}

// grouper counts a selection's results per group as the scan finds them.
type grouper struct {
	value  func(rep *report.Report, res *report.Result) string
	source bool // group spellings of a source as one (SourceNames)
	names  *report.SourceNames
	ids    map[string]uint32 // group identity → index in groups
	groups []Group
	memo   struct { // results in a row mostly share their group
		value string
		id    uint32
		set   bool
	}
}

// newGrouper returns nil for NoGroup.
func newGrouper(by GroupBy, names *report.SourceNames) (*grouper, error) {
	g := &grouper{names: names, ids: map[string]uint32{}}
	switch by {
	case NoGroup:
		return nil, nil
	case GroupNamespace:
		g.value = (*report.Report).ResultNamespace
	case GroupPolicy:
		g.value = func(_ *report.Report, r *report.Result) string { return r.Policy }
	case GroupRule:
		g.value = func(_ *report.Report, r *report.Result) string { return r.Rule }
	case GroupCategory:
		g.value = func(_ *report.Report, r *report.Result) string { return r.Category }
	case GroupSource:
		g.value = func(_ *report.Report, r *report.Result) string { return r.Source }
		g.source = true
	case GroupKind:
		g.value = func(_ *report.Report, r *report.Result) string { return resourceKind(r) }
	default:
		return nil, fmt.Errorf("groupBy: unknown grouping %q", by)
	}
	return g, nil
}

// add counts res, a result of rep, and returns its group's index.
func (g *grouper) add(rep *report.Report, res *report.Result) uint32 {
	if g == nil {
		return 0
	}
	v := g.value(rep, res)
	if !g.memo.set || v != g.memo.value {
		g.memo.value, g.memo.id, g.memo.set = v, g.lookup(v), true
	}
	grp := &g.groups[g.memo.id]
	grp.Total++
	grp.Statuses.Add(res.Status)
	return g.memo.id
}

func (g *grouper) lookup(v string) uint32 {
	id, key := v, v
	if g.source && v != "" {
		id, key = g.names.Key(v), g.names.Name(v)
	}
	i, ok := g.ids[id]
	if !ok {
		i = uint32(len(g.groups))
		g.ids[id] = i
		g.groups = append(g.groups, Group{Key: key})
	}
	return i
}

// finish orders the groups by key, sets their offsets, and returns them with the rank of each
// group index, for the refs.
func (g *grouper) finish() ([]Group, []uint32) {
	if g == nil {
		return nil, nil
	}
	order := make([]uint32, len(g.groups))
	for i := range order {
		order[i] = uint32(i)
	}
	slices.SortFunc(order, func(a, b uint32) int { return strings.Compare(g.groups[a].Key, g.groups[b].Key) })
	rank := make([]uint32, len(g.groups))
	out := make([]Group, len(g.groups))
	offset := 0
	for r, i := range order {
		rank[i] = uint32(r)
		out[r] = g.groups[i]
		out[r].Offset = offset
		offset += out[r].Total
	}
	return out, rank
}
