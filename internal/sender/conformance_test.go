package sender

// The conformance suite: the checks every sender must pass, run for each registered sender
// against a loopback server that answers as the destination does.
//
// # Registering a sender
//
// A new sender registers with one entry: in its own test file (so that merges of senders
// written in parallel do not meet in one table),
//
//	func init() {
//		conformanceSenders = append(conformanceSenders, conformanceSender{
//			typ:     v1alpha1.DestinationLoki,
//			config:  func(base, secret string) Config { ... }, // sends to base; secret is its Secret credential
//			ok:      func(n int) conformanceAnswer { ... },    // the service's success answer to request n
//			fail:    func(status, retryAfter int, text string) conformanceAnswer { ... }, // its error answer
//			decode:  func(t *testing.T, r recorded) []string { ... }, // contract checks; one title per result
//			golden:  []conformanceGolden{{batch: ..., files: []string{"loki-batch.json"}}},
//			hostile: func(t *testing.T, body []byte, texts []string) { ... },
//			// Optional: texts (the texts of a body that is not one JSON document), splitBatch (a
//			// batch too large for one message when the default one is not), lookup (requests
//			// that carry no result by design), okFor (instead of ok, when the success answer
//			// depends on the request), prepare (adjusts the sender each check builds, such as
//			// fixing its clock), goldenBody (the body the golden check compares, for one whose
//			// maps an SDK writes in random order).
//			notApplicable: map[string]string{chkSplit: "MaxBatch is 1: every result is a request of its own"},
//		})
//	}
//
// or in the table below. Then `go test ./internal/sender -run 'Conformance/loki'`; create the
// golden files with -update-conformance and read them before committing. Golden files hold
// JSON bodies (indented); a destination whose body is not JSON says so in notApplicable and
// tests its format in its own tests (or, when one result alone is one JSON document, as with
// Splunk HEC's concatenated events, uses golden batches of one result each). A sender that
// puts the time of the send into its body fixes its clock in prepare, so that its golden
// files stay the same from run to run.
//
// The success answer of most services is the same for every request: ok(n). Where it is not
// (Elasticsearch's bulk answer has an item per document of the request), okFor(n, r) answers
// request r instead, and ok may be nil.
//
// decode is the heart of an entry: it checks one request against the service's published
// contract (method, path, headers; the body decoded strictly into the service's or its SDK's
// types; every documented limit) and returns, in order, one title per result the request
// carries, a text holding the result's policy name (the suite's batches name every policy
// apart). A destination that is sent results through another protocol than a JSON POST still
// registers: its loopback server records requests the same way.
//
// A sender may make requests that carry no result, such as Jira's search for an existing issue
// before each create: lookup tells them, and decode checks them and returns no title for them.
// ok(n) answers such a sender by request number too: the checks start a new sender each, so its
// requests come in a fixed order (the golden files hold it).
//
// Every check runs for every entry unless notApplicable names it with a reason (a check that
// cannot apply, such as splitting for a destination that sends one result per Send); the
// reason is printed where the check would have run. TestConformanceRegistry fails for a
// factory without an entry, a reason without a check, and a template check that disagrees
// with the destination's descriptor. The checks:
//
//   - golden: each golden batch gives the requests of its files, byte for byte (indented);
//     -update-conformance rewrites them.
//   - secrets hidden: a Secret value the server echoes in an error body never reaches the error,
//     nor does its base64 (alone or inside a longer blob, standard or URL-safe alphabet).
//   - error classes: 5xx, 408, 429 and network errors are retryable; other 4xx are not.
//   - 429: Retry-After gives a retryable error with RetryAfter and Sent 0.
//   - split: a batch of MaxBatch results, too large for one message, becomes several requests,
//     each within the limits decode checks, carrying every result once, in order.
//   - partial: the server fails the 2nd request: the error's Sent is the results of the 1st,
//     and sending the rest resumes after them.
//   - template: a messageTemplate replaces the result's text (where the descriptor says
//     Template).
//   - hostile: control characters, invisible characters (bidi overrides, zero-width ones),
//     mentions, masked links, HTML and a 1 MB message do not break the format, and no
//     control or invisible character reaches a request.
//   - ssrf guard: a guarded sender does not reach a loopback server, when built or at dial.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/addrguard"
	"github.com/policyherald/policy-herald/internal/destination/descriptor"
	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/sender/render"
	"github.com/policyherald/policy-herald/internal/sender/transport"
)

// updateConformance rewrites the golden files of the conformance suite (-update rewrites all).
var updateConformance = flag.Bool("update-conformance", false, "rewrite the golden files of the conformance suite")

// The checks, as notApplicable names them.
const (
	chkGolden    = "golden"
	chkSecrets   = "secrets hidden"
	chkClasses   = "error classes"
	chkRateLimit = "429"
	chkSplit     = "split"
	chkPartial   = "partial"
	chkTemplate  = "template"
	chkHostile   = "hostile"
	chkSSRF      = "ssrf guard"
)

