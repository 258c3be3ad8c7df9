package sender

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	slackapi "github.com/slack-go/slack"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/destination/descriptor"
	"github.com/policyherald/policy-herald/internal/report"
)

func newSlackTestSender(t *testing.T, rawURL string, settings descriptor.Settings, sd *v1alpha1.SlackDestination, tmpl string) *slack {
	t.Helper()
	if settings == nil {
		settings = descriptor.Settings{}
	}
	settings["url"] = rawURL
	if sd == nil {
		sd = &v1alpha1.SlackDestination{}
	}
	return newTestSender(t, Config{
		Type:            v1alpha1.DestinationSlack,
		Destination:     &v1alpha1.Destinations{Slack: sd},
		Settings:        settings,
		Name:            "team-a/slack",
		MessageTemplate: tmpl,
	}).(*slack)
}

// slackDecode parses a request body with slack-go's own types, and checks that they hold all
// of it: re-encoded, it must be the same JSON, so no field is unknown to Slack's Go client.
func slackDecode(t *testing.T, body []byte) slackapi.WebhookMessage {
	t.Helper()
	var msg slackapi.WebhookMessage
	if err := json.Unmarshal(body, &msg); err != nil {
		t.Fatalf("slack-go cannot parse the body: %v\n%s", err, body)
	}
	again, err := json.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	var sent, parsed map[string]any
	_ = json.Unmarshal(body, &sent)
	_ = json.Unmarshal(again, &parsed)
	for _, k := range []string{"replace_original", "delete_original"} { // not omitempty in slack-go
		if parsed[k] == false {
			delete(parsed, k)
		}
	}
	if !reflect.DeepEqual(sent, parsed) {
		t.Fatalf("slack-go does not know every field of the body:\n sent: %s\nslack-go: %s", body, again)
	}
	return msg
}

// slackBlockTexts are the texts of a block: its kind, its text, its fields or context elements.
type slackBlockTexts struct {
	kind   string
	text   string
	fields []string
}

func slackBlockOf(t *testing.T, b slackapi.Block) slackBlockTexts {
	t.Helper()
	switch b := b.(type) {
	case *slackapi.HeaderBlock:
		return slackBlockTexts{kind: "header", text: b.Text.Text}
	case *slackapi.SectionBlock:
		out := slackBlockTexts{kind: "section"}
		if b.Text != nil {
			out.text = b.Text.Text
		}
		for _, f := range b.Fields {
			out.fields = append(out.fields, f.Text)
		}
		return out
	case *slackapi.ContextBlock:
		out := slackBlockTexts{kind: "context"}
		for _, e := range b.ContextElements.Elements {
			tb, ok := e.(*slackapi.TextBlockObject)
			if !ok {
				t.Fatalf("context element %T", e)
			}
			out.fields = append(out.fields, tb.Text)
		}
		return out
	}
	t.Fatalf("unexpected block %T", b)
	return slackBlockTexts{}
}

