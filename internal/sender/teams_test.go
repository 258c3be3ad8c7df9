package sender

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/destination/descriptor"
)

// updateTeamsGolden rewrites the Teams golden files only (-update rewrites them all).
var updateTeamsGolden = flag.Bool("update-teams", false, "rewrite testdata/golden/teams-*.json")

// teamsAccepted answers as a Teams Workflow does on success.
var teamsAccepted = answerWith(http.StatusAccepted, nil, "")

func newTeamsSender(t *testing.T, url, template string) Sender {
	t.Helper()
	return newTestSender(t, Config{
		Type:            v1alpha1.DestinationTeams,
		Destination:     &v1alpha1.Destinations{Teams: &v1alpha1.ChatWebhookDestination{}},
		Settings:        descriptor.Settings{"url": url},
		Name:            "team-a/teams",
		MessageTemplate: template,
	})
}

var (
	teamsSchemaOnce sync.Once
	teamsSchema     *jsonschema.Schema
	teamsSchemaErr  error
)

// teamsCardSchemaValidator compiles testdata/schema/adaptive-card-1.5.json (see NOTICE.md there).
func teamsCardSchemaValidator(t *testing.T) *jsonschema.Schema {
	t.Helper()
	teamsSchemaOnce.Do(func() {
		f, err := os.Open(filepath.Join("testdata", "schema", "adaptive-card-1.5.json"))
		if err != nil {
			teamsSchemaErr = err
			return
		}
		defer f.Close()
		doc, err := jsonschema.UnmarshalJSON(f)
		if err != nil {
			teamsSchemaErr = err
			return
		}
		c := jsonschema.NewCompiler()
		c.AssertFormat()
		const loc = "http://adaptivecards.io/schemas/1.5.0/adaptive-card.json"
		if err := c.AddResource(loc, doc); err != nil {
			teamsSchemaErr = err
			return
		}
		teamsSchema, teamsSchemaErr = c.Compile(loc)
	})
	if teamsSchemaErr != nil {
		t.Fatalf("Adaptive Card schema: %v", teamsSchemaErr)
	}
	return teamsSchema
}

