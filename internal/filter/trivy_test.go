package filter

import (
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/util/yaml"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	wgpolicyv1alpha2 "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
	"github.com/policyherald/policy-herald/internal/report"
)

// The Trivy adapter writes its vulnerabilities with a severity and no outcome. The seed's root
// channel (minimumPriority: warning) must get the high findings as minimumSeverity: high does,
// and still drop the low ones.
func TestTrivyFindingsAgainstMinimumPriority(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "..", "testdata", "reports", "trivy-adapter-policyreport.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var pr wgpolicyv1alpha2.PolicyReport
	if err := yaml.NewYAMLOrJSONDecoder(f, 4096).Decode(&pr); err != nil {
		t.Fatal(err)
	}
	rep := report.FromPolicyReport(&pr)
	byPriority, err := Compile(Spec{MinimumPriority: v1alpha1.PriorityWarning})
	if err != nil {
		t.Fatal(err)
	}
	bySeverity, err := Compile(Spec{MinimumSeverity: v1alpha1.SeverityHigh})
	if err != nil {
		t.Fatal(err)
	}
	kept := map[v1alpha1.Severity]int{}
	for i := range rep.Results {
		res := &rep.Results[i]
		if res.Status != "" {
			t.Fatalf("the fixture's results have no outcome; got %q", res.Status)
		}
		if bySeverity.Match(rep, res, nil) && !byPriority.Match(rep, res, nil) {
			t.Errorf("a %s finding passes minimumSeverity: high but not minimumPriority: warning: %s", res.Severity, byPriority.explain(rep, res, nil))
		}
		if byPriority.Match(rep, res, nil) {
			kept[res.Severity]++
		}
	}
	if kept[v1alpha1.SeverityHigh] != 7 || kept[v1alpha1.SeverityMedium] != 4 || kept[v1alpha1.SeverityLow] != 0 || kept[""] != 1 {
		t.Errorf("minimumPriority: warning keeps %v; want the 7 high, 4 medium and 1 without severity, no low", kept)
	}
}
