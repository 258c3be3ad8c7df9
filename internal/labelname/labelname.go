// Package labelname makes strings into label names of the classic Prometheus form
// [a-zA-Z_][a-zA-Z0-9_]*, which Prometheus, Alertmanager and Loki all accept.
package labelname

import "strings"

// Classic returns s with every character outside [a-zA-Z0-9_] replaced by "_" and a "_" before
// a leading digit. "" stays "". Callers add their system's own rules (reserved "__" prefixes,
// length limits).
func Classic(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 1)
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '_':
			b.WriteRune(r)
		case r >= '0' && r <= '9':
			if i == 0 {
				b.WriteByte('_')
			}
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}
