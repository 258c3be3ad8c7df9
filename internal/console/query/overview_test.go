package query

import (
	"cmp"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// expectOverview sums up its as the tests read the overview's rules.
func expectOverview(its []item, names map[string]string, top int) Overview {
	var all, cluster tcount
	sources := map[string]*tcount{}
	policies, namespaces := map[string]int{}, map[string]int{}
	var recent []item
	for _, it := range its {
		all.add(it)
		name := names[it.res.Source]
		if sources[name] == nil {
			sources[name] = &tcount{}
		}
		sources[name].add(it)
		if it.namespace() == "" {
			cluster.add(it)
		}
		if it.res.Status == "fail" || it.res.Status == "" {
			policies[it.res.Policy]++
			if it.namespace() != "" {
				namespaces[it.namespace()]++
			}
		}
		if it.res.Time != 0 {
			recent = append(recent, it)
		}
	}
	o := Overview{Statuses: all.statuses(), Severities: all.severities(), Cluster: cluster.statuses(), Sources: []SourceCounts{}}
	for name, c := range sources {
		o.Sources = append(o.Sources, SourceCounts{Name: name, Statuses: c.statuses(), Severities: c.severities()})
	}
	slices.SortFunc(o.Sources, func(a, b SourceCounts) int { return strings.Compare(a.Name, b.Name) })
	o.FailingPolicies, o.AffectedNamespaces = ranked(policies, top), ranked(namespaces, top)
	slices.SortStableFunc(recent, func(a, b item) int { return cmp.Compare(b.res.Time, a.res.Time) })
	o.Recent = []Row{}
	for _, it := range recent[:min(top, len(recent))] {
		o.Recent = append(o.Recent, Row{ID: it.res.ID(), ReportKind: it.rep.Kind, ReportNamespace: it.rep.Namespace, ReportName: it.rep.Name})
	}
	return o
}

func ranked(counts map[string]int, top int) []Ranked {
	out := []Ranked{}
	for name, n := range counts {
		out = append(out, Ranked{name, n})
	}
	slices.SortFunc(out, func(a, b Ranked) int { return cmp.Or(b.Failing-a.Failing, strings.Compare(a.Name, b.Name)) })
	return out[:min(top, len(out))]
}

// TestOverview checks every part of the overview against the fixtures summed up by the test.
func TestOverview(t *testing.T) {
	e, reps := fixture(t)
	names := sourceNames(items(reps, Everything))
	for _, c := range []struct {
		name     string
		v        Visibility
		q        Query
		keep     func(it item) bool // what q keeps
		top, len int                // len: the top the overview uses
	}{
		{"everything", Everything, Query{}, nil, 0, DefaultTop},
		{"top 3", Everything, Query{}, nil, 3, 3},
		// The 9th and 10th most recent results were found at the same time: the first in the
		// store's order is listed.
		{"top 9", Everything, Query{}, nil, 9, 9},
		{"three namespaces", teams{"team-a": true, "team-b": true, "default": true}, Query{}, nil, 5, 5},
		{"one source", Everything, Query{Sources: []string{"kyverno"}},
			func(it item) bool { return strings.ToLower(it.res.Source) == "kyverno" }, 100, 100},
		{"nothing", teams{"team-z": true}, Query{}, nil, 0, DefaultTop},
	} {
		t.Run(c.name, func(t *testing.T) {
			var its []item
			for _, it := range items(reps, c.v) {
				if c.keep == nil || c.keep(it) {
					its = append(its, it)
				}
			}
			want := expectOverview(its, names, c.len)
			got, err := e.Overview(c.v, c.q, c.top)
			if err != nil {
				t.Fatal(err)
			}
			recent := got.Recent
			got.Recent = nil
			wantRecent := want.Recent
			want.Recent = nil
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("overview:\n got %+v\nwant %+v", *got, want)
			}
			if len(recent) != len(wantRecent) {
				t.Fatalf("%d recent, want %d", len(recent), len(wantRecent))
			}
			for i := range recent {
				if rowID(recent[i]) != rowID(wantRecent[i]) {
					t.Errorf("recent[%d] = %s, want %s", i, rowID(recent[i]), rowID(wantRecent[i]))
				}
			}
		})
	}
	if _, err := e.Overview(Everything, Query{}, MaxTop+1); err == nil {
		t.Error("top above MaxTop: no error")
	}
}
