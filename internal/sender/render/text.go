package render

import (
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
)

// Text helpers shared by the destinations: cleaning and escaping, and counting characters as
// the chat services do.

// Ellipsis ends every text a destination had to cut.
const Ellipsis = "…"

// UTF16Len counts s as UTF-16 code units: never less than a chat service's count of characters,
// whether it counts code points or UTF-16 units.
func UTF16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// CutAt returns s, true when it fits in max UTF-16 units; else the longest prefix of whole
// characters that leaves room for an Ellipsis, without trailing white space, and false.
func CutAt(s string, max int) (string, bool) {
	if UTF16Len(s) <= max {
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

// CutUnits returns s when it fits in max UTF-16 units, else its longest prefix that fits
// together with the Ellipsis, followed by the Ellipsis; "" when max leaves no room at all.
func CutUnits(s string, max int) string {
	cut, ok := CutAt(s, max)
	switch {
	case ok:
		return s
	case max <= 0:
		return ""
	}
	return cut + Ellipsis
}

// CutBytes returns s when it is at most max bytes, else its longest prefix that fits together
// with the Ellipsis, cut between runes, followed by the Ellipsis; "" when not even the
// Ellipsis fits.
func CutBytes(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max - len(Ellipsis)
	if cut <= 0 {
		return ""
	}
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strings.TrimRightFunc(s[:cut], unicode.IsSpace) + Ellipsis
}

// JoinNonEmpty joins the non-empty parts with sep.
func JoinNonEmpty(sep string, parts ...string) string {
	out := parts[:0:0]
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, sep)
}

// IsStrippedControl tells the control characters no text a destination shows may carry: C0
// except line feed and tab, DEL and C1. Terminals and some chat clients act on them (escape
// sequences, NUL cutting a string short), and a receiver renders what a JSON document holds.
func IsStrippedControl(r rune) bool {
	return r < 0x20 && r != '\n' && r != '\t' || r >= 0x7f && r <= 0x9f
}

// isInvisible tells the invisible characters no text a destination shows may carry: the format
// characters (Unicode Cf: bidi embeddings, overrides, isolates and marks, zero-width space and
// joiners, word joiner, BOM, soft hyphen, tags) and the other default-ignorable code points
// (Hangul fillers, reserved ones). They show text in another order than it is written ("exe.pdf"
// for "fdp.exe"), hide text from the reader but not from programs, or split a mention or a link
// so that no escaping recognises it, while the client still shows it whole. Variation
// selectors, which emoji need, are neither.
func isInvisible(r rune) bool {
	return r >= 0xad && unicode.In(r, unicode.Cf, unicode.Other_Default_Ignorable_Code_Point)
}

// isJoiner tells the zero-width non-joiner and joiner, which Persian, Indic scripts and emoji
// sequences need between their characters.
func isJoiner(r rune) bool { return r == '\u200C' || r == '\u200D' }

// keptJoiner tells whether the joiner between prev and next (-1 at an end) stays: only between
// two visible non-ASCII characters, where a script or an emoji sequence may need it. Next to
// ASCII (a mention, a link, a name) it could only hide something.
func keptJoiner(prev, next rune) bool {
	visible := func(r rune) bool { return r >= 0x80 && !isInvisible(r) && !IsStrippedControl(r) }
	return visible(prev) && visible(next)
}

// PlainText is s as valid UTF-8 without the control characters of IsStrippedControl ("\r\n"
// becomes "\n") and the invisible ones of isInvisible (but for joiners that keptJoiner keeps).
// Every destination's text goes through it: see NewResultDocument.
func PlainText(s string) string {
	stripped := func(r rune) bool { return IsStrippedControl(r) || isInvisible(r) }
	if utf8.ValidString(s) && strings.IndexFunc(s, stripped) < 0 { // the common case, without an allocation
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	b.Grow(len(s))
	prev := rune(-1)
	for i, r := range s {
		if !stripped(r) || isJoiner(r) && keptJoiner(prev, runeAt(s, i+utf8.RuneLen(r))) {
			b.WriteRune(r)
		}
		prev = r
	}
	return b.String()
}

// runeAt is the rune that starts at s[i], -1 at the end of s.
func runeAt(s string, i int) rune {
	if i >= len(s) {
		return -1
	}
	r, _ := utf8.DecodeRuneInString(s[i:])
	return r
}

// MapDocument is d with f applied to each of its texts, map keys included. d is not changed;
// its maps are copied only when f changes an entry.
func MapDocument(d *ResultDocument, f func(string) string) *ResultDocument {
	e := *d
	e.ID, e.Policy, e.Rule, e.Category = f(d.ID), f(d.Policy), f(d.Rule), f(d.Category)
	e.Message, e.Source, e.Timestamp = f(d.Message), f(d.Source), f(d.Timestamp)
	e.Status = v1alpha1.ResultStatus(f(string(d.Status)))
	e.Severity = v1alpha1.Severity(f(string(d.Severity)))
	e.Priority = v1alpha1.Priority(f(string(d.Priority)))
	if d.Resource != nil {
		r := *d.Resource
		r.APIVersion, r.Kind, r.Namespace, r.Name, r.UID = f(r.APIVersion), f(r.Kind), f(r.Namespace), f(r.Name), f(r.UID)
		e.Resource = &r
	}
	e.Report = DocumentReport{Kind: f(d.Report.Kind), Namespace: f(d.Report.Namespace), Name: f(d.Report.Name)}
	e.Properties, e.CustomFields = MapStrings(d.Properties, f), MapStrings(d.CustomFields, f)
	return &e
}

// MapStrings is m with f applied to its keys and values: m itself when f changes none.
func MapStrings(m map[string]string, f func(string) string) map[string]string {
	same := true
	for k, v := range m {
		if f(k) != k || f(v) != v {
			same = false
			break
		}
	}
	if same {
		return m
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[f(k)] = f(v)
	}
	return out
}

// discordEscaper escapes the characters of a Markdown link, and the backslash so that text
// cannot undo an escape: "[text](https://…)" shows as typed instead of as "text" linking
// elsewhere. Mentions are off in every message (allowed_mentions).
var discordEscaper = strings.NewReplacer(`\`, `\\`, "[", `\[`, "]", `\]`)

// DiscordEscape makes s safe for Discord's Markdown (content, embed titles, descriptions and
// fields).
func DiscordEscape(s string) string { return discordEscaper.Replace(s) }

// teamsLinkBreaker keeps text from becoming a Markdown link in a Teams card: TextBlocks and
// facts render "[text](url)", and the Adaptive Cards renderers honour no backslash escape alike.
// A space after "]" where "(", "[" or ":" follows breaks the inline and reference forms and the
// link definition, and the text still reads as it was typed.
var teamsLinkBreaker = strings.NewReplacer("](", "] (", "][", "] [", "]:", "] :")

// TeamsEscape makes s safe for a Teams card's Markdown (see teamsLinkBreaker).
func TeamsEscape(s string) string { return teamsLinkBreaker.Replace(s) }
