// Package metricstest scrapes a Prometheus gatherer the way Prometheus does, for tests: it
// encodes the exposition in the text format, parses it back with Prometheus' own parser
// (github.com/prometheus/common/expfmt) and lints it with promtool (from
// POLICY_HERALD_SERVERS; a missing promtool fails the test).
package metricstest

import (
	"bytes"
	"os/exec"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/policyherald/policy-herald/internal/testservers"
)

// Scrape gathers g, checks the exposition and returns the families by name and the text.
func Scrape(t testing.TB, g prometheus.Gatherer) (map[string]*dto.MetricFamily, string) {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatalf("encode: %v", err)
		}
	}
	text := buf.String()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	parsed, err := parser.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parse the exposition: %v\n%s", err, text)
	}
	cmd := exec.Command(testservers.Path(t, "promtool"), "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s\n%s", err, out, text)
	}
	return parsed, text
}

// Series returns the series of family name as label sets without empty labels (as Prometheus
// stores them), each rendered "k=v,k=v" sorted, mapped to its value.
func Series(mfs map[string]*dto.MetricFamily, name string) map[string]float64 {
	out := map[string]float64{}
	mf := mfs[name]
	if mf == nil {
		return out
	}
	for _, m := range mf.GetMetric() {
		var parts []string
		for _, l := range m.GetLabel() {
			if l.GetValue() != "" {
				parts = append(parts, l.GetName()+"="+l.GetValue())
			}
		}
		sort.Strings(parts)
		out[strings.Join(parts, ",")] = m.GetGauge().GetValue()
	}
	return out
}
