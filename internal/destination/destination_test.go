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
	r, err := Resolve(d, secrets.Values{"url": "https://secret.example.com", "channel": "", "username": "not read by slack"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Type != v1alpha1.DestinationSlack {
		t.Errorf("type = %q, want slack", r.Type)
	}
	s := r.Settings
	if s["url"] != "https://secret.example.com" {
		t.Errorf("url = %q, want the Secret's value", s["url"])
	}
	if s["channel"] != "#inline" {
		t.Errorf("channel = %q, want the inline value when the Secret's is empty", s["channel"])
	}
	if _, ok := s["username"]; ok {
		t.Errorf("a Secret key slack does not read became a setting: %v", s)
	}
}

func TestResolveWithoutDestination(t *testing.T) {
	_, err := Resolve(&v1alpha1.Destinations{}, nil)
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
		// Slack: an incoming webhook's url, or the Web API's bot token and channel.
		{v1alpha1.DestinationSlack, Settings{"url": "https://x"}, ""},
		{v1alpha1.DestinationSlack, Settings{"token": "xoxb-1", "channel": "C1"}, ""},
		{v1alpha1.DestinationSlack, Settings{"token": "xoxb-1"}, "needs url, or token and channel"},
		{v1alpha1.DestinationSlack, Settings{}, "needs url, or token and channel"},
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
		Keepalive:    &v1alpha1.Keepalive{Params: map[string]string{"cluster": "prod"}},
		BodyTemplate: `{"p": {{ json .Policy }}}`, ContentType: "application/vnd.platform+json",
	}}
	channel := &v1alpha1.Destinations{Webhook: &v1alpha1.WebhookDestination{
		HTTPSettings: v1alpha1.HTTPSettings{Headers: map[string]string{"X-Team": "a"}},
		BodyTemplate: `{"team": "a", "p": {{ json .Policy }}}`,
	}}
	r, err := ResolveChannel(Layers{Target: target, Channel: channel, SameNamespace: true})
	if err != nil {
		t.Fatal(err)
	}
	got := r.Destination
	want := &v1alpha1.WebhookDestination{
		HTTPSettings: v1alpha1.HTTPSettings{
			URL:     "https://platform.example.com",
			Headers: map[string]string{"X-Team": "a", "X-Env": "prod"},
		},
		Keepalive:    &v1alpha1.Keepalive{Params: map[string]string{"cluster": "prod"}},
		BodyTemplate: channel.Webhook.BodyTemplate, ContentType: "application/vnd.platform+json",
	}
	if !reflect.DeepEqual(got.Webhook, want) {
		t.Errorf("Override = %+v, want %+v", got.Webhook, want)
	}
	if r.Settings["bodyTemplate"] != channel.Webhook.BodyTemplate || r.Settings["contentType"] != "application/vnd.platform+json" {
		t.Errorf("settings %v: the channel's bodyTemplate and the target's contentType", r.Settings)
	}
	// A body of its own does not send elsewhere: a tenant's channel keeps the target's credentials.
	desc, _ := describe(v1alpha1.DestinationWebhook)
	if Redirects(desc, channel, nil) {
		t.Error("a channel's bodyTemplate counts as a redirect")
	}
	if target.Webhook.Headers["X-Team"] != "platform" {
		t.Error("Override changed the target's settings")
	}
}

func TestOverrideWithoutChannelFields(t *testing.T) {
	target := &v1alpha1.Destinations{Slack: &v1alpha1.SlackDestination{Channel: "#platform"}}
	r, err := ResolveChannel(Layers{Target: target, Channel: &v1alpha1.Destinations{}})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Destination; !reflect.DeepEqual(got, target) {
		t.Errorf("Override = %+v, want the target's settings", got)
	}
}

