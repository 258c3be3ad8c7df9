package sender

import (
	"context"
	"flag"
	"fmt"
	"reflect"
	"strings"
	"testing"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/destination/descriptor"
	"github.com/policyherald/policy-herald/internal/report"
)

// Resolved notices of the chat destinations (notifyResolved).

var updateResolved = flag.Bool("update-resolved", false, "rewrite testdata/golden/*-resolved.json")

// chatConfig is a configuration of the chat destination typ posting to url.
func chatConfig(typ v1alpha1.DestinationType, url string) Config {
	cfg := Config{Type: typ, Settings: descriptor.Settings{"url": url}, Name: "team-a/chat", Destination: &v1alpha1.Destinations{}}
	switch typ {
	case v1alpha1.DestinationSlack:
		cfg.Destination.Slack = &v1alpha1.SlackDestination{}
	case v1alpha1.DestinationTeams:
		cfg.Destination.Teams = &v1alpha1.ChatWebhookDestination{}
	case v1alpha1.DestinationDiscord:
		cfg.Destination.Discord = &v1alpha1.ChatWebhookDestination{}
	case v1alpha1.DestinationGoogleChat:
		cfg.Destination.GoogleChat = &v1alpha1.ChatWebhookDestination{}
	case v1alpha1.DestinationTelegram:
		cfg.Destination.Telegram = &v1alpha1.TelegramDestination{}
		cfg.Settings = descriptor.Settings{"apiURL": url, "token": telegramTestToken, "chatID": "-100"}
	}
	return cfg
}

// A chat sender is a Resolver only with notifyResolved: the pipeline keeps a copy of every open
// result for a Resolver. Wrapped, it keeps what it had: its batch size, its hosts for the
// address guard, and its digests.
func TestChatSendersResolveOnlyWithNotifyResolved(t *testing.T) {
	for _, typ := range chatTypes {
		t.Run(string(typ), func(t *testing.T) {
			cfg := chatConfig(typ, "https://chat.example/hook")
			plain := newTestSender(t, cfg)
			if _, ok := plain.(Resolver); ok {
				t.Fatal("a Resolver without notifyResolved")
			}
			cfg.NotifyResolved = true
			s := newTestSender(t, cfg)
			if _, ok := s.(Resolver); !ok {
				t.Fatal("no Resolver with notifyResolved")
			}
			if s.MaxBatch() != plain.MaxBatch() {
				t.Errorf("MaxBatch %d, want %d", s.MaxBatch(), plain.MaxBatch())
			}
			if _, ok := s.(dialer); !ok {
				t.Error("the address guard cannot check it any more")
			}
			if _, ok := plain.(Digester); ok {
				if _, ok := s.(Digester); !ok {
					t.Error("it sends no digests any more")
				}
			}
		})
	}
	// Other destinations are as they are.
	cfg := Config{Type: v1alpha1.DestinationWebhook, Destination: &v1alpha1.Destinations{Webhook: &v1alpha1.WebhookDestination{}},
		Settings: descriptor.Settings{"url": "https://hook.example/"}, NotifyResolved: true}
	if _, ok := newTestSender(t, cfg).(Resolver); ok {
		t.Error("the webhook resolves with notifyResolved")
	}
}

// resolve sends the resolved notice of b through s (a chat sender) and returns the requests.
func resolve(t *testing.T, hook *testHook, s Sender, b Batch) []recorded {
	t.Helper()
	r, ok := withResolved(s, true).(Resolver)
	if !ok {
		t.Fatalf("%T announces no resolved results", s)
	}
	before := len(hook.requests())
	if err := r.Resolve(context.Background(), b); err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	return hook.requests()[before:]
}