// conformanceAnswer is one answer of the loopback server.
type conformanceAnswer struct {
	status int
	header map[string]string
	body   string
}

// conformanceGolden is a fixed batch and the golden files of the requests it gives, in order.
type conformanceGolden struct {
	batch func() Batch
	files []string
}

// conformanceSender is one sender's registration (see the comment at the top).
type conformanceSender struct {
	typ v1alpha1.DestinationType
	// config is a Config of the sender that sends to the loopback server at base
	// ("http://127.0.0.1:port") with secret as its Secret credential (in the URL, a token).
	config func(base, secret string) Config
	// ok is the service's answer to a request it accepts; n counts requests from 1.
	ok func(n int) conformanceAnswer
	// okFor, when set, is the service's answer to request n, r, that it accepts, for a service
	// whose answer depends on the request; it replaces ok.
	okFor func(n int, r recorded) conformanceAnswer
	// fail is the service's answer to a request it refuses with status, text in its error
	// shape; retryAfter > 0 asks for a wait of that many seconds, as the service does.
	fail func(status, retryAfter int, text string) conformanceAnswer
	// decode checks one request against the service's contract and returns one title per result
	// it carries, in order.
	decode func(t *testing.T, r recorded) []string
	// golden are the fixed batches of the golden check.
	golden []conformanceGolden
	// hostile checks one request of the hostile batch, beyond the suite's own check (no control
	// characters in its texts); texts are as texts gives them.
	hostile func(t *testing.T, body []byte, texts []string)
	// texts, when set, are the texts one request carries, for the hostile and template checks;
	// by default every string (keys too) of its JSON body. Set it for a body that is not one
	// JSON document (NDJSON, compressed, base64 records).
	texts func(t *testing.T, r recorded) []string
	// splitBatch, when set, is the batch of the split and partial checks: more than one message
	// takes, at most maxBatch results. By default conformanceSplitBatch.
	splitBatch func(maxBatch int) Batch
	// lookup, when set, tells the requests that carry no result by design (a search before a
	// create): decode returns no title for them. By default every request carries one at least.
	lookup func(r recorded) bool
	// prepare, when set, adjusts the sender each check builds for the loopback server (not the
	// guarded ones of the ssrf check): a fixed clock, for golden files without the time of the
	// send.
	prepare func(s Sender)
	// goldenBody, when set, is the body of request r as the golden check compares it: for a body
	// whose serializer (an SDK's) writes the entries of a map in random order, the same JSON with
	// the keys of every object sorted. By default r.Body as it was sent.
	goldenBody func(t *testing.T, r recorded) []byte
	// notApplicable names the checks that do not apply to the destination, with the reason.
	notApplicable map[string]string
}

// okAnswer is c's success answer to request n, r: okFor when set, else ok.
func (c *conformanceSender) okAnswer(n int, r recorded) conformanceAnswer {
	if c.okFor != nil {
		return c.okFor(n, r)
	}
	return c.ok(n)
}

// always is answer for every request, whatever it holds.
func always(answer func(n int) conformanceAnswer) func(int, recorded) conformanceAnswer {
	return func(n int, _ recorded) conformanceAnswer { return answer(n) }
}

