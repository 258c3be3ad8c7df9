package sender

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"strings"
	"testing"

	chat "google.golang.org/api/chat/v1"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/destination/descriptor"
)

// updateGoogleChatGolden rewrites the Google Chat golden files only (-update rewrites them all).
var updateGoogleChatGolden = flag.Bool("update-googlechat", false, "rewrite testdata/golden/googlechat-*.json")

func newGoogleChatSender(t *testing.T, url, template string) Sender {
	t.Helper()
	return newTestSender(t, Config{
		Type:            v1alpha1.DestinationGoogleChat,
		Destination:     &v1alpha1.Destinations{GoogleChat: &v1alpha1.ChatWebhookDestination{}},
		Settings:        descriptor.Settings{"url": url},
		Name:            "team-a/gchat",
		MessageTemplate: template,
	})
}

// gchatCheckWire checks one request body as the Chat API takes it: it decodes, with no unknown
// field, into the API's own Message type (google.golang.org/api/chat/v1), holds only cards v2
// with a header, sections of widgets that are each exactly one textParagraph, decoratedText or
// buttonList of links, unique card IDs, at most 100 widgets a card, within the size limit.
func gchatCheckWire(t *testing.T, body []byte) *chat.Message {
	t.Helper()
	if len(body) > gchatMaxBody {
		t.Errorf("body of %d bytes is over the limit of %d", len(body), gchatMaxBody)
	}
	var m chat.Message
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("not a Chat API Message: %v\n%s", err, body)
	}
	if len(m.CardsV2) == 0 || m.Cards != nil {
		t.Fatalf("message with %d cards v2 and cards v1 %v", len(m.CardsV2), m.Cards)
	}
	ids := map[string]bool{}
	for i, c := range m.CardsV2 {
		if c.CardId == "" || ids[c.CardId] {
			t.Errorf("card %d: cardId %q empty or not unique", i, c.CardId)
		}
		ids[c.CardId] = true
		if c.Card == nil || c.Card.Header == nil || c.Card.Header.Title == "" || len(c.Card.Sections) == 0 {
			t.Fatalf("card %d: %+v", i, c.Card)
		}
		widgets := 0
		for j, s := range c.Card.Sections {
			if len(s.Widgets) == 0 {
				t.Errorf("card %d section %d has no widget", i, j)
			}
			for _, w := range s.Widgets {
				widgets++
				if n := btoi(w.TextParagraph != nil) + btoi(w.DecoratedText != nil) + btoi(w.ButtonList != nil); n != 1 {
					t.Errorf("card %d section %d: a widget must be one textParagraph, decoratedText or buttonList: %+v", i, j, w)
				}
				if w.ButtonList != nil {
					for _, b := range w.ButtonList.Buttons {
						if b.Text == "" || b.OnClick == nil || b.OnClick.OpenLink == nil || !strings.HasPrefix(b.OnClick.OpenLink.Url, "https://") {
							t.Errorf("card %d section %d: a button without text or link: %+v", i, j, b)
						}
					}
				}
				if w.DecoratedText != nil && w.DecoratedText.Text == "" {
					t.Errorf("card %d section %d: decoratedText without text", i, j)
				}
			}
		}
		if widgets > gchatMaxWidgets {
			t.Errorf("card %d has %d widgets", i, widgets)
		}
	}
	return &m
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// gchatMessageText is the textParagraph of the first section of a card: the result's message.
func gchatMessageText(c *chat.CardWithId) string {
	s := c.Card.Sections[0]
	if s.Header != "" || s.Widgets[0].TextParagraph == nil {
		return ""
	}
	return s.Widgets[0].TextParagraph.Text
}

