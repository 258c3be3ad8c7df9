package query

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/policyherald/policy-herald/internal/report"
)

// foldContains is the rule the text filter follows, said another way: report.SourceKey maps
// every character to one of its case-folding orbit, so two strings fold equal exactly when
// their keys are equal, and a key is valid UTF-8, so a key found in another is found at a
// character boundary.
func foldContains(msg, text string) bool {
	return strings.Contains(report.SourceKey(msg), report.SourceKey(text))
}

func TestTextMatch(t *testing.T) {
	for _, c := range []struct {
		msg, text string
		want      bool
	}{
		{"Privileged mode is disallowed", "PRIVILEGED MODE", true},
		{"Privileged mode is disallowed", "allowed", true},
		{"Privileged mode is disallowed", "disallowed.", false},
		{"label 'team' is required", "'TEAM'", true},
		{"5 \u212a above the limit", "5 k", true}, // the Kelvin sign folds to k
		{"5 K above the limit", "5 \u212a", true},
		{"Maß", "MASS", false},     // simple folding: ß is not ss
		{"ſecret", "SECRET", true}, // the long s folds to s
		{"température", "TEMPÉRATURE", true},
		{"TEMPÉRATURE", "pér", true},
		{"short", "longer than the message", false},
		{"\xff\xfeinvalid", "INVALID", true},
		{"", "x", false},
	} {
		m := newTextMatcher(c.text)
		if got := m.match(c.msg); got != c.want {
			t.Errorf("%q in %q = %v, want %v", c.text, c.msg, got, c.want)
		}
		if foldContains(c.msg, c.text) != c.want {
			t.Errorf("the test's rule disagrees on %q in %q", c.text, c.msg)
		}
	}
}

// TestTextMatchRandom compares the matcher with the rule over random messages of characters
// that fold in every way (ASCII, the Kelvin sign and long s, accents, invalid bytes).
func TestTextMatchRandom(t *testing.T) {
	alphabet := []string{"a", "K", "k", "\u212a", "s", "S", "ſ", "é", "É", " ", "\xff", "i", "İ", "ı"}
	word := func(n int) string {
		var b strings.Builder
		for range n {
			b.WriteString(alphabet[rand.IntN(len(alphabet))])
		}
		return b.String()
	}
	for range 20000 {
		msg, text := word(rand.IntN(12)), word(1+rand.IntN(3))
		if got, want := newTextMatcher(text).match(msg), foldContains(msg, text); got != want {
			t.Fatalf("%q in %q = %v, want %v", text, msg, got, want)
		}
	}
}

func FuzzTextMatch(f *testing.F) {
	f.Add("Privileged mode is disallowed", "MODE")
	f.Add("5 \u212a", "k")
	f.Add("ſecret", "S")
	f.Fuzz(func(t *testing.T, msg, text string) {
		if text == "" {
			return // the query ignores an empty text
		}
		if got, want := newTextMatcher(text).match(msg), foldContains(msg, text); got != want {
			t.Errorf("%q in %q = %v, want %v", text, msg, got, want)
		}
	})
}