// conformanceSenders are the senders the suite checks: one entry each.
var conformanceSenders = []conformanceSender{
	{
		typ: v1alpha1.DestinationWebhook,
		config: func(base, secret string) Config {
			return Config{
				Destination: &v1alpha1.Destinations{Webhook: &v1alpha1.WebhookDestination{}},
				Settings:    descriptor.Settings{"url": base + "/hooks/" + secret, "token": "Bearer " + secret},
			}
		},
		ok:   func(int) conformanceAnswer { return conformanceAnswer{status: http.StatusOK} },
		fail: conformanceTextError,
		decode: func(t *testing.T, r recorded) []string {
			conformanceJSONPost(t, r)
			var d ResultDocument
			conformanceStrict(t, r.Body, &d)
			if d.ID == "" || d.Status == "" {
				t.Errorf("document without id or status: %s", firstBytes(r.Body))
			}
			return []string{d.Policy}
		},
		golden: []conformanceGolden{{
			batch: func() Batch {
				return Batch{Report: testReport, Results: []report.Result{fullResult()}, CustomFields: map[string]string{"cluster": "prod-eu"}}
			},
			files: []string{"webhook-full.json"},
		}},
		hostile: func(t *testing.T, body []byte, _ []string) {
			var d ResultDocument
			if err := json.Unmarshal(body, &d); err != nil {
				t.Fatal(err)
			}
			// A JSON document for programs: the text stays as it was but for control characters.
			if len(d.Message) < 1<<19 && !strings.Contains(d.Message, "@everyone @here [click me](https://evil.example/x) <https://evil.example|innocent> <script>") {
				t.Errorf("message %q", d.Message)
			}
		},
		notApplicable: map[string]string{
			chkSplit:   "MaxBatch is 1: every result is a request of its own",
			chkPartial: "MaxBatch is 1: a batch is one request, sent or not",
			chkTemplate: "the webhook posts the ResultDocument, which has no text to template (descriptor Template false); " +
				"its bodyTemplate replaces the whole document instead (TestWebhookBodyTemplate, golden webhook-template-*.json)",
		},
	},
	{
		typ: v1alpha1.DestinationSlack,
		config: func(base, secret string) Config {
			return Config{
				Destination: &v1alpha1.Destinations{Slack: &v1alpha1.SlackDestination{Channel: "#policy"}},
				Settings:    descriptor.Settings{"url": base + "/services/T000/B000/" + secret},
			}
		},
		// Incoming webhooks answer "ok", and errors as text: invalid_payload, no_service, ...
		ok:   func(int) conformanceAnswer { return conformanceAnswer{status: http.StatusOK, body: "ok"} },
		fail: conformanceTextError,
		decode: func(t *testing.T, r recorded) []string {
			conformanceJSONPost(t, r)
			return slackCheckLimits(t, slackDecode(t, r.Body))
		},
		golden: []conformanceGolden{{batch: slackDiscordBatch, files: []string{"slack-batch.json"}}},
		hostile: func(t *testing.T, body []byte, _ []string) {
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
		},
	},
	{
		typ: v1alpha1.DestinationDiscord,
		config: func(base, secret string) Config {
			return Config{
				Destination: &v1alpha1.Destinations{Discord: &v1alpha1.ChatWebhookDestination{}},
				Settings:    descriptor.Settings{"url": base + "/api/webhooks/123/" + secret},
			}
		},
		ok: func(int) conformanceAnswer { return conformanceAnswer{status: http.StatusNoContent} },
		// Discord's errors: {"message": ..., "code": ...}; 429 with retry_after and Retry-After.
		fail: func(status, retryAfter int, text string) conformanceAnswer {
			a := conformanceAnswer{status: status, header: map[string]string{"Content-Type": "application/json"}}
			if retryAfter > 0 {
				a.header["Retry-After"] = fmt.Sprint(retryAfter)
				a.body = conformanceJSON(map[string]any{"message": text, "retry_after": retryAfter, "global": false})
				return a
			}
			a.body = conformanceJSON(map[string]any{"message": text, "code": 50006})
			return a
		},
		decode: func(t *testing.T, r recorded) []string {
			conformanceJSONPost(t, r)
			p := discordDecode(t, r.Body)
			return discordCheckLimits(t, &p)
		},
		golden: []conformanceGolden{{batch: slackDiscordBatch, files: []string{"discord-batch.json"}}},
		hostile: func(t *testing.T, body []byte, texts []string) {
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
			n := render.UTF16Len(m.Content)
			for i := range m.Embeds {
				n += discordEmbedLen(&m.Embeds[i])
			}
			if n > discordMessageChars || len(m.Embeds) > discordMaxEmbeds {
				t.Errorf("message of %d characters, %d embeds", n, len(m.Embeds))
			}
		},
	},
	{
		typ: v1alpha1.DestinationTeams,
		config: func(base, secret string) Config {
			return Config{
				Destination: &v1alpha1.Destinations{Teams: &v1alpha1.ChatWebhookDestination{}},
				Settings:    descriptor.Settings{"url": base + "/workflows/abc/triggers/manual/paths/invoke?sig=" + secret},
			}
		},
		ok: func(int) conformanceAnswer { return conformanceAnswer{status: http.StatusAccepted} },
		// Workflows (Azure Logic Apps) errors: {"error":{"code":...,"message":...}}.
		fail: func(status, retryAfter int, text string) conformanceAnswer {
			a := conformanceAnswer{status: status, header: map[string]string{"Content-Type": "application/json"},
				body: conformanceJSON(map[string]any{"error": map[string]any{"code": "WorkflowTriggerFailed", "message": text}})}
			if retryAfter > 0 {
				a.header["Retry-After"] = fmt.Sprint(retryAfter)
			}
			return a
		},
		decode: func(t *testing.T, r recorded) []string {
			conformanceJSONPost(t, r)
			var titles []string
			for _, c := range teamsContainers(teamsCheckWire(t, r.Body)) {
				titles = append(titles, teamsTexts(c)[0])
			}
			return titles
		},
		golden: []conformanceGolden{{batch: teamsGChatBatch, files: []string{"teams-batch.json"}}},
		hostile: func(t *testing.T, body []byte, texts []string) {
			// Teams renders [text](url) in TextBlocks and facts, and honours no backslash
			// escape: "](" (and the reference forms "][", "]:") must never reach it.
			for _, s := range texts {
				if strings.Contains(s, "](") || strings.Contains(s, "][") || strings.Contains(s, "]:") {
					t.Errorf("Markdown link in %q", firstBytes([]byte(s)))
				}
			}
			if strings.Contains(string(body), "click me") && !strings.Contains(string(body), "[click me] (https://evil.example/x)") {
				t.Errorf("want the link shown as text: %s", firstBytes(body))
			}
			if len(body) > teamsMaxBody {
				t.Errorf("body of %d bytes", len(body))
			}
		},
	},
	{
		typ: v1alpha1.DestinationGoogleChat,
		config: func(base, secret string) Config {
			return Config{
				Destination: &v1alpha1.Destinations{GoogleChat: &v1alpha1.ChatWebhookDestination{}},
				Settings:    descriptor.Settings{"url": base + "/v1/spaces/AAAA/messages?key=KEY&token=" + secret},
			}
		},
		ok: func(int) conformanceAnswer {
			return conformanceAnswer{status: http.StatusOK, header: map[string]string{"Content-Type": "application/json"}, body: `{"name":"spaces/AAAA/messages/BBBB"}`}
		},
		// Google APIs' errors: {"error":{"code":...,"message":...,"status":...}}.
		fail: func(status, retryAfter int, text string) conformanceAnswer {
			a := conformanceAnswer{status: status, header: map[string]string{"Content-Type": "application/json"},
				body: conformanceJSON(map[string]any{"error": map[string]any{"code": status, "message": text, "status": "INVALID_ARGUMENT"}})}
			if retryAfter > 0 {
				a.header["Retry-After"] = fmt.Sprint(retryAfter)
			}
			return a
		},
		decode: func(t *testing.T, r recorded) []string {
			conformanceJSONPost(t, r)
			if r.Path != "/v1/spaces/AAAA/messages" {
				t.Errorf("posted to %s", r.Path)
			}
			var titles []string
			for _, c := range gchatCheckWire(t, r.Body).CardsV2 {
				titles = append(titles, c.Card.Header.Title)
			}
			return titles
		},
		golden: []conformanceGolden{{batch: teamsGChatBatch, files: []string{"googlechat-batch.json"}}},
		hostile: func(t *testing.T, body []byte, texts []string) {
			for _, s := range texts {
				if strings.Contains(s, "<script") || strings.Contains(s, "<https") {
					t.Errorf("unescaped HTML in %q", firstBytes([]byte(s)))
				}
			}
			if len(body) > gchatMaxBody {
				t.Errorf("body of %d bytes", len(body))
			}
		},
	},
	{
		typ: v1alpha1.DestinationTelegram,
		config: func(base, secret string) Config {
			return Config{
				Destination: &v1alpha1.Destinations{Telegram: &v1alpha1.TelegramDestination{}},
				Settings:    descriptor.Settings{"apiURL": base, "token": "123456:" + secret, "chatID": "-1001234567890"},
			}
		},
		ok: func(n int) conformanceAnswer {
			res, _ := json.Marshal(tgbotapi.Message{MessageID: n, Date: 1, Chat: &tgbotapi.Chat{ID: -1001234567890, Type: "supergroup"}})
			return conformanceAnswer{status: http.StatusOK, header: map[string]string{"Content-Type": "application/json"},
				body: conformanceJSON(tgbotapi.APIResponse{Ok: true, Result: res})}
		},
		// The Bot API's errors: {"ok":false,"error_code":...,"description":...,"parameters":{"retry_after":...}}.
		fail: func(status, retryAfter int, text string) conformanceAnswer {
			resp := tgbotapi.APIResponse{Ok: false, ErrorCode: status, Description: text}
			if retryAfter > 0 {
				resp.Parameters = &tgbotapi.ResponseParameters{RetryAfter: retryAfter}
			}
			return conformanceAnswer{status: status, header: map[string]string{"Content-Type": "application/json"}, body: conformanceJSON(resp)}
		},
		decode: func(t *testing.T, r recorded) []string {
			conformanceJSONPost(t, r)
			if !strings.HasPrefix(r.Path, "/bot123456:") || !strings.HasSuffix(r.Path, "/sendMessage") {
				t.Errorf("posted to %s, want /bot<token>/sendMessage", r.Path)
			}
			var m telegramWire
			conformanceStrict(t, r.Body, &m)
			if m.ParseMode != "MarkdownV2" || m.LinkPreviewOptions == nil || !m.LinkPreviewOptions.IsDisabled || string(m.ChatID) != "-1001234567890" {
				t.Errorf("fields: %s", firstBytes(r.Body))
			}
			p, err := telegramParseMarkdownV2(m.Text) // also checks the 4096 characters
			if err != nil {
				t.Fatalf("the Bot API would refuse the text: %v", err)
			}
			title, _, _ := strings.Cut(p.plain, "\n")
			return []string{title}
		},
		golden: []conformanceGolden{{
			batch: func() Batch {
				return Batch{Report: testReport, Results: []report.Result{fullResult(), bareResult()}, CustomFields: map[string]string{"cluster": "prod-eu"}}
			},
			files: []string{"telegram-full.json", "telegram-bare.json"},
		}},
		hostile: func(t *testing.T, body []byte, _ []string) {
			var m struct {
				Text string `json:"text"`
			}
			if err := json.Unmarshal(body, &m); err != nil {
				t.Fatal(err)
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
		},
	},
}

// conformanceChecks are the checks, in the order they run.
var conformanceChecks = []struct {
	name string
	run  func(t *testing.T, c *conformanceSender)
}{
	{chkGolden, conformGolden},
	{chkSecrets, conformSecrets},
	{chkClasses, conformErrorClasses},
	{chkRateLimit, conformRateLimit},
	{chkSplit, conformSplit},
	{chkPartial, conformPartial},
	{chkTemplate, conformTemplate},
	{chkHostile, conformHostile},
	{chkSSRF, conformSSRF},
}

func TestConformance(t *testing.T) {
	for i := range conformanceSenders {
		c := &conformanceSenders[i]
		t.Run(string(c.typ), func(t *testing.T) {
			t.Parallel()
			for _, check := range conformanceChecks {
				t.Run(check.name, func(t *testing.T) {
					if why, ok := c.notApplicable[check.name]; ok {
						t.Skipf("does not apply to %s: %s", c.typ, why)
					}
					check.run(t, c)
				})
			}
		})
	}
}

// TestConformanceRegistry holds the table to the factories and descriptors.
func TestConformanceRegistry(t *testing.T) {
	known := map[string]bool{}
	for _, check := range conformanceChecks {
		known[check.name] = true
	}
	registered := map[v1alpha1.DestinationType]bool{}
	for _, c := range conformanceSenders {
		if registered[c.typ] {
			t.Errorf("%s is registered twice", c.typ)
		}
		registered[c.typ] = true
		if _, ok := registry[c.typ]; !ok {
			t.Errorf("%s is in the conformance suite but has no registration", c.typ)
		}
		if c.config == nil || (c.ok == nil) == (c.okFor == nil) || c.fail == nil || c.decode == nil {
			t.Errorf("%s: config, ok (or okFor, not both), fail and decode are required", c.typ)
		}
		for name, why := range c.notApplicable {
			if !known[name] || strings.TrimSpace(why) == "" {
				t.Errorf("%s: notApplicable[%q] = %q: not a check, or no reason", c.typ, name, why)
			}
		}
		_, noGolden := c.notApplicable[chkGolden]
		if (len(c.golden) == 0) != noGolden {
			t.Errorf("%s: golden batches and notApplicable[golden] disagree", c.typ)
		}
		_, noHostile := c.notApplicable[chkHostile]
		if (c.hostile == nil) != noHostile {
			t.Errorf("%s: hostile and notApplicable[hostile] disagree", c.typ)
		}
		d := descriptorOf(t, c.typ)
		if _, noTemplate := c.notApplicable[chkTemplate]; noTemplate == d.Template {
			t.Errorf("%s: descriptor Template = %v, but notApplicable[template] is %v", c.typ, d.Template, noTemplate)
		}
	}
	for typ := range registry {
		if !registered[typ] {
			t.Errorf("the sender of %s is not registered with the conformance suite (conformanceSenders)", typ)
		}
	}
}

// ---------------------------------------------------------------------------------------------
// The checks.
// ---------------------------------------------------------------------------------------------

// conformanceSecret is the Secret value of every check's sender: 32 characters, the length of
// a PagerDuty routing key, which is a Secret value that must be used whole.
const conformanceSecret = "S3cretConformanceValue_x9_32char"

// conformanceStart serves answer (request n from 1, as recorded) until the test ends and
// builds the sender of c for it, with tmpl as its messageTemplate.
func conformanceStart(t *testing.T, c *conformanceSender, tmpl string, answer func(n int, r recorded) conformanceAnswer) (*testHook, Sender) {
	t.Helper()
	var hook *testHook
	hook, srv := startHook(t, func(n int) (int, map[string]string, string) {
		a := answer(n, hook.requests()[n-1]) // recorded before it is answered
		return a.status, a.header, a.body
	})
	cfg := c.config(srv.URL, conformanceSecret)
	cfg.Type, cfg.Name, cfg.MessageTemplate = c.typ, "team-a/conformance", tmpl
	s := newTestSender(t, cfg)
	if c.prepare != nil {
		c.prepare(s)
	}
	return hook, s
}

// conformanceDecode decodes every request, checking each, and returns their titles.
func conformanceDecode(t *testing.T, c *conformanceSender, reqs []recorded) [][]string {
	t.Helper()
	out := make([][]string, len(reqs))
	for i, r := range reqs {
		out[i] = c.decode(t, r)
		switch lookup := c.lookup != nil && c.lookup(r); {
		case !lookup && len(out[i]) == 0:
			t.Errorf("request %d carries no result", i+1)
		case lookup && len(out[i]) != 0:
			t.Errorf("request %d is a lookup but carries %d results", i+1, len(out[i]))
		}
	}
	return out
}

func conformGolden(t *testing.T, c *conformanceSender) {
	for _, g := range c.golden {
		hook, s := conformanceStart(t, c, "", c.okAnswer)
		b := g.batch()
		if err := s.Send(context.Background(), b); err != nil {
			t.Fatalf("Send: %v", err)
		}
		reqs := hook.requests()
		if len(reqs) != len(g.files) {
			t.Fatalf("%d requests, want %d (%v)", len(reqs), len(g.files), g.files)
		}
		titles := 0
		for i, r := range reqs {
			titles += len(c.decode(t, r))
			body := r.Body
			if c.goldenBody != nil {
				body = c.goldenBody(t, r)
			}
			checkGolden(t, g.files[i], body, *updateConformance)
		}
		if titles != len(b.Results) {
			t.Errorf("the requests carry %d results, want %d", titles, len(b.Results))
		}
	}
}

func conformSecrets(t *testing.T, c *conformanceSender) {
	// The server echoes the credential it got, as proxies and misconfigured services do: as it
	// is, or base64-encoded (alone, or inside a longer blob such as a Basic credential), one
	// form per answer so that each reaches the error's excerpt.
	echoes := map[string]string{
		"plain": "invalid token " + conformanceSecret + " for /services/" + conformanceSecret + "?token=" + conformanceSecret,
	}
	for name, blob := range base64Echoes(conformanceSecret) {
		echoes[name] = "invalid credentials " + blob
	}
	for _, status := range []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound, http.StatusInternalServerError} {
		for form, echo := range echoes {
			_, s := conformanceStart(t, c, "", always(func(int) conformanceAnswer { return c.fail(status, 0, echo) }))
			err := s.Send(context.Background(), Batch{Report: testReport, Results: []report.Result{fullResult()}})
			if err == nil {
				t.Fatalf("%d: want an error", status)
			}
			texts := map[string]string{"Error()": err.Error(), "%+v": fmt.Sprintf("%+v", err), "%#v": fmt.Sprintf("%#v", err)}
			if u := errors.Unwrap(err); u != nil {
				texts["the wrapped error"] = u.Error()
			}
			for what, text := range texts {
				if strings.Contains(text, conformanceSecret) {
					t.Errorf("%d, %s echo: %s shows the Secret value: %s", status, form, what, text)
				}
				if leak := base64Leak(text, conformanceSecret); leak != "" {
					t.Errorf("%d, %s echo: %s shows %q of the Secret value's base64: %s", status, form, what, leak, text)
				}
			}
		}
	}
}

