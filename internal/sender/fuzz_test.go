package sender

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/destination/descriptor"
	"github.com/policyherald/policy-herald/internal/report"
)

// FuzzChatSenders sends results made of fuzzed text through every chat destination and the
// webhook, and checks each request against the destination's limits (the same checks as the
// destinations' own tests), that it carries no control characters, and that report text never
// becomes markup: mentions and links in Slack, masked links in Discord, MarkdownV2 entities in
// Telegram (its strict parser refuses any unescaped reserved character).
func FuzzChatSenders(f *testing.F) {
	f.Add("label app is required", "require-labels", "cluster", "prod", uint8(1), false)
	f.Add(hostileText, "[x](https://evil.example)", "<!here>", "@everyone", uint8(3), true)
	f.Add(strings.Repeat("word & <x> ", 400), strings.Repeat("p", 300), "k\x00", "v\u009b", uint8(10), false)
	f.Add("\\[a\\](b) *_~`>#+-=|{}.!", "\xff\xfe", "", "", uint8(2), true)
	f.Add(strings.Repeat("é🙂\u200d", 3000), "p", strings.Repeat("k", 100), strings.Repeat("v", 2000), uint8(20), false)

	hook, srv := startHook(f, nil)
	const tmpl = "*{{ .Policy }}*: {{ .Message }} {{ range $k, $v := .Properties }}{{ $k }}={{ $v }} {{ end }}"
	senders := map[string][2]Sender{}
	for _, c := range []struct {
		typ  v1alpha1.DestinationType
		dest *v1alpha1.Destinations
	}{
		{v1alpha1.DestinationSlack, &v1alpha1.Destinations{Slack: &v1alpha1.SlackDestination{}}},
		{v1alpha1.DestinationDiscord, &v1alpha1.Destinations{Discord: &v1alpha1.ChatWebhookDestination{}}},
		{v1alpha1.DestinationTeams, &v1alpha1.Destinations{Teams: &v1alpha1.ChatWebhookDestination{}}},
		{v1alpha1.DestinationGoogleChat, &v1alpha1.Destinations{GoogleChat: &v1alpha1.ChatWebhookDestination{}}},
		{v1alpha1.DestinationWebhook, &v1alpha1.Destinations{Webhook: &v1alpha1.WebhookDestination{}}},
	} {
		cfg := Config{Type: c.typ, Destination: c.dest, Settings: descriptor.Settings{"url": srv.URL}}
		plain := newTestSender(f, cfg)
		if c.typ != v1alpha1.DestinationWebhook {
			cfg.MessageTemplate = tmpl
		}
		senders[string(c.typ)] = [2]Sender{plain, newTestSender(f, cfg)}
	}
	tg := func(tmpl string) Sender {
		return newTestSender(f, Config{
			Type: v1alpha1.DestinationTelegram, Destination: &v1alpha1.Destinations{Telegram: &v1alpha1.TelegramDestination{}},
			Settings:        descriptor.Settings{"token": telegramTestToken, "chatID": "-1001234567890", "apiURL": srv.URL},
			MessageTemplate: tmpl,
		})
	}
	senders["telegram"] = [2]Sender{tg(""), tg(tmpl)}

	f.Fuzz(func(t *testing.T, message, name, key, value string, n uint8, withTemplate bool) {
		results := make([]report.Result, 1+int(n)%20)
		for i := range results {
			r := fullResult()
			r.Hash = uint64(i + 1)
			r.Message, r.Policy, r.Rule, r.Category, r.Source = message, name, name, name, name
			r.Resource.Name, r.Resource.Kind = name, name
			r.Properties = map[string]string{key: value, "other": message}
			results[i] = r
		}
		b := Batch{Report: ReportRef{Kind: "PolicyReport", Namespace: name, Name: name}, Results: results,
			CustomFields: map[string]string{key: value}}
		for typ, pair := range senders {
			s := pair[0]
			if withTemplate {
				s = pair[1]
			}
			hook.reset()
			for start := 0; start < len(results); start += s.MaxBatch() {
				part := b
				part.Results = results[start:min(start+s.MaxBatch(), len(results))]
				if err := s.Send(context.Background(), part); err != nil {
					t.Fatalf("%s: Send: %v", typ, err)
				}
			}
			for _, r := range hook.requests() {
				for _, s := range jsonStrings(t, r.Body) {
					if hasBadControl(s) {
						t.Errorf("%s: control character in %q", typ, firstBytes([]byte(s)))
					}
				}
				checkChatPayload(t, typ, r.Body)
			}
		}
	})
}

// checkChatPayload checks one request body of the destination typ.
func checkChatPayload(t *testing.T, typ string, body []byte) {
	t.Helper()
	switch typ {
	case string(v1alpha1.DestinationSlack):
		slackCheckLimits(t, slackDecode(t, body))
		for _, s := range slackMrkdwn(t, body) {
			if strings.ContainsAny(s, "<>") {
				t.Errorf("slack: unescaped < or > in %q", firstBytes([]byte(s)))
			}
		}
	case string(v1alpha1.DestinationDiscord):
		p := discordDecode(t, body)
		discordCheckLimits(t, &p)
		for _, s := range jsonStrings(t, body) {
			if maskedLink.MatchString(s) {
				t.Errorf("discord: masked link in %q", firstBytes([]byte(s)))
			}
		}
	case string(v1alpha1.DestinationTeams):
		teamsCheckWire(t, body)
	case string(v1alpha1.DestinationGoogleChat):
		gchatCheckWire(t, body)
	case "telegram":
		var m struct {
			Text string `json:"text"`
		}
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatal(err)
		}
		p, err := telegramParseMarkdownV2(m.Text)
		if err != nil {
			t.Errorf("telegram: %v in %q", err, firstBytes([]byte(m.Text)))
		} else if n := telegramLen(p.plain); n > telegramMaxText || n == 0 {
			t.Errorf("telegram: text of %d characters", n)
		}
	case string(v1alpha1.DestinationWebhook):
		var d ResultDocument
		if err := json.Unmarshal(body, &d); err != nil {
			t.Errorf("webhook: %v", err)
		}
	}
}
