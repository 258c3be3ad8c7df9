package filter

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/report"
)

// Namespaces the tests know; any other namespace is unknown.
var namespaces = map[string]labels.Set{
	"team-a":      {"env": "prod", "team": "a"},
	"team-b":      {"env": "dev", "team": "b"},
	"team-ab":     {"env": "staging"},
	"kube-system": {},
}

func nsLabels(ns string) (labels.Set, bool) {
	l, ok := namespaces[ns]
	return l, ok
}

// newReport returns a namespaced report in team-a, changed by the mutators.
func newReport(mut ...func(*report.Report)) *report.Report {
	r := &report.Report{
		Kind:      "PolicyReport",
		Namespace: "team-a",
		Name:      "pod-web",
		Labels:    map[string]string{"app.kubernetes.io/managed-by": "kyverno", "team": "a"},
	}
	for _, m := range mut {
		m(r)
	}
	return r
}

// newResult returns a high-severity kyverno failure about a Pod in team-a, changed by the
// mutators.
func newResult(mut ...func(*report.Result)) *report.Result {
	r := &report.Result{
		Hash:     0x1d,
		Check:    &report.Check{Policy: "require-labels", Rule: "check-team", Category: "Best Practices", Source: "kyverno", Status: v1alpha1.StatusFail, Severity: v1alpha1.SeverityHigh},
		Resource: &report.Resource{APIVersion: "v1", Kind: "Pod", Namespace: "team-a", Name: "web"},
	}
	for _, m := range mut {
		m(r)
	}
	return r
}

func status(s v1alpha1.ResultStatus) func(*report.Result) {
	return func(r *report.Result) { r.Status = s }
}
func severity(s v1alpha1.Severity) func(*report.Result) {
	return func(r *report.Result) { r.Severity = s }
}
func source(s string) func(*report.Result) { return func(r *report.Result) { r.Source = s } }
func policy(s string) func(*report.Result) { return func(r *report.Result) { r.Policy = s } }
func category(s string) func(*report.Result) {
	return func(r *report.Result) { r.Category = s }
}
func resourceNS(ns string) func(*report.Result) {
	return func(r *report.Result) { r.Resource.Namespace = ns }
}
func noResource(r *report.Result) { r.Resource = nil }

func reportNS(ns string) func(*report.Report) { return func(r *report.Report) { r.Namespace = ns } }
func reportLabels(l map[string]string) func(*report.Report) {
	return func(r *report.Report) { r.Labels = l }
}

// clusterScoped makes a result about a cluster-scoped resource in a cluster-scoped report.
func clusterScoped() (func(*report.Report), func(*report.Result)) {
	return reportNS(""), func(r *report.Result) {
		r.Resource = &report.Resource{APIVersion: "v1", Kind: "Namespace", Name: "team-a"}
	}
}

func withFilter(f v1alpha1.ResultFilter) Spec { return Spec{Filter: &f} }

func ml(include, exclude []string) *v1alpha1.MatchList {
	return &v1alpha1.MatchList{Include: include, Exclude: exclude}
}

func list(s ...string) []string { return s }

type matchCase struct {
	name   string
	spec   Spec
	report []func(*report.Report)
	result []func(*report.Result)
	nsFunc NamespaceLabels // nsLabels when nil and noNS is false
	noNS   bool            // pass a nil NamespaceLabels
	// drop is "" when the result must match, else a substring of explain.
	drop string
}

func runCases(t *testing.T, cases []matchCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := Compile(c.spec)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			rep, res := newReport(c.report...), newResult(c.result...)
			fn := c.nsFunc
			if fn == nil && !c.noNS {
				fn = nsLabels
			}
			got := f.Match(rep, res, fn)
			why := f.explain(rep, res, fn)
			if got != (why == "") {
				t.Fatalf("Match = %t but explain = %q", got, why)
			}
			switch {
			case c.drop == "" && !got:
				t.Errorf("dropped (%s); want kept", why)
			case c.drop != "" && got:
				t.Errorf("kept; want dropped by %q", c.drop)
			case c.drop != "" && !strings.Contains(why, c.drop):
				t.Errorf("dropped by %q; want %q", why, c.drop)
			}
		})
	}
}

