package query

import (
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/policyherald/policy-herald/internal/report"
)

// TestResourceDetail: every result about one resource, from every report, with the Kyverno
// ones' PolicyException.
func TestResourceDetail(t *testing.T) {
	e, reps := fixture(t)
	var want []item
	for _, it := range items(reps, Everything) {
		if it.kind() == "Pod" && it.namespace() == "team-a" && it.name() == "web-1" {
			want = append(want, it)
		}
	}
	d, err := e.Resource(Everything, ResourceRef{Namespace: "team-a", Kind: "Pod", Name: "web-1"}, Selection{}, Page{})
	if err != nil {
		t.Fatal(err)
	}
	if d == nil || d.Total != len(want) || len(d.Rows) != len(want) || len(want) < 2 {
		t.Fatalf("detail = %+v, want %d results", d, len(want))
	}
	if d.Resource != (report.Resource{APIVersion: "v1", Kind: "Pod", Namespace: "team-a", Name: "web-1"}) || len(d.Owners) != 0 {
		t.Errorf("resource = %+v, owners %+v", d.Resource, d.Owners)
	}
	for _, r := range d.Rows {
		var pe policyException
		if err := yaml.UnmarshalStrict([]byte(r.PolicyException), &pe); err != nil {
			t.Fatalf("row %s: exception %q: %v", rowID(r.Row), r.PolicyException, err)
		}
		m := pe.Spec.Match.Any[0].Resources
		if pe.Kind != "PolicyException" || pe.APIVersion != "kyverno.io/v2" || pe.Metadata.Namespace != "team-a" ||
			pe.Spec.Exceptions[0].PolicyName != r.Policy || pe.Spec.Exceptions[0].RuleNames[0] != r.Rule ||
			m.Kinds[0] != "v1/Pod" || m.Names[0] != "web-1" || m.Namespaces[0] != "team-a" {
			t.Errorf("row %s: exception %+v", rowID(r.Row), pe)
		}
	}
	if d, err := e.Resource(teams{"team-b": true}, ResourceRef{Namespace: "team-a", Kind: "Pod", Name: "web-1"}, Selection{}, Page{}); err != nil || d != nil {
		t.Errorf("a resource whose results are not seen = %+v, %v", d, err)
	}
	if _, err := e.Resource(Everything, ResourceRef{Namespace: "team-a", Kind: "Pod"}, Selection{}, Page{}); err == nil {
		t.Errorf("a resource without a name is refused")
	}
}

// TestResourceOfTheOwner: the Trivy adapter's results name no resource; its report's owner is
// the Pod they are about, and their rows say so.
func TestResourceOfTheOwner(t *testing.T) {
	e, reps := fixture(t)
	var trivy *report.Report
	for _, r := range reps {
		if r.Owner != nil && r.Owner.Kind == "Pod" {
			trivy = r
		}
	}
	if trivy == nil {
		t.Fatal("no fixture report has an owner")
	}
	ref := ResourceRef{Namespace: trivy.Namespace, Kind: "Pod", Name: trivy.Owner.Name, UID: trivy.Owner.UID}
	d, err := e.Resource(Everything, ref, Selection{}, Page{Limit: MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	if d == nil || d.Total != len(trivy.Results) || d.Resource.UID != trivy.Owner.UID {
		t.Fatalf("detail = %+v, want the %d results of the Trivy report", d, len(trivy.Results))
	}
	for _, r := range d.Rows {
		if r.Owner == nil || r.Owner.Name != trivy.Owner.Name || r.PolicyException != "" {
			t.Errorf("row %s: owner %+v, exception %q", rowID(r.Row), r.Owner, r.PolicyException)
		}
	}
	ref.UID = "another"
	if d, err := e.Resource(Everything, ref, Selection{}, Page{}); err != nil || d != nil {
		t.Errorf("another UID = %+v, %v", d, err)
	}
}

// TestPolicyExceptionIsData: report text cannot change the manifest's structure.
func TestPolicyExceptionIsData(t *testing.T) {
	row := Row{Source: "Kyverno", Status: "fail", Policy: "team-a/evil\nkind: ClusterRole\n", Rule: "r: {a: b}", Kind: "Pod", Name: "x\n---\napiVersion: v1",
		Namespace: "team-a", APIVersion: "v1"}
	var pe policyException
	if err := yaml.UnmarshalStrict([]byte(PolicyException(row)), &pe); err != nil {
		t.Fatal(err)
	}
	if pe.Kind != "PolicyException" || pe.Spec.Exceptions[0].PolicyName != row.Policy || pe.Spec.Exceptions[0].RuleNames[0] != row.Rule ||
		pe.Spec.Match.Any[0].Resources.Names[0] != row.Name || pe.Metadata.Name != "evil-kind--clusterrole--r---a--b--x-----apiversion--v1" {
		t.Errorf("exception = %+v", pe)
	}
	for _, r := range []Row{
		{Source: "trivy", Status: "fail", Policy: "p", Rule: "r", Kind: "Pod", Name: "x"},
		{Source: "kyverno", Status: "fail", Policy: "p", Kind: "Pod", Name: "x"},
		{Source: "kyverno", Status: "pass", Policy: "p", Rule: "r", Kind: "Pod", Name: "x"}, // nothing to exempt
	} {
		if got := PolicyException(r); got != "" {
			t.Errorf("%+v: exception %q, want none", r, got)
		}
	}
}
