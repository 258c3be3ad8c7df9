package query

import (
	"slices"
	"strings"
	"testing"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
)

// filterCases are queries with what they select, said plainly over the fixtures.
var filterCases = []struct {
	name  string
	q     Query
	want  func(it item) bool
	least int // the fixtures must hold at least this many such results, so a case selects
}{
	{"everything", Query{}, func(item) bool { return true }, 33},
	{"namespace", Query{Namespaces: []string{"team-a"}}, func(it item) bool { return it.namespace() == "team-a" }, 6},
	// A cluster report's result about a pod is about the pod's namespace.
	{"namespace of a resource in a cluster report", Query{Namespaces: []string{"kube-system"}},
		func(it item) bool { return it.namespace() == "kube-system" }, 4},
	{"namespace wildcard", Query{Namespaces: []string{"team-?", "my-*"}},
		func(it item) bool {
			return strings.HasPrefix(it.namespace(), "team-") || it.namespace() == "my-namespace"
		}, 12},
	{"namespace star matches cluster-scoped results too", Query{Namespaces: []string{"*"}}, func(item) bool { return true }, 33},
	{"kind", Query{Kinds: []string{"Pod"}}, func(it item) bool { return it.kind() == "Pod" }, 8},
	{"kind wildcard", Query{Kinds: []string{"*Set", "Deploy*"}},
		func(it item) bool { return it.kind() == "StatefulSet" || it.kind() == "Deployment" }, 2},
	{"kind is case-sensitive", Query{Kinds: []string{"pod"}}, func(item) bool { return false }, 0},
	{"name wildcard", Query{Names: []string{"web-?"}},
		func(it item) bool { return len(it.name()) == 5 && strings.HasPrefix(it.name(), "web-") }, 3},
	{"policy", Query{Policies: []string{"require-labels"}}, func(it item) bool { return it.res.Policy == "require-labels" }, 4},
	{"policy wildcard over Trivy's titles", Query{Policies: []string{"openssl:*"}},
		func(it item) bool { return strings.HasPrefix(it.res.Policy, "openssl:") }, 8},
	{"rule", Query{Rules: []string{"check-owner", "kelvin"}},
		func(it item) bool { return it.res.Rule == "check-owner" || it.res.Rule == "kelvin" }, 4},
	{"category", Query{Categories: []string{"libssl1.1"}}, func(it item) bool { return it.res.Category == "libssl1.1" }, 5},
	{"category wildcard", Query{Categories: []string{"lib*"}},
		func(it item) bool { return strings.HasPrefix(it.res.Category, "lib") }, 10},
	{"severity", Query{Severities: []v1alpha1.Severity{"high", "critical"}},
		func(it item) bool { return it.res.Severity == "high" || it.res.Severity == "critical" }, 8},
	{"severity from the property (Falco)", Query{Severities: []v1alpha1.Severity{"low"}},
		func(it item) bool { return it.res.Severity == "low" }, 3},
	{"no severity", Query{Severities: []v1alpha1.Severity{None}}, func(it item) bool { return it.res.Severity == "" }, 4},
	{"status", Query{Statuses: []v1alpha1.ResultStatus{"fail"}}, func(it item) bool { return it.res.Status == "fail" }, 7},
	{"statuses", Query{Statuses: []v1alpha1.ResultStatus{"pass", "skip", "error"}},
		func(it item) bool {
			return it.res.Status == "pass" || it.res.Status == "skip" || it.res.Status == "error"
		}, 6},
	{"no status (Trivy)", Query{Statuses: []v1alpha1.ResultStatus{None}}, func(it item) bool { return it.res.Status == "" }, 14},
	{"source in any case", Query{Sources: []string{"KYVERNO"}},
		func(it item) bool { return strings.ToLower(it.res.Source) == "kyverno" }, 14},
	{"source wildcard", Query{Sources: []string{"tri*"}}, func(it item) bool { return it.res.Source == "Trivy" }, 14},
	{"report label", Query{ReportLabels: "env=prod"}, func(it item) bool { return it.rep.Labels["env"] == "prod" }, 8},
	{"report label set", Query{ReportLabels: "env in (prod, dev)"},
		func(it item) bool { return it.rep.Labels["env"] == "prod" || it.rep.Labels["env"] == "dev" }, 11},
	{"report label absent", Query{ReportLabels: "!app.kubernetes.io/managed-by"},
		func(it item) bool { _, ok := it.rep.Labels["app.kubernetes.io/managed-by"]; return !ok }, 20},
	{"text in any case", Query{Text: "privileged MODE"},
		func(it item) bool { return strings.Contains(strings.ToLower(it.res.Message), "privileged mode") }, 2},
	{"text with an accent", Query{Text: "TEMPÉRATURE"}, func(it item) bool { return strings.HasPrefix(it.res.Message, "température") }, 1},
	// The Kelvin sign folds to k: the message holds no ASCII k.
	{"text k finds the Kelvin sign", Query{Text: "5 k"}, func(it item) bool { return strings.Contains(it.res.Message, "5 \u212a") }, 1},
	{"text matches nothing", Query{Text: "no message says this"}, func(item) bool { return false }, 0},
	{"cluster-scoped", Query{Scope: Cluster}, func(it item) bool { return it.namespace() == "" }, 3},
	{"namespaced", Query{Scope: Namespaced}, func(it item) bool { return it.namespace() != "" }, 30},
	{"every field at once", Query{
		Namespaces: []string{"team-*"}, Kinds: []string{"Pod"}, Names: []string{"*"}, Policies: []string{"disallow-*"},
		Rules: []string{"privileged-containers"}, Categories: []string{"Pod Security*"}, Sources: []string{"kyverno"},
		Severities: []v1alpha1.Severity{"critical", "high"}, Statuses: []v1alpha1.ResultStatus{"fail"},
		ReportLabels: "app.kubernetes.io/managed-by=kyverno", Text: "disallowed", Scope: Namespaced,
	}, func(it item) bool {
		return strings.HasPrefix(it.namespace(), "team-") && it.res.Policy == "disallow-privileged" && it.res.Status == "fail"
	}, 2},
}

