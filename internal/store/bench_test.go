package store

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	wgpolicyv1alpha2 "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
	"github.com/policyherald/policy-herald/internal/report"
)

// kyvernoReport is a report as Kyverno writes it for a namespace: one result per pod and
// rule, each with its own resource and a message that names it.
func kyvernoReport(i, results int) *wgpolicyv1alpha2.PolicyReport {
	ns := fmt.Sprintf("team-%d", i%20)
	r := &wgpolicyv1alpha2.PolicyReport{ObjectMeta: metav1.ObjectMeta{
		Namespace: ns, Name: fmt.Sprintf("polr-%d", i), UID: types.UID(fmt.Sprintf("uid-%d", i)),
		Labels: map[string]string{"app.kubernetes.io/managed-by": "kyverno"},
	}}
	for j := range results {
		pod := fmt.Sprintf("web-%d-%d-7f9c8d6b5-x%04d", i, j, j)
		r.Results = append(r.Results, wgpolicyv1alpha2.PolicyReportResult{
			Source: "kyverno", Policy: fmt.Sprintf("policy-%d", j%10), Rule: fmt.Sprintf("rule-%d", j%3),
			Category: "Pod Security Standards (Baseline)", Severity: "high", Result: "fail", Scored: true,
			Message:    message(j, pod),
			Timestamp:  metav1.Timestamp{Seconds: 1700000000 + int64(j)},
			Resources:  []corev1.ObjectReference{{APIVersion: "v1", Kind: "Pod", Namespace: ns, Name: pod, UID: types.UID(fmt.Sprintf("5d2c%08d-%04d-4a1b-9c7e-0123456789ab", i, j))}},
			Properties: map[string]string{"process": "background scan"}, // as Kyverno writes it
		})
	}
	return r
}

// uniqueMessages makes every message name its pod, the worst case for interning; Kyverno's
// messages are mostly the same for every resource of a rule.
var uniqueMessages = false

func message(j int, pod string) string {
	m := fmt.Sprintf("validation error: Privileged mode is disallowed. The fields spec.containers[*].securityContext.privileged must be unset. rule %d failed", j%3)
	if uniqueMessages {
		m += " for " + pod
	}
	return m
}

// BenchmarkStoreBytesPerResult measures what the store keeps per result: the live heap after
// storing 100,000 Kyverno-like results (2,000 reports of 50), divided by the results.
func BenchmarkStoreBytesPerResult(b *testing.B) {
	b.Run("kyverno-messages", func(b *testing.B) { uniqueMessages = false; storeBytes(b) })
	b.Run("unique-messages", func(b *testing.B) { uniqueMessages = true; storeBytes(b) })
}

func storeBytes(b *testing.B) {
	const reports, perReport = 2000, 50
	for range b.N {
		s := New(nil, nil, logr.Discard())
		before := liveHeap()
		for i := range reports {
			// The informer drops the raw object once converted.
			s.Put(report.FromPolicyReport(kyvernoReport(i, perReport)))
		}
		after := liveHeap()
		b.ReportMetric(float64(after-before)/float64(reports*perReport), "B/result")
		runtime.KeepAlive(s)
	}
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkConvert measures converting one 50-result report into the compact model.
func BenchmarkConvert(b *testing.B) {
	r := kyvernoReport(1, 50)
	b.ReportAllocs()
	for range b.N {
		_ = report.FromPolicyReport(r)
	}
}

// BenchmarkPut is the store's part of one report event (a 50-result Kyverno report replaced),
// with 200 and 20,000 reports stored: counting the source spellings is incremental, so the cost
// does not grow with the cluster.
func BenchmarkPut(b *testing.B) {
	for _, reports := range []int{200, 20_000} {
		b.Run(fmt.Sprintf("%d-reports", reports), func(b *testing.B) {
			s := New(nil, nil, logr.Discard())
			for i := range reports {
				s.Put(report.FromPolicyReport(kyvernoReport(i, 50)))
			}
			a := kyvernoReport(7, 50)
			next := kyvernoReport(7, 50)
			for i := range next.Results {
				next.Results[i].Source = "Kyverno"
			}
			versions := []*report.Report{report.FromPolicyReport(a), report.FromPolicyReport(next)}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				s.Put(versions[i%2])
				i++
			}
		})
	}
}