func TestGoogleChatGolden(t *testing.T) {
	hook, srv := startHook(t, answerWith(http.StatusOK, map[string]string{"Content-Type": "application/json"}, `{"name":"spaces/AAA/messages/BBB"}`))
	s := newGoogleChatSender(t, srv.URL+"/v1/spaces/AAAA/messages?key=KEY&token=TOKEN", "")
	if got := s.MaxBatch(); got != gchatMaxBatch {
		t.Errorf("MaxBatch = %d", got)
	}
	r := sendOneMessage(t, hook, s, teamsGChatBatch())
	if r.Path != "/v1/spaces/AAAA/messages" || r.RawQuery != "key=KEY&token=TOKEN" {
		t.Errorf("posted to %s?%s", r.Path, r.RawQuery)
	}
	m := gchatCheckWire(t, r.Body)
	if len(m.CardsV2) != 3 || m.Text != "3 new policy results in PolicyReport team-a/cpol-require-labels" {
		t.Fatalf("text %q, %d cards", m.Text, len(m.CardsV2))
	}
	if got := []string{m.CardsV2[0].CardId, m.CardsV2[1].CardId, m.CardsV2[2].CardId}; strings.Join(got, ",") != "a2dfadb07ac4d5ff,a2,a3" {
		t.Errorf("card IDs %v", got)
	}
	if h := m.CardsV2[0].Card.Header; h.Title != "require-labels / check-app" || h.Subtitle != "Deployment team-a/nginx" {
		t.Errorf("header %+v", h)
	}
	if got := gchatMessageText(m.CardsV2[1]); got != "images should not use &lt;latest&gt; &amp; friends" {
		t.Errorf("message text is not escaped: %q", got)
	}
	checkGolden(t, "googlechat-batch.json", r.Body, *updateGoogleChatGolden)
}

func TestGoogleChatConfigErrorsHideSecrets(t *testing.T) {
	const secret = "S3CRETTOKEN"
	assertConfigErrors(t, v1alpha1.DestinationGoogleChat, secret, map[string]Config{
		"no url":     {},
		"bad scheme": {Settings: descriptor.Settings{"url": "ftp://chat.googleapis.com/v1/spaces/x/messages?token=" + secret}},
		"bad header": {
			Settings:    descriptor.Settings{"url": "https://h/"},
			Destination: &v1alpha1.Destinations{GoogleChat: &v1alpha1.ChatWebhookDestination{HTTPSettings: v1alpha1.HTTPSettings{Headers: map[string]string{"X Key": secret}}}},
		},
		"bad template": {Settings: descriptor.Settings{"url": "https://h/?token=" + secret}, MessageTemplate: "{{ end }}"},
	})
}

func TestGoogleChatSplitsAtTheSizeLimit(t *testing.T) {
	hook, srv := startHook(t, nil)
	b := teamsGChatBigBatch(gchatMaxBatch, 4000)
	reqs := sendMessages(t, hook, newGoogleChatSender(t, srv.URL, ""), b, 3, len(b.Results))
	var ids []string
	for i, r := range reqs {
		m := gchatCheckWire(t, r.Body) // every message within the limit, each a valid Message
		want := fmt.Sprintf("New policy results %d–%d of %d in ClusterPolicyReport cpol-big", len(ids)+1, len(ids)+len(m.CardsV2), len(b.Results))
		if m.Text != want {
			t.Errorf("message %d text %q, want %q", i, m.Text, want)
		}
		for _, c := range m.CardsV2 {
			ids = append(ids, c.CardId)
		}
	}
	assertInOrder(t, ids, len(b.Results), func(i int) string { return fmt.Sprintf("%x", 0x1d00+i) })
}