func conformErrorClasses(t *testing.T, c *conformanceSender) {
	b := Batch{Report: testReport, Results: []report.Result{fullResult()}}
	for _, tc := range []struct {
		status    int
		retryable bool
	}{
		{http.StatusBadRequest, false}, {http.StatusForbidden, false}, {http.StatusNotFound, false},
		{http.StatusRequestEntityTooLarge, false}, {http.StatusRequestTimeout, true},
		{http.StatusInternalServerError, true}, {http.StatusBadGateway, true}, {http.StatusServiceUnavailable, true},
	} {
		_, s := conformanceStart(t, c, "", always(func(int) conformanceAnswer { return c.fail(tc.status, 0, "refused") }))
		err := s.Send(context.Background(), b)
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("%d: want an *Error, got %#v", tc.status, err)
		}
		if e.Retryable != tc.retryable || e.StatusCode != tc.status || e.Sent != 0 {
			t.Errorf("%d: retryable %v (want %v), status %d, sent %d: %v", tc.status, e.Retryable, tc.retryable, e.StatusCode, e.Sent, e)
		}
	}
	// No server: a network error, retryable.
	cfg := c.config("http://"+closedAddr(t), conformanceSecret)
	cfg.Type = c.typ
	err := newTestSender(t, cfg).Send(context.Background(), b)
	if err == nil || !IsRetryable(err) || strings.Contains(err.Error(), conformanceSecret) {
		t.Errorf("network error: want retryable without the secret, got %v", err)
	}
}

