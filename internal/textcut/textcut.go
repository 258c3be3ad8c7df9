// Package textcut shortens text for fields with a length limit: status fields, Event notes,
// e-mail cells and the like.
package textcut

import "unicode/utf8"

// Ellipsis ends text that Cut shortened.
const Ellipsis = "…"

// Cut returns s when it has at most n runes; otherwise its first n-1 runes followed by
// Ellipsis, so the result is n runes and never splits a rune. n < 1 gives "". Runes, not bytes,
// because a Kubernetes maxLength counts runes and a reader counts characters.
func Cut(s string, n int) string {
	if n < 1 {
		return ""
	}
	if len(s) <= n || utf8.RuneCountInString(s) <= n {
		return s
	}
	end, kept := 0, 0
	for i := range s {
		if kept == n-1 {
			end = i
			break
		}
		kept++
	}
	return s[:end] + Ellipsis
}
