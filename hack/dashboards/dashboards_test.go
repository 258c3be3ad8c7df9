package dashboards

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	k8slabels "k8s.io/apimachinery/pkg/labels"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/resultmetrics"
	"github.com/policyherald/policy-herald/internal/testing/metricstest"
)

const platform = "policy-herald-system"

type panel struct {
	Title      string `json:"title"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a row's
}

type variable struct {
	Name       string `json:"name"`
	Type       string `json:"type"`
	Query      any    `json:"query"`
	IncludeAll bool   `json:"includeAll"`
	AllValue   string `json:"allValue"`
}

type dashboard struct {
	file       string
	Templating struct {
		List []variable `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

// query is one PromQL expression of a dashboard; label is the label a label_values()
// variable lists.
type query struct {
	where string
	expr  parser.Expr
	label string
}

func dashboards(t *testing.T) []dashboard {
	t.Helper()
	files, err := filepath.Glob("../../config/grafana/*.json")
	if err != nil || len(files) < 2 {
		t.Fatalf("dashboards %v (%v): want the health and the results dashboard", files, err)
	}
	var out []dashboard
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d := dashboard{file: filepath.Base(f)}
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, d)
	}
	return out
}

var (
	// labelValues is Grafana's variable query label_values(selector, label), not PromQL.
	labelValues = regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)
	// Grafana's interval variables stand for a duration where PromQL wants one; every other
	// variable stands in a quoted label value, which the parser takes as it is.
	interval     = regexp.MustCompile(`\$__(rate_interval|interval|range)\b`)
	promqlParser = parser.NewParser(parser.Options{})
)

// queries parses every query of d: its variables' and its panels' (rows' too).
func queries(t *testing.T, d dashboard) []query {
	t.Helper()
	var out []query
	add := func(where, expr, label string) {
		e, err := promqlParser.ParseExpr(interval.ReplaceAllString(expr, "5m"))
		if err != nil {
			t.Errorf("%s: %s: %q does not parse: %v", d.file, where, expr, err)
			return
		}
		out = append(out, query{where, e, label})
	}
	for _, v := range d.Templating.List {
		q, ok := v.Query.(map[string]any)
		if !ok {
			continue
		}
		expr, _ := q["query"].(string)
		where := "variable " + v.Name
		if m := labelValues.FindStringSubmatch(expr); m != nil {
			add(where, m[1], m[2])
		} else {
			add(where, expr, "")
		}
	}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				add("panel "+p.Title, tg.Expr, "")
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	if len(out) == 0 {
		t.Errorf("%s has no queries", d.file)
	}
	return out
}

// use is what a query reads of the metrics: the families it selects, the matchers of each
// selector, and the labels it groups or matches by.
type use struct {
	families []string
	matchers []*labels.Matcher
	grouping []string
}

func usesOf(q query) []use {
	var out []use
	var grouping []string
	if q.label != "" {
		grouping = append(grouping, q.label)
	}
	parser.Inspect(q.expr, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.AggregateExpr:
			grouping = append(grouping, n.Grouping...)
		case *parser.BinaryExpr:
			if n.VectorMatching != nil {
				grouping = append(grouping, n.VectorMatching.MatchingLabels...)
				grouping = append(grouping, n.VectorMatching.Include...)
			}
		case *parser.VectorSelector:
			u := use{}
			for _, m := range n.LabelMatchers {
				if m.Name != model.MetricNameLabel {
					u.matchers = append(u.matchers, m)
					continue
				}
				if m.Type == labels.MatchEqual {
					u.families = append(u.families, m.Value)
				} else {
					// An alternation of names, as in {__name__=~"a|b"}.
					u.families = append(u.families, strings.Split(m.Value, "|")...)
				}
			}
			out = append(out, u)
		}
		return nil
	})
	// Grouping labels are checked against every family the query selects.
	for i := range out {
		out[i].grouping = grouping
	}
	return out
}

func isResultFamily(name string) bool {
	return name == resultmetrics.ResultFamily || name == resultmetrics.ClusterResultFamily
}

// staticSource is a report store of fixed reports.
type staticSource struct {
	reports map[string]*report.Report
	names   *report.SourceNames
}

func newSource(reps ...*report.Report) *staticSource {
	s := &staticSource{reports: map[string]*report.Report{}, names: report.NewSourceNames()}
	for _, r := range reps {
		s.reports[r.Key()] = r
		s.names.Replace(nil, r)
	}
	return s
}

