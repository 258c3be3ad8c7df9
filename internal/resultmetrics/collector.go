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
	// Series are sent in the order the registry sorts them in: each profile's in order, the
	// profiles merged, so its sort finds them sorted.
	runs, n := e.sortedRuns(e.states())
	// One allocation for the scrape's metrics: snapshots, as the registry writes them after
	// Collect returns.
	slab := make([]gauge, n)
	for {
		best := -1
		for i, r := range runs {
			if len(r) > 0 && (best < 0 || r[0].sortKey < runs[best][0].sortKey) {
				best = i
			}
		}
		if best < 0 {
			return
		}
		s := runs[best][0]
		runs[best] = runs[best][1:]
		d := resultDesc
		if s.cluster {
			d = clusterResultDesc
		}
		g := &slab[len(slab)-n]
		n--
		g.desc, g.pairs, g.value = d, s.pairs, float64(s.count)
		g.dto.Value = &g.value
		ch <- g
	}
}

// sortedRuns returns the series of each state in scrape order, and how many there are. Source
// labels follow the names of one generation: when a name flipped while they were looked up,
// they are looked up again (a few times at most; a later scrape catches up with a storm).
func (e *Exporter) sortedRuns(states []*state) ([][]*series, int) {
	for attempt := 1; ; attempt++ {
		gen := e.names.Generation()
		if gen != e.namesGen {
			e.namesGen = gen
			for _, st := range states {
				st.renamed()
			}
		}
		runs := make([][]*series, len(states))
		n := 0
		for i, st := range states {
			runs[i] = st.sorted()
			n += len(runs[i])
		}
		if e.names.Generation() == gen || attempt == 3 {
			return runs, n
		}
	}
}

// gauge is one collected series. Its label pairs are shared with the exporter, which never
// modifies them.
type gauge struct {
	desc  *prometheus.Desc
	pairs []*dto.LabelPair
	value float64
	dto   dto.Gauge
}

func (g *gauge) Desc() *prometheus.Desc { return g.desc }

func (g *gauge) Write(m *dto.Metric) error {
	m.Label = g.pairs
	m.Gauge = &g.dto
	return nil
}
