package scheme

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// TestNewKnowsEveryKind guards the API packages' registration: their AddToScheme is taken from
// the builder before the types files' init functions register their kinds.
func TestNewKnowsEveryKind(t *testing.T) {
	s := New()
	for _, gvk := range []schema.GroupVersionKind{
		{Group: "reporting.policyherald.io", Version: "v1alpha1", Kind: "NotificationTarget"},
		{Group: "reporting.policyherald.io", Version: "v1alpha1", Kind: "BlockReportPolicyList"},
		{Group: "wgpolicyk8s.io", Version: "v1alpha2", Kind: "ClusterPolicyReport"},
		{Group: "openreports.io", Version: "v1alpha1", Kind: "Report"},
		{Group: "reporting.policyherald.io", Version: "v1alpha1", Kind: "ListOptions"},
		{Group: "", Version: "v1", Kind: "ConfigMap"},
	} {
		if !s.Recognizes(gvk) {
			t.Errorf("the scheme does not know %s", gvk)
		}
	}
}