func (s *staticSource) Get(key string) *report.Report { return s.reports[key] }
func (s *staticSource) Keys() []string {
	var out []string
	for k := range s.reports {
		out = append(out, k)
	}
	return out
}
func (s *staticSource) NamespaceLabels(string) (k8slabels.Set, bool) { return k8slabels.Set{}, true }
func (s *staticSource) WaitForSync(context.Context) bool             { return true }
func (s *staticSource) SourceNames() *report.SourceNames             { return s.names }

// reports have failing and warning results of every kind of report, with every label a profile
// can export set.
func reports() []*report.Report {
	check := func(policy string, status v1alpha1.ResultStatus, sev v1alpha1.Severity) *report.Check {
		return &report.Check{Policy: policy, Rule: "r", Status: status, Severity: sev, Category: "c", Source: "kyverno"}
	}
	res := func(c *report.Check, ns string) report.Result {
		return report.Result{Check: c, Message: "m", Resource: &report.Resource{Kind: "Pod", Namespace: ns, Name: "p"}}
	}
	fail := check("require-labels", v1alpha1.StatusFail, v1alpha1.SeverityHigh)
	warn := check("disallow-latest", v1alpha1.StatusWarn, v1alpha1.SeverityLow)
	team := map[string]string{"team": "a"}
	return []*report.Report{
		{Kind: "PolicyReport", Namespace: "team-a", Name: "pods", Labels: team, Results: []report.Result{res(fail, "team-a"), res(warn, "team-a")}},
		{Kind: "Report", Namespace: "team-b", Name: "pods", Labels: team, Results: []report.Result{res(fail, "team-b")}},
		{Kind: "ClusterPolicyReport", Name: "nodes", Labels: team, Results: []report.Result{res(fail, "")}},
		{Kind: "ClusterReport", Name: "namespaces", Labels: team, Results: []report.Result{res(warn, "")}},
	}
}

