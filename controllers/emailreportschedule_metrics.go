package controllers

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// EmailReportRunsMetric is the name of the counter of e-mail report runs.
const EmailReportRunsMetric = "policy_herald_email_report_runs_total"

// emailReportRuns counts the finished runs (Jobs) of each EmailReportSchedule by outcome.
var emailReportRuns = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: EmailReportRunsMetric,
	Help: "Finished runs (Jobs, scheduled or send-now) of an EmailReportSchedule, by outcome: succeeded or failed.",
}, []string{"namespace", "name", "outcome"})

func init() { metrics.Registry.MustRegister(emailReportRuns) }

// emailRuns counts each finished Job once, however often its schedule is reconciled: it keeps
// the UIDs of the finished Jobs it counted, per schedule, as long as the Jobs exist.
var emailRuns = &emailRunCounter{seen: map[types.NamespacedName]map[types.UID]struct{}{}}

type emailRunCounter struct {
	mu   sync.Mutex
	seen map[types.NamespacedName]map[types.UID]struct{}
}

// observe counts the Jobs of schedule s that finished since it last looked. jobs are all the
// Jobs of its CronJob: UIDs of Jobs pruned by the history limits are forgotten.
func (c *emailRunCounter) observe(s types.NamespacedName, jobs []batchv1.Job) {
	c.mu.Lock()
	defer c.mu.Unlock()
	prev, known := c.seen[s]
	if !known {
		// Both series exist from the first look, so an alert on increase() sees the first run.
		emailReportRuns.WithLabelValues(s.Namespace, s.Name, "succeeded")
		emailReportRuns.WithLabelValues(s.Namespace, s.Name, "failed")
	}
	next := make(map[types.UID]struct{}, len(jobs))
	for i := range jobs {
		j := &jobs[i]
		_, failed, done := finished(j)
		if !done {
			continue
		}
		next[j.UID] = struct{}{}
		if _, counted := prev[j.UID]; counted {
			continue
		}
		outcome := "succeeded"
		if failed {
			outcome = "failed"
		}
		emailReportRuns.WithLabelValues(s.Namespace, s.Name, outcome).Inc()
	}
	c.seen[s] = next
}

// forget drops the series of a schedule that is gone.
func (c *emailRunCounter) forget(s types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.seen, s)
	emailReportRuns.DeletePartialMatch(prometheus.Labels{"namespace": s.Namespace, "name": s.Name})
}