func TestGoogleChatTruncates(t *testing.T) {
	hook, srv := startHook(t, nil)
	s := newGoogleChatSender(t, srv.URL, "")

	t.Run("long message", func(t *testing.T) {
		b := teamsGChatBigBatch(1, 0)
		b.Results[0].Message = "line one\r\nline two\x00 " + strings.Repeat("<&>", 40_000)
		if err := s.Send(context.Background(), b); err != nil {
			t.Fatal(err)
		}
		reqs := hook.requests()
		m := gchatCheckWire(t, reqs[len(reqs)-1].Body)
		msg := gchatMessageText(m.CardsV2[0])
		if len(msg) > gchatMaxMessage || !strings.HasSuffix(msg, "…") || !strings.HasPrefix(msg, "line one<br>line two &lt;&amp;&gt;") { // the NUL is dropped
			t.Errorf("message of %d bytes: %.60q…%q", len(msg), msg, msg[len(msg)-12:])
		}
		if cut := strings.TrimSuffix(msg, "…"); strings.LastIndex(cut, "&") > strings.LastIndex(cut, ";") {
			t.Errorf("an escape sequence is split: …%q", cut[len(cut)-12:])
		}
	})
	t.Run("more fields than a card shows", func(t *testing.T) {
		b := teamsGChatBigBatch(1, 10)
		b.Results[0].Properties = map[string]string{}
		for i := 0; i < 150; i++ {
			b.Results[0].Properties[fmt.Sprintf("key-%03d", i)] = "v"
		}
		b.CustomFields = map[string]string{"cluster": "prod"}
		before := len(hook.requests())
		if err := s.Send(context.Background(), b); err != nil {
			t.Fatal(err)
		}
		m := gchatCheckWire(t, hook.requests()[before].Body) // at most 100 widgets
		secs := m.CardsV2[0].Card.Sections
		last := secs[len(secs)-1].Widgets[0].TextParagraph
		if last == nil || last.Text != "<i>56 more fields left out: a card shows at most 100</i>" {
			t.Errorf("last section: %+v", secs[len(secs)-1])
		}
	})
	t.Run("too large for a message of its own", func(t *testing.T) {
		b := teamsGChatBigBatch(2, 100)
		b.Results[0].Properties = map[string]string{}
		for i := 0; i < 90; i++ {
			b.Results[0].Properties[fmt.Sprintf("key-%03d", i)] = strings.Repeat("v", 1000)
		}
		reqs := sendMessages(t, hook, s, b, 2, 2)
		m := gchatCheckWire(t, reqs[0].Body)
		secs := m.CardsV2[0].Card.Sections
		if got := secs[len(secs)-1].Widgets[0].TextParagraph; got == nil ||
			got.Text != "<i>90 properties and custom fields left out: the result is too large for one Google Chat message</i>" {
			t.Errorf("compact card: %+v", secs[len(secs)-1])
		}
		if m := gchatCheckWire(t, reqs[1].Body); len(m.CardsV2) != 1 || m.CardsV2[0].CardId != "1d01" {
			t.Errorf("second message: %+v", m.CardsV2)
		}
	})
}

func TestGoogleChatMessageTemplate(t *testing.T) {
	hook, srv := startHook(t, nil)
	b := teamsGChatBatch()

	s := newGoogleChatSender(t, srv.URL, `<b>{{ .Severity }}</b> {{ .Policy }} ({{ index .CustomFields "cluster" }}): {{ .Message }}`)
	if err := s.Send(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	m := gchatCheckWire(t, hook.requests()[0].Body)
	// The template's output is plain text, escaped like any other.
	if got, want := gchatMessageText(m.CardsV2[0]), "&lt;b&gt;high&lt;/b&gt; require-labels (prod-eu): "+b.Results[0].Message; got != want {
		t.Errorf("message text %q, want %q", got, want)
	}

	s = newGoogleChatSender(t, srv.URL, `{{ .Resource.Name }}: {{ .Message }}`)
	assertTemplateFailed(t, s.Send(context.Background(), b), 1)
	reqs := hook.requests()
	m = gchatCheckWire(t, reqs[len(reqs)-1].Body)
	if len(m.CardsV2) != 1 || gchatMessageText(m.CardsV2[0]) != "nginx: "+b.Results[0].Message {
		t.Errorf("sent before the failing result: %+v", m.CardsV2)
	}
}