func TestSlackResolvedGolden(t *testing.T) {
	hook, srv := startHook(t, nil)
	s := newSlackTestSender(t, srv.URL+"/services/T000/B000/XXXXXXXXXXXX", nil, &v1alpha1.SlackDestination{Channel: "#policy"}, "")
	b := slackDiscordBatch()
	titles := slackCheckLimits(t, slackDecode(t, sendOneMessage(t, hook, s, b).Body))

	reqs := resolve(t, hook, s, b)
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want one notice for the batch", len(reqs))
	}
	checkGolden(t, "slack-resolved.json", reqs[0].Body, *updateResolved)
	msg := slackDecode(t, reqs[0].Body)
	if msg.Channel != "#policy" || msg.ThreadTimestamp != "" {
		t.Errorf("channel %q, thread %q: a webhook's notice is a message of its own", msg.Channel, msg.ThreadTimestamp)
	}
	blocks := msg.Blocks.BlockSet
	if got := slackBlockOf(t, blocks[0]); got.text != "*✅ 3 policy results resolved* in PolicyReport test/rep-1\nThey pass now, or are gone from the cluster." {
		t.Errorf("headline %q", got.text)
	}
	var quoted []string
	for _, bl := range blocks[1:] {
		first, _, _ := strings.Cut(slackBlockOf(t, bl).text, "\n")
		quoted = append(quoted, strings.TrimPrefix(first, "> "))
	}
	if !reflect.DeepEqual(quoted, titles) {
		t.Errorf("quoted %q, want the original's headers %q", quoted, titles)
	}
	if !strings.HasPrefix(msg.Text, "✅ 3 policy results resolved in PolicyReport test/rep-1\n• FAIL · require-labels / check-app — Deployment test/nginx [high]\n") {
		t.Errorf("notification text %q", msg.Text)
	}
}

func TestDiscordResolvedGolden(t *testing.T) {
	hook, srv := startHook(t, nil)
	s := newDiscordTestSender(t, srv.URL+"/api/webhooks/1/TOKEN", "")
	b := slackDiscordBatch()
	sent := discordDecode(t, sendOneMessage(t, hook, s, b).Body)
	titles := discordCheckLimits(t, &sent)

	reqs := resolve(t, hook, s, b)
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want one notice for the batch", len(reqs))
	}
	checkGolden(t, "discord-resolved.json", reqs[0].Body, *updateResolved)
	p := discordDecode(t, reqs[0].Body)
	if got := discordCheckLimits(t, &p); !reflect.DeepEqual(got, titles) {
		t.Errorf("titles %q, want the original's %q", got, titles)
	}
	if !strings.HasPrefix(p.Content, "✅ 3 policy results resolved in PolicyReport test/rep-1") {
		t.Errorf("content %q", p.Content)
	}
	// The most a batch holds, each with the longest title and resource, is one message.
	big := Batch{Report: testReport, Results: slackDiscordBigBatch(discordMaxBatch)}
	for i := range big.Results {
		big.Results[i].Policy = strings.Repeat("p", 300)
	}
	if reqs := resolve(t, hook, s, big); len(reqs) != 1 {
		t.Errorf("%d messages for a full batch", len(reqs))
	} else {
		p := discordDecode(t, reqs[0].Body)
		discordCheckLimits(t, &p)
	}
}

func TestTeamsResolvedGolden(t *testing.T) {
	hook, srv := startHook(t, teamsAccepted)
	s := newTeamsSender(t, srv.URL+"/workflows/abc/triggers/manual/paths/invoke?api-version=1&sig=SIG", "")
	b := teamsGChatBatch()
	var titles []string
	for _, c := range teamsContainers(teamsCheckWire(t, sendOneMessage(t, hook, s, b).Body)) {
		titles = append(titles, teamsTexts(c)[0])
	}

	reqs := resolve(t, hook, s, b)
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want one notice for the batch", len(reqs))
	}
	checkGolden(t, "teams-resolved.json", reqs[0].Body, *updateResolved)
	cs := teamsContainers(teamsCheckWire(t, reqs[0].Body))
	var quoted []string
	for _, c := range cs {
		quoted = append(quoted, teamsTexts(c)[0])
		if c["style"] != "good" {
			t.Errorf("container style %v", c["style"])
		}
	}
	if !reflect.DeepEqual(quoted, titles) {
		t.Errorf("quoted %q, want the original's titles %q", quoted, titles)
	}
}