// slackCheckLimits checks one message against every limit of Slack's the sender promises to
// respect, and returns the header texts of its attachments (one per result).
func slackCheckLimits(t *testing.T, msg slackapi.WebhookMessage) []string {
	t.Helper()
	if msg.Text == "" || countUTF16(msg.Text) > slackTextChars {
		t.Errorf("text has %d characters, want 1..%d", countUTF16(msg.Text), slackTextChars)
	}
	if n := len(msg.Attachments); n < 1 || n > slackMaxAttachments {
		t.Errorf("%d attachments, want 1..%d", n, slackMaxAttachments)
	}
	var all []slackapi.Block
	if msg.Blocks != nil {
		all = append(all, msg.Blocks.BlockSet...)
	}
	var headers []string
	for _, a := range msg.Attachments {
		if a.Color == "" {
			t.Error("attachment without colour")
		}
		if len(a.Blocks.BlockSet) == 0 {
			t.Fatal("attachment without blocks")
		}
		if h, ok := a.Blocks.BlockSet[0].(*slackapi.HeaderBlock); !ok {
			t.Errorf("attachment starts with %T, want a header", a.Blocks.BlockSet[0])
		} else {
			headers = append(headers, h.Text.Text)
		}
		all = append(all, a.Blocks.BlockSet...)
	}
	if len(all) > slackMaxBlocks {
		t.Errorf("%d blocks, want at most %d", len(all), slackMaxBlocks)
	}
	total := 0
	check := func(what string, tb *slackapi.TextBlockObject, typ string, max int) {
		t.Helper()
		if tb == nil {
			t.Errorf("%s: no text", what)
			return
		}
		if err := tb.Validate(); err != nil {
			t.Errorf("%s: slack-go says %v", what, err)
		}
		if tb.Type != typ {
			t.Errorf("%s: type %s, want %s", what, tb.Type, typ)
		}
		if n := countUTF16(tb.Text); n < 1 || n > max {
			t.Errorf("%s: %d characters, want 1..%d", what, n, max)
		}
		total += countUTF16(tb.Text)
	}
	for i, b := range all {
		switch b := b.(type) {
		case *slackapi.HeaderBlock:
			check(fmt.Sprintf("block %d header", i), b.Text, "plain_text", slackHeaderChars)
		case *slackapi.SectionBlock:
			if b.Text == nil && len(b.Fields) == 0 {
				t.Errorf("block %d: section without text or fields", i)
			}
			if b.Text != nil {
				check(fmt.Sprintf("block %d section text", i), b.Text, "mrkdwn", slackSectionChars)
			}
			if len(b.Fields) > slackMaxFields {
				t.Errorf("block %d: %d fields", i, len(b.Fields))
			}
			for j, f := range b.Fields {
				check(fmt.Sprintf("block %d field %d", i, j), f, "mrkdwn", slackFieldChars)
			}
		case *slackapi.ContextBlock:
			if n := len(b.ContextElements.Elements); n < 1 || n > slackContextElements {
				t.Errorf("block %d: %d context elements", i, n)
			}
			for j, e := range b.ContextElements.Elements {
				tb, _ := e.(*slackapi.TextBlockObject)
				check(fmt.Sprintf("block %d element %d", i, j), tb, "mrkdwn", slackSectionChars)
			}
		default:
			t.Errorf("block %d: unexpected %T", i, b)
		}
	}
	if total > slackBlockChars {
		t.Errorf("blocks hold %d characters, want at most %d", total, slackBlockChars)
	}
	return headers
}

func TestSlackGolden(t *testing.T) {
	hook, srv := startHook(t, nil)
	s := newSlackTestSender(t, srv.URL+"/services/T000/B000/XXXXXXXXXXXX", nil,
		&v1alpha1.SlackDestination{Channel: "#policy"}, "")
	if s.MaxBatch() != 20 {
		t.Fatalf("MaxBatch = %d", s.MaxBatch())
	}
	sent := sendOneMessage(t, hook, s, slackDiscordBatch()).Body
	checkGolden(t, "slack-batch.json", sent, false)

	msg := slackDecode(t, sent)
	headers := slackCheckLimits(t, msg)
	if msg.Channel != "#policy" {
		t.Errorf("channel %q", msg.Channel)
	}
	if want := []string{"FAIL · require-labels / check-app", "WARN · disallow-latest-tag", "PASS · require-ns-owner / owner-label"}; !reflect.DeepEqual(headers, want) {
		t.Errorf("headers %q, want %q", headers, want)
	}
	var colors []string
	for _, a := range msg.Attachments {
		colors = append(colors, a.Color)
	}
	if want := []string{"#f2711c", "#f2c744", "#68c2ff"}; !reflect.DeepEqual(colors, want) {
		t.Errorf("colours %v, want %v", colors, want)
	}
	top := msg.Blocks.BlockSet
	if len(top) != 2 {
		t.Fatalf("%d top-level blocks, want summary and custom fields", len(top))
	}
	if got := slackBlockOf(t, top[0]); got.kind != "section" || got.text != "*3 new policy results* in PolicyReport test/rep-1" {
		t.Errorf("summary %+v", got)
	}
	if got := slackBlockOf(t, top[1]); got.kind != "context" || !reflect.DeepEqual(got.fields, []string{"*cluster*: prod-eu · *env*: prod"}) {
		t.Errorf("custom fields %+v", got)
	}
	first := msg.Attachments[0].Blocks.BlockSet
	if len(first) != 2 {
		t.Fatalf("first result has %d blocks", len(first))
	}
	body := slackBlockOf(t, first[1])
	wantText := "label app is required: &lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;\n\n*Properties*\n• *cluster*: from-result\n• *created*: x"
	if body.kind != "section" || body.text != wantText {
		t.Errorf("first result's text %q\n want %q", body.text, wantText)
	}
	wantFields := []string{"*Status*\nfail", "*Severity*\nhigh", "*Category*\nBest Practices", "*Source*\nkyverno",
		"*Kind*\nDeployment", "*Name*\nnginx", "*Namespace*\ntest"}
	if !reflect.DeepEqual(body.fields, wantFields) {
		t.Errorf("first result's fields %q\n want %q", body.fields, wantFields)
	}
	if !strings.HasPrefix(msg.Text, "3 new policy results in PolicyReport test/rep-1\n• FAIL · require-labels / check-app — Deployment test/nginx [high]\n") {
		t.Errorf("notification text %q", msg.Text)
	}
}