func conformRateLimit(t *testing.T, c *conformanceSender) {
	hook, s := conformanceStart(t, c, "", always(func(int) conformanceAnswer { return c.fail(http.StatusTooManyRequests, 7, "rate limited") }))
	err := s.Send(context.Background(), Batch{Report: testReport, Results: []report.Result{fullResult(), bareResult()}})
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("want an *Error, got %#v", err)
	}
	if !e.Retryable || e.RetryAfter != 7*time.Second || e.StatusCode != http.StatusTooManyRequests || e.Sent != 0 {
		t.Errorf("got %+v, want retryable after 7s, status 429, nothing sent", e)
	}
	if !IsRetryable(err) {
		t.Errorf("IsRetryable disagrees with %+v", e)
	}
	if n := len(hook.requests()); n != 1 {
		t.Errorf("%d requests: a sender stops at the first 429", n)
	}
}

// conformanceSplitBatch is maxBatch results of varied size (long messages, many properties,
// long names), each policy named apart: too large for one message of a chat destination.
func conformanceSplitBatch(maxBatch int) Batch {
	return Batch{Report: testReport, Results: slackDiscordBigBatch(maxBatch), CustomFields: map[string]string{"cluster": "prod-eu"}}
}

// splitBatchOf is the batch of c's split and partial checks for s.
func (c *conformanceSender) splitBatchOf(t *testing.T, s Sender) Batch {
	t.Helper()
	b := conformanceSplitBatch(s.MaxBatch())
	if c.splitBatch != nil {
		b = c.splitBatch(s.MaxBatch())
	}
	if len(b.Results) > s.MaxBatch() {
		t.Fatalf("the split batch has %d results, more than MaxBatch %d", len(b.Results), s.MaxBatch())
	}
	return b
}

