package query

import (
	"slices"
	"strings"
	"testing"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
)

// countBy counts the fixture results per key, as the tests count them.
func countBy(its []item, key func(item) string) map[string]*tcount {
	out := map[string]*tcount{}
	for _, it := range its {
		k := key(it)
		if out[k] == nil {
			out[k] = &tcount{}
		}
		out[k].add(it)
	}
	return out
}

func TestPolicies(t *testing.T) {
	e, reps := fixture(t)
	for _, v := range []Visibility{Everything, teams{"team-a": true}} {
		its := items(reps, v)
		want := countBy(its, func(it item) string { return it.res.Policy })
		nss := map[string]map[string]bool{}
		for _, it := range its {
			if nss[it.res.Policy] == nil {
				nss[it.res.Policy] = map[string]bool{}
			}
			if it.namespace() != "" {
				nss[it.res.Policy][it.namespace()] = true
			}
		}
		got, err := e.Policies(v, Query{})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) || len(got) < 2 {
			t.Fatalf("%d policies, want %d: %+v", len(got), len(want), got)
		}
		if !slices.IsSortedFunc(got, func(a, b PolicySummary) int { return strings.Compare(a.Name, b.Name) }) {
			t.Errorf("policies not ordered by name")
		}
		for _, p := range got {
			if w := want[p.Name]; w == nil || p.Statuses != w.statuses() || p.Namespaces != len(nss[p.Name]) {
				t.Errorf("policy %q = %+v, want %+v in %d namespaces", p.Name, p, w, len(nss[p.Name]))
			}
		}
	}
	failing, err := e.Policies(Everything, Query{Statuses: []v1alpha1.ResultStatus{"fail"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range failing {
		if p.Statuses.Fail != p.Statuses.Total() {
			t.Errorf("status=fail: policy %+v counts other statuses", p)
		}
	}
}

func TestPolicyDetail(t *testing.T) {
	e, reps := fixture(t)
	v := teams{"team-a": true, "team-c": true}
	var its []item
	for _, it := range items(reps, v) {
		if it.res.Policy == "require-labels" {
			its = append(its, it)
		}
	}
	rules := countBy(its, func(it item) string { return it.res.Rule })
	nss := countBy(its, item.namespace)
	d, err := e.Policy(v, "require-labels", Selection{Query: Query{Statuses: []v1alpha1.ResultStatus{"fail"}}}, Page{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if d == nil || len(d.Rules) != len(rules) || len(d.Namespaces) != len(nss) || len(rules) < 2 || len(nss) < 2 {
		t.Fatalf("detail = %+v, want rules %v and namespaces %v", d, rules, nss)
	}
	for _, b := range d.Rules {
		if b.Statuses != rules[b.Key].statuses() {
			t.Errorf("rule %q: %+v, want %+v", b.Key, b.Statuses, rules[b.Key].statuses())
		}
	}
	for _, b := range d.Namespaces {
		if b.Statuses != nss[b.Key].statuses() {
			t.Errorf("namespace %q: %+v, want %+v", b.Key, b.Statuses, nss[b.Key].statuses())
		}
	}
	fails := 0
	for _, it := range its {
		if it.res.Status == "fail" {
			fails++
		}
	}
	if d.Results.Total != fails || len(d.Results.Rows) != 1 || d.Results.Rows[0].Status != "fail" || d.Results.Rows[0].Policy != "require-labels" {
		t.Errorf("results = %+v, want %d failing results, one shown", d.Results, fails)
	}
	// Exact: a name is not a pattern.
	if d, err := e.Policy(Everything, "require-*", Selection{}, Page{}); err != nil || d != nil {
		t.Errorf("require-* = %+v, %v: want no policy", d, err)
	}
	if d, err := e.Policy(teams{"team-b": true}, "require-ns-labels", Selection{}, Page{}); err != nil || d != nil {
		t.Errorf("a policy with results only in an unseen cluster report = %+v, %v", d, err)
	}
}

func TestNamespaces(t *testing.T) {
	e, reps := fixture(t)
	v := teams{"team-a": true, "team-b": true}
	want := countBy(items(reps, v), item.namespace)
	delete(want, "")
	got, err := e.Namespaces(v, Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) || len(got) != 2 {
		t.Fatalf("namespaces = %+v, want %v", got, want)
	}
	for _, n := range got {
		if n.Statuses != want[n.Name].statuses() {
			t.Errorf("namespace %s = %+v, want %+v", n.Name, n.Statuses, want[n.Name].statuses())
		}
	}
	none, err := e.Namespaces(v, Query{Policies: []string{"no-such-policy"}})
	if err != nil || len(none) != 2 || none[0].Statuses.Total() != 0 {
		t.Errorf("a namespace whose results the query leaves out is listed with zero counts: %+v, %v", none, err)
	}
}
