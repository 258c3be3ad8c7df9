package api

import (
	"github.com/policyherald/policy-herald/internal/console/access"
	"github.com/policyherald/policy-herald/internal/report"
)

// reportKinds are every report kind the console knows. Each is in the holdings even without a
// report, so a person's Scope (and an empty Scope's reason) covers every kind: the store does
// not say which report APIs are installed, and asking about a kind nobody holds costs one
// cluster-wide review per person and TTL.
var reportKinds = []string{"PolicyReport", "ClusterPolicyReport", "Report", "ClusterReport"}

// holdings returns the namespaces holding reports of each kind. It reads every report of the
// snapshot on every request: a few microseconds at 2,000 reports, less than keeping it current
// would cost in the store.
func holdings(reps []*report.Report) access.Holdings {
	held := make(access.Holdings, len(reportKinds))
	seen := make(map[[2]string]bool)
	for _, k := range reportKinds {
		held[k] = nil
	}
	for _, rep := range reps {
		if rep.Namespace == "" || seen[[2]string{rep.Kind, rep.Namespace}] {
			continue
		}
		seen[[2]string{rep.Kind, rep.Namespace}] = true
		if _, known := held[rep.Kind]; known {
			held[rep.Kind] = append(held[rep.Kind], rep.Namespace)
		}
	}
	return held
}
