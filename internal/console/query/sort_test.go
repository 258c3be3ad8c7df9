package query

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/policyherald/policy-herald/internal/report"
)

// sortKeys are the ranked sort fields as the tests read them; stringKey the others.
var sortKeys = map[SortField]func(it item) int{
	SortSeverity: func(it item) int {
		return map[string]int{"": 0, "info": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}[string(it.res.Severity)]
	},
	SortStatus: func(it item) int {
		return map[string]int{"": 0, "pass": 1, "skip": 2, "warn": 3, "fail": 4, "error": 5}[string(it.res.Status)]
	},
}

func stringKey(f SortField) func(it item) string {
	switch f {
	case SortNamespace:
		return item.namespace
	case SortPolicy:
		return func(it item) string { return it.res.Policy }
	case SortRule:
		return func(it item) string { return it.res.Rule }
	case SortKind:
		return item.kind
	case SortName:
		return item.name
	}
	return nil
}

// compareOn compares two items on f, as the tests read it.
func compareOn(f SortField) func(a, b item) int {
	if f == SortTime {
		return func(a, b item) int { return cmp.Compare(a.res.Time, b.res.Time) }
	}
	if k := stringKey(f); k != nil {
		return func(a, b item) int { return strings.Compare(k(a), k(b)) }
	}
	k := sortKeys[f]
	return func(a, b item) int { return cmp.Compare(k(a), k(b)) }
}

// expectOrder sorts its in the store's order by f, keeping that order among equals.
func expectOrder(its []item, s Sort, group func(item) string) []string {
	its = slices.Clone(its)
	on := compareOn(cmp.Or(s.By, SortNamespace))
	slices.SortStableFunc(its, func(a, b item) int {
		if group != nil {
			if c := strings.Compare(group(a), group(b)); c != 0 {
				return c
			}
		}
		if s.Desc {
			return on(b, a)
		}
		return on(a, b)
	})
	out := make([]string, len(its))
	for i, it := range its {
		out[i] = it.id()
	}
	return out
}

// TestSorts checks every sort field in both directions against the fixtures sorted by the
// test, equal results keeping the store's order.
func TestSorts(t *testing.T) {
	e, reps := fixture(t)
	fields := []SortField{"", SortNamespace, SortPolicy, SortRule, SortSeverity, SortStatus, SortKind, SortName, SortTime}
	for _, f := range fields {
		for _, desc := range []bool{false, true} {
			s := Sort{By: f, Desc: desc}
			want := expectOrder(items(reps, Everything), s, nil)
			if got := ids(allRows(t, e, Everything, Selection{Sort: s})); !slices.Equal(got, want) {
				t.Errorf("%+v:\n got %v\nwant %v", s, got, want)
			}
		}
	}
}

// shuffled is a Source whose snapshot comes in a new order every time, as a map's does.
type shuffled struct {
	reps  []*report.Report
	names *report.SourceNames
}

func (s shuffled) Snapshot() []*report.Report {
	out := slices.Clone(s.reps)
	rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func (s shuffled) SourceNames() *report.SourceNames { return s.names }

// TestOrderIsDeterministic: however the store lists its reports, every page of every sort is
// the same.
func TestOrderIsDeterministic(t *testing.T) {
	_, reps := fixture(t)
	e := New(shuffled{reps, report.SourceNamesOf(reps)})
	for _, f := range []SortField{SortSeverity, SortStatus, SortNamespace, SortTime} {
		sel := Selection{Sort: Sort{By: f, Desc: true}, GroupBy: GroupSource}
		first := ids(allRows(t, e, Everything, sel))
		for range 20 {
			for off := 0; off < len(first); off += 5 {
				p, err := e.Results(Everything, sel, Page{Offset: off, Limit: 5})
				if err != nil {
					t.Fatal(err)
				}
				if got := ids(p.Rows); !slices.Equal(got, first[off:min(off+5, len(first))]) {
					t.Fatalf("%s page at %d = %v, want %v", f, off, got, first[off:off+5])
				}
			}
		}
	}
}

// TestPartialSort: a page of a large selection is the slice of a full sort, at every depth and
// from every input order.
func TestPartialSort(t *testing.T) {
	order := func(a, b ref) int { return cmp.Or(cmp.Compare(a.rank, b.rank), cmp.Compare(a.idx, b.idx)) }
	for _, input := range []string{"random", "sorted", "reversed", "few keys"} {
		x := make([]ref, 5000)
		for i := range x {
			x[i] = ref{idx: uint32(i), rank: uint32(rand.IntN(1 << 20))}
			switch input {
			case "sorted":
				x[i].rank = uint32(i)
			case "reversed":
				x[i].rank = uint32(len(x) - i)
			case "few keys":
				x[i].rank %= 3
			}
		}
		want := slices.SortedFunc(slices.Values(x), order)
		for _, page := range [][2]int{{0, 1}, {0, 100}, {1234, 1334}, {4900, 5000}, {4999, 5000}, {0, 5000}, {100, 3000}} {
			y := slices.Clone(x)
			partialSort(y, page[0], page[1], order)
			if !slices.Equal(y[page[0]:page[1]], want[page[0]:page[1]]) {
				t.Errorf("%s input, rows %v: not the sorted rows", input, page)
			}
		}
	}
}