func TestStatuses(t *testing.T) {
	st := func(in, ex []v1alpha1.ResultStatus) Spec {
		return withFilter(v1alpha1.ResultFilter{Statuses: &v1alpha1.StatusList{Include: in, Exclude: ex}})
	}
	sts := func(s ...v1alpha1.ResultStatus) []v1alpha1.ResultStatus { return s }
	excl := func(ex ...v1alpha1.ResultStatus) Spec { return st(nil, ex) }
	runCases(t, []matchCase{
		{name: "default keeps fail", result: []func(*report.Result){status("fail")}},
		{name: "default keeps warn", result: []func(*report.Result){status("warn")}},
		{name: "default keeps error", result: []func(*report.Result){status("error")}},
		{name: "default drops pass", result: []func(*report.Result){status("pass")}, drop: `status "pass" is not in filter.statuses.include (default`},
		{name: "default drops skip", result: []func(*report.Result){status("skip")}, drop: `status "skip" is not in filter.statuses.include (default`},
		{name: "default keeps a result without status (the Trivy adapter writes none)", result: []func(*report.Result){status("")}},
		{name: "an include list drops a result without status", spec: st(sts("fail"), nil), result: []func(*report.Result){status("")}, drop: "filter.statuses.include"},
		{name: "empty filter keeps the default gate", spec: withFilter(v1alpha1.ResultFilter{}), result: []func(*report.Result){status("pass")}, drop: "default"},
		{name: "empty status list keeps the default gate", spec: st(nil, nil), result: []func(*report.Result){status("skip")}, drop: "default"},
		{name: "asking for pass keeps pass", spec: st(sts("pass"), nil), result: []func(*report.Result){status("pass")}},
		{name: "asking for pass drops fail", spec: st(sts("pass"), nil), result: []func(*report.Result){status("fail")}, drop: `status "fail" is not in filter.statuses.include`},
		{name: "asking for skip keeps skip", spec: st(sts("skip", "fail"), nil), result: []func(*report.Result){status("skip")}},
		{name: "include pass and fail keeps fail", spec: st(sts("pass", "fail"), nil), result: []func(*report.Result){status("fail")}},
		{name: "include pass and fail drops warn", spec: st(sts("pass", "fail"), nil), result: []func(*report.Result){status("warn")}, drop: "not in filter.statuses.include"},
		{name: "exclude only drops the excluded status", spec: excl("warn"), result: []func(*report.Result){status("warn")}, drop: `status "warn" is in filter.statuses.exclude`},
		{name: "exclude only keeps other statuses", spec: excl("warn"), result: []func(*report.Result){status("error")}},
		{name: "exclude only keeps the default gate", spec: excl("warn"), result: []func(*report.Result){status("pass")}, drop: "default"},
		{name: "exclude wins over include", spec: st(sts("pass", "fail"), sts("fail")), result: []func(*report.Result){status("fail")}, drop: "filter.statuses.exclude"},
		{name: "include and exclude keep the rest", spec: st(sts("pass", "fail"), sts("fail")), result: []func(*report.Result){status("pass")}},
	})
}

func TestSeverities(t *testing.T) {
	sev := func(in, ex []v1alpha1.Severity) Spec {
		return withFilter(v1alpha1.ResultFilter{Severities: &v1alpha1.SeverityList{Include: in, Exclude: ex}})
	}
	hc := []v1alpha1.Severity{"high", "critical"}
	runCases(t, []matchCase{
		{name: "no list keeps a result without severity", result: []func(*report.Result){severity("")}},
		{name: "include keeps a listed severity", spec: sev(hc, nil), result: []func(*report.Result){severity("critical")}},
		{name: "include drops an unlisted severity", spec: sev(hc, nil), result: []func(*report.Result){severity("medium")}, drop: `severity "medium" is not in filter.severities.include`},
		{name: "include drops a result without severity", spec: sev(hc, nil), result: []func(*report.Result){severity("")}, drop: "filter.severities.include"},
		{name: "exclude drops a listed severity", spec: sev(nil, []v1alpha1.Severity{"low"}), result: []func(*report.Result){severity("low")}, drop: `severity "low" is in filter.severities.exclude`},
		{name: "exclude keeps an unlisted severity", spec: sev(nil, []v1alpha1.Severity{"low"}), result: []func(*report.Result){severity("info")}},
		{name: "exclude keeps a result without severity", spec: sev(nil, []v1alpha1.Severity{"info", "low"}), result: []func(*report.Result){severity("")}},
		{name: "exclude wins over include", spec: sev(hc, []v1alpha1.Severity{"high"}), result: []func(*report.Result){severity("high")}, drop: "filter.severities.exclude"},
		{name: "include and exclude keep the rest", spec: sev(hc, []v1alpha1.Severity{"high"}), result: []func(*report.Result){severity("critical")}},
	})
}

func TestMinimumSeverity(t *testing.T) {
	med := Spec{MinimumSeverity: v1alpha1.SeverityMedium}
	runCases(t, []matchCase{
		{name: "unset keeps a result without severity", result: []func(*report.Result){severity("")}},
		{name: "unset keeps info", result: []func(*report.Result){severity("info")}},
		{name: "keeps the minimum", spec: med, result: []func(*report.Result){severity("medium")}},
		{name: "keeps above the minimum", spec: med, result: []func(*report.Result){severity("critical")}},
		{name: "drops below the minimum", spec: med, result: []func(*report.Result){severity("low")}, drop: `severity "low" is below minimumSeverity`},
		{name: "drops a result without severity", spec: med, result: []func(*report.Result){severity("")}, drop: "below minimumSeverity"},
		{name: "info minimum still drops a result without severity", spec: Spec{MinimumSeverity: "info"}, result: []func(*report.Result){severity("")}, drop: "below minimumSeverity"},
		{name: "info minimum keeps info", spec: Spec{MinimumSeverity: "info"}, result: []func(*report.Result){severity("info")}},
	})
}

