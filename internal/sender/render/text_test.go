package render

import "testing"

func TestCutUnits(t *testing.T) {
	for _, c := range []struct {
		in   string
		max  int
		want string
	}{
		{"short", 5, "short"},
		{"too long", 5, "too…"},
		{"ab   cd", 6, "ab…"}, // no white space before the Ellipsis
		{"😀😀😀", 5, "😀😀…"},     // an emoji is two UTF-16 units
		{"😀😀😀", 4, "😀…"},      // never half a surrogate pair
		{"abc", 0, ""},
	} {
		if got := CutUnits(c.in, c.max); got != c.want {
			t.Errorf("CutUnits(%q, %d) = %q, want %q", c.in, c.max, got, c.want)
		}
		if got := CutUnits(c.in, c.max); UTF16Len(got) > c.max && c.max > 0 {
			t.Errorf("CutUnits(%q, %d) = %q is %d units", c.in, c.max, got, UTF16Len(got))
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
		{"aé bc", 5, "a…"},      // never half a rune; no white space before the Ellipsis
		{"abcdef", 3, ""},       // not even the Ellipsis and one byte fit
	} {
		got := CutBytes(c.in, c.max)
		if got != c.want {
			t.Errorf("CutBytes(%q, %d) = %q, want %q", c.in, c.max, got, c.want)
		}
		if len(got) > c.max {
			t.Errorf("CutBytes(%q, %d) = %q is %d bytes", c.in, c.max, got, len(got))
		}
	}
}

// TestPlainTextDropsInvisibleCharacters: bidi controls and zero-width characters reorder or
// hide text (a name shown backwards, a mention or a link split so that no escaping sees it);
// what scripts and emoji need stays.
func TestPlainTextDropsInvisibleCharacters(t *testing.T) {
	for in, want := range map[string]string{
		"\u202Efdp.exe\u202C":                           "fdp.exe",
		"\u2066a\u2067b\u2068c\u2069\u202A\u202B\u202D": "abc",
		"\u200E\u200Fx\u061C":                           "x",
		"@every\u200Bone <\u2060!here>":                 "@everyone <!here>",
		"[a\u200Cb]\u200D(https://x)":                   "[ab](https://x)",
		"\uFEFFbom sof\u00ADt mon\u180Egol":             "bom soft mongol",
		"tag\U000E0041\U000E007F fill\u3164er":          "tag filler",
		"a\u200Db \u200Cé é\u200D":                      "ab é é",
		// Kept: joiners between non-ASCII characters (an emoji sequence, Persian, Devanagari)
		// and variation selectors.
		"👨\u200D👩\u200D👧":       "👨\u200D👩\u200D👧",
		"می\u200Cخواهم":         "می\u200Cخواهم",
		"क्\u200Dष":             "क्\u200Dष",
		"❤\uFE0F\u200D🔥 ok":     "❤\uFE0F\u200D🔥 ok",
		"plain text, untouched": "plain text, untouched",
	} {
		if got := PlainText(in); got != want {
			t.Errorf("PlainText(%q) = %q, want %q", in, got, want)
		}
	}
}
