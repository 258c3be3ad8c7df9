package sender

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"unicode"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/destination"
	"github.com/policyherald/policy-herald/internal/report"
)

// hostileText is report content written to abuse a chat: mentions, links that hide where they
// go, HTML, and control characters (C0, DEL, C1) that terminals and some clients act on.
const hostileText = "<!channel> <!here|here> @everyone @here [click me](https://evil.example/x) " +
	"<https://evil.example|innocent> <script>alert(1)</script> " +
	"nul\x00bel\x07esc\x1b[31mdel\x7fnel\u0085csi\u009b2J\r\nsecond line\ttab"

// hostileControls are the control characters of hostileText that no payload may carry.
func hasBadControl(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }) >= 0
}

// hostileBatch is one result with hostile text in every field a report author controls, and a
// second one whose message is 1 MB.
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

func TestHostileContentInEveryDestination(t *testing.T) {
	cases := []struct {
		typ   v1alpha1.DestinationType
		dest  *v1alpha1.Destinations
		check func(t *testing.T, body []byte, texts []string)
	}{
		{v1alpha1.DestinationSlack, &v1alpha1.Destinations{Slack: &v1alpha1.SlackDestination{}}, func(t *testing.T, body []byte, texts []string) {
			// mrkdwn acts on "<...>" only: mentions, links. All of them must be escaped in every
			// text but the plain_text ones (headers), which Slack never parses.
			for _, s := range slackMrkdwn(t, body) {
				if strings.ContainsAny(s, "<>") {
					t.Errorf("unescaped < or > in %q", firstBytes([]byte(s)))
				}
			}
			if !strings.Contains(string(body), "&lt;!channel&gt;") || !strings.Contains(string(body), "&lt;script&gt;") {
				t.Errorf("want the markup escaped, shown as text: %s", firstBytes(body))
			}
			if len(body) > 64<<10 {
				t.Errorf("body of %d bytes", len(body))
			}
		}},
		{v1alpha1.DestinationDiscord, &v1alpha1.Destinations{Discord: &v1alpha1.ChatWebhookDestination{}}, func(t *testing.T, body []byte, texts []string) {
			for _, s := range texts {
				if maskedLink.MatchString(s) {
					t.Errorf("masked link in %q", firstBytes([]byte(s)))
				}
			}
			if !strings.Contains(string(body), `\\[click me\\](https://evil.example/x)`) {
				t.Errorf("want the masked link escaped, shown as text: %s", firstBytes(body))
			}
			var m discordMessage
			if err := json.Unmarshal(body, &m); err != nil {
				t.Fatal(err)
			}
			if m.AllowedMentions.Parse == nil || len(m.AllowedMentions.Parse) != 0 {
				t.Errorf("mentions must be off: %+v", m.AllowedMentions)
			}
			n := utf16Len(m.Content)
			for i := range m.Embeds {
				n += discordEmbedLen(&m.Embeds[i])
			}
			if n > discordMessageChars || len(m.Embeds) > discordMaxEmbeds {
				t.Errorf("message of %d characters, %d embeds", n, len(m.Embeds))
			}
		}},
		{v1alpha1.DestinationTeams, &v1alpha1.Destinations{Teams: &v1alpha1.ChatWebhookDestination{}}, func(t *testing.T, body []byte, texts []string) {
			if len(body) > teamsMaxBody {
				t.Errorf("body of %d bytes", len(body))
			}
		}},
		{v1alpha1.DestinationGoogleChat, &v1alpha1.Destinations{GoogleChat: &v1alpha1.ChatWebhookDestination{}}, func(t *testing.T, body []byte, texts []string) {
			for _, s := range texts {
				if strings.Contains(s, "<script") || strings.Contains(s, "<https") {
					t.Errorf("unescaped HTML in %q", firstBytes([]byte(s)))
				}
			}
			if len(body) > gchatMaxBody {
				t.Errorf("body of %d bytes", len(body))
			}
		}},
		{v1alpha1.DestinationWebhook, &v1alpha1.Destinations{Webhook: &v1alpha1.WebhookDestination{}}, func(t *testing.T, body []byte, texts []string) {
			var d ResultDocument
			if err := json.Unmarshal(body, &d); err != nil {
				t.Fatal(err)
			}
			// A JSON document for programs: the text stays as it was but for control characters.
			if len(d.Message) < 1<<19 && !strings.Contains(d.Message, "@everyone @here [click me](https://evil.example/x) <https://evil.example|innocent> <script>") {
				t.Errorf("message %q", d.Message)
			}
		}},
	}
	for _, c := range cases {
		t.Run(string(c.typ), func(t *testing.T) {
			hook, srv := startHook(t, nil)
			s := newTestSender(t, Config{Type: c.typ, Destination: c.dest, Settings: destination.Settings{"url": srv.URL}})
			b := hostileBatch()
			if m := s.MaxBatch(); m < len(b.Results) {
				for _, r := range b.Results {
					if err := s.Send(context.Background(), Batch{Report: b.Report, Results: []report.Result{r}, CustomFields: b.CustomFields}); err != nil {
						t.Fatalf("Send: %v", err)
					}
				}
			} else if err := s.Send(context.Background(), b); err != nil {
				t.Fatalf("Send: %v", err)
			}
			reqs := hook.requests()
			if len(reqs) == 0 {
				t.Fatal("nothing sent")
			}
			for _, r := range reqs {
				texts := jsonStrings(t, r.Body)
				for _, s := range texts {
					if hasBadControl(s) {
						t.Errorf("control character in %q", firstBytes([]byte(s)))
					}
				}
				c.check(t, r.Body, texts)
			}
		})
	}
	t.Run("telegram", func(t *testing.T) {
		hook, srv := startHook(t, nil)
		s := newTelegramSender(t, srv.URL, nil, nil, nil, "")
		b := hostileBatch()
		if err := s.Send(context.Background(), b); err != nil {
			t.Fatalf("Send: %v", err)
		}
		reqs := hook.requests()
		if len(reqs) != len(b.Results) {
			t.Fatalf("%d requests", len(reqs))
		}
		for _, r := range reqs {
			var m struct {
				Text string `json:"text"`
			}
			if err := json.Unmarshal(r.Body, &m); err != nil {
				t.Fatal(err)
			}
			if hasBadControl(m.Text) {
				t.Errorf("control character in %q", firstBytes([]byte(m.Text)))
			}
			// The limit is on the text once the Bot API has parsed the MarkdownV2: without the
			// escapes and the bold markers.
			plain := regexp.MustCompile(`\\(.)|\*`).ReplaceAllString(m.Text, "$1")
			if n := telegramLen(plain); n > telegramMaxText {
				t.Errorf("text of %d units", n)
			}
			if maskedLink.MatchString(m.Text) || strings.Contains(m.Text, "](") && !strings.Contains(m.Text, `\]\(`) {
				t.Errorf("unescaped link in %q", firstBytes([]byte(m.Text)))
			}
		}
	})
}

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
