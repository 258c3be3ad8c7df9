package sender

import (
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Text helpers shared by the chat destinations that count characters as their services do.

// ellipsis ends every text a destination had to cut.
const ellipsis = "…"

// utf16Len counts s as UTF-16 code units: never less than a chat service's count of characters,
// whether it counts code points or UTF-16 units.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// cutAt returns s, true when it fits in max UTF-16 units; else the longest prefix of whole
// characters that leaves room for an ellipsis, without trailing white space, and false.
func cutAt(s string, max int) (string, bool) {
	if utf16Len(s) <= max {
		return s, true
	}
	n, end := 0, 0
	for i, r := range s {
		w := utf16.RuneLen(r)
		if n+w > max-1 {
			end = i
			break
		}
		n += w
	}
	return strings.TrimRight(s[:end], " \t\r\n"), false
}

// cutUnits returns s when it fits in max UTF-16 units, else its longest prefix that fits
// together with the ellipsis, followed by the ellipsis; "" when max leaves no room at all.
func cutUnits(s string, max int) string {
	cut, ok := cutAt(s, max)
	switch {
	case ok:
		return s
	case max <= 0:
		return ""
	}
	return cut + ellipsis
}

// cutBytes returns s when it is at most max bytes, else its longest prefix that fits together
// with the ellipsis, cut between runes, followed by the ellipsis; "" when not even the
// ellipsis fits.
func cutBytes(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max - len(ellipsis)
	if cut <= 0 {
		return ""
	}
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strings.TrimRightFunc(s[:cut], unicode.IsSpace) + ellipsis
}

// joinNonEmpty joins the non-empty parts with sep.
func joinNonEmpty(sep string, parts ...string) string {
	out := parts[:0:0]
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, sep)
}
