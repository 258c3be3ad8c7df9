package filter

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/report"
)

// instance is a string that pattern matches: each `*` matches "" and each `?` one character.
func instance(pattern string) string { return strings.NewReplacer("*", "", "?", "x").Replace(pattern) }

// foldEach is s with every letter changed to another of its case-folding orbit.
func foldEach(s string) string { return strings.Map(unicode.SimpleFold, s) }

// FuzzCompileAndMatch: patterns come from users (CRD fields, at most 253 bytes each but of any
// characters). Compile and Match must never panic, and a pattern must match a string made from
// it, exactly for policies and case-insensitively for sources.
func FuzzCompileAndMatch(f *testing.F) {
	for _, seed := range []struct{ pattern, value, label string }{
		{"require-*", "require-labels", "app.kubernetes.io/managed-by:kyverno"},
		{"*", "", "team"},
		{"?", "é", "team:a*"},
		{"[a-z]{1,2}\\", "x", "k:[!"},
		{"Kyverno*", "KYVERNO", "bad key:v"},
		{"**?*", "\xff", ":"},
	} {
		f.Add(seed.pattern, seed.value, seed.label)
	}
	f.Fuzz(func(t *testing.T, pattern, value, label string) {
		list := &v1alpha1.MatchList{Include: []string{pattern}, Exclude: []string{pattern + "-x"}}
		spec := Spec{Sources: []string{pattern}, Filter: &v1alpha1.ResultFilter{
			Policies: list, Sources: list, Categories: list, Namespaces: &v1alpha1.MatchList{Exclude: []string{pattern}},
			ReportLabels:      &v1alpha1.MatchList{Include: []string{label}},
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}},
		}}
		flt, err := Compile(spec)
		if err != nil {
			if pattern != "" && err.Error() == "" {
				t.Fatal("an error without text")
			}
			return
		}
		rep := newReport(func(r *report.Report) { r.Labels = map[string]string{value: value, label: value} })
		res := newResult(policy(value), source(value), category(value), resourceNS(value))
		_ = flt.Match(rep, res, nsLabels)
		_ = flt.explain(rep, res, nsLabels)

		if !utf8.ValidString(pattern) {
			return
		}
		// Only the policies rule: the pattern must keep what it describes.
		only, err := Compile(Spec{Filter: &v1alpha1.ResultFilter{Policies: &v1alpha1.MatchList{Include: []string{pattern}}}})
		if err != nil {
			t.Fatalf("Compile(%q): %v", pattern, err)
		}
		if v := instance(pattern); !only.Match(newReport(), newResult(policy(v)), nsLabels) {
			t.Errorf("policies pattern %q does not match %q: %s", pattern, v, only.explain(newReport(), newResult(policy(v)), nsLabels))
		}
		src, err := Compile(Spec{Sources: []string{pattern}})
		if err != nil {
			t.Fatalf("Compile(%q): %v", pattern, err)
		}
		if v := foldEach(instance(pattern)); !src.Match(newReport(), newResult(source(v)), nsLabels) {
			t.Errorf("sources pattern %q does not match %q", pattern, v)
		}
	})
}