func TestGoogleChatResolvedGolden(t *testing.T) {
	hook, srv := startHook(t, nil)
	s := newGoogleChatSender(t, srv.URL+"/v1/spaces/AAAA/messages?key=KEY&token=TOKEN", "")
	b := teamsGChatBatch()
	var titles []string
	for _, c := range gchatCheckWire(t, sendOneMessage(t, hook, s, b).Body).CardsV2 {
		titles = append(titles, c.Card.Header.Title)
	}

	reqs := resolve(t, hook, s, b)
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want one notice for the batch", len(reqs))
	}
	checkGolden(t, "googlechat-resolved.json", reqs[0].Body, *updateResolved)
	m := gchatCheckWire(t, reqs[0].Body)
	var quoted []string
	for _, c := range m.CardsV2 {
		quoted = append(quoted, c.Card.Header.Title)
	}
	if !reflect.DeepEqual(quoted, titles) {
		t.Errorf("quoted %q, want the original's titles %q", quoted, titles)
	}
	if m.Text != "✅ 3 policy results resolved in PolicyReport team-a/cpol-require-labels" {
		t.Errorf("text %q", m.Text)
	}
}

func TestTelegramResolvedGolden(t *testing.T) {
	api, srv := newTelegramAPI(t, "")
	s := newTelegramSender(t, srv.URL, nil, nil, nil, "")
	b := Batch{Report: testReport, Results: []report.Result{fullResult(), bareResult()}}
	if err := withResolved(s, true).(Resolver).Resolve(context.Background(), b); err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	reqs := api.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want one notice for the batch", len(reqs))
	}
	checkGolden(t, "telegram-resolved.json", reqs[0].Body, *updateResolved)
	want := "✅ 2 policy results resolved\nPolicyReport test/rep-1\nThey pass now, or are gone from the cluster.\n" +
		"• [high] require-labels — Deployment test/nginx\n• p2"
	if got := reqs[0].Parsed.plain; got != want {
		t.Errorf("text\n got %q\nwant %q", got, want)
	}
	// The titles are those of the results' own messages ("[high] require-labels", "p2").
	if got := reqs[0].Parsed.bold; !reflect.DeepEqual(got, []string{"✅ 2 policy results resolved"}) {
		t.Errorf("bold %q", got)
	}
}

// A notice larger than one Teams or Google Chat message is split between results, each message
// within the size limit, every result once and in order.
func TestResolvedNoticesSplitAtTheSizeLimit(t *testing.T) {
	b := teamsGChatBigBatch(12, 10)
	for i := range b.Results {
		b.Results[i].Policy = fmt.Sprintf("policy-%02d-%s", i, strings.Repeat("x", 300))
	}
	want := func(i int) string { return b.Results[i].Policy + " / rule" }
	t.Run("teams", func(t *testing.T) {
		hook, srv := startHook(t, teamsAccepted)
		s := newTeamsSender(t, srv.URL+"/workflows/x", "").(*teams)
		s.maxBody = 3000
		var titles []string
		for _, r := range resolve(t, hook, s, b) {
			if len(r.Body) > s.maxBody {
				t.Errorf("a message of %d bytes", len(r.Body))
			}
			for _, c := range teamsContainers(teamsCheckWire(t, r.Body)) {
				titles = append(titles, teamsTexts(c)[0])
			}
		}
		if len(hook.requests()) < 3 {
			t.Errorf("%d messages, want the notice split", len(hook.requests()))
		}
		assertInOrder(t, titles, len(b.Results), want)
	})
	t.Run("googleChat", func(t *testing.T) {
		hook, srv := startHook(t, nil)
		s := newGoogleChatSender(t, srv.URL+"/v1/spaces/A/messages", "").(*googleChat)
		s.maxBody = 3000
		var titles []string
		for _, r := range resolve(t, hook, s, b) {
			if len(r.Body) > s.maxBody {
				t.Errorf("a message of %d bytes", len(r.Body))
			}
			for _, c := range gchatCheckWire(t, r.Body).CardsV2 {
				titles = append(titles, c.Card.Header.Title)
			}
		}
		if len(hook.requests()) < 3 {
			t.Errorf("%d messages, want the notice split", len(hook.requests()))
		}
		assertInOrder(t, titles, len(b.Results), want)
	})
}
