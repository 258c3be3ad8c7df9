package access

import (
	"fmt"
	"slices"
	"strings"
)

// reportAPI is what RBAC grants on for one report kind.
type reportAPI struct {
	group, resource string
	namespaced      bool
}

// reportAPIs are the report kinds by the report model's Kind (report.Report.Kind).
var reportAPIs = map[string]reportAPI{
	"PolicyReport":        {"wgpolicyk8s.io", "policyreports", true},
	"ClusterPolicyReport": {"wgpolicyk8s.io", "clusterpolicyreports", false},
	"Report":              {"openreports.io", "reports", true},
	"ClusterReport":       {"openreports.io", "clusterreports", false},
}

// kindOrder is the order questions are asked and kinds are named in: namespaced kinds first,
// so a reason reads "policyreports or reports ..., nor clusterpolicyreports ...".
var kindOrder = []string{"PolicyReport", "Report", "ClusterPolicyReport", "ClusterReport"}

// ReportKinds returns every report kind the console knows, as the report model names them,
// namespaced kinds first.
func ReportKinds() []string { return slices.Clone(kindOrder) }

// Namespaced tells whether kind (one of ReportKinds) is a namespaced report kind.
func Namespaced(kind string) bool { return reportAPIs[kind].namespaced }

// Holdings says which report kinds are installed and, for each namespaced kind, which
// namespaces hold reports of it (the report store knows both): kind → namespaces. A kind that
// is not a key is not installed and nobody is asked about it; the namespaces of a
// cluster-scoped kind are ignored. Only the namespaces listed are ever asked about, so a
// person's access costs the namespaces with reports, not every namespace of the cluster.
type Holdings map[string][]string

// validate refuses a kind the console does not know, which would otherwise be silently hidden.
func (h Holdings) validate() error {
	for kind := range h {
		if _, ok := reportAPIs[kind]; !ok {
			return fmt.Errorf("unknown report kind %q (want one of %s)", kind, strings.Join(kindOrder, ", "))
		}
	}
	return nil
}

// kinds returns the installed kinds in kindOrder.
func (h Holdings) kinds() []string {
	var out []string
	for _, k := range kindOrder {
		if _, ok := h[k]; ok {
			out = append(out, k)
		}
	}
	return out
}