// The url and headers are tested for every HTTP destination in sender_test.go.
func TestSlackChannel(t *testing.T) {
	hook, srv := startHook(t, nil)
	b := Batch{Report: testReport, Results: []report.Result{bareResult()}}
	inline := &v1alpha1.SlackDestination{Channel: "#inline"}
	for _, c := range []struct {
		name     string
		settings descriptor.Settings
		inline   *v1alpha1.SlackDestination
		channel  string // "" when the message must have none
	}{
		{"inline channel", nil, inline, "#inline"},
		{"secret channel wins", descriptor.Settings{"channel": "#from-secret"}, inline, "#from-secret"},
		{"no channel", nil, nil, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			hook.reset()
			s := newSlackTestSender(t, srv.URL, c.settings, c.inline, "")
			if err := s.Send(context.Background(), b); err != nil {
				t.Fatalf("Send: %v", err)
			}
			body := hook.requests()[0].Body
			if msg := slackDecode(t, body); msg.Channel != c.channel {
				t.Errorf("channel %q, want %q", msg.Channel, c.channel)
			}
			var raw map[string]json.RawMessage
			_ = json.Unmarshal(body, &raw)
			if _, ok := raw["channel"]; ok != (c.channel != "") {
				t.Errorf("channel sent: %v, want %v: %s", ok, c.channel != "", body)
			}
		})
	}
}

func TestSlackConfigErrorsHideSecrets(t *testing.T) {
	const secret = "S3CRETVALUE"
	assertConfigErrors(t, v1alpha1.DestinationSlack, secret, map[string]Config{
		"no url":         {Settings: descriptor.Settings{}},
		"bad scheme":     {Settings: descriptor.Settings{"url": "ftp://h/" + secret}},
		"unparsable":     {Settings: descriptor.Settings{"url": "http://h/%zz" + secret}},
		"bad header":     {Settings: descriptor.Settings{"url": "http://h/"}, Destination: &v1alpha1.Destinations{Slack: &v1alpha1.SlackDestination{HTTPSettings: v1alpha1.HTTPSettings{Headers: map[string]string{"X-Key": secret + "\n"}}}}},
		"bad template":   {Settings: descriptor.Settings{"url": "http://h/" + secret}, MessageTemplate: "{{ .Policy "},
		"unknown field":  {Settings: descriptor.Settings{"url": "http://h/" + secret}, MessageTemplate: "{{ .Nope }}"},
		"inline url bad": {Destination: &v1alpha1.Destinations{Slack: &v1alpha1.SlackDestination{HTTPSettings: v1alpha1.HTTPSettings{URL: "mailto:" + secret}}}},
	})
}

