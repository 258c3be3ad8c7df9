package sender

import (
	"reflect"
	"testing"

	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/sender/render"
)

func TestChatViewHelpers(t *testing.T) {
	for _, c := range [][3]string{{"p", "r", "p / r"}, {"p", "", "p"}, {"", "r", "r"}, {"", "", "Policy result"}} {
		if got := render.ResultTitle(c[0], c[1]); got != c[2] {
			t.Errorf("render.ResultTitle(%q, %q) = %q, want %q", c[0], c[1], got, c[2])
		}
	}
	d := ResultDocument{Policy: "", Rule: "r", Status: "fail"}
	if got := render.StatusTitle(&d); got != "FAIL · Policy result / r" {
		t.Errorf("render.StatusTitle = %q", got)
	}
	if got := render.ObjectLine("Pod", "ns", "x"); got != "Pod ns/x" {
		t.Errorf("render.ObjectLine = %q", got)
	}
	if got := render.ObjectLine("Namespace", "", "team-a"); got != "Namespace team-a" {
		t.Errorf("render.ObjectLine = %q", got)
	}
	if got := render.PartLine(0, 1, 3) + "|" + render.PartLine(1, 3, 3); got != "New policy result 1 of 3|New policy results 2–3 of 3" {
		t.Errorf("render.PartLine = %q", got)
	}
	if got := render.NewResultsLine(1) + "|" + render.NewResultsLine(2); got != "1 new policy result|2 new policy results" {
		t.Errorf("render.NewResultsLine = %q", got)
	}
	if got := render.OneLine(" a\tb\nc\x00 "); got != "a b c" {
		t.Errorf("render.OneLine = %q", got)
	}
	v := newChatView(&Batch{Report: testReport, Results: []report.Result{fullResult()}, CustomFields: map[string]string{"z": "1", "a": "2"}}, 0)
	if v.Title != "require-labels / check-app" || v.StatusTitle != "FAIL · require-labels / check-app" || v.Resource != "Deployment test/nginx" {
		t.Errorf("view %+v", v)
	}
	if want := []render.Pair{{Key: "a", Value: "2"}, {Key: "z", Value: "1"}}; !reflect.DeepEqual(v.Custom, want) {
		t.Errorf("custom %v", v.Custom)
	}
	if want := []render.Pair{{Key: "cluster", Value: "from-result"}, {Key: "created", Value: "x"}}; !reflect.DeepEqual(v.Properties, want) {
		t.Errorf("properties %v", v.Properties)
	}
}
