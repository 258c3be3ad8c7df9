package dashboards

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/promqltest"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/resultmetrics"
)

// loadScript is a promqltest load command of the scraped result series, five minutes of them.
func loadScript(mfs map[string]*dto.MetricFamily) string {
	var b strings.Builder
	b.WriteString("load 1m\n")
	for _, fam := range []string{resultmetrics.ResultFamily, resultmetrics.ClusterResultFamily} {
		for _, m := range mfs[fam].GetMetric() {
			var pairs []string
			for _, l := range m.GetLabel() {
				if l.GetValue() != "" { // as Prometheus stores them: an empty label is none
					pairs = append(pairs, l.GetName()+"="+strconv.Quote(l.GetValue()))
				}
			}
			fmt.Fprintf(&b, "  %s{%s} %g+0x5\n", fam, strings.Join(pairs, ","), m.GetGauge().GetValue())
		}
	}
	return b.String()
}

// quotedVariable is a Grafana variable as a label matcher's value.
var quotedVariable = regexp.MustCompile(`"\$\{?(\w+)\}?"`)

// panelResults evaluates every panel query of the results dashboard on the series, with the
// profile variable set to profile and every other variable on All, and returns each panel's
// samples by title.
func panelResults(t *testing.T, mfs map[string]*dto.MetricFamily, profile string) map[string]promql.Vector {
	t.Helper()
	var d *dashboard
	for _, x := range dashboards(t) {
		if x.file == "policy-herald-results.json" {
			d = &x
		}
	}
	if d == nil {
		t.Fatal("no config/grafana/policy-herald-results.json")
	}
	all := map[string]string{"profile": profile}
	for _, v := range d.Templating.List {
		if v.IncludeAll {
			all[v.Name] = v.AllValue
		}
	}
	storage := promqltest.LoadedStorage(t, loadScript(mfs))
	engine := promqltest.NewTestEngine(t, false, 5*time.Minute, 100000)
	at := time.Unix(0, 0).Add(5 * time.Minute)
	out := map[string]promql.Vector{}
	for _, p := range d.Panels {
		var vec promql.Vector
		for _, tg := range p.Targets {
			expr := quotedVariable.ReplaceAllStringFunc(tg.Expr, func(q string) string {
				name := quotedVariable.FindStringSubmatch(q)[1]
				v, ok := all[name]
				if !ok {
					t.Fatalf("panel %q: variable %s has no value for All", p.Title, name)
				}
				return strconv.Quote(v)
			})
			q, err := engine.NewInstantQuery(context.Background(), storage, nil, expr, at)
			if err != nil {
				t.Fatalf("panel %q: %v", p.Title, err)
			}
			res := q.Exec(context.Background())
			if res.Err != nil {
				t.Fatalf("panel %q: %s: %v", p.Title, expr, res.Err)
			}
			v, err := res.Vector()
			if err != nil {
				t.Fatalf("panel %q: %v", p.Title, err)
			}
			vec = append(vec, v...)
			q.Close()
		}
		out[p.Title] = vec
	}
	return out
}

// total is the sum of a panel's samples.
func total(v promql.Vector) float64 {
	n := 0.0
	for _, s := range v {
		n += s.F
	}
	return n
}

// The results dashboard, evaluated by Prometheus' engine on the series the operator exports,
// shows the reports' results with the default, a detailed and a custom profile alike: every
// panel has data and the same totals. A label a custom profile leaves out groups every result
// in one unnamed series.
func TestResultsDashboardShowsTheResults(t *testing.T) {
	// reports(): namespaced, 2 failing and 1 warning; cluster, 1 failing and 1 warning; one
	// failing policy. Pass and skip are not counted (the default filter).
	want := map[string]float64{
		"Failing results": 2, "Failing cluster results": 1, "Failing policies": 1, "Results counted": 5,
		"Failing results over time by severity": 3, "Failing results over time by source": 3,
		"Failing results over time by namespace": 2, "Top failing policies": 3,
		"Results by namespace": 3, "Results by policy": 5, "Results by severity": 5, "Results by source": 5,
		"Results by status": 5, "Failing results by namespace and policy": 2, "Failing cluster results by policy": 1,
	}
	for _, c := range []struct {
		name, profile string
		spec          *v1alpha1.MetricsProfileSpec
	}{
		{"default", resultmetrics.DefaultProfile, nil},
		{"detailed", platform + "/results", &v1alpha1.MetricsProfileSpec{Mode: v1alpha1.MetricsDetailed}},
		{"custom", platform + "/results", &v1alpha1.MetricsProfileSpec{Mode: v1alpha1.MetricsCustom,
			CustomLabels: []v1alpha1.MetricLabel{"namespace", "policy", "status", "label:team"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, mfs := exposition(t, c.spec)
			got := panelResults(t, mfs, c.profile)
			if len(got) != len(want) {
				t.Errorf("panels %d, want %d: a new panel needs its total here", len(got), len(want))
			}
			for title, v := range got {
				if w, ok := want[title]; !ok || len(v) == 0 || total(v) != w {
					t.Errorf("panel %q shows %v (total %g), want a total of %g", title, v, total(v), w)
				}
			}
			if c.name == "custom" {
				// No severity label: one series without it, holding every result.
				if v := got["Results by severity"]; len(v) != 1 || v[0].Metric.Has("severity") {
					t.Errorf("Results by severity = %v, want one series without severity", v)
				}
			}
		})
	}
}