func TestSlackSplitsLargeBatches(t *testing.T) {
	t.Run("a full batch of short results is one message", func(t *testing.T) {
		hook, srv := startHook(t, nil)
		results := make([]report.Result, slackMaxBatch)
		for i := range results {
			results[i] = fullResult()
			results[i].Policy = fmt.Sprintf("policy-%d", i)
		}
		b := Batch{Report: testReport, Results: results, CustomFields: map[string]string{"cluster": "prod-eu"}}
		if err := newSlackTestSender(t, srv.URL, nil, nil, "").Send(context.Background(), b); err != nil {
			t.Fatal(err)
		}
		reqs := hook.requests()
		if len(reqs) != 1 {
			t.Fatalf("%d messages, want 1", len(reqs))
		}
		if got := slackCheckLimits(t, slackDecode(t, reqs[0].Body)); len(got) != slackMaxBatch {
			t.Fatalf("%d results in the message", len(got))
		}
	})

	t.Run("one result more than fits is a second message", func(t *testing.T) {
		hook, srv := startHook(t, nil)
		results := make([]report.Result, slackMaxAttachments+1)
		for i := range results {
			results[i] = bareResult()
		}
		if err := newSlackTestSender(t, srv.URL, nil, nil, "").Send(context.Background(), Batch{Results: results}); err != nil {
			t.Fatal(err)
		}
		var sizes []int
		for _, r := range hook.requests() {
			sizes = append(sizes, len(slackCheckLimits(t, slackDecode(t, r.Body))))
		}
		if !reflect.DeepEqual(sizes, []int{slackMaxAttachments, 1}) {
			t.Fatalf("results per message %v", sizes)
		}
	})

	t.Run("a large batch is split between results, in order, each message within limits", func(t *testing.T) {
		hook, srv := startHook(t, nil)
		results := slackDiscordBigBatch(45)
		b := Batch{Report: testReport, Results: results, CustomFields: map[string]string{"cluster": strings.Repeat("c", 3000)}}
		reqs := sendMessages(t, hook, newSlackTestSender(t, srv.URL, nil, nil, ""), b, 3, len(results))
		var headers []string
		for i, r := range reqs {
			msg := slackDecode(t, r.Body)
			headers = append(headers, slackCheckLimits(t, msg)...)
			summary := slackBlockOf(t, msg.Blocks.BlockSet[0]).text
			if want := fmt.Sprintf("(part %d of %d)", i+1, len(reqs)); !strings.HasSuffix(summary, want) {
				t.Errorf("message %d summary %q, want suffix %q", i, summary, want)
			}
			if ctx := slackBlockOf(t, msg.Blocks.BlockSet[1]); countUTF16(ctx.fields[0]) != slackCustomChars || !strings.HasSuffix(ctx.fields[0], "…") {
				t.Errorf("custom fields not cut: %d characters", countUTF16(ctx.fields[0]))
			}
			t.Logf("message %d: %d results, %d bytes", i+1, len(msg.Attachments), len(r.Body))
		}
		assertBigBatchInOrder(t, headers, len(results))
	})
}

func TestSlackTruncatesLongTexts(t *testing.T) {
	hook, srv := startHook(t, nil)
	r := fullResult()
	r.Message = strings.Repeat("é&", 3000) // escapes to 6 characters a pair: the cut must not split "&amp;"
	r.Policy = strings.Repeat("p", 300)
	r.Resource.Name = strings.Repeat("n", 2500)
	r.Properties = map[string]string{"big": strings.Repeat("v", 5000)}
	if err := newSlackTestSender(t, srv.URL, nil, nil, "").Send(context.Background(), Batch{Results: []report.Result{r}}); err != nil {
		t.Fatal(err)
	}
	msg := slackDecode(t, hook.requests()[0].Body)
	headers := slackCheckLimits(t, msg)
	if len(headers) != 1 || countUTF16(headers[0]) != slackHeaderChars || !strings.HasSuffix(headers[0], "p…") {
		t.Errorf("header %q", headers)
	}
	section := slackBlockOf(t, msg.Attachments[0].Blocks.BlockSet[1])
	msgPart, props, ok := strings.Cut(section.text, "\n\n*Properties*\n")
	if !ok {
		t.Fatalf("properties missing from %q", section.text)
	}
	if !strings.HasPrefix(msgPart, "é&amp;é&amp;") || !strings.HasSuffix(msgPart, "é…") {
		t.Errorf("message cut wrong: ...%q", msgPart[len(msgPart)-20:])
	}
	if n := countUTF16(section.text); n > slackSectionChars || n < slackSectionChars-6 {
		t.Errorf("section text has %d characters, want just under %d", n, slackSectionChars)
	}
	if !strings.HasPrefix(props, "• *big*: vvv") || !strings.HasSuffix(props, "v…") {
		t.Errorf("properties %q...", props[:20])
	}
	for _, f := range section.fields {
		if strings.HasPrefix(f, "*Name*\n") && (countUTF16(f) != len("*Name*\n")+slackValueChars || !strings.HasSuffix(f, "n…")) {
			t.Errorf("name field has %d characters", countUTF16(f))
		}
	}
}

