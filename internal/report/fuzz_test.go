package report

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	openreportsv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	"k8s.io/apimachinery/pkg/util/yaml"

	wgpolicyv1alpha2 "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
)

// keys are the identities of rep's results, in order.
func keys(rep *Report) []uint64 {
	out := make([]uint64, len(rep.Results))
	for i := range rep.Results {
		out[i] = rep.Results[i].Hash
	}
	return out
}

// FuzzFromPolicyReport: reports are written by any producer in the cluster. Converting one must
// never panic, and the identities must not depend on anything but the report's content: the
// same for a second conversion and for the report after a JSON round trip (as the API server
// stores it). The same JSON is read as an openreports.io Report too.
func FuzzFromPolicyReport(f *testing.F) {
	for _, name := range []string{"sample-cis-k8s.yaml", "sample-falco-policy.yaml"} {
		data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "reports", name))
		if err != nil {
			f.Fatal(err)
		}
		js, err := yaml.ToJSON(data)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(js)
	}
	f.Add([]byte(`{"metadata":{"name":"r","namespace":"ns"},"results":[{"policy":"p","result":"fail","properties":{"resultID":"x","severity":"HIGH"}},{"policy":"p","result":"fail","properties":{"resultID":"x"}}]}`))
	f.Add([]byte(`{"scope":{"kind":"Pod","name":"a"},"results":[{"resources":[{},{"kind":"Pod"}],"timestamp":{"seconds":-1,"nanos":-2000000000}}]}`))
	f.Add([]byte(`{"results":[{"subjects":[{"name":"x"}],"description":"d","source":""}],"source":"fallback"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var pr wgpolicyv1alpha2.PolicyReport
		if json.Unmarshal(data, &pr) == nil {
			first := FromPolicyReport(&pr)
			if again := FromPolicyReport(&pr); !slices.Equal(keys(first), keys(again)) || first.Key() != again.Key() {
				t.Fatalf("a second conversion gives other identities: %x, %x", keys(first), keys(again))
			}
			js, err := json.Marshal(&pr)
			if err != nil {
				t.Fatal(err)
			}
			var back wgpolicyv1alpha2.PolicyReport
			if err := json.Unmarshal(js, &back); err != nil {
				t.Fatalf("the report does not read back: %v\n%s", err, js)
			}
			if round := FromPolicyReport(&back); !slices.Equal(keys(first), keys(round)) {
				t.Fatalf("identities change over a JSON round trip: %x, %x\n%s", keys(first), keys(round), js)
			}
			for i := range first.Results {
				_ = first.ResultNamespace(&first.Results[i])
				_ = first.Results[i].Priority()
				_ = first.Results[i].Timestamp()
			}
		}
		var or openreportsv1alpha1.Report
		if json.Unmarshal(data, &or) == nil {
			first := FromReport(&or)
			if again := FromReport(&or); !slices.Equal(keys(first), keys(again)) {
				t.Fatalf("a second conversion gives other identities: %x, %x", keys(first), keys(again))
			}
		}
	})
}
