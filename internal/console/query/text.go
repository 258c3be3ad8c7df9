package query

import (
	"strings"
	"unicode/utf8"
)

// textMatcher finds a text in messages case-insensitively, with the case folding of
// strings.EqualFold (Unicode simple folding), without allocating: lower-casing every message
// of a scan would allocate a copy of each.
type textMatcher struct {
	text  string
	runes int  // runes in text: a folded match has as many
	ascii bool // text is ASCII: the fast path applies
	// special: text holds k or s, whose folding orbits hold a non-ASCII character (the Kelvin
	// sign, the long s), so a non-ASCII message may match where the fast path found nothing.
	special bool
}

func newTextMatcher(text string) *textMatcher {
	t := &textMatcher{text: text, runes: utf8.RuneCountInString(text), ascii: isASCII(text)}
	t.special = strings.ContainsAny(text, "kKsS")
	return t
}

func (t *textMatcher) match(msg string) bool {
	if !t.ascii {
		return containsFold(msg, t.text, t.runes)
	}
	if containsASCIIFold(msg, t.text) {
		return true
	}
	return t.special && !isASCII(msg) && containsFold(msg, t.text, t.runes)
}

// containsASCIIFold reports whether s contains text, an ASCII string, ignoring ASCII case. A
// match is a run of ASCII bytes: no byte of a multi-byte character equals an ASCII byte.
func containsASCIIFold(s, text string) bool {
	first := lowerASCII(text[0])
	upper := first
	if 'a' <= first && first <= 'z' {
		upper = first - 'a' + 'A'
	}
	for i := 0; i+len(text) <= len(s); i++ {
		// Jump to the next byte that can start a match; IndexByte is vectorised.
		j := strings.IndexByte(s[i:], first)
		if upper != first {
			if k := strings.IndexByte(s[i:], upper); k >= 0 && (j < 0 || k < j) {
				j = k
			}
		}
		if j < 0 {
			return false
		}
		i += j
		if i+len(text) <= len(s) && equalASCIIFold(s[i+1:i+len(text)], text[1:]) {
			return true
		}
	}
	return false
}

func equalASCIIFold(a, b string) bool {
	for i := 0; i < len(b); i++ {
		if lowerASCII(a[i]) != lowerASCII(b[i]) {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// containsFold reports whether a run of n runes of s equals text under strings.EqualFold:
// simple folding maps a rune to one rune, so a match has text's rune count.
func containsFold(s, text string, n int) bool {
	end := 0 // s[i:end] holds n runes once the window is full
	for k := 0; k < n; k++ {
		if end >= len(s) {
			return false
		}
		_, w := utf8.DecodeRuneInString(s[end:])
		end += w
	}
	for i := 0; ; {
		if strings.EqualFold(s[i:end], text) {
			return true
		}
		if end >= len(s) {
			return false
		}
		_, w := utf8.DecodeRuneInString(s[i:])
		i += w
		_, w = utf8.DecodeRuneInString(s[end:])
		end += w
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