// teamsCheckWire checks one request body as a Teams Workflow takes it: the message envelope
// with one Adaptive Card attachment, the card valid against the Adaptive Card schema, full
// width, within the size limit. It returns the card.
func teamsCheckWire(t *testing.T, body []byte) map[string]any {
	t.Helper()
	if len(body) > teamsMaxBody {
		t.Errorf("body of %d bytes is over the limit of %d", len(body), teamsMaxBody)
	}
	var env struct {
		Type        string `json:"type"`
		Attachments []struct {
			ContentType string          `json:"contentType"`
			ContentURL  json.RawMessage `json:"contentUrl"`
			Content     json.RawMessage `json:"content"`
		} `json:"attachments"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil {
		t.Fatalf("envelope: %v\n%s", err, body)
	}
	if env.Type != "message" || len(env.Attachments) != 1 {
		t.Fatalf("envelope: type %q, %d attachments", env.Type, len(env.Attachments))
	}
	a := env.Attachments[0]
	if a.ContentType != "application/vnd.microsoft.card.adaptive" || string(a.ContentURL) != "null" {
		t.Errorf("attachment: contentType %q contentUrl %s", a.ContentType, a.ContentURL)
	}
	var card map[string]any
	if err := json.Unmarshal(a.Content, &card); err != nil {
		t.Fatal(err)
	}
	if card["type"] != "AdaptiveCard" || card["$schema"] != "http://adaptivecards.io/schemas/adaptive-card.json" {
		t.Errorf("card type %v, $schema %v", card["type"], card["$schema"])
	}
	if v := card["version"]; v != "1.4" && v != "1.5" {
		t.Errorf("card version %v", v)
	}
	// msteams is Teams' extension of the card; the schema does not know it.
	if ms, _ := json.Marshal(card["msteams"]); string(ms) != `{"width":"Full"}` {
		t.Errorf("msteams = %s", ms)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(a.Content))
	if err != nil {
		t.Fatal(err)
	}
	delete(inst.(map[string]any), "msteams")
	if err := teamsCardSchemaValidator(t).Validate(inst); err != nil {
		t.Errorf("the card is not a valid Adaptive Card: %v\n%s", err, a.Content)
	}
	return card
}

// teamsContainers are the result Containers of a card.
func teamsContainers(card map[string]any) []map[string]any {
	var out []map[string]any
	for _, e := range card["body"].([]any) {
		if m := e.(map[string]any); m["type"] == "Container" {
			out = append(out, m)
		}
	}
	return out
}

// teamsTexts are the texts of the TextBlocks of a container, in order.
func teamsTexts(c map[string]any) []string {
	var out []string
	for _, e := range c["items"].([]any) {
		if m := e.(map[string]any); m["type"] == "TextBlock" {
			out = append(out, m["text"].(string))
		}
	}
	return out
}

func TestTeamsSchemaRejectsInvalidCards(t *testing.T) {
	sch := teamsCardSchemaValidator(t)
	for name, card := range map[string]string{
		"unknown style":          `{"type":"AdaptiveCard","version":"1.4","body":[{"type":"Container","style":"red","items":[]}]}`,
		"TextBlock without text": `{"type":"AdaptiveCard","version":"1.4","body":[{"type":"TextBlock","wrap":true}]}`,
		"unknown element":        `{"type":"AdaptiveCard","version":"1.4","body":[{"type":"Paragraph","text":"x"}]}`,
		"fact without value":     `{"type":"AdaptiveCard","version":"1.4","body":[{"type":"FactSet","facts":[{"title":"a"}]}]}`,
		"msteams not in schema":  `{"type":"AdaptiveCard","version":"1.4","body":[],"msteams":{"width":"Full"}}`,
	} {
		inst, err := jsonschema.UnmarshalJSON(strings.NewReader(card))
		if err != nil {
			t.Fatal(err)
		}
		if err := sch.Validate(inst); err == nil {
			t.Errorf("%s: the schema accepts %s", name, card)
		}
	}
}

func TestTeamsGolden(t *testing.T) {
	hook, srv := startHook(t, teamsAccepted)
	s := newTeamsSender(t, srv.URL+"/workflows/abc/triggers/manual/paths/invoke?api-version=1&sig=SIG", "")
	if got := s.MaxBatch(); got != teamsMaxBatch {
		t.Errorf("MaxBatch = %d", got)
	}
	r := sendOneMessage(t, hook, s, teamsGChatBatch())
	if r.Path != "/workflows/abc/triggers/manual/paths/invoke" || r.RawQuery != "api-version=1&sig=SIG" {
		t.Errorf("posted to %s?%s", r.Path, r.RawQuery)
	}
	card := teamsCheckWire(t, r.Body)
	cs := teamsContainers(card)
	if len(cs) != 3 {
		t.Fatalf("%d containers, want 3", len(cs))
	}
	for i, want := range []string{"attention", "warning", "good"} {
		if cs[i]["style"] != want {
			t.Errorf("container %d style %v, want %s", i, cs[i]["style"], want)
		}
	}
	checkGolden(t, "teams-batch.json", r.Body, *updateTeamsGolden)
}

func TestTeamsConfigErrorsHideSecrets(t *testing.T) {
	const secret = "S3CRETSIG"
	assertConfigErrors(t, v1alpha1.DestinationTeams, secret, map[string]Config{
		"no url":     {},
		"bad scheme": {Settings: descriptor.Settings{"url": "ftp://h/" + secret}},
		"no host":    {Settings: descriptor.Settings{"url": "https:///" + secret}},
		"bad header": {
			Settings:    descriptor.Settings{"url": "https://h/"},
			Destination: &v1alpha1.Destinations{Teams: &v1alpha1.ChatWebhookDestination{HTTPSettings: v1alpha1.HTTPSettings{Headers: map[string]string{"X-Key": secret + "\r\n"}}}},
		},
		"bad template": {Settings: descriptor.Settings{"url": "https://h/" + secret}, MessageTemplate: "{{ .Policy "},
	})
}

func TestTeamsSplitsAtTheSizeLimit(t *testing.T) {
	hook, srv := startHook(t, teamsAccepted)
	b := teamsGChatBigBatch(teamsMaxBatch, 3000)
	reqs := sendMessages(t, hook, newTeamsSender(t, srv.URL, ""), b, 3, len(b.Results))
	var titles []string
	for i, r := range reqs {
		card := teamsCheckWire(t, r.Body) // every message within the limit, each a valid card
		cs := teamsContainers(card)
		if len(cs) == 0 {
			t.Fatalf("message %d has no result", i)
		}
		title := card["body"].([]any)[0].(map[string]any)["text"]
		if want := fmt.Sprintf("New policy results %d–%d of %d", len(titles)+1, len(titles)+len(cs), len(b.Results)); title != want {
			t.Errorf("message %d title %q, want %q", i, title, want)
		}
		for _, c := range cs {
			titles = append(titles, teamsTexts(c)[0])
		}
	}
	assertInOrder(t, titles, len(b.Results), func(i int) string { return fmt.Sprintf("policy-%02d / rule", i) })
}

func TestTeamsTruncates(t *testing.T) {
	hook, srv := startHook(t, teamsAccepted)
	s := newTeamsSender(t, srv.URL, "")

	t.Run("long message", func(t *testing.T) {
		b := teamsGChatBigBatch(1, 100_000)
		b.Results[0].Message += "\x00\x1b[31m"
		if err := s.Send(context.Background(), b); err != nil {
			t.Fatal(err)
		}
		reqs := hook.requests()
		card := teamsCheckWire(t, reqs[len(reqs)-1].Body)
		msg := teamsTexts(teamsContainers(card)[0])[1]
		if len(msg) > teamsMaxMessage || !strings.HasSuffix(msg, "…") || !strings.HasPrefix(msg, "result 00 xxx") {
			t.Errorf("message of %d bytes: %.40q…%q", len(msg), msg, msg[len(msg)-10:])
		}
	})
	t.Run("too large for a message of its own", func(t *testing.T) {
		b := teamsGChatBigBatch(2, 100)
		b.Results[0].Properties = map[string]string{}
		for i := 0; i < 200; i++ {
			b.Results[0].Properties[fmt.Sprintf("key-%03d", i)] = strings.Repeat("v", 500)
		}
		reqs := sendMessages(t, hook, s, b, 2, 2)
		card := teamsCheckWire(t, reqs[0].Body)
		texts := teamsTexts(teamsContainers(card)[0])
		if last := texts[len(texts)-1]; last != "200 properties left out: the result is too large for one Teams message" {
			t.Errorf("compact result: %q", texts)
		}
		card = teamsCheckWire(t, reqs[1].Body)
		if cs := teamsContainers(card); len(cs) != 1 || teamsTexts(cs[0])[0] != "policy-01 / rule" {
			t.Errorf("second message: %v", cs)
		}
	})
}

func TestTeamsMessageTemplate(t *testing.T) {
	hook, srv := startHook(t, teamsAccepted)
	b := teamsGChatBatch()

	s := newTeamsSender(t, srv.URL, `{{ .Severity }} {{ .Policy }} ({{ index .CustomFields "cluster" }}): {{ .Message }}`)
	if err := s.Send(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	card := teamsCheckWire(t, hook.requests()[0].Body)
	texts := teamsTexts(teamsContainers(card)[0])
	if want := "high require-labels (prod-eu): " + b.Results[0].Message; texts[1] != want {
		t.Errorf("message text %q, want %q", texts[1], want)
	}

	// A template that fails on a result: the results before it are sent, then the error says so.
	s = newTeamsSender(t, srv.URL, `{{ .Resource.Name }}: {{ .Message }}`)
	assertTemplateFailed(t, s.Send(context.Background(), b), 1)
	reqs := hook.requests()
	cs := teamsContainers(teamsCheckWire(t, reqs[len(reqs)-1].Body))
	if len(cs) != 1 || teamsTexts(cs[0])[1] != "nginx: "+b.Results[0].Message {
		t.Errorf("sent before the failing result: %v", cs)
	}
}

// TestTeamsBreaksLinksFromReports: a Markdown link in report text shows as typed, not as a link
// whose text hides where it goes; a messageTemplate's own link still works.
func TestTeamsBreaksLinksFromReports(t *testing.T) {
	hook, srv := startHook(t, teamsAccepted)
	b := teamsGChatBatch()
	b.Results = b.Results[:1]
	r := &b.Results[0]
	r.Message = "see [the docs](https://evil.example/a), [ref][1] and\n[1]: https://evil.example/b"
	r.Policy = "pol [x](https://evil.example/c)"

	s := newTeamsSender(t, srv.URL, `{{ .Message }} [runbook](https://wiki.example/{{ .Policy }})`)
	if err := s.Send(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	texts := teamsTexts(teamsContainers(teamsCheckWire(t, hook.requests()[0].Body))[0])
	if want := "pol [x] (https://evil.example/c) / " + r.Rule; texts[0] != want {
		t.Errorf("title %q, want %q", texts[0], want)
	}
	want := "see [the docs] (https://evil.example/a), [ref] [1] and\n[1] : https://evil.example/b " +
		"[runbook](https://wiki.example/pol [x] (https://evil.example/c))"
	if texts[1] != want {
		t.Errorf("message %q,\nwant %q", texts[1], want)
	}
}
