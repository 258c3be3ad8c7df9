package query

import (
	"slices"
	"strings"
	"testing"
)

// sourceNames names each source as the tests read the rule: spellings equal but for case are
// one source, named by the spelling with the most results, ties to the first byte by byte.
func sourceNames(its []item) map[string]string {
	counts := map[string]map[string]int{} // lower case → spelling → results
	for _, it := range its {
		k := strings.ToLower(it.res.Source)
		if counts[k] == nil {
			counts[k] = map[string]int{}
		}
		counts[k][it.res.Source]++
	}
	names := map[string]string{}
	for _, spellings := range counts {
		best := ""
		for s, n := range spellings {
			if best == "" || n > spellings[best] || (n == spellings[best] && s < best) {
				best = s
			}
		}
		for s := range spellings {
			names[s] = best
		}
	}
	return names
}

// groupKeys are the groupings as the tests read them.
func groupKeys(by GroupBy, names map[string]string) func(it item) string {
	switch by {
	case GroupNamespace:
		return item.namespace
	case GroupPolicy:
		return func(it item) string { return it.res.Policy }
	case GroupRule:
		return func(it item) string { return it.res.Rule }
	case GroupCategory:
		return func(it item) string { return it.res.Category }
	case GroupSource:
		return func(it item) string { return names[it.res.Source] }
	case GroupKind:
		return item.kind
	}
	return nil
}

// TestGroups checks every grouping's groups, counts, offsets and row order against the
// fixtures grouped by the test, on a filtered selection and as a person seeing two namespaces.
func TestGroups(t *testing.T) {
	e, reps := fixture(t)
	for _, v := range []Visibility{Everything, teams{"team-a": true, "default": true}} {
		its := items(reps, v)
		names := sourceNames(items(reps, Everything)) // the store names sources over all results
		for _, by := range []GroupBy{GroupNamespace, GroupPolicy, GroupRule, GroupCategory, GroupSource, GroupKind} {
			key := groupKeys(by, names)
			counts := map[string]*tcount{}
			for _, it := range its {
				if counts[key(it)] == nil {
					counts[key(it)] = &tcount{}
				}
				counts[key(it)].add(it)
			}
			want := map[string]StatusCounts{}
			for k, c := range counts {
				want[k] = c.statuses()
			}
			sel := Selection{GroupBy: by, Sort: Sort{By: SortSeverity, Desc: true}}
			p, err := e.Results(v, sel, Page{Limit: 3})
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Groups) != len(want) {
				t.Errorf("%s: %d groups, want %d", by, len(p.Groups), len(want))
			}
			offset := 0
			for i, g := range p.Groups {
				if g.Statuses != want[g.Key] || g.Total != want[g.Key].Total() || g.Offset != offset {
					t.Errorf("%s: group %q = %+v, want %+v at %d", by, g.Key, g, want[g.Key], offset)
				}
				if i > 0 && p.Groups[i-1].Key >= g.Key {
					t.Errorf("%s: group %q after %q", by, g.Key, p.Groups[i-1].Key)
				}
				offset += g.Total
			}
			if got, want := ids(allRows(t, e, v, sel)), expectOrder(its, sel.Sort, key); !slices.Equal(got, want) {
				t.Errorf("%s: rows\n got %v\nwant %v", by, got, want)
			}
		}
	}
}

// TestPolicyPage is the console's policy page: one policy's results across namespaces, pass
// and fail per rule.
func TestPolicyPage(t *testing.T) {
	e, reps := fixture(t)
	counts := map[string]*tcount{}
	for _, it := range items(reps, Everything) {
		if it.res.Policy == "require-labels" {
			if counts[it.res.Rule] == nil {
				counts[it.res.Rule] = &tcount{}
			}
			counts[it.res.Rule].add(it)
		}
	}
	want := map[string]StatusCounts{}
	for k, c := range counts {
		want[k] = c.statuses()
	}
	p, err := e.Results(Everything, Selection{Query: Query{Policies: []string{"require-labels"}}, GroupBy: GroupRule}, Page{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]StatusCounts{}
	for _, g := range p.Groups {
		got[g.Key] = g.Statuses
	}
	if len(want) < 2 || len(got) != len(want) || got["check-team"] != want["check-team"] || got["check-owner"] != want["check-owner"] {
		t.Errorf("per rule = %+v, want %+v", got, want)
	}
}
