package textcut

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCut(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"", 3, ""},
		{"abc", 3, "abc"},
		{"abcd", 3, "ab…"},
		{"héllo", 5, "héllo"},
		{"héllo wörld", 4, "hél…"},
		{"日本語のテキスト", 3, "日本…"},
		{"abc", 1, "…"},
		{"abc", 0, ""},
	} {
		if got := Cut(c.in, c.n); got != c.want {
			t.Errorf("Cut(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}

// A cut never splits a rune and never exceeds n runes, whatever the mix of widths.
func TestCutIsRuneSafe(t *testing.T) {
	s := strings.Repeat("aé日😀", 50)
	for n := 1; n <= utf8.RuneCountInString(s)+1; n++ {
		got := Cut(s, n)
		if !utf8.ValidString(got) || utf8.RuneCountInString(got) > n {
			t.Fatalf("Cut(_, %d) = %q: %d runes, valid %v", n, got, utf8.RuneCountInString(got), utf8.ValidString(got))
		}
	}
}