func TestMinimumPriority(t *testing.T) {
	// Each row of the priority mapping, with the priority it must give.
	rows := []struct {
		status   v1alpha1.ResultStatus
		severity v1alpha1.Severity
		want     v1alpha1.Priority
	}{
		{"error", "", v1alpha1.PriorityError},
		{"error", "low", v1alpha1.PriorityError},
		{"warn", "", v1alpha1.PriorityWarning},
		{"warn", "critical", v1alpha1.PriorityWarning},
		{"fail", "critical", v1alpha1.PriorityCritical},
		{"fail", "high", v1alpha1.PriorityError},
		{"fail", "medium", v1alpha1.PriorityWarning},
		{"fail", "low", v1alpha1.PriorityInfo},
		{"fail", "info", v1alpha1.PriorityInfo},
		{"fail", "", v1alpha1.PriorityWarning},
		{"pass", "", v1alpha1.PriorityDebug},
		{"pass", "critical", v1alpha1.PriorityDebug},
		{"skip", "", v1alpha1.PriorityDebug},
		{"skip", "high", v1alpha1.PriorityDebug},
	}
	order := []v1alpha1.Priority{"debug", "info", "warning", "error", "critical"}
	// Ask for every status, so that only the minimum priority decides.
	all := &v1alpha1.ResultFilter{Statuses: &v1alpha1.StatusList{Include: []v1alpha1.ResultStatus{"pass", "fail", "warn", "error", "skip"}}}
	var cases []matchCase
	for _, r := range rows {
		res := []func(*report.Result){status(r.status), severity(r.severity)}
		for i, min := range order {
			c := matchCase{
				name:   string(r.status) + "+" + string(r.severity) + " against " + string(min),
				spec:   Spec{MinimumPriority: min, Filter: all},
				result: res,
			}
			if i > indexOf(order, r.want) {
				c.drop = `priority "` + string(r.want) + `" is below minimumPriority`
			}
			cases = append(cases, c)
		}
	}
	runCases(t, cases)
}

func indexOf(l []v1alpha1.Priority, p v1alpha1.Priority) int {
	for i, v := range l {
		if v == p {
			return i
		}
	}
	panic("unknown priority " + p)
}

func TestSources(t *testing.T) {
	srcFilter := func(in, ex []string) *v1alpha1.ResultFilter {
		return &v1alpha1.ResultFilter{Sources: ml(in, ex)}
	}
	runCases(t, []matchCase{
		{name: "sources keeps a listed source", spec: Spec{Sources: list("kyverno", "trivy")}},
		{name: "sources is case-insensitive (list)", spec: Spec{Sources: list("Kyverno")}, result: []func(*report.Result){source("kyverno")}},
		{name: "sources is case-insensitive (value)", spec: Spec{Sources: list("kyverno")}, result: []func(*report.Result){source("KyVerno")}},
		{name: "sources drops an unlisted source", spec: Spec{Sources: list("trivy")}, drop: `source "kyverno" is not in sources`},
		{name: "sources drops a result without source", spec: Spec{Sources: list("trivy")}, result: []func(*report.Result){source("")}, drop: "is not in sources"},
		{name: "sources allows wildcards", spec: Spec{Sources: list("trivy*")}, result: []func(*report.Result){source("Trivy Operator")}},
		{name: "sources wildcard is case-insensitive", spec: Spec{Sources: list("TRIVY-?perator")}, result: []func(*report.Result){source("trivy-Operator")}},
		{name: "case folding follows Unicode (Kelvin sign)", spec: Spec{Sources: list("\u212Aube-*")}, result: []func(*report.Result){source("kube-bench")}},
		{name: "case folding follows Unicode (literal)", spec: Spec{Sources: list("\u212Aube-bench")}, result: []func(*report.Result){source("KUBE-BENCH")}},

		{name: "filter.sources include keeps, any case", spec: Spec{Filter: srcFilter(list("KYVERNO"), nil)}},
		{name: "filter.sources include with ? is case-insensitive", spec: Spec{Filter: srcFilter(list("k?verno"), nil)}, result: []func(*report.Result){source("KYVERNO")}},
		{name: "filter.sources include drops", spec: Spec{Filter: srcFilter(list("falco"), nil)}, drop: `source "kyverno" matches no pattern of filter.sources.include`},
		{name: "filter.sources exclude drops, any case", spec: Spec{Filter: srcFilter(nil, list("Tri*"))}, result: []func(*report.Result){source("trivy")}, drop: `source "trivy" matches filter.sources.exclude`},
		{name: "filter.sources exclude keeps others", spec: Spec{Filter: srcFilter(nil, list("Tri*"))}},
		{name: "filter.sources exclude keeps a result without source", spec: Spec{Filter: srcFilter(nil, list("Tri*"))}, result: []func(*report.Result){source("")}},
		{name: "filter.sources include drops a result without source", spec: Spec{Filter: srcFilter(list("kyverno"), nil)}, result: []func(*report.Result){source("")}, drop: "filter.sources.include"},
		{name: "filter.sources exclude wins over include", spec: Spec{Filter: srcFilter(list("*"), list("kyverno"))}, drop: "filter.sources.exclude"},

		{name: "both lists pass", spec: Spec{Sources: list("kyverno", "trivy"), Filter: srcFilter(nil, list("trivy"))}},
		{name: "both lists: filter.sources drops", spec: Spec{Sources: list("kyverno", "trivy"), Filter: srcFilter(nil, list("TRIVY"))}, result: []func(*report.Result){source("trivy")}, drop: "filter.sources.exclude"},
		{name: "both lists: sources drops", spec: Spec{Sources: list("kyverno"), Filter: srcFilter(list("falco", "kyverno"), nil)}, result: []func(*report.Result){source("falco")}, drop: "is not in sources"},
		{name: "both lists: filter.sources include drops", spec: Spec{Sources: list("kyverno", "falco"), Filter: srcFilter(list("falco"), nil)}, drop: "filter.sources.include"},
	})
}

