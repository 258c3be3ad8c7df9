package resultmetrics

import (
	"fmt"
	"testing"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/testing/metricstest"
)

// spelled returns a report of team-a named name with n failing results of failHigh's rule
// from source spelled so.
func spelled(name, source string, n int) *report.Report {
	c := *failHigh
	c.Source = source
	rep := &report.Report{Kind: "PolicyReport", Namespace: "team-a", Name: name}
	for i := range n {
		rep.Results = append(rep.Results, result(&c, "Pod", "team-a", fmt.Sprintf("%s-%d", name, i)))
	}
	return rep
}

// scrapeUnique scrapes and fails when two series of a family have the same labels (a
// duplicate the map of Series would hide).
func (f *fixture) scrapeUnique() map[string]float64 {
	f.t.Helper()
	mfs, text := metricstest.Scrape(f.t, f.reg)
	ns := metricstest.Series(mfs, ResultFamily)
	if n := len(mfs[ResultFamily].GetMetric()); n != len(ns) {
		f.t.Fatalf("%d series but %d label sets:\n%s", n, len(ns), text)
	}
	return ns
}

// A source spelled in two letter cases is one series, labelled with its most common spelling;
// when that flips, the series is relabelled, never split or duplicated.
func TestSourceSpellingsShareOneSeries(t *testing.T) {
	f := newFixture(t)
	f.set(platform, "simple", v1alpha1.MetricsProfileSpec{Mode: v1alpha1.MetricsSimple})
	f.set(platform, "by-source", v1alpha1.MetricsProfileSpec{Mode: v1alpha1.MetricsCustom, CustomLabels: []v1alpha1.MetricLabel{"source"}})
	f.set(platform, "by-policy", v1alpha1.MetricsProfileSpec{Mode: v1alpha1.MetricsCustom, CustomLabels: []v1alpha1.MetricLabel{"policy"}})
	series := func(src string, simple, bySource float64) map[string]float64 {
		return map[string]float64{
			"category=cat,namespace=team-a,policy=require-labels,profile=policy-herald/simple,severity=high,source=" + src + ",status=fail": simple,
			"profile=policy-herald/by-source,source=" + src:         bySource,
			"policy=require-labels,profile=policy-herald/by-policy": bySource,
		}
	}

	f.put(spelled("old", "Kyverno", 6))
	f.put(spelled("recent", "kyverno", 1))
	expect(t, "Kyverno most common", f.scrapeUnique(), series("Kyverno", 7, 7))

	f.put(spelled("recent", "kyverno", 9)) // Kyverno upgraded on most nodes
	expect(t, "kyverno most common", f.scrapeUnique(), series("kyverno", 15, 15))

	f.del(report.Key("PolicyReport", "team-a", "recent"))
	expect(t, "back to Kyverno", f.scrapeUnique(), series("Kyverno", 6, 6))

	f.put(spelled("recent", "kyverno", 6)) // a tie goes to the spelling that sorts first
	expect(t, "tie", f.scrapeUnique(), series("Kyverno", 12, 12))
}
