package sender

import "testing"

func TestCutUnits(t *testing.T) {
	for _, c := range []struct {
		in   string
		max  int
		want string
	}{
		{"short", 5, "short"},
		{"too long", 5, "too…"},
		{"ab   cd", 6, "ab…"}, // no white space before the ellipsis
		{"😀😀😀", 5, "😀😀…"},     // an emoji is two UTF-16 units
		{"😀😀😀", 4, "😀…"},      // never half a surrogate pair
		{"abc", 0, ""},
	} {
		if got := cutUnits(c.in, c.max); got != c.want {
			t.Errorf("cutUnits(%q, %d) = %q, want %q", c.in, c.max, got, c.want)
		}
		if got := cutUnits(c.in, c.max); utf16Len(got) > c.max && c.max > 0 {
			t.Errorf("cutUnits(%q, %d) = %q is %d units", c.in, c.max, got, utf16Len(got))
		}
	}
}

func TestCutBytes(t *testing.T) {
	for _, c := range []struct {
		in   string
		max  int
		want string
	}{
		{"short", 5, "short"},
		{"too long", 7, "too…"}, // "…" takes three bytes
		{"aé bc", 5, "a…"},      // never half a rune; no white space before the ellipsis
		{"abcdef", 3, ""},       // not even the ellipsis and one byte fit
	} {
		got := cutBytes(c.in, c.max)
		if got != c.want {
			t.Errorf("cutBytes(%q, %d) = %q, want %q", c.in, c.max, got, c.want)
		}
		if len(got) > c.max {
			t.Errorf("cutBytes(%q, %d) = %q is %d bytes", c.in, c.max, got, len(got))
		}
	}
}
