package api

import (
	"fmt"
	"testing"

	"github.com/policyherald/policy-herald/internal/report"
)

// BenchmarkHoldings measures what every request pays to learn where reports are: one pass
// over a snapshot of 2,000 reports in 1,000 namespaces (a PolicyReport and a Report each).
func BenchmarkHoldings(b *testing.B) {
	reps := make([]*report.Report, 0, 2000)
	for i := range 1000 {
		ns := fmt.Sprintf("namespace-%04d", i)
		reps = append(reps, &report.Report{Kind: "PolicyReport", Namespace: ns, Name: "a"}, &report.Report{Kind: "Report", Namespace: ns, Name: "b"})
	}
	b.ReportAllocs()
	for b.Loop() {
		if held := holdings(reps); len(held["PolicyReport"]) != 1000 || len(held["Report"]) != 1000 {
			b.Fatal(len(held["PolicyReport"]))
		}
	}
}
