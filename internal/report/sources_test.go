package report

import (
	"strconv"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	wgpolicyv1alpha2 "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
)

// sourcesReport is a report named name with one result per source given (a source repeated n
// times gives n results).
func sourcesReport(name string, sources ...string) *Report {
	pr := &wgpolicyv1alpha2.PolicyReport{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: name}}
	for i, s := range sources {
		pr.Results = append(pr.Results, wgpolicyv1alpha2.PolicyReportResult{Source: s, Policy: "p", Result: "fail", Message: strings.Repeat("m", i+1)})
	}
	return FromPolicyReport(pr)
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// Kyverno 1.13+ writes "kyverno", older versions "Kyverno": one source, named by its most
// common spelling among the results counted.
func TestSourceNamesMostCommonSpelling(t *testing.T) {
	n := NewSourceNames()
	old := sourcesReport("old", append(repeat("Kyverno", 6), "Trivy", "trivy", "trivy", "")...)
	recent := sourcesReport("recent", "kyverno")
	n.Replace(nil, old)
	n.Replace(nil, recent)
	for spelling, want := range map[string]string{
		"Kyverno": "Kyverno", "kyverno": "Kyverno", "KYVERNO": "Kyverno", // a spelling not counted joins its group
		"trivy": "trivy", "Trivy": "trivy", "falco": "falco", "": "",
	} {
		if got := n.Name(spelling); got != want {
			t.Errorf("Name(%q) = %q, want %q", spelling, got, want)
		}
	}
	if n.Key("Kyverno") != n.Key("kyverno") || n.Key("Kyverno") == n.Key("Trivy") {
		t.Errorf("keys: Kyverno %q, kyverno %q, Trivy %q", n.Key("Kyverno"), n.Key("kyverno"), n.Key("Trivy"))
	}

	// The same report again changes nothing, not even for a moment.
	gen := n.Generation()
	n.Replace(recent, recent)
	if n.Generation() != gen {
		t.Error("replacing a report by an equal one changed the generation")
	}

	// Kyverno is upgraded: its reports now say kyverno, which becomes the most common.
	n.Replace(recent, sourcesReport("recent", repeat("kyverno", 7)...))
	if got := n.Name("Kyverno"); got != "kyverno" {
		t.Errorf("after the upgrade Name(Kyverno) = %q, want kyverno", got)
	}
	if n.Generation() == gen {
		t.Error("a name flipped and the generation did not change")
	}

	// Once every result of a spelling is gone, the others name the source.
	n.Replace(old, sourcesReport("old", "TRIVY"))
	if got := n.Name("trivy"); got != "TRIVY" {
		t.Errorf("Name(trivy) = %q, want TRIVY", got)
	}
	n.Replace(sourcesReport("old", "TRIVY"), nil)
	if got := n.Name("Trivy"); got != "Trivy" {
		t.Errorf("a source no longer counted is named as asked: Name(Trivy) = %q", got)
	}
}

// A tie goes to the spelling that sorts first byte by byte, whatever the order of counting.
func TestSourceNamesTie(t *testing.T) {
	a, b := sourcesReport("a", "kyverno", "kyverno"), sourcesReport("b", "Kyverno", "Kyverno")
	for _, order := range [][]*Report{{a, b}, {b, a}} {
		n := NewSourceNames()
		for _, r := range order {
			n.Replace(nil, r)
		}
		if got := n.Name("kyverno"); got != "Kyverno" {
			t.Errorf("tie: Name = %q, want Kyverno", got)
		}
	}
}

// Spellings are one source exactly when strings.EqualFold says so, as filters compare them.
func TestSourceKeyIsEqualFold(t *testing.T) {
	pairs := [][2]string{
		{"kyverno", "Kyverno"}, {"kyverno", "\u212Ayverno"}, // Kelvin sign
		{"Tsunami", "\u017Ftsunami"}, {"ǅ", "ǆ"}, {"İ", "i"}, {"ß", "ss"},
		{"trivy", "trivy "}, {"\xff", "\xfe"}, {"a\xffb", "A\xfeB"}, {"", ""},
	}
	for _, p := range pairs {
		if got, want := SourceKey(p[0]) == SourceKey(p[1]), strings.EqualFold(p[0], p[1]); got != want {
			t.Errorf("%q and %q: same key %t, EqualFold %t", p[0], p[1], got, want)
		}
	}
	if k := SourceKey("kyverno"); k != "kyverno" {
		t.Errorf("the key of a lower-case ASCII spelling is itself, got %q", k)
	}
}

func FuzzSourceKey(f *testing.F) {
	f.Add("Kyverno", "kyverno")
	f.Add("\u212A", "k")
	f.Add("ſ", "S")
	f.Fuzz(func(t *testing.T, a, b string) {
		if got, want := SourceKey(a) == SourceKey(b), strings.EqualFold(a, b); got != want {
			t.Fatalf("%q and %q: same key %t, EqualFold %t", a, b, got, want)
		}
		if !strings.EqualFold(SourceKey(a), a) {
			t.Fatalf("the key %q of %q is not one of its spellings", SourceKey(a), a)
		}
	})
}

// Reports built by hand (without conversion) are counted too.
func TestSourceNamesHandBuiltReport(t *testing.T) {
	n := NewSourceNames()
	c1, c2 := &Check{Source: "Falco"}, &Check{Source: "falco"}
	n.Replace(nil, &Report{Results: []Result{{Check: c1}, {Check: c2}, {Check: c2}}})
	if got := n.Name("FALCO"); got != "falco" {
		t.Errorf("Name = %q, want falco", got)
	}
}

// Counting a report costs the same however many reports are counted.
func BenchmarkSourceNamesReplace(b *testing.B) {
	for _, reports := range []int{100, 10_000} {
		b.Run(strconv.Itoa(reports)+"-reports", func(b *testing.B) {
			n := NewSourceNames()
			for i := range reports {
				n.Replace(nil, sourcesReport(strconv.Itoa(i), repeat([]string{"Kyverno", "kyverno", "Trivy"}[i%3], 50)...))
			}
			x, y := sourcesReport("x", repeat("kyverno", 50)...), sourcesReport("x", repeat("Kyverno", 50)...)
			n.Replace(nil, x)
			b.ReportAllocs()
			for b.Loop() {
				n.Replace(x, y)
				x, y = y, x
			}
		})
	}
}

// Per-report counts match a plain count, with few sources and many, in any order.
func TestSourceCounts(t *testing.T) {
	var sources []string
	for i := range 300 {
		sources = append(sources, "src-"+strconv.Itoa((i*7)%23), "")
	}
	for _, rep := range []*Report{sourcesReport("many", sources...), sourcesReport("few", "a", "b", "a", "a", "", "b")} {
		want := map[string]int{}
		for _, r := range rep.Results {
			if r.Source != "" {
				want[r.Source]++
			}
		}
		got := map[string]int{}
		for _, c := range rep.SourceCounts() {
			if got[c.Source] != 0 {
				t.Errorf("%s: %q counted twice", rep.Name, c.Source)
			}
			got[c.Source] = c.Results
		}
		if len(got) != len(want) {
			t.Errorf("%s: %d sources, want %d", rep.Name, len(got), len(want))
		}
		for s, n := range want {
			if got[s] != n {
				t.Errorf("%s: %q has %d results, want %d", rep.Name, s, got[s], n)
			}
		}
	}
}
