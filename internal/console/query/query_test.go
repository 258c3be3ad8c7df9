package query

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"testing"
)

// clusterReports sees the cluster reports only: a Visibility by report kind.
type clusterReports struct{}

func (clusterReports) Allows(kind, ns string) bool {
	return (kind == "ClusterPolicyReport" || kind == "ClusterReport") && ns == ""
}

// TestVisibilityComesFirst: what a person may not see counts nowhere, even where the query
// names it. Visibility goes by the report (where the producer wrote the result), not by the
// namespace the result is about: a cluster report's result about a kube-system pod is the
// cluster report's.
func TestVisibilityComesFirst(t *testing.T) {
	e, reps := fixture(t)
	for _, c := range []struct {
		name string
		v    Visibility
		want func(it item) bool
	}{
		{"kube-system", teams{"kube-system": true}, func(it item) bool { return it.rep.Namespace == "kube-system" }},
		{"cluster reports", clusterReports{}, func(it item) bool { return it.rep.Namespace == "" }},
		{"nothing", teams{}, func(item) bool { return false }},
	} {
		t.Run(c.name, func(t *testing.T) {
			want := 0
			for _, it := range items(reps, Everything) {
				if c.want(it) {
					want++
				}
			}
			if want == 0 && c.name != "nothing" {
				t.Fatal("the fixtures hold no such result")
			}
			sel := Selection{Query: Query{Namespaces: []string{"*"}}, GroupBy: GroupNamespace}
			p, err := e.Results(c.v, sel, Page{Limit: MaxLimit})
			if err != nil {
				t.Fatal(err)
			}
			grouped := 0
			for _, g := range p.Groups {
				grouped += g.Total
			}
			o, err := e.Overview(c.v, sel.Query, 0)
			if err != nil {
				t.Fatal(err)
			}
			perSource := 0
			for _, s := range o.Sources {
				perSource += s.Statuses.Total()
			}
			var csvOut, jsonOut bytes.Buffer
			if err := e.WriteCSV(&csvOut, c.v, sel); err != nil {
				t.Fatal(err)
			}
			if err := e.WriteJSON(&jsonOut, c.v, sel); err != nil {
				t.Fatal(err)
			}
			records, _ := csv.NewReader(&csvOut).ReadAll()
			var rows []Row
			_ = json.Unmarshal(jsonOut.Bytes(), &rows)
			for what, got := range map[string]int{
				"total": p.Total, "rows": len(p.Rows), "grouped": grouped, "overview statuses": o.Statuses.Total(),
				"overview severities": o.Severities.Total(), "overview per source": perSource,
				"CSV records": len(records) - 1, "JSON rows": len(rows),
			} {
				if got != want {
					t.Errorf("%s = %d, want %d", what, got, want)
				}
			}
			if c.name == "kube-system" && (o.Cluster.Total() != 0 || len(o.AffectedNamespaces) != 1) {
				t.Errorf("overview = %+v", o)
			}
		})
	}
}
