package controllers

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func job(uid string, cond batchv1.JobConditionType) batchv1.Job {
	j := batchv1.Job{ObjectMeta: metav1.ObjectMeta{UID: types.UID(uid)}}
	if cond != "" {
		j.Status.Conditions = []batchv1.JobCondition{{Type: cond, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
	}
	return j
}

// Each finished Job counts once across reconciles, also after older Jobs are pruned; a removed
// schedule leaves no series.
func TestEmailRunsCountEachJobOnce(t *testing.T) {
	s := types.NamespacedName{Namespace: "team-metrics", Name: "weekly"}
	value := func(outcome string) float64 {
		return testutil.ToFloat64(emailReportRuns.WithLabelValues(s.Namespace, s.Name, outcome))
	}
	emailRuns.observe(s, []batchv1.Job{job("a", "")})
	if value("succeeded") != 0 || value("failed") != 0 {
		t.Fatal("a running Job was counted")
	}
	jobs := []batchv1.Job{job("a", batchv1.JobComplete), job("b", batchv1.JobFailed)}
	emailRuns.observe(s, jobs)
	emailRuns.observe(s, jobs)                                            // reconciled again
	emailRuns.observe(s, append(jobs[1:], job("c", batchv1.JobComplete))) // a pruned, c finished
	if got := value("succeeded"); got != 2 {
		t.Errorf("succeeded = %v, want 2", got)
	}
	if got := value("failed"); got != 1 {
		t.Errorf("failed = %v, want 1", got)
	}
	emailRuns.forget(s)
	if n := testutil.CollectAndCount(emailReportRuns); n != 0 {
		t.Errorf("%d series left after the schedule was removed", n)
	}
}
