package destination

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/conditions"
	"github.com/policyherald/policy-herald/internal/secrets"
)

func TestResolveSecretWinsOverInline(t *testing.T) {
	d := &v1alpha1.Destinations{Slack: &v1alpha1.SlackDestination{
		HTTPSettings: v1alpha1.HTTPSettings{URL: "https://inline.example.com"},
		Channel:      "#inline",
	}}
	kind, s, err := Resolve(d, secrets.Values{"url": "https://secret.example.com", "channel": ""})
	if err != nil {
		t.Fatal(err)
	}
	if kind != v1alpha1.DestinationSlack {
		t.Errorf("kind = %q, want slack", kind)
	}
	if s["url"] != "https://secret.example.com" {
		t.Errorf("url = %q, want the Secret's value", s["url"])
	}
	if s["channel"] != "#inline" {
		t.Errorf("channel = %q, want the inline value when the Secret's is empty", s["channel"])
	}
}

func TestResolveWithoutDestination(t *testing.T) {
	_, _, err := Resolve(&v1alpha1.Destinations{}, nil)
	var p *conditions.Problem
	if !errors.As(err, &p) || p.Reason != v1alpha1.ReasonInvalidSpec {
		t.Fatalf("err = %v, want an InvalidSpec problem", err)
	}
}

func TestCheckComplete(t *testing.T) {
	cases := []struct {
		kind    v1alpha1.DestinationType
		s       Settings
		missing string
	}{
		{v1alpha1.DestinationWebhook, Settings{"url": "https://x"}, ""},
		{v1alpha1.DestinationWebhook, Settings{}, "needs url"},
		{v1alpha1.DestinationTelegram, Settings{"token": "t"}, "needs chatID"},
		{v1alpha1.DestinationTelegram, Settings{}, "needs chatID, token"},
		{v1alpha1.DestinationSplunk, Settings{"url": "https://x"}, "needs token"},
		{v1alpha1.DestinationS3, Settings{"bucket": "b"}, ""},
	}
	for _, c := range cases {
		err := CheckComplete(c.kind, c.s, "creds")
		if c.missing == "" {
			if err != nil {
				t.Errorf("%s %v: unexpected %v", c.kind, c.s, err)
			}
			continue
		}
		var p *conditions.Problem
		if !errors.As(err, &p) || p.Reason != v1alpha1.ReasonSecretKeyMissing || !p.Stalled {
			t.Errorf("%s %v: err = %v, want a stalled SecretKeyMissing problem", c.kind, c.s, err)
			continue
		}
		if !strings.Contains(p.Message, c.missing) || !strings.Contains(p.Message, `Secret "creds"`) {
			t.Errorf("%s: message %q lacks %q or the Secret name", c.kind, p.Message, c.missing)
		}
	}
}

func TestOverrideInheritsAndMergesHeaders(t *testing.T) {
	target := &v1alpha1.Destinations{Webhook: &v1alpha1.WebhookDestination{
		HTTPSettings: v1alpha1.HTTPSettings{
			URL:     "https://platform.example.com",
			Headers: map[string]string{"X-Team": "platform", "X-Env": "prod"},
		},
		Keepalive: &v1alpha1.Keepalive{Params: map[string]string{"cluster": "prod"}},
	}}
	channel := &v1alpha1.Destinations{Webhook: &v1alpha1.WebhookDestination{
		HTTPSettings: v1alpha1.HTTPSettings{Headers: map[string]string{"X-Team": "a"}},
	}}
	got, err := Override(target, channel)
	if err != nil {
		t.Fatal(err)
	}
	want := &v1alpha1.WebhookDestination{
		HTTPSettings: v1alpha1.HTTPSettings{
			URL:     "https://platform.example.com",
			Headers: map[string]string{"X-Team": "a", "X-Env": "prod"},
		},
		Keepalive: &v1alpha1.Keepalive{Params: map[string]string{"cluster": "prod"}},
	}
	if !reflect.DeepEqual(got.Webhook, want) {
		t.Errorf("Override = %+v, want %+v", got.Webhook, want)
	}
	if target.Webhook.Headers["X-Team"] != "platform" {
		t.Error("Override changed the target's settings")
	}
}