func TestPolicies(t *testing.T) {
	pol := func(in, ex []string) Spec { return withFilter(v1alpha1.ResultFilter{Policies: ml(in, ex)}) }
	many := list("a", "b", "c", "d", "e", "f", "g", "h", "i", "require-labels", "j*")
	runCases(t, []matchCase{
		{name: "empty list keeps", spec: pol(nil, nil)},
		{name: "include * keeps", spec: pol(list("*"), nil)},
		{name: "include exact keeps", spec: pol(list("other", "require-labels"), nil)},
		{name: "include exact is case-sensitive", spec: pol(list("Require-Labels"), nil), drop: `policy "require-labels" matches no pattern of filter.policies.include`},
		{name: "include * wildcard keeps", spec: pol(list("require-*"), nil)},
		{name: "include * wildcard drops", spec: pol(list("require-*"), nil), result: []func(*report.Result){policy("disallow-latest-tag")}, drop: "filter.policies.include"},
		{name: "* in the middle", spec: pol(list("req*els"), nil)},
		{name: "* matches nothing", spec: pol(list("require-labels*"), nil)},
		{name: "* matches /", spec: pol(list("team*x"), nil), result: []func(*report.Result){policy("team/require-x")}},
		{name: "? matches one character", spec: pol(list("require-label?"), nil)},
		{name: "? needs one character", spec: pol(list("require-labels?"), nil), drop: "filter.policies.include"},
		{name: "? matches one character only", spec: pol(list("require-label?"), nil), result: []func(*report.Result){policy("require-labelss")}, drop: "filter.policies.include"},
		{name: "? matches a multi-byte character", spec: pol(list("caf?"), nil), result: []func(*report.Result){policy("café")}},
		{name: "[ is literal", spec: pol(list("pol[1]*"), nil), result: []func(*report.Result){policy("pol[1]x")}},
		{name: "[ is not a class", spec: pol(list("pol[1]*"), nil), result: []func(*report.Result){policy("pol1x")}, drop: "filter.policies.include"},
		{name: "{ is literal", spec: pol(list("{a,b}*"), nil), result: []func(*report.Result){policy("{a,b}x")}},
		{name: "{ is not an alternative", spec: pol(list("{a,b}*"), nil), result: []func(*report.Result){policy("ax")}, drop: "filter.policies.include"},
		{name: `\ is literal`, spec: pol(list(`a\*`), nil), result: []func(*report.Result){policy(`a\b`)}},
		{name: "many literals keep", spec: pol(many, nil)},
		{name: "many literals with a glob keep", spec: pol(many, nil), result: []func(*report.Result){policy("jay")}},
		{name: "many literals drop", spec: pol(many, nil), result: []func(*report.Result){policy("k")}, drop: "filter.policies.include"},
		{name: "exclude drops", spec: pol(nil, list("require-*")), drop: `policy "require-labels" matches filter.policies.exclude`},
		{name: "exclude keeps others", spec: pol(nil, list("disallow-*"))},
		{name: "exclude wins over include", spec: pol(list("require-*"), list("require-labels")), drop: "filter.policies.exclude"},
		{name: "include and exclude keep the rest", spec: pol(list("require-*"), list("require-labels")), result: []func(*report.Result){policy("require-probes")}},
	})
}

func TestCategories(t *testing.T) {
	cat := func(in, ex []string) Spec { return withFilter(v1alpha1.ResultFilter{Categories: ml(in, ex)}) }
	runCases(t, []matchCase{
		{name: "include keeps", spec: cat(list("Pod Security*"), nil), result: []func(*report.Result){category("Pod Security Standards (Baseline)")}},
		{name: "include drops", spec: cat(list("Pod Security*"), nil), drop: `category "Best Practices" matches no pattern of filter.categories.include`},
		{name: "include is case-sensitive", spec: cat(list("best practices"), nil), drop: "filter.categories.include"},
		{name: "include drops a missing category", spec: cat(list("Best*"), nil), result: []func(*report.Result){category("")}, drop: "filter.categories.include"},
		{name: "include * keeps a missing category", spec: cat(list("*"), nil), result: []func(*report.Result){category("")}},
		{name: "include ** keeps a missing category", spec: cat(list("**"), nil), result: []func(*report.Result){category("")}},
		{name: "include ? drops a missing category", spec: cat(list("?*"), nil), result: []func(*report.Result){category("")}, drop: "filter.categories.include"},
		{name: "exclude drops", spec: cat(nil, list("Best ?ractices")), drop: "filter.categories.exclude"},
		{name: "exclude keeps a missing category", spec: cat(nil, list("Best*")), result: []func(*report.Result){category("")}},
		{name: "exclude * drops a missing category", spec: cat(nil, list("*")), result: []func(*report.Result){category("")}, drop: "filter.categories.exclude"},
		{name: "exclude wins over include", spec: cat(list("Best*"), list("*Practices")), drop: "filter.categories.exclude"},
	})
}

