package query

import (
	"slices"
	"testing"
)

// teams is a Visibility of some namespaces' reports, cluster reports not included, as a team's
// RoleBindings give it.
type teams map[string]bool

func (t teams) Allows(_, ns string) bool { return t[ns] }

// TestPages: pages of any size tile the selection; a page past the end is empty.
func TestPages(t *testing.T) {
	e, reps := fixture(t)
	sel := Selection{Sort: Sort{By: SortName}, GroupBy: GroupKind}
	all := ids(allRows(t, e, Everything, sel))
	if len(all) != len(items(reps, Everything)) {
		t.Fatalf("%d rows, want %d", len(all), len(items(reps, Everything)))
	}
	for _, limit := range []int{1, 7, 32, 33, 34} {
		var got []string
		for off := 0; off < len(all)+limit; off += limit {
			p, err := e.Results(Everything, sel, Page{Offset: off, Limit: limit})
			if err != nil {
				t.Fatal(err)
			}
			if p.Total != len(all) || p.Offset != off || p.Limit != limit {
				t.Errorf("page %d/%d: total, offset, limit = %d, %d, %d", off, limit, p.Total, p.Offset, p.Limit)
			}
			if want := min(limit, max(0, len(all)-off)); len(p.Rows) != want {
				t.Errorf("page %d/%d: %d rows, want %d", off, limit, len(p.Rows), want)
			}
			got = append(got, ids(p.Rows)...)
		}
		if !slices.Equal(got, all) {
			t.Errorf("pages of %d:\n got %v\nwant %v", limit, got, all)
		}
	}
	p, err := e.Results(Everything, sel, Page{})
	if err != nil || p.Limit != DefaultLimit || len(p.Rows) != len(all) {
		t.Errorf("the default page: %v, limit %d, %d rows", err, p.Limit, len(p.Rows))
	}
	p, err = e.Results(Everything, Selection{Query: Query{Text: "no message says this"}}, Page{})
	if err != nil || p.Total != 0 || p.Rows == nil || p.Groups != nil {
		t.Errorf("an empty selection: %v, %+v", err, p)
	}
	for _, bad := range []Page{{Offset: -1}, {Limit: -1}, {Limit: MaxLimit + 1}} {
		if _, err := e.Results(Everything, sel, bad); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

// TestResourcePage is the console's resource page: every result about one resource, from every
// report and source.
func TestResourcePage(t *testing.T) {
	e, reps := fixture(t)
	var want []string
	for _, it := range items(reps, Everything) {
		if it.kind() == "Pod" && it.namespace() == "team-a" && it.name() == "web-1" {
			want = append(want, it.id())
		}
	}
	q := Query{Kinds: []string{"Pod"}, Namespaces: []string{"team-a"}, Names: []string{"web-1"}}
	if got := ids(allRows(t, e, Everything, Selection{Query: q})); len(want) < 2 || !slices.Equal(got, want) {
		t.Errorf("rows = %v, want %v", got, want)
	}
}

// TestRows: a row says everything a page and an export show of its result.
func TestRows(t *testing.T) {
	e, reps := fixture(t)
	names := sourceNames(items(reps, Everything))
	rows := allRows(t, e, Everything, Selection{})
	byID := map[string]Row{}
	for _, r := range rows {
		byID[rowID(r)] = r
	}
	for _, it := range items(reps, Everything) {
		r := byID[it.id()]
		if r.Namespace != it.namespace() || r.Kind != it.kind() || r.Name != it.name() ||
			r.Policy != it.res.Policy || r.Rule != it.res.Rule || r.Status != string(it.res.Status) ||
			r.Severity != string(it.res.Severity) || r.Category != it.res.Category || r.Message != it.res.Message ||
			r.Source != names[it.res.Source] || r.ReportKind != it.rep.Kind || r.ReportName != it.rep.Name ||
			r.ReportNamespace != it.rep.Namespace || len(r.Properties) != len(it.res.Properties) {
			t.Errorf("row %s = %+v", it.id(), r)
		}
		if it.res.Resource != nil && r.APIVersion != it.res.Resource.APIVersion {
			t.Errorf("row %s: apiVersion %q", it.id(), r.APIVersion)
		}
		if (it.res.Time == 0) != r.Time.IsZero() || (it.res.Time != 0 && r.Time.UnixNano() != it.res.Time) {
			t.Errorf("row %s: time %v, want %d", it.id(), r.Time, it.res.Time)
		}
	}
	// Kyverno's old spelling is shown as the store names the source: its common spelling.
	for _, r := range rows {
		if r.ReportNamespace == "team-b" && r.Source != "kyverno" {
			t.Errorf("row %s: source %q, want kyverno", rowID(r), r.Source)
		}
	}
}