func TestOverrideWithoutChannelFields(t *testing.T) {
	target := &v1alpha1.Destinations{Slack: &v1alpha1.SlackDestination{Channel: "#platform"}}
	got, err := Override(target, &v1alpha1.Destinations{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, target) {
		t.Errorf("Override = %+v, want the target's settings", got)
	}
}

func TestOverrideRefusesAnotherType(t *testing.T) {
	_, err := Override(&v1alpha1.Destinations{Slack: &v1alpha1.SlackDestination{}},
		&v1alpha1.Destinations{Teams: &v1alpha1.ChatWebhookDestination{}})
	var p *conditions.Problem
	if !errors.As(err, &p) || p.Reason != v1alpha1.ReasonDestinationMismatch {
		t.Fatalf("err = %v, want DestinationMismatch", err)
	}
}

func TestResolveChannelLayers(t *testing.T) {
	target := &v1alpha1.Destinations{Slack: &v1alpha1.SlackDestination{Channel: "#platform"}}
	channel := &v1alpha1.Destinations{Slack: &v1alpha1.SlackDestination{
		HTTPSettings: v1alpha1.HTTPSettings{URL: "https://hooks.slack.com/services/team-a"},
	}}
	targetSecret := secrets.Values{"url": "https://hooks.slack.com/services/platform", "channel": "#from-secret"}

	_, s, err := ResolveChannel(target, channel, targetSecret, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if s["url"] != "https://hooks.slack.com/services/team-a" {
		t.Errorf("url = %q: the channel's own field must win over the target's Secret", s["url"])
	}
	if s["channel"] != "#from-secret" {
		t.Errorf("channel = %q: the target's Secret must win over the target's field", s["channel"])
	}

	_, s, err = ResolveChannel(target, channel, targetSecret, secrets.Values{"url": "https://own-secret"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if s["url"] != "https://own-secret" {
		t.Errorf("url = %q: the channel's Secret must win over everything", s["url"])
	}
}

func TestResolveChannelWithoutInheritedCredentials(t *testing.T) {
	target := &v1alpha1.Destinations{Telegram: &v1alpha1.TelegramDestination{ChatID: "-1"}}
	channel := &v1alpha1.Destinations{Telegram: &v1alpha1.TelegramDestination{APIURL: "https://proxy.tenant.example"}}
	_, s, err := ResolveChannel(target, channel, secrets.Values{"token": "platform-bot"}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s["token"]; ok {
		t.Errorf("the target's token was inherited: %v", s)
	}
	if s["chatID"] != "-1" {
		t.Errorf("chatID = %q: inline target fields are still inherited", s["chatID"])
	}
}

func TestRedirects(t *testing.T) {
	cases := []struct {
		name    string
		channel *v1alpha1.Destinations
		secret  secrets.Values
		want    bool
	}{
		{"no override", &v1alpha1.Destinations{}, nil, false},
		{"chat id only", &v1alpha1.Destinations{Telegram: &v1alpha1.TelegramDestination{ChatID: "1"}}, nil, false},
		{"inline url", &v1alpha1.Destinations{Webhook: &v1alpha1.WebhookDestination{HTTPSettings: v1alpha1.HTTPSettings{URL: "https://x"}}}, nil, true},
		{"inline apiURL", &v1alpha1.Destinations{Telegram: &v1alpha1.TelegramDestination{APIURL: "https://x"}}, nil, true},
		{"inline endpoint", &v1alpha1.Destinations{S3: &v1alpha1.S3Destination{AWSSettings: v1alpha1.AWSSettings{Endpoint: "https://x"}}}, nil, true},
		{"url in the channel's Secret", &v1alpha1.Destinations{}, secrets.Values{"url": "https://x"}, true},
		{"other keys in the channel's Secret", &v1alpha1.Destinations{}, secrets.Values{"chatID": "1"}, false},
	}
	for _, c := range cases {
		if got := Redirects(c.channel, c.secret); got != c.want {
			t.Errorf("%s: Redirects = %v, want %v", c.name, got, c.want)
		}
	}
}