func TestKinds(t *testing.T) {
	kinds := func(in, ex []string) Spec { return withFilter(v1alpha1.ResultFilter{Kinds: ml(in, ex)}) }
	kind := func(k string) func(*report.Result) {
		return func(r *report.Result) {
			r.Resource = &report.Resource{APIVersion: "apps/v1", Kind: k, Namespace: "team-a", Name: "web"}
		}
	}
	runCases(t, []matchCase{
		{name: "include keeps", spec: kinds(list("Pod", "Deployment"), nil)},
		{name: "include drops", spec: kinds(list("Deployment"), nil), drop: `kind "Pod" matches no pattern of filter.kinds.include`},
		{name: "include is case-sensitive", spec: kinds(list("pod"), nil), drop: "filter.kinds.include"},
		{name: "wildcards", spec: kinds(list("*Set"), nil), result: []func(*report.Result){kind("StatefulSet")}},
		{name: "include drops a result without a resource", spec: kinds(list("Pod"), nil), result: []func(*report.Result){noResource}, drop: "filter.kinds.include"},
		{name: "include * keeps a result without a resource", spec: kinds(list("*"), nil), result: []func(*report.Result){noResource}},
		{name: "exclude drops", spec: kinds(nil, list("Pod")), drop: `kind "Pod" matches filter.kinds.exclude`},
		{name: "exclude keeps others", spec: kinds(nil, list("Namespace")), result: []func(*report.Result){kind("Deployment")}},
		{name: "exclude wins over include", spec: kinds(list("*"), list("Pod")), drop: "filter.kinds.exclude"},
	})
}

func TestNamespaces(t *testing.T) {
	nsl := func(in, ex []string) Spec { return withFilter(v1alpha1.ResultFilter{Namespaces: ml(in, ex)}) }
	csRep, csRes := clusterScoped()
	runCases(t, []matchCase{
		{name: "include keeps the resource's namespace", spec: nsl(list("team-*"), nil)},
		{name: "include drops", spec: nsl(list("team-*"), nil), result: []func(*report.Result){resourceNS("kube-system")}, drop: `namespace "kube-system" matches no pattern of filter.namespaces.include`},
		{name: "the resource's namespace wins over the report's", spec: nsl(list("team-b"), nil), report: []func(*report.Report){reportNS("team-b")}, drop: `namespace "team-a"`},
		{name: "a result without resource uses the report's namespace", spec: nsl(list("team-b"), nil), report: []func(*report.Report){reportNS("team-b")}, result: []func(*report.Result){noResource}},
		{name: "a cluster-scoped resource in a namespaced report uses the report's namespace", spec: nsl(list("team-b"), nil), report: []func(*report.Report){reportNS("team-b")}, result: []func(*report.Result){resourceNS("")}},
		{name: "? matches one character", spec: nsl(list("team-?"), nil)},
		{name: "? does not match two", spec: nsl(list("team-?"), nil), result: []func(*report.Result){resourceNS("team-ab")}, drop: "filter.namespaces.include"},
		{name: "include drops a cluster-scoped result", spec: nsl(list("team-*"), nil), report: []func(*report.Report){csRep}, result: []func(*report.Result){csRes}, drop: `namespace "" matches no pattern`},
		{name: "include * keeps a cluster-scoped result", spec: nsl(list("*"), nil), report: []func(*report.Report){csRep}, result: []func(*report.Result){csRes}},
		{name: "exclude drops", spec: nsl(nil, list("kube-*")), result: []func(*report.Result){resourceNS("kube-system")}, drop: `namespace "kube-system" matches filter.namespaces.exclude`},
		{name: "exclude keeps others", spec: nsl(nil, list("kube-*"))},
		{name: "exclude keeps a cluster-scoped result", spec: nsl(nil, list("kube-*")), report: []func(*report.Report){csRep}, result: []func(*report.Result){csRes}},
		{name: "exclude wins over include", spec: nsl(list("team-*"), list("team-a")), drop: "filter.namespaces.exclude"},
		{name: "include and exclude keep the rest", spec: nsl(list("team-*"), list("team-a")), result: []func(*report.Result){resourceNS("team-b")}},
	})
}

