package delivery

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// The operator's delivery health metrics, served on controller-runtime's metrics endpoint. Every
// series names its object by kind (NotificationTarget or TargetChannel), namespace
// and name; no label holds a URL, a credential or anything of a result.
//
// Counters and the latency histogram are updated as results are handled, through handles bound
// to its object's labels when its pipeline starts (an atomic add, no map look-up). The
// gauges are read from the running pipelines when Prometheus scrapes, so they cost nothing per
// event, and a target or channel whose pipeline stopped has none. When a pipeline stops (the
// target or channel was deleted, turned invalid or suspended, or this replica stopped leading) its
// counter and histogram series are deleted too.
const metricPrefix = "policy_herald_"

var objectLabels = []string{"kind", "namespace", "name"}

// LatencyBuckets are the bounds, in seconds, of the report-to-delivery latency histogram.
var LatencyBuckets = []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600}

var (
	deliveryResults = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: metricPrefix + "delivery_results_total",
		Help: "Results a destination handled, by outcome: sent (delivered one by one), digested (in a digest), summarised (counted in a rate limit's summary), failed (refused for good), dropped (not delivered within dropAfter), skipped (about a controlled resource) or muted (by a silence).",
	}, append(objectLabels[:3:3], "outcome"))
	deliveryRetries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: metricPrefix + "delivery_retries_total",
		Help: "Delivery attempts that retried a batch (fast retries and the slow retries of parked results).",
	}, objectLabels)
	deliveryLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    metricPrefix + "delivery_latency_seconds",
		Help:    "Time from a result's arrival in the report store (its report's change) to its delivery.",
		Buckets: LatencyBuckets,
	}, objectLabels)
	ledgerWriteErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: metricPrefix + "ledger_write_errors_total",
		Help: "Failed writes of a destination's ledger ConfigMaps (each is retried at the next flush).",
	}, objectLabels)

	descPending = prometheus.NewDesc(metricPrefix+"delivery_pending_results",
		"Results found new and not yet recorded: queued, being sent or parked for the slow retries.", objectLabels, nil)
	descQueue = prometheus.NewDesc(metricPrefix+"delivery_queue_depth",
		"Results queued for the destination's workers (bounded by the engine's queue size).", objectLabels, nil)
	descOldest = prometheus.NewDesc(metricPrefix+"delivery_oldest_pending_seconds",
		"Age of the oldest pending (queued, in flight or parked) result; 0 when none is pending.", objectLabels, nil)
	descFailing = prometheus.NewDesc(metricPrefix+"delivery_failing",
		"1 while delivery is failing (DeliveryFailing: repeated failed attempts, an outage) or paused (DeliveryPaused: the ledger cannot be written), else 0.", objectLabels, nil)
	descLedgerKeys = prometheus.NewDesc(metricPrefix+"ledger_keys",
		"Results the destination's ledger records as handled (present and recently gone).", objectLabels, nil)
	descLedgerBytes = prometheus.NewDesc(metricPrefix+"ledger_bytes",
		"Data held by the destination's ledger ConfigMaps, as last read or written.", objectLabels, nil)
)

// live reads the gauges of every running pipeline at scrape time.
var live = &liveCollector{pipelines: map[*pipeline]struct{}{}}

func init() {
	metrics.Registry.MustRegister(deliveryResults, deliveryRetries, deliveryLatency, ledgerWriteErrors, live)
}

// pipelineMetrics are the counter and histogram handles of one target or channel.
type pipelineMetrics struct {
	labels                                prometheus.Labels
	sent, failed, dropped, retries, write prometheus.Counter
	latency                               prometheus.Observer
}

func newPipelineMetrics(d *Config) *pipelineMetrics {
	l := prometheus.Labels{"kind": d.Kind, "namespace": d.Namespace, "name": d.Name}
	values := []string{d.Kind, d.Namespace, d.Name}
	return &pipelineMetrics{
		labels:  l,
		sent:    deliveryResults.WithLabelValues(d.Kind, d.Namespace, d.Name, "sent"),
		failed:  deliveryResults.WithLabelValues(d.Kind, d.Namespace, d.Name, "failed"),
		dropped: deliveryResults.WithLabelValues(d.Kind, d.Namespace, d.Name, "dropped"),
		retries: deliveryRetries.WithLabelValues(values...),
		write:   ledgerWriteErrors.WithLabelValues(values...),
		latency: deliveryLatency.WithLabelValues(values...),
	}
}

// counted adds handled results of an outcome. The outcomes every destination has are created
// with the pipeline; the others when they first happen.
func (m *pipelineMetrics) counted(o outcome, n int) {
	switch o {
	case outcomeNone:
	case outcomeSent:
		m.sent.Add(float64(n))
	case outcomeFailed:
		m.failed.Add(float64(n))
	case outcomeDropped:
		m.dropped.Add(float64(n))
	default:
		deliveryResults.WithLabelValues(m.labels["kind"], m.labels["namespace"], m.labels["name"], o.String()).Add(float64(n))
	}
}

// delete removes every series of the target or channel.
func (m *pipelineMetrics) delete() {
	deliveryResults.DeletePartialMatch(m.labels)
	deliveryRetries.DeletePartialMatch(m.labels)
	deliveryLatency.DeletePartialMatch(m.labels)
	ledgerWriteErrors.DeletePartialMatch(m.labels)
}

type liveCollector struct {
	mu        sync.Mutex
	pipelines map[*pipeline]struct{}
}

func (c *liveCollector) add(p *pipeline) {
	c.mu.Lock()
	c.pipelines[p] = struct{}{}
	c.mu.Unlock()
}

func (c *liveCollector) remove(p *pipeline) {
	c.mu.Lock()
	delete(c.pipelines, p)
	c.mu.Unlock()
}

func (c *liveCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPending, descQueue, descOldest, descFailing, descLedgerKeys, descLedgerBytes} {
		ch <- d
	}
}

// Collect reads each pipeline under its own lock, one at a time, never across I/O: the
// pending count and the oldest pending result (a pass over the pending results, as the slow
// retries make), the queue counter, the health flags and the ledger's sizes.
func (c *liveCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	ps := make([]*pipeline, 0, len(c.pipelines))
	for p := range c.pipelines {
		ps = append(ps, p)
	}
	c.mu.Unlock()
	for _, p := range ps {
		d := p.config()
		lv := []string{d.Kind, d.Namespace, d.Name}
		now := p.now().UnixNano()
		p.mu.Lock()
		pending := len(p.inflight)
		oldest := now
		for _, found := range p.inflight {
			oldest = min(oldest, found)
		}
		paused := p.pausedLocked()
		p.mu.Unlock()
		failing, _ := p.stats.failing()
		f := 0.0
		if failing || paused {
			f = 1
		}
		ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(pending), lv...)
		ch <- prometheus.MustNewConstMetric(descQueue, prometheus.GaugeValue, float64(max(0, p.queued.Load())), lv...)
		ch <- prometheus.MustNewConstMetric(descOldest, prometheus.GaugeValue, time.Duration(now-oldest).Seconds(), lv...)
		ch <- prometheus.MustNewConstMetric(descFailing, prometheus.GaugeValue, f, lv...)
		ch <- prometheus.MustNewConstMetric(descLedgerKeys, prometheus.GaugeValue, float64(p.ledger.Len()), lv...)
		ch <- prometheus.MustNewConstMetric(descLedgerBytes, prometheus.GaugeValue, float64(p.ledger.Bytes()), lv...)
	}
}
