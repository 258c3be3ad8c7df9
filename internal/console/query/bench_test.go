package query

import (
	"testing"

	"github.com/go-logr/logr"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/console/consoletest/reportgen"
	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/store"
)

var benchEngine *Engine

// bigEngine is an engine over a real store holding 100,000 Kyverno-like results: 2,000 reports
// of 50 in 20 namespaces, 3 results a pod.
func bigEngine() *Engine {
	if benchEngine == nil {
		s := store.New(nil, nil, logr.Discard())
		for i := range 2000 {
			s.Put(report.FromPolicyReport(reportgen.KyvernoReport(i, 50, 20, 3)))
		}
		benchEngine = New(s)
	}
	return benchEngine
}

var visibilities = []struct {
	name string
	v    Visibility
}{
	{"all", Everything},
	{"3-namespaces", teams{"team-1": true, "team-2": true, "team-3": true}},
}

// failingPrivileged is a filtered selection: the fail and warn results of high or critical
// severity whose message names privileged mode, newest first.
var failingPrivileged = Selection{
	Query: Query{
		Statuses:   []v1alpha1.ResultStatus{"fail", "warn"},
		Severities: []v1alpha1.Severity{"high", "critical"},
		Text:       "PRIVILEGED mode",
	},
	Sort: Sort{By: SortTime, Desc: true},
}

// BenchmarkResults measures a results page of 100 at 100,000 results: filtered; filtered and
// grouped by namespace, sorted by policy; and a deep page (offset 10,000 of an unfiltered
// selection sorted by name).
func BenchmarkResults(b *testing.B) {
	e := bigEngine()
	grouped := failingPrivileged
	grouped.GroupBy, grouped.Sort = GroupNamespace, Sort{By: SortPolicy}
	cases := []struct {
		name string
		sel  Selection
		page Page
	}{
		{"filtered", failingPrivileged, Page{Limit: 100}},
		{"filtered-grouped", grouped, Page{Limit: 100}},
		{"unfiltered", Selection{}, Page{Limit: 100}},
		{"unfiltered-by-name", Selection{Sort: Sort{By: SortName}}, Page{Limit: 100}},
		{"unfiltered-by-name-desc-deep", Selection{Sort: Sort{By: SortName, Desc: true}}, Page{Offset: 10_000, Limit: 100}},
		{"unfiltered-by-severity", Selection{Sort: Sort{By: SortSeverity, Desc: true}}, Page{Limit: 100}},
	}
	for _, c := range cases {
		for _, vis := range visibilities {
			b.Run(c.name+"/"+vis.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					p, err := e.Results(vis.v, c.sel, c.page)
					if err != nil || len(p.Rows) == 0 {
						b.Fatal(err, len(p.Rows))
					}
				}
			})
		}
	}
}

// BenchmarkOverview measures the overview of every result at 100,000 results.
func BenchmarkOverview(b *testing.B) {
	e := bigEngine()
	for _, vis := range visibilities {
		b.Run(vis.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.Overview(vis.v, Query{}, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDetailPages measures the policies index, a policy page (counts per rule and
// namespace, and its first page of results, worst first), the namespaces list and a resource page
// at 100,000 results.
func BenchmarkDetailPages(b *testing.B) {
	e := bigEngine()
	worstFirst := Selection{Sort: Sort{By: SortStatus, Desc: true}}
	pod := ResourceRef{Namespace: "team-1", Kind: "Pod", Name: "web-1-0-7f9c8d6b5-x0000"}
	cases := []struct {
		name string
		run  func(v Visibility) (bool, error)
	}{
		{"policies", func(v Visibility) (bool, error) { p, err := e.Policies(v, Query{}); return len(p) > 0, err }},
		{"policy", func(v Visibility) (bool, error) {
			d, err := e.Policy(v, "policy-3", worstFirst, Page{Limit: 100})
			return d != nil && len(d.Results.Rows) > 0, err
		}},
		{"namespaces", func(v Visibility) (bool, error) { n, err := e.Namespaces(v, Query{}); return len(n) > 0, err }},
		{"resource", func(v Visibility) (bool, error) {
			d, err := e.Resource(v, pod, Selection{}, Page{})
			return d != nil && len(d.Rows) == 3, err
		}},
	}
	for _, c := range cases {
		for _, vis := range visibilities {
			b.Run(c.name+"/"+vis.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if ok, err := c.run(vis.v); err != nil || !ok {
						b.Fatal(err, ok)
					}
				}
			})
		}
	}
}