func TestNamespaceSelector(t *testing.T) {
	sel := func(s *metav1.LabelSelector) Spec { return withFilter(v1alpha1.ResultFilter{NamespaceSelector: s}) }
	prod := sel(&metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}})
	expr := func(op metav1.LabelSelectorOperator, key string, values ...string) Spec {
		return sel(&metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: key, Operator: op, Values: values}}})
	}
	csRep, csRes := clusterScoped()
	runCases(t, []matchCase{
		{name: "matchLabels keeps", spec: prod},
		{name: "matchLabels drops", spec: prod, result: []func(*report.Result){resourceNS("team-b")}, drop: `the labels of namespace "team-b" do not match filter.namespaceSelector`},
		{name: "matchLabels drops a namespace without labels", spec: prod, result: []func(*report.Result){resourceNS("kube-system")}, drop: "do not match"},
		{name: "In keeps", spec: expr(metav1.LabelSelectorOpIn, "env", "prod", "staging"), result: []func(*report.Result){resourceNS("team-ab")}},
		{name: "In drops", spec: expr(metav1.LabelSelectorOpIn, "env", "prod", "staging"), result: []func(*report.Result){resourceNS("team-b")}, drop: "do not match"},
		{name: "NotIn keeps", spec: expr(metav1.LabelSelectorOpNotIn, "env", "prod"), result: []func(*report.Result){resourceNS("team-b")}},
		{name: "NotIn keeps a namespace without the label", spec: expr(metav1.LabelSelectorOpNotIn, "env", "prod"), result: []func(*report.Result){resourceNS("kube-system")}},
		{name: "NotIn drops", spec: expr(metav1.LabelSelectorOpNotIn, "env", "prod"), drop: "do not match"},
		{name: "Exists keeps", spec: expr(metav1.LabelSelectorOpExists, "team")},
		{name: "Exists drops", spec: expr(metav1.LabelSelectorOpExists, "team"), result: []func(*report.Result){resourceNS("team-ab")}, drop: "do not match"},
		{name: "DoesNotExist keeps", spec: expr(metav1.LabelSelectorOpDoesNotExist, "team"), result: []func(*report.Result){resourceNS("kube-system")}},
		{name: "matchLabels and matchExpressions are ANDed", spec: sel(&metav1.LabelSelector{
			MatchLabels:      map[string]string{"env": "prod"},
			MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: metav1.LabelSelectorOpIn, Values: []string{"b"}}},
		}), drop: "do not match"},
		{name: "an unknown namespace does not match", spec: expr(metav1.LabelSelectorOpDoesNotExist, "team"), result: []func(*report.Result){resourceNS("ghost")}, drop: `namespace "ghost" is unknown`},
		{name: "without namespace labels every namespace is unknown", spec: prod, noNS: true, drop: `namespace "team-a" is unknown`},
		{name: "a cluster-scoped result does not match", spec: expr(metav1.LabelSelectorOpDoesNotExist, "team"), report: []func(*report.Report){csRep}, result: []func(*report.Result){csRes}, drop: "the result has no namespace"},
		{name: "the report's namespace is used without resource", spec: prod, report: []func(*report.Report){reportNS("team-b")}, result: []func(*report.Result){noResource}, drop: `namespace "team-b"`},
		{name: "an empty selector keeps a cluster-scoped result", spec: sel(&metav1.LabelSelector{}), report: []func(*report.Report){csRep}, result: []func(*report.Result){csRes}},
		{name: "an empty selector keeps an unknown namespace", spec: sel(&metav1.LabelSelector{}), result: []func(*report.Result){resourceNS("ghost")}},
		{name: "selector and namespaces are ANDed", spec: withFilter(v1alpha1.ResultFilter{
			Namespaces:        ml(list("team-*"), nil),
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}},
		}), result: []func(*report.Result){resourceNS("team-b")}, drop: "do not match"},
		{name: "the namespace labels function is not called without selector", spec: Spec{}, nsFunc: func(string) (labels.Set, bool) {
			panic("called")
		}},
	})
}

func TestReportLabels(t *testing.T) {
	rl := func(in, ex []string) Spec { return withFilter(v1alpha1.ResultFilter{ReportLabels: ml(in, ex)}) }
	trivy := reportLabels(map[string]string{"app.kubernetes.io/managed-by": "trivy-operator", "scanner": ""})
	runCases(t, []matchCase{
		{name: "include key keeps", spec: rl(list("app.kubernetes.io/managed-by"), nil)},
		{name: "include key drops", spec: rl(list("scanner"), nil), drop: "the report's labels match no entry of filter.reportLabels.include"},
		{name: "include key:value keeps", spec: rl(list("app.kubernetes.io/managed-by:kyverno"), nil)},
		{name: "include key:value drops", spec: rl(list("app.kubernetes.io/managed-by:kyverno"), nil), report: []func(*report.Report){trivy}, drop: "filter.reportLabels.include"},
		{name: "include key:* keeps", spec: rl(list("app.kubernetes.io/managed-by:trivy*"), nil), report: []func(*report.Report){trivy}},
		{name: "include key:? keeps", spec: rl(list("team:?"), nil)},
		{name: "include key:* does not match a missing label", spec: rl(list("scanner:*"), nil), drop: "filter.reportLabels.include"},
		{name: "include key: matches an empty value", spec: rl(list("scanner:"), nil), report: []func(*report.Report){trivy}},
		{name: "include key: drops a non-empty value", spec: rl(list("team:"), nil), drop: "filter.reportLabels.include"},
		{name: "include is any of", spec: rl(list("team:b", "team:a"), nil)},
		{name: "include drops a report without labels", spec: rl(list("team"), nil), report: []func(*report.Report){reportLabels(nil)}, drop: "filter.reportLabels.include"},
		{name: "exclude drops", spec: rl(nil, list("team:a")), drop: "the report's labels match filter.reportLabels.exclude"},
		{name: "exclude key drops", spec: rl(nil, list("scanner")), report: []func(*report.Report){trivy}, drop: "filter.reportLabels.exclude"},
		{name: "exclude keeps", spec: rl(nil, list("scanner", "team:b*"))},
		{name: "exclude keeps a report without labels", spec: rl(nil, list("team")), report: []func(*report.Report){reportLabels(nil)}},
		{name: "exclude wins over include", spec: rl(list("app.kubernetes.io/managed-by"), list("app.kubernetes.io/managed-by:trivy*")), report: []func(*report.Report){trivy}, drop: "filter.reportLabels.exclude"},
		{name: "include and exclude keep the rest", spec: rl(list("app.kubernetes.io/managed-by"), list("app.kubernetes.io/managed-by:trivy*"))},
	})
}

