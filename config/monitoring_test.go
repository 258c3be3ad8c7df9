package config_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/policyherald/policy-herald/controllers"
	"github.com/policyherald/policy-herald/internal/ledger"
	"github.com/policyherald/policy-herald/internal/testing/testservers"
)

// ruleGroups reads the groups of config/prometheus/rules.yaml.
func ruleGroups(t *testing.T) []any {
	t.Helper()
	raw, err := os.ReadFile("prometheus/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Groups []any `json:"groups"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Groups) == 0 {
		t.Fatal("rules.yaml has no groups")
	}
	return doc.Groups
}

// promtool checks the rules file and runs its unit tests (each alert firing and not firing).
func TestAlertRulesWithPromtool(t *testing.T) {
	promtool := testservers.Path(t, "promtool")
	for _, args := range [][]string{{"check", "rules", "rules.yaml"}, {"test", "rules", "rules_test.yaml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = "prometheus"
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// The PrometheusRule carries exactly the groups of rules.yaml, which has the alerts named in
// the docs, each with a unit test.
func TestPrometheusRuleIsTheRulesFile(t *testing.T) {
	rules := ofKind(buildOnDisk(t, "prometheus"), "PrometheusRule")
	if len(rules) != 1 || rules[0].apiVersion != "monitoring.coreos.com/v1" {
		t.Fatalf("want one monitoring.coreos.com/v1 PrometheusRule, got %v", rules)
	}
	groups, _, _ := unstructured.NestedSlice(rules[0].content, "spec", "groups")
	if want := ruleGroups(t); !reflect.DeepEqual(groups, want) {
		t.Errorf("PrometheusRule spec.groups differ from prometheus/rules.yaml: copy the groups over\n got %v\nwant %v", groups, want)
	}
	tests, err := os.ReadFile("prometheus/rules_test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var alerts []string
	for _, r := range ruleExpressions(t) {
		alerts = append(alerts, r.alert)
		if !strings.Contains(string(tests), "alertname: "+r.alert+"\n") {
			t.Errorf("rules_test.yaml does not test %s", r.alert)
		}
	}
	want := []string{"PolicyHeraldDestinationFailing", "PolicyHeraldBacklogGrowing", "PolicyHeraldResultsDropped",
		"PolicyHeraldLedgerNearLimit", "PolicyHeraldEmailReportFailing"}
	if !slices.Equal(alerts, want) {
		t.Errorf("alerts = %v, want %v", alerts, want)
	}
}

type ruleExpr struct{ alert, expr string }

func ruleExpressions(t *testing.T) []ruleExpr {
	t.Helper()
	var out []ruleExpr
	for _, g := range ruleGroups(t) {
		rules, _, _ := unstructured.NestedSlice(g.(map[string]any), "rules")
		for _, r := range rules {
			m := r.(map[string]any)
			alert, _ := m["alert"].(string)
			expr, _ := m["expr"].(string)
			out = append(out, ruleExpr{alert, expr})
		}
	}
	return out
}

// The ledger alert's limit is the ledger's own: MaxShards ConfigMaps of MaxBytes.
func TestLedgerAlertMatchesTheLedgerLimit(t *testing.T) {
	want := fmt.Sprintf("policy_herald_ledger_bytes > 0.8 * %d * %d", ledger.MaxShards, ledger.MaxBytes)
	for _, r := range ruleExpressions(t) {
		if r.alert == "PolicyHeraldLedgerNearLimit" && strings.TrimSpace(r.expr) != want {
			t.Errorf("PolicyHeraldLedgerNearLimit expr = %q, want %q", r.expr, want)
		}
	}
}

// deliveryMetric is how internal/delivery/metrics.go names each metric it registers.
var deliveryMetric = regexp.MustCompile(`metricPrefix\s*\+\s*"(\w+)"`)

// exposedMetrics are the names of the series the operator's health metrics expose. The delivery
// engine's are read from its source, so a renamed or removed metric fails the rules and
// dashboard checks without a list to keep in step.
func exposedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	src, err := os.ReadFile("../internal/delivery/metrics.go")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{controllers.EmailReportRunsMetric: true}
	found := deliveryMetric.FindAllSubmatch(src, -1)
	if len(found) < 10 {
		t.Fatalf("found %d delivery metrics in internal/delivery/metrics.go, want at least 10: has the way they are named changed?", len(found))
	}
	for _, m := range found {
		n := "policy_herald_" + string(m[1])
		names[n] = true
		if strings.HasSuffix(n, "_seconds") && strings.Contains(n, "latency") {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				names[n+s] = true
			}
		}
	}
	return names
}

var metricName = regexp.MustCompile(`\bpolicy_herald_[a-zA-Z0-9_:]*`)

// checkExpr fails for an expression that names no operator metric, a policy_herald_ metric
// the operator does not expose, or that has unbalanced brackets or quotes. (hack/dashboards
// parses every dashboard query with Prometheus' PromQL parser, in a module of its own: the
// parser's module would raise client_golang and OpenTelemetry in the operator's go.mod.)
func checkExpr(t *testing.T, where, expr string, exposed map[string]bool) {
	t.Helper()
	names := metricName.FindAllString(expr, -1)
	if len(names) == 0 {
		t.Errorf("%s: %q uses no policy_herald_ metric", where, expr)
	}
	for _, n := range names {
		if !exposed[n] {
			t.Errorf("%s: %q uses %s, which the operator does not expose", where, expr, n)
		}
	}
	var stack []rune
	closing := map[rune]rune{')': '(', ']': '[', '}': '{'}
	inQuote := false
	for _, c := range expr {
		switch {
		case c == '"':
			inQuote = !inQuote
		case inQuote:
		case c == '(' || c == '[' || c == '{':
			stack = append(stack, c)
		case closing[c] != 0:
			if len(stack) == 0 || stack[len(stack)-1] != closing[c] {
				t.Errorf("%s: %q has an unbalanced %c", where, expr, c)
				return
			}
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) > 0 || inQuote {
		t.Errorf("%s: %q has unclosed brackets or quotes", where, expr)
	}
}

func TestAlertRulesUseExposedMetrics(t *testing.T) {
	exposed := exposedMetrics(t)
	for _, r := range ruleExpressions(t) {
		checkExpr(t, r.alert, r.expr, exposed)
	}
}

// The Grafana dashboard has a data source variable that every panel and query uses, the panels
// the docs name, and queries only of metrics the operator exposes.
func TestGrafanaDashboard(t *testing.T) {
	raw, err := os.ReadFile("grafana/policy-herald.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID        string `json:"uid"`
		Templating struct {
			List []struct {
				Name, Type string
				Query      any `json:"query"`
			} `json:"list"`
		} `json:"templating"`
		Panels []struct {
			Title      string `json:"title"`
			Datasource struct {
				UID string `json:"uid"`
			} `json:"datasource"`
			Targets []struct {
				Expr       string `json:"expr"`
				Datasource struct {
					UID string `json:"uid"`
				} `json:"datasource"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatal(err)
	}
	exposed := exposedMetrics(t)
	hasDatasource := false
	for _, v := range dash.Templating.List {
		if v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus" {
			hasDatasource = true
		}
		if q, ok := v.Query.(map[string]any); ok {
			checkExpr(t, "variable "+v.Name, q["query"].(string), exposed)
		}
	}
	if !hasDatasource {
		t.Error("the dashboard has no Prometheus data source variable named datasource")
	}
	var titles []string
	used := map[string]bool{}
	for _, p := range dash.Panels {
		titles = append(titles, p.Title)
		if p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q does not use the datasource variable", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			if q.Datasource.UID != "${datasource}" {
				t.Errorf("a query of panel %q does not use the datasource variable", p.Title)
			}
			checkExpr(t, "panel "+p.Title, q.Expr, exposed)
			for _, n := range metricName.FindAllString(q.Expr, -1) {
				used[n] = true
			}
		}
	}
	for _, want := range []string{"Deliveries by outcome", "Pending results and queue", "Oldest pending result",
		"Report-to-delivery latency", "Failing destinations", "Ledger size", "E-mail report runs"} {
		if !slices.Contains(titles, want) {
			t.Errorf("the dashboard has no panel %q (has %v)", want, titles)
		}
	}
	for _, n := range []string{"policy_herald_delivery_results_total", "policy_herald_delivery_latency_seconds_bucket",
		"policy_herald_delivery_failing", "policy_herald_ledger_bytes", controllers.EmailReportRunsMetric} {
		if !used[n] {
			t.Errorf("no panel shows %s", n)
		}
	}
}

// Every dashboard under grafana/ ships as a ConfigMap the Grafana sidecar loads, carrying the
// file as it is (kustomize generates them from the files), and lands in the operator's
// namespace when config/default enables ../grafana.
func TestGrafanaDashboardConfigMaps(t *testing.T) {
	files, err := filepath.Glob("grafana/*.json")
	if err != nil || len(files) < 2 {
		t.Fatalf("dashboards %v (%v), want the health and results dashboards", files, err)
	}
	maps := ofKind(buildOnDisk(t, "grafana"), "ConfigMap")
	shipped := map[string]bool{}
	for _, cm := range maps {
		if v, _, _ := unstructured.NestedString(cm.content, "metadata", "labels", "grafana_dashboard"); v != "1" {
			t.Errorf("%s is not labelled grafana_dashboard: \"1\"", cm)
		}
		data, _, _ := unstructured.NestedStringMap(cm.content, "data")
		if len(data) != 1 {
			t.Errorf("%s has %d keys, want one dashboard", cm, len(data))
		}
		for key, got := range data {
			want, err := os.ReadFile(filepath.Join("grafana", key))
			if err != nil {
				t.Errorf("%s: key %s is no dashboard file: %v", cm, key, err)
				continue
			}
			if got != string(want) {
				t.Errorf("%s: %s differs from grafana/%s", cm, key, key)
			}
			shipped[key] = true
		}
	}
	for _, f := range files {
		if !shipped[filepath.Base(f)] {
			t.Errorf("%s has no ConfigMap in grafana/kustomization.yaml", f)
		}
	}
	for _, cm := range ofKind(withOptional(t, "../grafana"), "ConfigMap") {
		if _, ok, _ := unstructured.NestedString(cm.content, "metadata", "labels", "grafana_dashboard"); ok && cm.namespace != namespace {
			t.Errorf("%s is not in namespace %s", cm, namespace)
		}
	}
}
