// Package metricstest scrapes a Prometheus gatherer the way Prometheus does, for tests: it
// encodes the exposition in the text format, parses it back with Prometheus' own parser
// (github.com/prometheus/common/expfmt) and lints it with promtool (from
// POLICY_HERALD_SERVERS; a missing promtool fails the test).
package metricstest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// T is what Scrape needs of a test (testing.TB and Ginkgo's GinkgoT both have it).
type T interface {
	Helper()
	Fatalf(format string, args ...any)
}

// promtool returns the path of promtool under POLICY_HERALD_SERVERS (hack/test-servers.sh).
func promtool(t T) string {
	t.Helper()
	dir := os.Getenv("POLICY_HERALD_SERVERS")
	if dir == "" {
		t.Fatalf("POLICY_HERALD_SERVERS is not set: run the tests with make test, or set it to the output of hack/test-servers.sh")
	}
	p := filepath.Join(dir, "promtool")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%v: run hack/test-servers.sh", err)
	}
	return p
}

// Scrape gathers g, checks the exposition and returns the families by name and the text.
func Scrape(t T, g prometheus.Gatherer) (map[string]*dto.MetricFamily, string) {
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
	cmd := exec.Command(promtool(t), "check", "metrics")
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