func TestRulesAreANDed(t *testing.T) {
	spec := Spec{
		MinimumSeverity: "medium",
		MinimumPriority: "warning",
		Sources:         list("kyverno"),
		Filter: &v1alpha1.ResultFilter{
			Namespaces: ml(list("team-*"), nil),
			Policies:   ml(list("require-*"), nil),
			Categories: ml(nil, list("Other")),
		},
	}
	runCases(t, []matchCase{
		{name: "all rules pass", spec: spec},
		{name: "one rule fails", spec: spec, result: []func(*report.Result){policy("disallow-x")}, drop: "filter.policies.include"},
		{name: "another rule fails", spec: spec, result: []func(*report.Result){resourceNS("default")}, drop: "filter.namespaces.include"},
	})
}

func TestCompileErrors(t *testing.T) {
	badSel := func(s metav1.LabelSelector) Spec {
		return withFilter(v1alpha1.ResultFilter{NamespaceSelector: &s})
	}
	cases := []struct {
		name string
		spec Spec
		want []string
	}{
		{"In without values", badSel(metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "env", Operator: metav1.LabelSelectorOpIn}}}),
			[]string{"filter.namespaceSelector: "}},
		{"Exists with values", badSel(metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "env", Operator: metav1.LabelSelectorOpExists, Values: []string{"x"}}}}),
			[]string{"filter.namespaceSelector: "}},
		{"unknown operator", badSel(metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "env", Operator: "Like", Values: []string{"x"}}}}),
			[]string{"filter.namespaceSelector: "}},
		{"invalid matchLabels key", badSel(metav1.LabelSelector{MatchLabels: map[string]string{"bad key": "x"}}),
			[]string{"filter.namespaceSelector: "}},
		{"invalid matchLabels value", badSel(metav1.LabelSelector{MatchLabels: map[string]string{"env": "not valid!"}}),
			[]string{"filter.namespaceSelector: "}},
		{"empty pattern", withFilter(v1alpha1.ResultFilter{Namespaces: ml(list("a", ""), nil)}),
			[]string{"filter.namespaces.include[1]: empty pattern"}},
		{"empty source", Spec{Sources: list("")}, []string{"sources[0]: empty pattern"}},
		{"empty filter.sources pattern", withFilter(v1alpha1.ResultFilter{Sources: ml(nil, list(""))}),
			[]string{"filter.sources.exclude[0]: empty pattern"}},
		{"report label key with a wildcard", withFilter(v1alpha1.ResultFilter{ReportLabels: ml(list("team*:a"), nil)}),
			[]string{`filter.reportLabels.include[0]: invalid label key "team*"`}},
		{"report label without key", withFilter(v1alpha1.ResultFilter{ReportLabels: ml(nil, list(":a"))}),
			[]string{`filter.reportLabels.exclude[0]: invalid label key ""`}},
		{"unknown minimum severity", Spec{MinimumSeverity: "urgent"}, []string{`minimumSeverity: unknown severity "urgent"`}},
		{"unknown minimum priority", Spec{MinimumPriority: "warn"}, []string{`minimumPriority: unknown priority "warn"`}},
		{"unknown severity", withFilter(v1alpha1.ResultFilter{Severities: &v1alpha1.SeverityList{Exclude: []v1alpha1.Severity{"low", "none"}}}),
			[]string{`filter.severities.exclude[1]: unknown severity "none"`}},
		{"unknown status", withFilter(v1alpha1.ResultFilter{Statuses: &v1alpha1.StatusList{Include: []v1alpha1.ResultStatus{"failed"}}}),
			[]string{`filter.statuses.include[0]: unknown status "failed"`}},
		{"every error is reported", Spec{MinimumSeverity: "urgent", Filter: &v1alpha1.ResultFilter{
			Policies:          ml(nil, list("")),
			NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "env", Operator: metav1.LabelSelectorOpIn}}},
		}}, []string{"minimumSeverity", "filter.policies.exclude[0]", "filter.namespaceSelector"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := Compile(c.spec)
			if err == nil {
				t.Fatalf("Compile succeeded; want an error")
			}
			if f != nil {
				t.Errorf("Compile returned a filter with the error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestCompileAcceptsValidSpecs(t *testing.T) {
	for _, s := range []Spec{
		{},
		{Filter: &v1alpha1.ResultFilter{}},
		{Filter: &v1alpha1.ResultFilter{Namespaces: &v1alpha1.MatchList{}, NamespaceSelector: &metav1.LabelSelector{}}},
		benchSpec(),
	} {
		if _, err := Compile(s); err != nil {
			t.Errorf("Compile(%+v): %v", s, err)
		}
	}
}

// benchSpec is a realistic destination: a team's Slack channel for production problems.
func benchSpec() Spec {
	return Spec{
		MinimumPriority: v1alpha1.PriorityWarning,
		Sources:         list("Kyverno", "Trivy*", "falco"),
		Filter: &v1alpha1.ResultFilter{
			Namespaces: ml(list("team-*", "payments", "checkout", "prod-?"), list("*-sandbox", "kube-*")),
			NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "env", Operator: metav1.LabelSelectorOpIn, Values: []string{"prod", "staging"}},
			}},
			Policies:     ml(nil, list("disallow-latest-tag", "*-audit", "require-requests-limits")),
			Sources:      ml(nil, list("kube-bench")),
			Categories:   ml(list("Pod Security*", "Best Practices", "Vulnerability*", "*Runtime*"), nil),
			Severities:   &v1alpha1.SeverityList{Exclude: []v1alpha1.Severity{"info"}},
			ReportLabels: ml(list("app.kubernetes.io/managed-by:kyverno", "app.kubernetes.io/managed-by:trivy*"), list("policyherald.io/mute")),
		},
	}
}