func TestSlackCut(t *testing.T) {
	cases := []struct {
		in   string
		max  int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"abcdefghijk", 10, "abcdefghi…"},
		{"abcdefg&amp;xyz", 10, "abcdefg…"}, // "&am" would be left
		{"abcd&amp;xyz", 10, "abcd&amp;…"},  // the whole entity fits
		{"abcdefgh   xyz", 10, "abcdefgh…"}, // no space before the render.Ellipsis
		{"😀😀😀😀😀😀", 10, "😀😀😀😀…"},             // two UTF-16 units each
		{"a&lt;b", 3, "a…"},
	}
	for _, c := range cases {
		if got := slackCut(c.in, c.max); got != c.want {
			t.Errorf("slackCut(%q, %d) = %q, want %q", c.in, c.max, got, c.want)
		}
	}
}

func TestSlackFailureOnLaterMessageReportsSent(t *testing.T) {
	hook, srv := startHook(t, func(n int) (int, map[string]string, string) {
		if n == 2 {
			return http.StatusInternalServerError, nil, "oops"
		}
		return http.StatusOK, nil, "ok"
	})
	err := newSlackTestSender(t, srv.URL+"/services/T1/B1/SECRETPATH", nil, nil, "").
		Send(context.Background(), Batch{Report: testReport, Results: slackDiscordBigBatch(40)})
	assertStoppedAtSecondMessage(t, hook, err, http.StatusInternalServerError, "SECRETPATH",
		func(body []byte) int { return len(slackDecode(t, body).Attachments) })
}

func TestSlackMessageTemplate(t *testing.T) {
	hook, srv := startHook(t, nil)
	tmpl := "*{{ .Policy }}* on `{{ .Resource.Kind }} {{ .Resource.Name }}`: {{ .Message }} <https://docs.example/{{ .Policy }}|docs> ({{ .CustomFields.cluster }})"
	s := newSlackTestSender(t, srv.URL, nil, nil, tmpl)
	r := fullResult()
	r.Message = "no <!here> & no <@U123>"
	noResource := bareResult() // .Resource.Kind fails on a result without resource
	b := Batch{Report: testReport, Results: []report.Result{r, noResource}, CustomFields: map[string]string{"cluster": "prod-eu"}}
	if err := s.Send(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	msg := slackDecode(t, hook.requests()[0].Body)
	headers := slackCheckLimits(t, msg)
	if want := []string{"FAIL · require-labels / check-app", "WARN · p2"}; !reflect.DeepEqual(headers, want) {
		t.Errorf("headers %q, want %q (kept with a template)", headers, want)
	}
	got := slackBlockOf(t, msg.Attachments[0].Blocks.BlockSet[1])
	want := "*require-labels* on `Deployment nginx`: no &lt;!here&gt; &amp; no &lt;@U123&gt; <https://docs.example/require-labels|docs> (prod-eu)"
	if got.text != want || len(got.fields) != 0 {
		t.Errorf("rendered %+v\n want text %q and no fields", got, want)
	}
	failed := slackBlockOf(t, msg.Attachments[1].Blocks.BlockSet[1])
	if !strings.HasPrefix(failed.text, "_messageTemplate: ") || !strings.HasSuffix(failed.text, "_\nm2") {
		t.Errorf("a template failing on one result should fall back to the default text with the error, got %q", failed.text)
	}
}

func TestSlackEmptyBatchSendsNothing(t *testing.T) {
	hook, srv := startHook(t, nil)
	if err := newSlackTestSender(t, srv.URL, nil, nil, "").Send(context.Background(), Batch{}); err != nil || len(hook.requests()) != 0 {
		t.Fatalf("err=%v requests=%d", err, len(hook.requests()))
	}
}
