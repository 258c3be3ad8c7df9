package resultmetrics

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/testing/metricstest"
	"github.com/policyherald/policy-herald/internal/testing/wait"
)

const platform = "policy-herald"

// fakeStore is a Source whose changes the test applies synchronously (flush).
type fakeStore struct {
	mu      sync.Mutex
	reports map[string]*report.Report
	ns      map[string]labels.Set
	names   *report.SourceNames
}

func newFakeStore() *fakeStore {
	return &fakeStore{reports: map[string]*report.Report{}, ns: map[string]labels.Set{}, names: report.NewSourceNames()}
}

func (f *fakeStore) SourceNames() *report.SourceNames { return f.names }

// store puts rep (nil: deletes the report with key), counting its sources as the store does.
func (f *fakeStore) store(key string, rep *report.Report) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.names.Replace(f.reports[key], rep)
	if rep == nil {
		delete(f.reports, key)
	} else {
		f.reports[key] = rep
	}
}

func (f *fakeStore) Get(key string) *report.Report {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reports[key]
}

func (f *fakeStore) Keys() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for k := range f.reports {
		out = append(out, k)
	}
	return out
}

func (f *fakeStore) NamespaceLabels(ns string) (labels.Set, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.ns[ns]
	return l, ok
}

func (f *fakeStore) WaitForSync(context.Context) bool { return true }

type fixture struct {
	t   *testing.T
	src *fakeStore
	e   *Exporter
	reg *prometheus.Registry
}

func newFixture(t *testing.T) *fixture {
	src := newFakeStore()
	e := New(src, platform, logr.Discard())
	// Started by hand: running, with the reports of now.
	e.mu.Lock()
	e.running = true
	e.mu.Unlock()
	reg := prometheus.NewRegistry()
	reg.MustRegister(e)
	return &fixture{t: t, src: src, e: e, reg: reg}
}

func (f *fixture) put(r *report.Report) {
	f.src.store(r.Key(), r)
	f.e.ReportChanged(r.Key())
	f.e.flush()
}

func (f *fixture) del(key string) {
	f.src.store(key, nil)
	f.e.ReportChanged(key)
	f.e.flush()
}

func (f *fixture) set(ns, name string, spec v1alpha1.MetricsProfileSpec) {
	f.t.Helper()
	p, err := Compile(ns, name, spec, platform)
	if err != nil {
		f.t.Fatal(err)
	}
	f.e.Set(p)
}

// scrape returns the series of both families, linted.
func (f *fixture) scrape() (ns, cluster map[string]float64) {
	f.t.Helper()
	mfs, _ := metricstest.Scrape(f.t, f.reg)
	return metricstest.Series(mfs, ResultFamily), metricstest.Series(mfs, ClusterResultFamily)
}

func check(policy, rule string, status v1alpha1.ResultStatus, sev v1alpha1.Severity) *report.Check {
	return &report.Check{Policy: policy, Rule: rule, Status: status, Severity: sev, Category: "cat", Source: "kyverno"}
}

func result(c *report.Check, kind, ns, name string) report.Result {
	return report.Result{Check: c, Message: "msg " + name, Resource: &report.Resource{Kind: kind, Namespace: ns, Name: name},
		Properties: map[string]string{"version": "1.2"}}
}

func podReport(ns string, results ...report.Result) *report.Report {
	return &report.Report{Kind: "PolicyReport", Namespace: ns, Name: "pods", Labels: map[string]string{"app.kubernetes.io/name": "web"}, Results: results}
}

var (
	failHigh = check("require-labels", "check-team", v1alpha1.StatusFail, v1alpha1.SeverityHigh)
	warnLow  = check("disallow-latest", "tag", v1alpha1.StatusWarn, v1alpha1.SeverityLow)
	passed   = check("require-labels", "check-team", v1alpha1.StatusPass, v1alpha1.SeverityHigh)
)

func expect(t *testing.T, what string, got map[string]float64, want map[string]float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d series, want %d:\n%s", what, len(got), len(want), dump(got))
		return
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: series %s = %v, want %v; have:\n%s", what, k, got[k], v, dump(got))
		}
	}
}

func dump(m map[string]float64) string {
	var b strings.Builder
	for k, v := range m {
		fmt.Fprintf(&b, "%s %v\n", k, v)
	}
	return b.String()
}