// benchInput is a mix of results: kept ones, and ones dropped by rules early and late.
func benchInput() ([]*report.Report, []*report.Result) {
	reps := []*report.Report{
		newReport(),
		newReport(reportLabels(map[string]string{"app.kubernetes.io/managed-by": "trivy-operator", "trivy-operator.resource.kind": "ReplicaSet"})),
		newReport(reportNS("team-ab")),
		newReport(reportNS("team-b")),
	}
	res := []*report.Result{
		newResult(),
		newResult(source("Trivy"), category("Vulnerability Scanning"), severity("critical"), policy("CVE-2024-1234")),
		newResult(category("Pod Security Standards (Restricted)"), noResource),
		newResult(status("pass")),
		newResult(policy("check-audit"), severity("medium")),
		newResult(source("KYVERNO"), resourceNS("team-b")),
	}
	return reps, res
}

func TestMatchDoesNotAllocate(t *testing.T) {
	f, err := Compile(benchSpec())
	if err != nil {
		t.Fatal(err)
	}
	reps, res := benchInput()
	kept := 0
	allocs := testing.AllocsPerRun(100, func() {
		kept = 0
		for _, rep := range reps {
			for _, r := range res {
				if f.Match(rep, r, nsLabels) {
					kept++
				}
			}
		}
	})
	if allocs != 0 {
		t.Errorf("Match allocates %v times per run; want 0", allocs)
	}
	if kept == 0 || kept == len(reps)*len(res) {
		t.Errorf("the benchmark input keeps %d of %d results; want a mix", kept, len(reps)*len(res))
	}
}

// BenchmarkMatch measures Match on benchSpec: "mix" cycles through results that are kept or
// dropped early and late; "kept" is the worst case, a result that every rule has to pass.
func BenchmarkMatch(b *testing.B) {
	f, err := Compile(benchSpec())
	if err != nil {
		b.Fatal(err)
	}
	reps, res := benchInput()
	type pair struct {
		rep *report.Report
		res *report.Result
	}
	var mix, kept []pair
	for _, rep := range reps {
		for _, r := range res {
			mix = append(mix, pair{rep, r})
			if f.Match(rep, r, nsLabels) {
				kept = append(kept, pair{rep, r})
			}
		}
	}
	for _, bc := range []struct {
		name  string
		pairs []pair
	}{{"mix", mix}, {"kept", kept}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			n := 0
			for i := 0; b.Loop(); i++ {
				p := bc.pairs[i%len(bc.pairs)]
				if f.Match(p.rep, p.res, nsLabels) {
					n++
				}
			}
			_ = n
		})
	}
}

// CompilePatterns is the console's door to the same wildcards: one semantics, two users.
func TestCompilePatterns(t *testing.T) {
	p, err := CompilePatterns([]string{"team-*", "kube-syste?", "*"}, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"team-a", "kube-system", ""} {
		if !p.Match(s) {
			t.Errorf("%q does not match", s)
		}
	}
	p, err = CompilePatterns([]string{"kyverno", "Tri*"}, true)
	if err != nil {
		t.Fatal(err)
	}
	for s, want := range map[string]bool{"Kyverno": true, "KYVERNO": true, "trivy": true, "falco": false, "": false} {
		if p.Match(s) != want {
			t.Errorf("Match(%q) = %v, want %v", s, !want, want)
		}
	}
	if _, err := CompilePatterns([]string{"a", ""}, false); err == nil || !strings.Contains(err.Error(), "[1]: empty pattern") {
		t.Errorf("an empty pattern: err = %v", err)
	}
}