func TestOverrideRefusesAnotherType(t *testing.T) {
	_, err := ResolveChannel(Layers{Target: &v1alpha1.Destinations{Slack: &v1alpha1.SlackDestination{}},
		Channel: &v1alpha1.Destinations{Teams: &v1alpha1.ChatWebhookDestination{}}})
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

	r, err := ResolveChannel(Layers{Target: target, Channel: channel, TargetSecret: targetSecret, SameNamespace: true})
	if err != nil {
		t.Fatal(err)
	}
	s := r.Settings
	if s["url"] != "https://hooks.slack.com/services/team-a" {
		t.Errorf("url = %q: the channel's own field must win over the target's Secret", s["url"])
	}
	if s["channel"] != "#from-secret" {
		t.Errorf("channel = %q: the target's Secret must win over the target's field", s["channel"])
	}

	r, err = ResolveChannel(Layers{Target: target, Channel: channel, TargetSecret: targetSecret,
		ChannelSecret: secrets.Values{"url": "https://own-secret"}, SameNamespace: true})
	if err != nil {
		t.Fatal(err)
	}
	s = r.Settings
	if s["url"] != "https://own-secret" {
		t.Errorf("url = %q: the channel's Secret must win over everything", s["url"])
	}
}

func TestResolveChannelWithoutInheritedCredentials(t *testing.T) {
	target := &v1alpha1.Destinations{Telegram: &v1alpha1.TelegramDestination{ChatID: "-1"}}
	channel := &v1alpha1.Destinations{Telegram: &v1alpha1.TelegramDestination{APIURL: "https://proxy.tenant.example"}}
	r, err := ResolveChannel(Layers{Target: target, Channel: channel, TargetSecret: secrets.Values{"token": "platform-bot"}})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Withheld {
		t.Error("Withheld = false for a channel of another namespace with its own apiURL")
	}
	s := r.Settings
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
		typ     v1alpha1.DestinationType
		channel *v1alpha1.Destinations
		secret  secrets.Values
		want    bool
	}{
		{"no override", v1alpha1.DestinationWebhook, &v1alpha1.Destinations{}, nil, false},
		{"headers only", v1alpha1.DestinationWebhook, &v1alpha1.Destinations{Webhook: &v1alpha1.WebhookDestination{HTTPSettings: v1alpha1.HTTPSettings{Headers: map[string]string{"X-Team": "a"}}}}, nil, false},
		{"chat id only", v1alpha1.DestinationTelegram, &v1alpha1.Destinations{Telegram: &v1alpha1.TelegramDestination{ChatID: "1"}}, nil, false},
		{"slack channel only", v1alpha1.DestinationSlack, &v1alpha1.Destinations{Slack: &v1alpha1.SlackDestination{Channel: "#a"}}, secrets.Values{"channel": "#b"}, false},
		{"inline url", v1alpha1.DestinationWebhook, &v1alpha1.Destinations{Webhook: &v1alpha1.WebhookDestination{HTTPSettings: v1alpha1.HTTPSettings{URL: "https://x"}}}, nil, true},
		{"inline apiURL", v1alpha1.DestinationTelegram, &v1alpha1.Destinations{Telegram: &v1alpha1.TelegramDestination{APIURL: "https://x"}}, nil, true},
		{"inline endpoint", v1alpha1.DestinationS3, &v1alpha1.Destinations{S3: &v1alpha1.S3Destination{AWSSettings: v1alpha1.AWSSettings{Endpoint: "https://x"}}}, nil, true},
		{"inline bucket", v1alpha1.DestinationS3, &v1alpha1.Destinations{S3: &v1alpha1.S3Destination{Bucket: "tenant"}}, nil, true},
		{"inline region", v1alpha1.DestinationKinesis, &v1alpha1.Destinations{Kinesis: &v1alpha1.KinesisDestination{AWSSettings: v1alpha1.AWSSettings{Region: "eu-west-1"}}}, nil, true},
		{"inline index", v1alpha1.DestinationElasticsearch, &v1alpha1.Destinations{Elasticsearch: &v1alpha1.ElasticsearchDestination{Index: "tenant"}}, nil, true},
		{"s3 prefix only", v1alpha1.DestinationS3, &v1alpha1.Destinations{S3: &v1alpha1.S3Destination{Prefix: "team-a"}}, nil, false},
		{"url in the channel's Secret", v1alpha1.DestinationWebhook, &v1alpha1.Destinations{}, secrets.Values{"url": "https://x"}, true},
		{"other keys in the channel's Secret", v1alpha1.DestinationTelegram, &v1alpha1.Destinations{}, secrets.Values{"chatID": "1"}, false},
	}
	for _, c := range cases {
		d := descriptors[c.typ]
		if got := Redirects(d, c.channel, c.secret); got != c.want {
			t.Errorf("%s: Redirects = %v, want %v", c.name, got, c.want)
		}
	}
}