func TestDefaultProfileIsSimpleAndGoesAwayForAPlatformProfile(t *testing.T) {
	f := newFixture(t)
	f.put(podReport("team-a", result(failHigh, "Pod", "team-a", "a"), result(failHigh, "Pod", "team-a", "b"),
		result(warnLow, "Pod", "team-a", "a"), result(passed, "Pod", "team-a", "c")))
	f.put(&report.Report{Kind: "ClusterPolicyReport", Name: "nodes", Results: []report.Result{result(failHigh, "Node", "", "n1")}})
	ns, cl := f.scrape()
	expect(t, "default", ns, map[string]float64{
		"category=cat,namespace=team-a,policy=require-labels,profile=default,severity=high,source=kyverno,status=fail": 2,
		"category=cat,namespace=team-a,policy=disallow-latest,profile=default,severity=low,source=kyverno,status=warn": 1,
	})
	expect(t, "default cluster", cl, map[string]float64{
		"category=cat,policy=require-labels,profile=default,severity=high,source=kyverno,status=fail": 1,
	})
	if s := f.e.Stats(DefaultProfile); s.Series != 3 {
		t.Errorf("default series %d, want 3", s.Series)
	}

	f.set("team-a", "mine", v1alpha1.MetricsProfileSpec{Mode: v1alpha1.MetricsSimple})
	ns, _ = f.scrape()
	if len(ns) != 4 {
		t.Errorf("a tenant profile does not replace the default: want 2+2 series, got\n%s", dump(ns))
	}

	f.set(platform, "all", v1alpha1.MetricsProfileSpec{Mode: v1alpha1.MetricsDetailed})
	ns, cl = f.scrape()
	for k := range ns {
		if strings.Contains(k, "profile=default") {
			t.Errorf("the default profile survived a platform profile: %s", k)
		}
	}
	expect(t, "detailed cluster", cl, map[string]float64{
		"category=cat,kind=Node,name=n1,policy=require-labels,profile=policy-herald/all,report=nodes,rule=check-team,severity=high,source=kyverno,status=fail": 1,
	})
	detailed := 0
	for k, v := range ns {
		if strings.Contains(k, "profile=policy-herald/all") {
			detailed++
			if v != 1 {
				t.Errorf("detailed series %s = %v, want 1", k, v)
			}
		}
	}
	if detailed != 3 {
		t.Errorf("detailed: %d series, want 3 (one per counted result):\n%s", detailed, dump(ns))
	}

	f.e.Remove(platform + "/all")
	ns, _ = f.scrape()
	if n := count(ns, "profile=default"); n != 2 {
		t.Errorf("the default profile is back once the platform profile is gone: %d series, want 2", n)
	}
}

func count(m map[string]float64, sub string) int {
	n := 0
	for k := range m {
		if strings.Contains(k, sub) {
			n++
		}
	}
	return n
}

