package resultmetrics

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/report"
)

// benchExporter returns a running exporter with a detailed platform profile over reports of 50
// failing results each, reports*50 series in all.
func benchExporter(b *testing.B, reports int) (*Exporter, *fakeStore) {
	src := newFakeStore()
	checks := make([]*report.Check, 10)
	for i := range checks {
		checks[i] = check(fmt.Sprintf("policy-%d", i), "rule", v1alpha1.StatusFail, v1alpha1.SeverityHigh)
	}
	for r := range reports {
		ns := fmt.Sprintf("team-%d", r%200)
		rep := &report.Report{Kind: "PolicyReport", Namespace: ns, Name: fmt.Sprintf("pods-%d", r)}
		for i := range 50 {
			rep.Results = append(rep.Results, result(checks[i%10], "Pod", ns, fmt.Sprintf("pod-%d-%d", r, i/10)))
		}
		src.store(rep.Key(), rep)
	}
	e := New(src, platform, logr.Discard())
	p, err := Compile(platform, "detailed", v1alpha1.MetricsProfileSpec{Mode: v1alpha1.MetricsDetailed}, platform)
	if err != nil {
		b.Fatal(err)
	}
	e.Set(p)
	e.mu.Lock()
	e.running = true
	for _, st := range e.states() {
		e.rebuild(st, src.Keys())
	}
	e.mu.Unlock()
	return e, src
}

// BenchmarkScrape100k gathers and text-encodes 100,000 series (2,000 reports of 50 results,
// detailed), as a scrape does, with no report change between scrapes.
func BenchmarkScrape100k(b *testing.B) { benchScrape(b, false) }

// BenchmarkScrape100kAfterRename is a scrape of 100,000 series after the most common spelling
// of their source flipped (every series is relabelled and sorted again).
func BenchmarkScrape100kAfterRename(b *testing.B) {
	e, src := benchExporter(b, 2000)
	reg := prometheus.NewRegistry()
	reg.MustRegister(e)
	if _, err := reg.Gather(); err != nil {
		b.Fatal(err)
	}
	// Another spelling of the source, more common than the exporter's 100,000 results, comes
	// and goes: the name flips at every iteration.
	c := *check("policy", "rule", v1alpha1.StatusPass, "")
	c.Source = "KYVERNO"
	other := &report.Report{Kind: "PolicyReport", Namespace: "x", Name: "other"}
	for range 100_001 {
		other.Results = append(other.Results, report.Result{Check: &c})
	}
	var buf bytes.Buffer
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		b.StopTimer()
		if i%2 == 0 {
			src.names.Replace(nil, other)
		} else {
			src.names.Replace(other, nil)
		}
		i++
		b.StartTimer()
		scrapeText(b, reg, &buf)
	}
	if !bytes.Contains(buf.Bytes(), []byte(`source="kyverno"`)) && !bytes.Contains(buf.Bytes(), []byte(`source="KYVERNO"`)) {
		b.Fatal("no source label in the exposition")
	}
}

// BenchmarkScrape100kAfterEvent is a scrape of 100,000 series after a report of 50 results
// changed (50 series went and 50 came, so the exporter sorts again).
func BenchmarkScrape100kAfterEvent(b *testing.B) { benchScrape(b, true) }

func benchScrape(b *testing.B, change bool) {
	e, src := benchExporter(b, 2000)
	if s := e.Stats(platform + "/detailed"); s.Series != 100_000 {
		b.Fatalf("%d series", s.Series)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(e)
	if _, err := reg.Gather(); err != nil { // the first scrape sorts every series once
		b.Fatal(err)
	}
	key, versions := changedVersions(src)
	var buf bytes.Buffer
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if change {
			b.StopTimer()
			src.store(key, versions[i%2])
			i++
			e.ReportChanged(key)
			e.flush()
			b.StartTimer()
		}
		scrapeText(b, reg, &buf)
	}
	b.ReportMetric(float64(buf.Len()), "exposition-bytes")
}

// scrapeText gathers reg and encodes it as text into buf, as a scrape does.
func scrapeText(b *testing.B, reg *prometheus.Registry, buf *bytes.Buffer) {
	buf.Reset()
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	enc := expfmt.NewEncoder(buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			b.Fatal(err)
		}
	}
}

// changedVersions returns a report's key and two versions of it whose 50 results differ.
func changedVersions(src *fakeStore) (string, []*report.Report) {
	key := report.Key("PolicyReport", "team-7", "pods-7")
	old := src.reports[key]
	changed := &report.Report{Kind: old.Kind, Namespace: old.Namespace, Name: old.Name}
	for i, r := range old.Results {
		r.Message = "changed"
		r.Resource = &report.Resource{Kind: "Pod", Namespace: old.Namespace, Name: fmt.Sprintf("other-%d", i)}
		changed.Results = append(changed.Results, r)
	}
	return key, []*report.Report{changed, old}
}

// BenchmarkGather100k is the registry's part of a scrape of 100,000 series: Collect and Gather,
// without encoding.
func BenchmarkGather100k(b *testing.B) {
	e, _ := benchExporter(b, 2000)
	reg := prometheus.NewRegistry()
	reg.MustRegister(e)
	if _, err := reg.Gather(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReportEvent is the cost of one report event: a report of 50 results changes (every
// result of it is replaced) among 2,000 reports (100,000 series).
func BenchmarkReportEvent(b *testing.B) {
	e, src := benchExporter(b, 2000)
	key, versions := changedVersions(src)
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		src.store(key, versions[i%2])
		i++
		e.ReportChanged(key)
		e.flush()
	}
}
