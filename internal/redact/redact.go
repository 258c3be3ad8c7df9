// Package redact removes secrets from text that came from elsewhere (a destination's response
// body, an SMTP server's reply, an error message) before it reaches status, Events or logs:
// every form a server may echo a secret in, whatever its case, escaped or base64-encoded.
package redact

import (
	"encoding/base64"
	"net/url"
	"regexp"
	"sort"
	"strings"
)

// Redactor removes secrets from text that came from elsewhere (response bodies, error
// messages): a destination URL's path, path segments, query and user info, header values,
// tokens and passwords. A destination may echo a secret in another case, URL-escaped or base64-encoded (alone
// or inside a longer blob, see base64Forms), so each is matched without regard to case and in
// its escaped and encoded forms too. Every stretch of text that any form covers is redacted, so
// that no piece of a secret is left around another one that overlaps it.
type Redactor struct {
	// ascii are the forms made of ASCII only, in lower case, found in the text with its ASCII
	// letters in lower case: one substring search each, as a failed send may redact 8 KiB.
	ascii []string
	// other are the forms with other characters, matched with Unicode case folding.
	other []*regexp.Regexp
}

// Redacted stands where a secret was.
const Redacted = "[redacted]"

// MinSegment is the length from which a single path segment (or a part of a token) is treated
// as a secret: webhook tokens in paths are long, words like "api" or "hooks" are not worth
// mangling the text for.
const MinSegment = 8

// minEncoded is the length from which a base64 form is redacted: 6 characters carry about 30
// bits even without regard to case, too many to occur in an error message by chance, while the
// forms of a short value (a query's "v=1" is "MQ") would only mangle it.
const minEncoded = 6

// New returns a Redactor of the secrets u holds (nil: none) and of values (header values,
// tokens, passwords; see secretList.addValue).
func New(u *url.URL, values ...string) *Redactor {
	l := secretList{seen: map[string]bool{}}
	if u != nil {
		l.addURL(u)
	}
	for _, v := range values {
		l.addValue(v)
	}
	r := &Redactor{}
	for _, f := range l.forms {
		if isASCII(f) {
			r.ascii = append(r.ascii, asciiLower(f))
		} else {
			r.other = append(r.other, regexp.MustCompile("(?i)"+regexp.QuoteMeta(f)))
		}
	}
	return r
}

// Redact replaces every stretch of s that a secret's form covers (overlapping or adjacent
// ones merged) with "[redacted]"; the text around them is kept as it was.
func (r *Redactor) Redact(s string) string {
	if r == nil || s == "" {
		return s
	}
	var spans [][2]int
	low := asciiLower(s) // same length: offsets in low are offsets in s
	for _, f := range r.ascii {
		for i := 0; ; {
			j := strings.Index(low[i:], f)
			if j < 0 {
				break
			}
			spans = append(spans, [2]int{i + j, i + j + len(f)})
			i += j + 1
		}
	}
	for _, re := range r.other {
		for _, m := range re.FindAllStringIndex(s, -1) {
			spans = append(spans, [2]int{m[0], m[1]})
		}
	}
	if len(spans) == 0 {
		return s
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i][0] < spans[j][0] })
	var b strings.Builder
	last := 0
	for k := 0; k < len(spans); {
		start, end := spans[k][0], spans[k][1]
		for k++; k < len(spans) && spans[k][0] <= end; k++ {
			end = max(end, spans[k][1])
		}
		b.WriteString(s[last:start])
		b.WriteString(Redacted)
		last = end
	}
	b.WriteString(s[last:])
	return b.String()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// asciiLower is s with its ASCII letters in lower case, every other byte as it was.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// secretList collects the forms of a sender's secrets, each once whatever its case.
type secretList struct {
	seen  map[string]bool // lower case
	forms []string
}

func (l *secretList) put(v string) {
	if k := strings.ToLower(v); v != "" && !l.seen[k] {
		l.seen[k] = true
		l.forms = append(l.forms, v)
	}
}

// add adds the secret s in every form it may be echoed in: as it is (the decoded echo), query-
// and path-escaped (an echo of what went over the wire, or of what the server decoded and
// escaped again), and base64-encoded.
func (l *secretList) add(s string) {
	if s == "" {
		return
	}
	for _, v := range []string{s, url.QueryEscape(s), url.PathEscape(s)} {
		l.put(v)
	}
	for _, v := range base64Forms(s) {
		if len(v) >= minEncoded {
			l.put(v)
			l.put(url.QueryEscape(v)) // "+", "/" and "=" escaped, as in a query
		}
	}
}

// addBasic adds the credentials of basic authentication: user, password, the pair
// "user:password" and the header's credential, the pair base64-encoded.
func (l *secretList) addBasic(user, password string) {
	l.add(user)
	l.add(password)
	l.add(user + ":" + password)
	l.add(base64.StdEncoding.EncodeToString([]byte(user + ":" + password)))
}

// addURL adds the secrets a destination URL may hold: all of it, its path and long path
// segments, its query and each query value, its fragment and its user info.
func (l *secretList) addURL(u *url.URL) {
	l.add(u.String())
	if u.Path != "/" {
		l.add(u.Path)
		l.add(u.EscapedPath())
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if len(seg) >= MinSegment {
			l.add(seg)
		}
	}
	l.add(u.RawQuery)
	for _, vs := range u.Query() {
		for _, v := range vs {
			l.add(v)
		}
	}
	l.add(u.Fragment)
	if u.User != nil {
		l.add(u.User.String())
		p, _ := u.User.Password()
		l.addBasic(u.User.Username(), p) // net/http sends user info as basic authentication
	}
}

// addValue adds a header value or a token. Of "Bearer abc" the credential alone may be echoed
// too; of "Basic <base64>" and "ApiKey <base64>" (Elasticsearch's id:key) the pair it encodes.
func (l *secretList) addValue(v string) {
	l.add(v)
	fields := strings.Fields(v)
	if len(fields) < 2 {
		return
	}
	for _, f := range fields[1:] {
		l.add(f)
	}
	if len(fields) == 2 && (strings.EqualFold(fields[0], "Basic") || strings.EqualFold(fields[0], "ApiKey")) {
		if dec, err := base64.StdEncoding.DecodeString(fields[1]); err == nil {
			if user, password, ok := strings.Cut(string(dec), ":"); ok {
				l.addBasic(user, password)
			}
		}
	}
}

// base64Forms are the base64 forms of s a destination may echo, in the standard and the
// URL-safe alphabet: s encoded alone, padded and not, and, for s inside a longer encoded blob
// (a Basic credential, a token in an encoded document), the characters that encode s's bytes
// alone, for each of the three byte offsets s may start at. The blob's other characters mix in
// bits of what surrounds s.
func base64Forms(s string) []string {
	out := make([]string, 0, 10)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		raw := enc.WithPadding(base64.NoPadding)
		out = append(out, enc.EncodeToString([]byte(s)), raw.EncodeToString([]byte(s)))
		for k := 0; k < 3; k++ {
			b := make([]byte, k+len(s))
			copy(b[k:], s)
			e := raw.EncodeToString(b)
			// Character i holds bits [6i, 6i+6): those within s's bits [8k, 8(k+len(s))).
			out = append(out, e[(8*k+5)/6:8*(k+len(s))/6])
		}
	}
	return out
}