// textsOf are the texts of request r (see conformanceSender.texts).
func (c *conformanceSender) textsOf(t *testing.T, r recorded) []string {
	t.Helper()
	if c.texts != nil {
		return c.texts(t, r)
	}
	return jsonStrings(t, r.Body)
}

// conformanceInOrder checks that titles are the results of b, from the first, in order.
func conformanceInOrder(t *testing.T, titles []string, results []report.Result) {
	t.Helper()
	if len(titles) != len(results) {
		t.Fatalf("the requests carry %d results, want %d", len(titles), len(results))
	}
	for i, title := range titles {
		// The policy named apart, not a prefix of another one's: "policy-1" is in "policy-12".
		if !regexp.MustCompile(regexp.QuoteMeta(results[i].Policy) + `($|[^0-9])`).MatchString(title) {
			t.Errorf("result %d is %q, want %s", i+1, title, results[i].Policy)
		}
	}
}

func conformSplit(t *testing.T, c *conformanceSender) {
	hook, s := conformanceStart(t, c, "", c.okAnswer)
	b := c.splitBatchOf(t, s)
	if err := s.Send(context.Background(), b); err != nil {
		t.Fatalf("Send: %v", err)
	}
	reqs := hook.requests()
	if len(reqs) < 2 {
		t.Fatalf("%d request(s) for a batch of %d too large for one message", len(reqs), len(b.Results))
	}
	var titles []string
	for _, ts := range conformanceDecode(t, c, reqs) { // decode checks each message's limits
		titles = append(titles, ts...)
	}
	conformanceInOrder(t, titles, b.Results)
}

