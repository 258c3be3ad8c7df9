package filter

import (
	"strings"
	"testing"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/report"
)

func TestSilenceMatch(t *testing.T) {
	clusterScoped := func(r *report.Result) { r.Resource = &report.Resource{Kind: "Namespace", Name: "team-a"} }
	noResource := func(r *report.Result) { r.Resource = nil }
	cases := []struct {
		name   string
		match  v1alpha1.SilenceMatch
		result *report.Result
		repNS  string
		want   bool
	}{
		{"empty match mutes everything", v1alpha1.SilenceMatch{}, newResult(), "team-a", true},
		{"policy literal", v1alpha1.SilenceMatch{Policies: []string{"require-labels"}}, newResult(), "team-a", true},
		{"policy other", v1alpha1.SilenceMatch{Policies: []string{"disallow-latest"}}, newResult(), "team-a", false},
		{"one value of a list matches", v1alpha1.SilenceMatch{Policies: []string{"disallow-latest", "require-*"}}, newResult(), "team-a", true},
		{"? is one character", v1alpha1.SilenceMatch{Rules: []string{"check-tea?"}}, newResult(), "team-a", true},
		{"? is not two", v1alpha1.SilenceMatch{Rules: []string{"check-te?"}}, newResult(), "team-a", false},
		{"case-sensitive", v1alpha1.SilenceMatch{Kinds: []string{"pod"}}, newResult(), "team-a", false},
		{"lists are ANDed", v1alpha1.SilenceMatch{Policies: []string{"require-labels"}, Kinds: []string{"Deployment"}}, newResult(), "team-a", false},
		{"every list matches", v1alpha1.SilenceMatch{
			Policies: []string{"require-labels"}, Rules: []string{"check-*"}, Namespaces: []string{"team-?"},
			Kinds: []string{"Pod"}, Names: []string{"web"}, Severities: []v1alpha1.Severity{v1alpha1.SeverityLow, v1alpha1.SeverityHigh},
		}, newResult(), "team-a", true},
		{"severity exact", v1alpha1.SilenceMatch{Severities: []v1alpha1.Severity{v1alpha1.SeverityCritical}}, newResult(), "team-a", false},
		{"no severity matches no severities", v1alpha1.SilenceMatch{Severities: []v1alpha1.Severity{v1alpha1.SeverityHigh}}, newResult(severity("")), "team-a", false},
		{"namespace of the resource", v1alpha1.SilenceMatch{Namespaces: []string{"team-a"}}, newResult(), "other", true},
		{"namespace of the report without a resource", v1alpha1.SilenceMatch{Namespaces: []string{"team-b"}}, newResult(noResource), "team-b", true},
		{"cluster-scoped has no namespace", v1alpha1.SilenceMatch{Namespaces: []string{"team-*"}}, newResult(clusterScoped), "", false},
		{"* matches a missing namespace", v1alpha1.SilenceMatch{Namespaces: []string{"*"}}, newResult(clusterScoped), "", true},
		{"name without a resource", v1alpha1.SilenceMatch{Names: []string{"web"}}, newResult(noResource), "team-a", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := CompileSilence(c.match)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Match(c.repNS, c.result); got != c.want {
				t.Errorf("Match = %v, want %v", got, c.want)
			}
		})
	}
}

func TestCompileSilenceNamesInvalidFields(t *testing.T) {
	_, err := CompileSilence(v1alpha1.SilenceMatch{Names: []string{"web", ""}, Severities: []v1alpha1.Severity{"urgent"}})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"match.names[1]: empty pattern", `match.severities[0]: unknown severity "urgent"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestSilenceMatchDoesNotAllocate(t *testing.T) {
	s, err := CompileSilence(v1alpha1.SilenceMatch{Policies: []string{"require-*"}, Namespaces: []string{"team-a"}, Names: []string{"w?b"}})
	if err != nil {
		t.Fatal(err)
	}
	r := newResult()
	if allocs := testing.AllocsPerRun(100, func() { s.Match("team-a", r) }); allocs != 0 {
		t.Errorf("Match allocates %v times", allocs)
	}
}