// Defect 3: a channel of another namespace with its own url inherited the target's inline
// headers, Authorization included, and sent the platform's credentials to the tenant's URL.
func TestResolveChannelWithholdsInlineCredentials(t *testing.T) {
	target := &v1alpha1.Destinations{Webhook: &v1alpha1.WebhookDestination{HTTPSettings: v1alpha1.HTTPSettings{
		URL:     "https://platform.example.com/hook",
		Headers: map[string]string{"Authorization": "Bearer platform", "X-Env": "prod"},
	}}}
	channel := &v1alpha1.Destinations{Webhook: &v1alpha1.WebhookDestination{HTTPSettings: v1alpha1.HTTPSettings{
		URL: "https://tenant.example.com/hook", Headers: map[string]string{"X-Team": "a"},
	}}}
	r, err := ResolveChannel(Layers{Target: target, Channel: channel, TargetSecret: secrets.Values{"token": "Bearer secret"}})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Withheld {
		t.Error("Withheld = false")
	}
	want := map[string]string{"X-Team": "a"} // the channel's own, none of the target's
	if got := r.Destination.Webhook.Headers; !reflect.DeepEqual(got, want) {
		t.Errorf("headers = %v, want only the channel's %v", got, want)
	}
	if r.Settings["token"] != "" || r.Settings["url"] != "https://tenant.example.com/hook" {
		t.Errorf("settings = %v, want the channel's url and no token", r.Settings)
	}
	if target.Webhook.Headers["Authorization"] != "Bearer platform" {
		t.Error("resolving the channel changed the target's settings")
	}

	same, err := ResolveChannel(Layers{Target: target, Channel: channel, SameNamespace: true})
	if err != nil {
		t.Fatal(err)
	}
	if same.Withheld || same.Destination.Webhook.Headers["Authorization"] != "Bearer platform" {
		t.Errorf("a channel of the target's namespace must inherit its headers: %v", same.Destination.Webhook.Headers)
	}
}

// Stripping follows the descriptor, for every Credential field and for URL user info, whatever
// the destination: here Loki's basic auth user and a password in the URL, with tenantID (an
// Endpoint field) as the redirect.
func TestResolveChannelWithholdsEveryCredentialField(t *testing.T) {
	target := &v1alpha1.Destinations{Loki: &v1alpha1.LokiDestination{
		HTTPSettings: v1alpha1.HTTPSettings{URL: "https://platform:s3cret@loki.example.com", Headers: map[string]string{"X-Key": "k"}},
		Username:     "platform",
		Path:         "/loki/api/v1/push",
	}}
	channel := &v1alpha1.Destinations{Loki: &v1alpha1.LokiDestination{TenantID: "team-a"}}
	r, err := ResolveChannel(Layers{Target: target, Channel: channel, TargetSecret: secrets.Values{"password": "p"}})
	if err != nil {
		t.Fatal(err)
	}
	got := r.Destination.Loki
	want := &v1alpha1.LokiDestination{
		HTTPSettings: v1alpha1.HTTPSettings{URL: "https://loki.example.com"},
		Path:         "/loki/api/v1/push",
		TenantID:     "team-a",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("destination = %+v, want %+v", got, want)
	}
	for _, k := range []string{"username", "password"} {
		if v, ok := r.Settings[k]; ok {
			t.Errorf("setting %s = %q was inherited", k, v)
		}
	}
	if strings.Contains(r.Settings["url"], "s3cret") {
		t.Errorf("url setting %q keeps the target's user info", r.Settings["url"])
	}
}