// exposition starts the operator's result exporter on the reports with the platform profile
// spec (nil: the implicit default profile), scrapes it as Prometheus does and returns the
// label names of each result family, and the families.
func exposition(t *testing.T, spec *v1alpha1.MetricsProfileSpec) (map[string]map[string]bool, map[string]*dto.MetricFamily) {
	t.Helper()
	e := resultmetrics.New(newSource(reports()...), platform, logr.Discard())
	if spec != nil {
		p, err := resultmetrics.Compile(platform, "results", *spec, platform)
		if err != nil {
			t.Fatal(err)
		}
		e.Set(p)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(e)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("the exporter: %v", err)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		mfs, _ := metricstest.Scrape(t, reg)
		out := map[string]map[string]bool{}
		for _, fam := range []string{resultmetrics.ResultFamily, resultmetrics.ClusterResultFamily} {
			for _, m := range mfs[fam].GetMetric() {
				if out[fam] == nil {
					out[fam] = map[string]bool{}
				}
				for _, l := range m.GetLabel() {
					out[fam][l.GetName()] = true
				}
			}
		}
		if len(out) == 2 {
			return out, mfs
		}
		if time.Now().After(deadline) {
			t.Fatalf("the exporter exposes %v after 10 s, want both result families", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Every query of every dashboard parses as PromQL (Grafana's label_values() variables: their
// selector), and names only metrics the operator exposes: its health metrics (checked by name in
// config/monitoring_test.go) or the result families, whose names and labels are checked here.
func TestQueriesParse(t *testing.T) {
	results := 0
	for _, d := range dashboards(t) {
		for _, q := range queries(t, d) {
			for _, u := range usesOf(q) {
				if len(u.families) == 0 {
					t.Errorf("%s: %s: a selector names no metric: %s", d.file, q.where, q.expr)
				}
				for _, f := range u.families {
					switch {
					case isResultFamily(f):
						results++
					case strings.HasPrefix(f, "policy_herald_"):
					default:
						t.Errorf("%s: %s: %s is no metric of the operator", d.file, q.where, f)
					}
				}
			}
		}
	}
	if results == 0 {
		t.Error("no dashboard shows the result metrics")
	}
}

// labelsMissing returns the labels u reads that the exposition lacks for one of its families.
func labelsMissing(u use, exposed map[string]map[string]bool) []string {
	var names []string
	for _, m := range u.matchers {
		names = append(names, m.Name)
	}
	names = append(names, u.grouping...)
	var missing []string
	for _, f := range u.families {
		for _, n := range names {
			if !exposed[f][n] && !slices.Contains(missing, n) {
				missing = append(missing, n)
			}
		}
	}
	sort.Strings(missing)
	return missing
}

// resultUses returns every use of a result family in the dashboards, with where it is, and
// the dashboard variables by name.
func resultUses(t *testing.T) (map[string][]use, map[string]variable) {
	t.Helper()
	out := map[string][]use{}
	vars := map[string]variable{}
	for _, d := range dashboards(t) {
		for _, v := range d.Templating.List {
			vars[v.Name] = v
		}
		for _, q := range queries(t, d) {
			for _, u := range usesOf(q) {
				n := 0
				for _, f := range u.families {
					if isResultFamily(f) {
						n++
					}
				}
				if n > 0 && n < len(u.families) {
					t.Fatalf("%s: %s selects %v, result families and others in one selector", d.file, q.where, u.families)
				}
				if n > 0 {
					out[d.file+": "+q.where] = append(out[d.file+": "+q.where], u)
				}
			}
		}
	}
	return out, vars
}

// With the default profile (mode simple) and a detailed one, every result family and label a
// dashboard reads is in the exposition.
func TestResultQueriesMatchTheExposition(t *testing.T) {
	for name, spec := range map[string]*v1alpha1.MetricsProfileSpec{
		"default":  nil,
		"detailed": {Mode: v1alpha1.MetricsDetailed},
	} {
		t.Run(name, func(t *testing.T) {
			exposed, _ := exposition(t, spec)
			uses, _ := resultUses(t)
			for where, us := range uses {
				for _, u := range us {
					for _, f := range u.families {
						if exposed[f] == nil {
							t.Errorf("%s: the operator exposes no %s", where, f)
						}
					}
					if missing := labelsMissing(u, exposed); len(missing) > 0 {
						t.Errorf("%s: reads labels %v, which the %s profile does not expose", where, missing, name)
					}
				}
			}
		})
	}
}

// A custom profile exports only its labels; the others are absent. The dashboards then still
// show every result: a label a profile leaves out is only ever matched by a variable whose All
// is ".*" (which matches the absent label) or grouped by (all results in one group); only
// status="fail" selects on a fixed value, so a profile without status has empty failing panels.
func TestResultQueriesDegradeWithACustomProfile(t *testing.T) {
	spec := &v1alpha1.MetricsProfileSpec{Mode: v1alpha1.MetricsCustom,
		CustomLabels: []v1alpha1.MetricLabel{"namespace", "policy", "status", "label:team"}}
	exposed, _ := exposition(t, spec)
	if exposed[resultmetrics.ResultFamily]["severity"] || !exposed[resultmetrics.ResultFamily]["label_team"] {
		t.Fatalf("the custom profile exposes %v, want its labels only", exposed[resultmetrics.ResultFamily])
	}
	uses, vars := resultUses(t)
	degraded := 0
	for where, us := range uses {
		for _, u := range us {
			missing := labelsMissing(u, exposed)
			if len(missing) > 0 {
				degraded++
			}
			for _, m := range u.matchers {
				if !slices.Contains(missing, m.Name) {
					continue
				}
				v, ok := vars[strings.TrimPrefix(m.Value, "$")]
				if m.Type != labels.MatchRegexp || !ok || !v.IncludeAll || v.AllValue != ".*" {
					t.Errorf("%s: matcher %s selects on a label the profile leaves out: want =~\"$variable\" of a variable whose All is .*", where, m)
				}
			}
		}
	}
	if degraded == 0 {
		t.Error("no query reads a label the custom profile leaves out: the test checks nothing")
	}
}

// The results dashboard offers the variables and panels docs/metrics.md names, every panel on
// the data source variable.
func TestResultsDashboard(t *testing.T) {
	var d *dashboard
	for _, x := range dashboards(t) {
		if x.file == "policy-herald-results.json" {
			d = &x
		}
	}
	if d == nil {
		t.Fatal("no config/grafana/policy-herald-results.json")
	}
	var names []string
	for _, v := range d.Templating.List {
		names = append(names, v.Name)
	}
	for _, want := range []string{"datasource", "profile", "namespace", "source", "severity", "status"} {
		if !slices.Contains(names, want) {
			t.Errorf("no variable %s (has %v)", want, names)
		}
	}
	var titles []string
	for _, p := range d.Panels {
		titles = append(titles, p.Title)
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q does not use the datasource variable", p.Title)
		}
	}
	for _, want := range []string{"Failing results", "Failing cluster results", "Failing results over time by severity",
		"Failing results over time by source", "Top failing policies", "Results by namespace", "Results by policy",
		"Results by severity", "Results by source"} {
		if !slices.Contains(titles, want) {
			t.Errorf("no panel %q (has %v)", want, titles)
		}
	}
}