// TestFilters checks every filter against a plain loop over the fixtures.
func TestFilters(t *testing.T) {
	e, reps := fixture(t)
	for _, c := range filterCases {
		t.Run(c.name, func(t *testing.T) {
			var want []string
			for _, it := range items(reps, Everything) {
				if c.want(it) {
					want = append(want, it.id())
				}
			}
			if len(want) < c.least {
				t.Fatalf("the fixtures hold %d such results, want at least %d", len(want), c.least)
			}
			got := ids(allRows(t, e, Everything, Selection{Query: c.q}))
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("selected %d results:\n%v\nwant %d:\n%v", len(got), got, len(want), want)
			}
			p, err := e.Results(Everything, Selection{Query: c.q}, Page{Limit: 1})
			if err != nil || p.Total != len(want) {
				t.Errorf("total = %v (%v), want %d", p.Total, err, len(want))
			}
		})
	}
}

// TestBadQueries: a query that cannot be compiled says which field is wrong, and selects
// nothing.
func TestBadQueries(t *testing.T) {
	e, _ := fixture(t)
	for _, c := range []struct {
		q    Query
		want []string
	}{
		{Query{Namespaces: []string{""}}, []string{"namespaces: [0]: empty pattern"}},
		{Query{Sources: []string{"kyverno", ""}}, []string{"sources: [1]: empty pattern"}},
		{Query{Statuses: []v1alpha1.ResultStatus{"failed"}}, []string{`statuses: unknown status "failed"`}},
		{Query{Severities: []v1alpha1.Severity{"High", ""}}, []string{`severities: unknown severity "High"`, `severities: unknown severity ""`}},
		{Query{ReportLabels: "env in prod"}, []string{"reportLabels: "}},
		{Query{Scope: "global"}, []string{`scope: unknown scope "global"`}},
		{Query{Rules: []string{""}, Scope: "x"}, []string{"rules: [0]", "scope: "}},
	} {
		_, err := e.Results(Everything, Selection{Query: c.q}, Page{})
		for _, w := range c.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%+v: err = %v, want it to say %q", c.q, err, w)
			}
		}
		if _, err := e.Overview(Everything, c.q, 0); err == nil {
			t.Errorf("%+v: the overview took it", c.q)
		}
	}
	for _, sel := range []Selection{{Sort: Sort{By: "age"}}, {GroupBy: "team"}} {
		if _, err := e.Results(Everything, sel, Page{}); err == nil {
			t.Errorf("%+v: no error", sel)
		}
	}
}
