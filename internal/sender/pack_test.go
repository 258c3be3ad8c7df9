package sender

import (
	"reflect"
	"testing"

	"github.com/policyherald/policy-herald/internal/report"
)

func TestPack(t *testing.T) {
	costs := func(cs ...int) func(int) []int { return func(i int) []int { return []int{cs[i]} } }
	cases := []struct {
		name     string
		n, max   int
		limit    packLimit
		cost     func(int) []int
		want     []span
		comments string
	}{
		{"nothing", 0, 0, packLimit{max: 10}, costs(), nil, ""},
		{"all in one", 3, 0, packLimit{base: 1, max: 10}, costs(3, 3, 3), []span{{0, 3, false}}, "1+9 is the limit exactly"},
		{"by size", 4, 0, packLimit{base: 1, max: 10}, costs(5, 5, 4, 6), []span{{0, 1, false}, {1, 3, false}, {3, 4, false}}, ""},
		{"by count", 5, 2, packLimit{max: 100}, costs(1, 1, 1, 1, 1), []span{{0, 2, false}, {2, 4, false}, {4, 5, false}}, ""},
		{"one too large alone", 3, 0, packLimit{base: 2, max: 10}, costs(1, 20, 1), []span{{0, 1, false}, {1, 2, true}, {2, 3, false}}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := pack(c.n, c.max, []packLimit{c.limit}, c.cost)
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %v, want %v %s", got, c.want, c.comments)
			}
		})
	}
	t.Run("every limit counts", func(t *testing.T) {
		got := pack(3, 0, []packLimit{{max: 10}, {max: 2}}, func(int) []int { return []int{1, 1} })
		if want := []span{{0, 2, false}, {2, 3, false}}; !reflect.DeepEqual(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	})
}

func TestChatViewHelpers(t *testing.T) {
	for _, c := range [][3]string{{"p", "r", "p / r"}, {"p", "", "p"}, {"", "r", "r"}, {"", "", "Policy result"}} {
		if got := resultTitle(c[0], c[1]); got != c[2] {
			t.Errorf("resultTitle(%q, %q) = %q, want %q", c[0], c[1], got, c[2])
		}
	}
	d := ResultDocument{Policy: "", Rule: "r", Status: "fail"}
	if got := statusTitle(&d); got != "FAIL · Policy result / r" {
		t.Errorf("statusTitle = %q", got)
	}
	if got := objectLine("Pod", "ns", "x"); got != "Pod ns/x" {
		t.Errorf("objectLine = %q", got)
	}
	if got := objectLine("Namespace", "", "team-a"); got != "Namespace team-a" {
		t.Errorf("objectLine = %q", got)
	}
	if got := partLine(0, 1, 3) + "|" + partLine(1, 3, 3); got != "New policy result 1 of 3|New policy results 2–3 of 3" {
		t.Errorf("partLine = %q", got)
	}
	if got := newResultsLine(1) + "|" + newResultsLine(2); got != "1 new policy result|2 new policy results" {
		t.Errorf("newResultsLine = %q", got)
	}
	if got := oneLine(" a\tb\nc\x00 "); got != "a b c" {
		t.Errorf("oneLine = %q", got)
	}
	v := newChatView(&Batch{Report: testReport, Results: []report.Result{fullResult()}, CustomFields: map[string]string{"z": "1", "a": "2"}}, 0)
	if v.Title != "require-labels / check-app" || v.StatusTitle != "FAIL · require-labels / check-app" || v.Resource != "Deployment test/nginx" {
		t.Errorf("view %+v", v)
	}
	if want := []chatPair{{"a", "2"}, {"z", "1"}}; !reflect.DeepEqual(v.Custom, want) {
		t.Errorf("custom %v", v.Custom)
	}
	if want := []chatPair{{"cluster", "from-result"}, {"created", "x"}}; !reflect.DeepEqual(v.Properties, want) {
		t.Errorf("properties %v", v.Properties)
	}
}
