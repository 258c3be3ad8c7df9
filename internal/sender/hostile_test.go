package sender

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"unicode"

	"github.com/policyherald/policy-herald/internal/report"
)

// hostileText is report content written to abuse a chat: mentions, links that hide where they
// go, HTML, control characters (C0, DEL, C1) that terminals and some clients act on, and
// invisible characters: bidi overrides and isolates that show text in another order
// ("exe.pdf" for "fdp.exe"), zero-width characters and tags that hide text or split a mention
// or a link so that no escaping sees it.
const hostileText = "<!channel> <!here|here> @everyone @here [click me](https://evil.example/x) " +
	"<https://evil.example|innocent> <script>alert(1)</script> " +
	"nul\x00bel\x07esc\x1b[31mdel\x7fnel\u0085csi\u009b2J\r\nsecond line\ttab " +
	"\u202Efdp.exe\u202C \u202Ain\u202Bem\u202Dbed \u2066is\u2067o\u2068la\u2069te \u200E\u200F\u061C " +
	"<\u200B!here> [hid\u200Cden]\u200D(https://evil.example/z) @every\u2060one \uFEFFbom sof\u00ADt " +
	"mon\u180Egol tag\U000E0041\U000E007F fill\u3164er \u2062\u2064"

// hasBadControl tells whether s holds a character that no payload may carry: a control
// character (C0 but line feed and tab, DEL, C1) or an invisible one (a format character, Unicode
// Cf, or another default-ignorable code point), but for a zero-width joiner or non-joiner
// between non-ASCII characters, where scripts and emoji sequences need them.
func hasBadControl(s string) bool {
	rs := []rune(s)
	for i, r := range rs {
		switch {
		case unicode.IsControl(r) && r != '\n' && r != '\t':
			return true
		case (r == '\u200C' || r == '\u200D') && (i == 0 || rs[i-1] >= 0x80) && (i == len(rs)-1 || rs[i+1] >= 0x80):
		case unicode.In(r, unicode.Cf, unicode.Other_Default_Ignorable_Code_Point):
			return true
		}
	}
	return false
}

// hostileBatch is one result with hostile text in every field a report author controls, and a
// second one whose message is 1 MB.
// The conformance suite's hostile check (conformance_test.go) sends it to every sender.
func hostileBatch() Batch {
	r := fullResult()
	r.Message = hostileText
	r.Policy = "pol\x00icy [x](https://evil.example)"
	r.Rule = "rule\x1b<!channel>"
	r.Category = "cat\u0085egory"
	r.Properties = map[string]string{"k\x07ey [a](https://evil.example)": "va\x00lue @everyone"}
	big := bareResult()
	big.Message = strings.Repeat("[x](https://evil.example) <!channel>\x00 ", 1<<20/40)
	return Batch{Report: testReport, Results: []report.Result{r, big}, CustomFields: map[string]string{"env": "pr\x01od"}}
}

// jsonStrings are every string (keys too) of the JSON document body.
func jsonStrings(t *testing.T, body []byte) []string {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			out = append(out, x)
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for k, e := range x {
				out = append(out, k)
				walk(e)
			}
		}
	}
	walk(v)
	return out
}

// maskedLink is a Markdown link whose "[" and "](" are not escaped by a backslash.
var maskedLink = regexp.MustCompile(`(^|[^\\])\[[^\]]*[^\\]\]\(`)

// slackMrkdwn are the texts of a Slack message that Slack parses as mrkdwn: the top-level
// text and every text object that is not plain_text.
func slackMrkdwn(t *testing.T, body []byte) []string {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			if text, ok := x["text"].(string); ok && x["type"] != "plain_text" {
				out = append(out, text)
			}
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	if len(out) == 0 {
		t.Fatalf("no mrkdwn text in %s", firstBytes(body))
	}
	return out
}

// firstBytes is the start of b, for messages about megabytes of text.
func firstBytes(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + "…"
	}
	return string(b)
}