func TestCustomLabelsAreSanitised(t *testing.T) {
	f := newFixture(t)
	f.set(platform, "custom", v1alpha1.MetricsProfileSpec{Mode: v1alpha1.MetricsCustom,
		CustomLabels: []v1alpha1.MetricLabel{"namespace", "label:app.kubernetes.io/name", "property:version", "message"}})
	f.put(podReport("team-a", result(failHigh, "Pod", "team-a", "a"), result(failHigh, "Pod", "team-a", "a")))
	ns, _ := f.scrape()
	expect(t, "custom", ns, map[string]float64{
		"label_app_kubernetes_io_name=web,message=msg a,namespace=team-a,profile=policy-herald/custom,property_version=1.2": 2,
	})
	for in, want := range map[string]string{"label:app.kubernetes.io/name": "label_app_kubernetes_io_name", "property:x": "property_x", "property:a-b/c": "property_a_b_c", "9x": "_9x"} {
		if got := SanitizeLabel(in); got != want {
			t.Errorf("SanitizeLabel(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLabelsThatClashOnceSanitisedAreRefused(t *testing.T) {
	_, err := Compile(platform, "p", v1alpha1.MetricsProfileSpec{Mode: v1alpha1.MetricsCustom,
		CustomLabels: []v1alpha1.MetricLabel{"label:a.b", "label:a-b"}}, platform)
	if err == nil || !strings.Contains(err.Error(), `"label_a_b"`) {
		t.Fatalf("want a clash error, got %v", err)
	}
	_, err = Compile(platform, "p", v1alpha1.MetricsProfileSpec{Mode: v1alpha1.MetricsCustom, CustomLabels: []v1alpha1.MetricLabel{"nope"}}, platform)
	if err == nil {
		t.Fatal("an unknown label compiles")
	}
}

func TestFilters(t *testing.T) {
	f := newFixture(t)
	f.src.ns["team-a"] = labels.Set{"tier": "prod"}
	f.src.ns["team-b"] = labels.Set{"tier": "dev"}
	f.set(platform, "prod-high", v1alpha1.MetricsProfileSpec{Mode: v1alpha1.MetricsSimple, Filter: &v1alpha1.ResultFilter{
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "prod"}},
		Severities:        &v1alpha1.SeverityList{Include: []v1alpha1.Severity{v1alpha1.SeverityHigh}},
		Statuses:          &v1alpha1.StatusList{Include: []v1alpha1.ResultStatus{v1alpha1.StatusPass, v1alpha1.StatusFail}},
		Policies:          &v1alpha1.MatchList{Exclude: []string{"disallow-*"}},
		Sources:           &v1alpha1.MatchList{Include: []string{"KYVERNO"}},
	}})
	f.put(podReport("team-a", result(failHigh, "Pod", "team-a", "a"), result(warnLow, "Pod", "team-a", "a"), result(passed, "Pod", "team-a", "b")))
	f.put(podReport("team-b", result(failHigh, "Pod", "team-b", "a")))
	ns, _ := f.scrape()
	expect(t, "filtered", ns, map[string]float64{
		"category=cat,namespace=team-a,policy=require-labels,profile=policy-herald/prod-high,severity=high,source=kyverno,status=fail": 1,
		"category=cat,namespace=team-a,policy=require-labels,profile=policy-herald/prod-high,severity=high,source=kyverno,status=pass": 1,
	})

	// A namespace label change (the store reports it as a change of the namespace's reports).
	f.src.ns["team-a"] = labels.Set{"tier": "dev"}
	f.src.ns["team-b"] = labels.Set{"tier": "prod"}
	f.e.ReportChanged(report.Key("PolicyReport", "team-a", "pods"))
	f.e.ReportChanged(report.Key("PolicyReport", "team-b", "pods"))
	f.e.flush()
	ns, _ = f.scrape()
	expect(t, "after relabelling namespaces", ns, map[string]float64{
		"category=cat,namespace=team-b,policy=require-labels,profile=policy-herald/prod-high,severity=high,source=kyverno,status=fail": 1,
	})
}

func TestTenantProfileCountsOnlyItsNamespace(t *testing.T) {
	f := newFixture(t)
	f.set("team-a", "mine", v1alpha1.MetricsProfileSpec{Mode: v1alpha1.MetricsCustom, CustomLabels: []v1alpha1.MetricLabel{"namespace", "name"},
		Filter: &v1alpha1.ResultFilter{Namespaces: &v1alpha1.MatchList{Include: []string{"*"}}}})
	f.put(podReport("team-a", result(failHigh, "Pod", "team-a", "a")))
	f.put(podReport("team-b", result(failHigh, "Pod", "team-b", "b")))
	f.put(&report.Report{Kind: "ClusterReport", Name: "nodes", Results: []report.Result{result(failHigh, "Node", "", "n1")}})
	// A report of another namespace whose result names team-a's resource is still not team-a's.
	f.put(&report.Report{Kind: "Report", Namespace: "team-b", Name: "x", Results: []report.Result{result(failHigh, "Pod", "team-a", "sneaky")}})
	ns, cl := f.scrape()
	mine := map[string]float64{}
	for k, v := range ns {
		if strings.Contains(k, "profile=team-a/mine") {
			mine[k] = v
		}
	}
	expect(t, "tenant", mine, map[string]float64{"name=a,namespace=team-a,profile=team-a/mine": 1})
	if n := count(cl, "profile=team-a/mine"); n != 0 {
		t.Errorf("a tenant profile counts cluster reports: %v", cl)
	}
}

func TestResultReportAndProfileRemoval(t *testing.T) {
	f := newFixture(t)
	f.set(platform, "d", v1alpha1.MetricsProfileSpec{Mode: v1alpha1.MetricsDetailed})
	f.put(podReport("team-a", result(failHigh, "Pod", "team-a", "a"), result(failHigh, "Pod", "team-a", "b")))
	if ns, _ := f.scrape(); len(ns) != 2 {
		t.Fatalf("want 2 series, got\n%s", dump(ns))
	}
	f.put(podReport("team-a", result(failHigh, "Pod", "team-a", "b")))
	ns, _ := f.scrape()
	if len(ns) != 1 || count(ns, "name=b") != 1 {
		t.Errorf("a removed result's series survives:\n%s", dump(ns))
	}
	f.del(report.Key("PolicyReport", "team-a", "pods"))
	if ns, _ := f.scrape(); len(ns) != 0 {
		t.Errorf("a deleted report's series survive:\n%s", dump(ns))
	}
	f.put(podReport("team-a", result(failHigh, "Pod", "team-a", "a")))
	f.set(platform, "d", v1alpha1.MetricsProfileSpec{Mode: v1alpha1.MetricsCustom, CustomLabels: []v1alpha1.MetricLabel{"policy"}})
	ns, _ = f.scrape()
	expect(t, "changed profile", ns, map[string]float64{"policy=require-labels,profile=policy-herald/d": 1})
	f.e.Remove(platform + "/d")
	ns, _ = f.scrape()
	if count(ns, "policy-herald/d") != 0 {
		t.Errorf("a deleted profile's series survive:\n%s", dump(ns))
	}
	if s := f.e.Stats(platform + "/d"); s.Known {
		t.Errorf("a removed profile is known: %+v", s)
	}
}

func TestMaxSeries(t *testing.T) {
	f := newFixture(t)
	f.set(platform, "d", v1alpha1.MetricsProfileSpec{Mode: v1alpha1.MetricsDetailed, MaxSeries: ptr.To[int32](2)})
	f.put(podReport("team-a", result(failHigh, "Pod", "team-a", "a"), result(failHigh, "Pod", "team-a", "b"), result(failHigh, "Pod", "team-a", "c")))
	ns, _ := f.scrape()
	if len(ns) != 2 {
		t.Errorf("maxSeries 2 exports %d series", len(ns))
	}
	if s := f.e.Stats(platform + "/d"); s.Series != 2 || s.Refused != 1 {
		t.Errorf("stats %+v, want 2 series and 1 refused", s)
	}
	f.put(podReport("team-a", result(failHigh, "Pod", "team-a", "a")))
	if s := f.e.Stats(platform + "/d"); s.Series != 1 || s.Refused != 0 {
		t.Errorf("stats %+v after fewer results, want 1 series and none refused", s)
	}
}

func TestTwoProfilesWithDifferentLabelsShareValidFamilies(t *testing.T) {
	f := newFixture(t)
	f.set(platform, "simple", v1alpha1.MetricsProfileSpec{Mode: v1alpha1.MetricsSimple})
	f.set(platform, "custom", v1alpha1.MetricsProfileSpec{Mode: v1alpha1.MetricsCustom, CustomLabels: []v1alpha1.MetricLabel{"policy", "label:app.kubernetes.io/name"}})
	f.put(podReport("team-a", result(failHigh, "Pod", "team-a", "a")))
	mfs, text := metricstest.Scrape(t, f.reg)
	names := map[string]bool{}
	for _, m := range mfs[ResultFamily].GetMetric() {
		var ls []string
		for _, l := range m.GetLabel() {
			ls = append(ls, l.GetName())
		}
		names[strings.Join(ls, ",")] = true
	}
	if len(names) != 1 {
		t.Errorf("the series of one family have different label names: %v\n%s", names, text)
	}
	ns := metricstest.Series(mfs, ResultFamily)
	expect(t, "two profiles", ns, map[string]float64{
		"category=cat,namespace=team-a,policy=require-labels,profile=policy-herald/simple,severity=high,source=kyverno,status=fail": 1,
		"label_app_kubernetes_io_name=web,policy=require-labels,profile=policy-herald/custom":                                       1,
	})
}

func TestNotRunningExportsNothing(t *testing.T) {
	f := newFixture(t)
	f.put(podReport("team-a", result(failHigh, "Pod", "team-a", "a")))
	f.e.mu.Lock()
	f.e.running = false
	f.e.mu.Unlock()
	if ns, _ := f.scrape(); len(ns) != 0 {
		t.Errorf("a replica that is not the leader exports %d series", len(ns))
	}
}

func TestStartCountsAndStopDrops(t *testing.T) {
	src := newFakeStore()
	r := podReport("team-a", result(failHigh, "Pod", "team-a", "a"))
	src.store(r.Key(), r)
	e := New(src, platform, logr.Discard())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = e.Start(ctx); close(done) }()
	wait.Until(5*time.Second, func() bool { return e.Stats(DefaultProfile).Series == 1 })
	if s := e.Stats(DefaultProfile); !s.Running || s.Series != 1 {
		t.Fatalf("stats %+v after start", s)
	}
	r2 := podReport("team-b", result(failHigh, "Pod", "team-b", "a"))
	src.store(r2.Key(), r2)
	e.ReportChanged(r2.Key())
	wait.Until(5*time.Second, func() bool { return e.Stats(DefaultProfile).Series == 2 })
	if s := e.Stats(DefaultProfile); s.Series != 2 {
		t.Errorf("stats %+v after a change", s)
	}
	cancel()
	<-done
	if s := e.Stats(DefaultProfile); s.Running || s.Series != 0 {
		t.Errorf("stats %+v after stop", s)
	}
}