func TestCheckTemplate(t *testing.T) {
	if err := CheckTemplate(v1alpha1.DestinationWebhook, ""); err != nil {
		t.Errorf("no template: %v", err)
	}
	if err := CheckTemplate(v1alpha1.DestinationTelegram, "{{ .Policy }}"); err != nil {
		t.Errorf("telegram renders templates: %v", err)
	}
	err := CheckTemplate(v1alpha1.DestinationWebhook, "{{ .Policy }}")
	var p *conditions.Problem
	if !errors.As(err, &p) || p.Reason != v1alpha1.ReasonInvalidSpec || !p.Stalled {
		t.Fatalf("err = %v, want a stalled InvalidSpec problem", err)
	}
	// The list names the destinations that do render one (the descriptors say which).
	want := "the webhook destination does not render messageTemplate, only "
	if !strings.Contains(p.Message, want) || !strings.Contains(p.Message, "slack, ") || !strings.Contains(p.Message, "telegram") ||
		strings.Contains(p.Message, "webhook,") {
		t.Errorf("message = %q, want it to start with %q and list the template destinations, not webhook", p.Message, want)
	}
}

// A channel that sends elsewhere does not also send to the target's other endpoints (a list
// would add them), and a channel of another namespace inherits none of their user info.
func TestResolveChannelEndpointLists(t *testing.T) {
	target := &v1alpha1.Destinations{AlertManager: &v1alpha1.AlertManagerDestination{
		HTTPSettings:   v1alpha1.HTTPSettings{URL: "https://am-0.platform:9093"},
		AdditionalURLs: []string{"https://admin:s3cret@am-1.platform:9093", "https://am-2.platform:9093"},
	}}
	own := &v1alpha1.Destinations{AlertManager: &v1alpha1.AlertManagerDestination{
		HTTPSettings: v1alpha1.HTTPSettings{URL: "https://am.team-a:9093"}}}
	for _, same := range []bool{true, false} {
		r, err := ResolveChannel(Layers{Target: target, Channel: own, SameNamespace: same})
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Destination.AlertManager.AdditionalURLs; len(got) != 0 {
			t.Errorf("same namespace %v: a channel with its own url still posts to the target's %v", same, got)
		}
	}

	// A channel that adds Alertmanagers of its own keeps the target's url, without user info
	// when it is of another namespace.
	more := &v1alpha1.Destinations{AlertManager: &v1alpha1.AlertManagerDestination{AdditionalURLs: []string{"https://am.team-a:9093"}}}
	r, err := ResolveChannel(Layers{Target: target, Channel: more})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Destination.AlertManager.AdditionalURLs; len(got) != 1 || got[0] != "https://am.team-a:9093" {
		t.Errorf("additionalURLs = %v, want only the channel's", got)
	}
	if r.Settings["url"] != "https://am-0.platform:9093" {
		t.Errorf("url = %q, want the target's", r.Settings["url"])
	}

	// Without any endpoint of its own, a channel of another namespace inherits the list as it is
	// (nothing is redirected: the credentials go where the target sends them anyway).
	none := &v1alpha1.Destinations{AlertManager: &v1alpha1.AlertManagerDestination{}}
	r, err = ResolveChannel(Layers{Target: target, Channel: none})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Destination.AlertManager.AdditionalURLs; len(got) != 2 {
		t.Errorf("additionalURLs = %v, want the target's two", got)
	}

	// The user info of list entries is withheld like that of single URLs.
	d := descriptors[v1alpha1.DestinationAlertManager]
	stripped, err := withoutCredentials(d, target)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range stripped.AlertManager.AdditionalURLs {
		if strings.Contains(u, "s3cret") || strings.Contains(u, "admin@") {
			t.Errorf("withoutCredentials kept user info: %q", u)
		}
	}
}
