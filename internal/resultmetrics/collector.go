package resultmetrics

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

var (
	resultDesc = prometheus.NewDesc(ResultFamily,
		"Policy results of PolicyReports and Reports, shaped by the MetricsProfile named in the label profile: 1 per result in mode detailed, a count of results otherwise.",
		nil, nil)
	clusterResultDesc = prometheus.NewDesc(ClusterResultFamily,
		"Policy results of ClusterPolicyReports and ClusterReports, shaped by the MetricsProfile named in the label profile: 1 per result in mode detailed, a count of results otherwise.",
		nil, nil)
)

// Describe sends nothing: the label names of the families follow the profiles, so the
// exporter is an unchecked collector. Every series of a family still has the same label
// names (see the package documentation).
func (e *Exporter) Describe(chan<- *prometheus.Desc) {}

// Collect sends every series of every profile in effect.
func (e *Exporter) Collect(ch chan<- prometheus.Metric) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.running {
		return
	}
	for _, st := range e.states() {
		for _, s := range st.series {
			d := resultDesc
			if s.cluster {
				d = clusterResultDesc
			}
			// A snapshot: the registry writes the metric after Collect returns.
			ch <- &gauge{desc: d, pairs: st.pairsOf(s), value: float64(s.count)}
		}
	}
}

// gauge is one collected series. Its label pairs are shared with the exporter, which never
// modifies them.
type gauge struct {
	desc  *prometheus.Desc
	pairs []*dto.LabelPair
	value float64
}

func (g *gauge) Desc() *prometheus.Desc { return g.desc }

func (g *gauge) Write(m *dto.Metric) error {
	v := g.value
	m.Label = g.pairs
	m.Gauge = &dto.Gauge{Value: &v}
	return nil
}