func conformPartial(t *testing.T, c *conformanceSender) {
	var resumed atomic.Bool
	hook, s := conformanceStart(t, c, "", func(n int, r recorded) conformanceAnswer {
		if n == 2 && !resumed.Load() {
			return c.fail(http.StatusBadGateway, 0, "upstream failed")
		}
		return c.okAnswer(n, r)
	})
	b := c.splitBatchOf(t, s)
	err := s.Send(context.Background(), b)
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("want an *Error, got %#v", err)
	}
	reqs := hook.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want the sender to stop at the failed 2nd", len(reqs))
	}
	first := c.decode(t, reqs[0])
	if e.Sent != len(first) || e.Sent == 0 || !e.Retryable || e.StatusCode != http.StatusBadGateway {
		t.Fatalf("got %+v, want Sent = %d (the results of the 1st request), retryable, 502", e, len(first))
	}
	if strings.Contains(e.Reason, conformanceSecret) {
		t.Errorf("reason shows the secret: %q", e.Reason)
	}
	// The pipeline sends the rest only: it resumes after the results sent.
	resumed.Store(true)
	rest := Batch{Report: b.Report, Results: b.Results[e.Sent:], CustomFields: b.CustomFields}
	if err := s.Send(context.Background(), rest); err != nil {
		t.Fatalf("sending the rest: %v", err)
	}
	var titles []string
	for _, ts := range conformanceDecode(t, c, hook.requests()[2:]) {
		titles = append(titles, ts...)
	}
	conformanceInOrder(t, titles, rest.Results)
}

func conformTemplate(t *testing.T, c *conformanceSender) {
	hook, s := conformanceStart(t, c, "TPLMARK {{ .Severity }} {{ .Source }} {{ .CustomFields.cluster }}", c.okAnswer)
	b := Batch{Report: testReport, Results: []report.Result{fullResult()}, CustomFields: map[string]string{"cluster": "prod"}}
	if err := s.Send(context.Background(), b); err != nil {
		t.Fatalf("Send: %v", err)
	}
	reqs := hook.requests()
	conformanceDecode(t, c, reqs)
	var rendered bool
	for _, r := range reqs {
		for _, s := range c.textsOf(t, r) {
			rendered = rendered || strings.Contains(s, "TPLMARK high kyverno prod")
			if strings.Contains(s, fullResult().Message) {
				t.Errorf("the default text is still sent: %q", firstBytes([]byte(s)))
			}
		}
	}
	if !rendered {
		t.Errorf("the rendered template is in no request: %s", firstBytes(reqs[0].Body))
	}
}

