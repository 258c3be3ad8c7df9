package filter

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/report"
)

// MatchNamespace says of a namespace what Match says of a failed result in it.
func TestMatchNamespaceAgreesWithMatch(t *testing.T) {
	specs := map[string]v1alpha1.ResultFilter{
		"none":                 {},
		"include":              {Namespaces: ml(list("team-*"), nil)},
		"exclude":              {Namespaces: ml(nil, list("team-a"))},
		"selector":             {NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}},
		"include and selector": {Namespaces: ml(list("team-*"), nil), NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}},
	}
	for name, spec := range specs {
		f, err := Compile(Spec{Filter: &spec})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, ns := range []string{"team-a", "team-b", "team-ab", "kube-system", "ghost"} {
			res := &report.Result{Check: &report.Check{Status: v1alpha1.StatusFail}, Resource: &report.Resource{Namespace: ns}}
			want := f.Match(&report.Report{Namespace: ns}, res, nsLabels)
			if got := f.MatchNamespace(ns, nsLabels); got != want {
				t.Errorf("%s: MatchNamespace(%q) = %v, Match = %v", name, ns, got, want)
			}
		}
	}
}