func conformHostile(t *testing.T, c *conformanceSender) {
	hook, s := conformanceStart(t, c, "", c.okAnswer)
	b := hostileBatch()
	for start := 0; start < len(b.Results); start += s.MaxBatch() { // as the pipeline sends it
		part := Batch{Report: b.Report, Results: b.Results[start:min(start+s.MaxBatch(), len(b.Results))], CustomFields: b.CustomFields}
		if err := s.Send(context.Background(), part); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	reqs := hook.requests()
	if len(reqs) == 0 {
		t.Fatal("nothing sent")
	}
	var titles []string
	for i, r := range reqs {
		titles = append(titles, c.decode(t, r)...)
		texts := c.textsOf(t, r)
		for _, s := range texts {
			if hasBadControl(s) {
				t.Errorf("request %d: control or invisible character in %q", i+1, firstBytes([]byte(s)))
			}
		}
		c.hostile(t, r.Body, texts)
	}
	if len(titles) != len(b.Results) {
		t.Errorf("the requests carry %d results, want %d", len(titles), len(b.Results))
	}
}

func conformSSRF(t *testing.T, c *conformanceSender) {
	hook, srv := startHook(t, nil)
	cfg := c.config(srv.URL, conformanceSecret)
	cfg.Type = c.typ
	// Refused when built: the host is a loopback address.
	if _, err := newGuarded(context.Background(), cfg, defaultGuard()); err == nil {
		t.Error("newGuarded: a guarded sender was built for a loopback server")
	} else if strings.Contains(err.Error(), conformanceSecret) {
		t.Errorf("newGuarded error shows the secret: %v", err)
	}
	// Refused when built, in the notations a proxy or a curl-like client reads as loopback
	// though the operator's resolver does not.
	for _, host := range []string{"127.1", "2130706433", "0177.0.0.1", "0x7f.0.0.1", "0x7f000001", "LOCALHOST."} {
		cfg := c.config(strings.Replace(srv.URL, "127.0.0.1", host, 1), conformanceSecret)
		cfg.Type = c.typ
		var na *addrguard.NotAllowedError
		if _, err := newGuarded(context.Background(), cfg, defaultGuard()); !errors.As(err, &na) {
			t.Errorf("newGuarded with host %s = %v, want *addrguard.NotAllowedError", host, err)
		}
	}
	// Refused at dial: "localhost" resolved to nothing when built, as a name rebound after the
	// check would.
	cfg = c.config(strings.Replace(srv.URL, "127.0.0.1", "localhost", 1), conformanceSecret)
	cfg.Type = c.typ
	s, err := newGuarded(context.Background(), cfg, unresolvable(defaultGuard()))
	if err != nil {
		t.Fatalf("newGuarded with a name that does not resolve yet: %v", err)
	}
	err = s.Send(context.Background(), Batch{Report: testReport, Results: []report.Result{fullResult()}})
	var na *addrguard.NotAllowedError
	if !errors.As(err, &na) || IsRetryable(err) || strings.Contains(err.Error(), conformanceSecret) {
		t.Errorf("Send: want a permanent *addrguard.NotAllowedError without the secret, got %#v", err)
	}
	if n := len(hook.requests()); n != 0 {
		t.Errorf("the loopback server got %d requests", n)
	}
}

// ---------------------------------------------------------------------------------------------
// Helpers for the entries.
// ---------------------------------------------------------------------------------------------

// conformanceSortedKeys is a goldenBody: r's JSON body with the keys of every object sorted (as
// encoding/json writes maps), for bodies an SDK serializes with the entries of its maps in
// random order.
func conformanceSortedKeys(t *testing.T, r recorded) []byte {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, firstBytes(r.Body))
	}
	b, err := transport.MarshalJSON(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// conformanceTextError is an error answer with a plain text body, as most webhooks give.
func conformanceTextError(status, retryAfter int, text string) conformanceAnswer {
	a := conformanceAnswer{status: status, header: map[string]string{"Content-Type": "text/plain; charset=utf-8"}, body: text}
	if retryAfter > 0 {
		a.header["Retry-After"] = fmt.Sprint(retryAfter)
	}
	return a
}

// conformanceJSON is v encoded.
func conformanceJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// conformanceJSONPost checks that r is a POST of a JSON body by Policy Herald.
func conformanceJSONPost(t *testing.T, r recorded) {
	t.Helper()
	if r.Method != http.MethodPost {
		t.Errorf("method %s, want POST", r.Method)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if ua := r.Header.Get("User-Agent"); ua != "policy-herald" {
		t.Errorf("User-Agent %q", ua)
	}
	if !json.Valid(r.Body) {
		t.Fatalf("body is not JSON: %s", firstBytes(r.Body))
	}
}

// conformanceStrict decodes body into v, refusing fields v does not know and trailing data.
func conformanceStrict(t *testing.T, body []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("body does not decode strictly into %T: %v\n%s", v, err, firstBytes(body))
	}
	if dec.More() {
		t.Fatalf("trailing data after the document: %s", firstBytes(body))
	}
}
