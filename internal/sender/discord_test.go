package sender

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/destination/descriptor"
	"github.com/policyherald/policy-herald/internal/report"
)

func newDiscordTestSender(t *testing.T, rawURL, tmpl string) *discord {
	t.Helper()
	return newTestSender(t, Config{
		Type:            v1alpha1.DestinationDiscord,
		Destination:     &v1alpha1.Destinations{Discord: &v1alpha1.ChatWebhookDestination{}},
		Settings:        descriptor.Settings{"url": rawURL},
		Name:            "team-a/discord",
		MessageTemplate: tmpl,
	}).(*discord)
}

// discordDecode parses a request body strictly into discordgo's own webhook types: a field
// discordgo does not know is an error.
func discordDecode(t *testing.T, body []byte) discordgo.WebhookParams {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var p discordgo.WebhookParams
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("discordgo cannot parse the body strictly: %v\n%s", err, body)
	}
	return p
}

// discordCheckLimits checks one message against every limit of Discord's the sender promises
// to respect, and returns the titles of its embeds (one per result).
func discordCheckLimits(t *testing.T, p *discordgo.WebhookParams) []string {
	t.Helper()
	if n := len(p.Embeds); n < 1 || n > discordMaxEmbeds {
		t.Errorf("%d embeds, want 1..%d", n, discordMaxEmbeds)
	}
	if n := countUTF16(p.Content); n > discordContentChars {
		t.Errorf("content has %d characters", n)
	}
	if p.AllowedMentions == nil || len(p.AllowedMentions.Parse) != 0 || p.AllowedMentions.Parse == nil {
		t.Errorf("mentions must be turned off: %+v", p.AllowedMentions)
	}
	within := func(what, s string, min, max int) int {
		t.Helper()
		n := countUTF16(s)
		if n < min || n > max {
			t.Errorf("%s has %d characters, want %d..%d", what, n, min, max)
		}
		return n
	}
	var titles []string
	total := 0
	for i, e := range p.Embeds {
		titles = append(titles, e.Title)
		total += within(fmt.Sprintf("embed %d title", i), e.Title, 1, discordTitleChars)
		total += within(fmt.Sprintf("embed %d description", i), e.Description, 0, discordDescriptionChars)
		if e.Color == 0 {
			t.Errorf("embed %d has no colour", i)
		}
		if e.Footer != nil {
			total += within(fmt.Sprintf("embed %d footer", i), e.Footer.Text, 1, discordFooterChars)
		}
		if len(e.Fields) > discordMaxFields {
			t.Errorf("embed %d has %d fields", i, len(e.Fields))
		}
		for j, f := range e.Fields {
			total += within(fmt.Sprintf("embed %d field %d name", i, j), f.Name, 1, discordFieldNameChars)
			total += within(fmt.Sprintf("embed %d field %d value", i, j), f.Value, 1, discordFieldValueChars)
		}
	}
	if total > discordMessageChars {
		t.Errorf("embeds hold %d characters, want at most %d", total, discordMessageChars)
	}
	return titles
}

func TestDiscordGolden(t *testing.T) {
	hook, srv := startHook(t, answerWith(http.StatusNoContent, nil, ""))
	s := newDiscordTestSender(t, srv.URL+"/api/webhooks/123/TOKEN", "")
	if s.MaxBatch() != 10 {
		t.Fatalf("MaxBatch = %d", s.MaxBatch())
	}
	body := sendOneMessage(t, hook, s, slackDiscordBatch()).Body
	checkGolden(t, "discord-batch.json", body, false)

	p := discordDecode(t, body)
	titles := discordCheckLimits(t, &p)
	if want := []string{"FAIL · require-labels / check-app", "WARN · disallow-latest-tag", "PASS · require-ns-owner / owner-label"}; !reflect.DeepEqual(titles, want) {
		t.Errorf("titles %q, want %q", titles, want)
	}
	if p.Content != "3 new policy results in PolicyReport test/rep-1" {
		t.Errorf("content %q", p.Content)
	}
	var colors []int
	for _, e := range p.Embeds {
		colors = append(colors, e.Color)
	}
	if want := []int{0xf2711c, 0xf2c744, 0x68c2ff}; !reflect.DeepEqual(colors, want) {
		t.Errorf("colours %x, want %x", colors, want)
	}
	e := p.Embeds[0]
	if e.Description != "label app is required: <!channel> & <https://evil.example|click>" {
		t.Errorf("description %q", e.Description)
	}
	if e.Footer == nil || e.Footer.Text != "PolicyReport test/rep-1" || e.Timestamp != "2026-08-15T10:00:00Z" {
		t.Errorf("footer %+v timestamp %q", e.Footer, e.Timestamp)
	}
	var fields []string
	for _, f := range e.Fields {
		fields = append(fields, fmt.Sprintf("%s=%s/%v", f.Name, f.Value, f.Inline))
	}
	want := []string{"Policy=require-labels/true", "Rule=check-app/true", "Status=fail/true", "Severity=high/true",
		"Category=Best Practices/true", "Source=kyverno/true", "Kind=Deployment/true", "Name=nginx/true", "Namespace=test/true",
		"cluster=from-result/true", "created=x/true", "Custom fields=cluster: prod-eu\nenv: prod/false"}
	if !reflect.DeepEqual(fields, want) {
		t.Errorf("fields %q\n want %q", fields, want)
	}
}

func TestDiscordConfigErrorsHideSecrets(t *testing.T) {
	const secret = "S3CRETVALUE"
	assertConfigErrors(t, v1alpha1.DestinationDiscord, secret, map[string]Config{
		"no url":        {Settings: descriptor.Settings{}},
		"bad scheme":    {Settings: descriptor.Settings{"url": "ftp://h/" + secret}},
		"unparsable":    {Settings: descriptor.Settings{"url": "http://h/%zz" + secret}},
		"bad header":    {Settings: descriptor.Settings{"url": "http://h/"}, Destination: &v1alpha1.Destinations{Discord: &v1alpha1.ChatWebhookDestination{HTTPSettings: v1alpha1.HTTPSettings{Headers: map[string]string{"X-Key": secret + "\r\n"}}}}},
		"bad template":  {Settings: descriptor.Settings{"url": "http://h/" + secret}, MessageTemplate: "{{ if }}"},
		"unknown field": {Settings: descriptor.Settings{"url": "http://h/" + secret}, MessageTemplate: "{{ .Resource.Nope }}"},
	})
}

func TestDiscordRateLimited(t *testing.T) {
	_, srv := startHook(t, answerWith(http.StatusTooManyRequests, map[string]string{"Retry-After": "3"},
		`{"message": "You are being rate limited.", "retry_after": 2.5, "global": false}`))
	err := newDiscordTestSender(t, srv.URL+"/hook", "").Send(context.Background(), slackDiscordBatch())
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got %T %v", err, err)
	}
	if !e.Retryable || e.RetryAfter != 3*time.Second || e.StatusCode != 429 || e.Sent != 0 {
		t.Fatalf("got %+v", e)
	}
}

func TestDiscordSplitsLargeBatches(t *testing.T) {
	hook, srv := startHook(t, nil)
	results := slackDiscordBigBatch(25)
	b := Batch{Report: testReport, Results: results, CustomFields: map[string]string{"cluster": "prod-eu"}}
	reqs := sendMessages(t, hook, newDiscordTestSender(t, srv.URL, ""), b, 3, len(results))
	var titles []string
	for i, r := range reqs {
		p := discordDecode(t, r.Body)
		titles = append(titles, discordCheckLimits(t, &p)...)
		if want := fmt.Sprintf("(part %d of %d)", i+1, len(reqs)); !strings.HasSuffix(p.Content, want) {
			t.Errorf("message %d content %q, want suffix %q", i, p.Content, want)
		}
		t.Logf("message %d: %d embeds, %d bytes", i+1, len(p.Embeds), len(r.Body))
	}
	assertBigBatchInOrder(t, titles, len(results))

	t.Run("ten short results are one message", func(t *testing.T) {
		hook.reset()
		results := make([]report.Result, discordMaxBatch)
		for i := range results {
			results[i] = fullResult()
		}
		if err := newDiscordTestSender(t, srv.URL, "").Send(context.Background(), Batch{Results: results}); err != nil {
			t.Fatal(err)
		}
		if n := len(hook.requests()); n != 1 {
			t.Fatalf("%d messages, want 1", n)
		}
	})

	t.Run("eleven short results are two messages", func(t *testing.T) {
		hook.reset()
		results := make([]report.Result, discordMaxEmbeds+1)
		for i := range results {
			results[i] = bareResult()
		}
		if err := newDiscordTestSender(t, srv.URL, "").Send(context.Background(), Batch{Results: results}); err != nil {
			t.Fatal(err)
		}
		var sizes []int
		for _, r := range hook.requests() {
			p := discordDecode(t, r.Body)
			sizes = append(sizes, len(discordCheckLimits(t, &p)))
		}
		if !reflect.DeepEqual(sizes, []int{discordMaxEmbeds, 1}) {
			t.Fatalf("results per message %v", sizes)
		}
	})
}

func TestDiscordTruncatesLongTexts(t *testing.T) {
	hook, srv := startHook(t, nil)
	r := fullResult()
	r.Message = strings.Repeat("ü", 9000)
	r.Policy = strings.Repeat("p", 400)
	r.Rule = strings.Repeat("r", 400)
	r.Category = strings.Repeat("c", 2000)
	r.Resource.Name = strings.Repeat("n", 2000)
	r.Properties = map[string]string{strings.Repeat("k", 300): strings.Repeat("v", 3000)}
	b := Batch{Report: ReportRef{Kind: "PolicyReport", Namespace: strings.Repeat("s", 300), Name: strings.Repeat("x", 300)}, Results: []report.Result{r}}
	if err := newDiscordTestSender(t, srv.URL, "").Send(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	p := discordDecode(t, hook.requests()[0].Body)
	discordCheckLimits(t, &p)
	e := p.Embeds[0]
	if countUTF16(e.Title) != discordTitleChars || !strings.HasSuffix(e.Title, "p…") {
		t.Errorf("title has %d characters", countUTF16(e.Title))
	}
	if !strings.HasPrefix(e.Description, "üüü") || !strings.HasSuffix(e.Description, "ü…") {
		t.Errorf("description not cut with an ellipsis")
	}
	if e.Footer == nil || countUTF16(e.Footer.Text) != discordFooterOwnChars || !strings.HasSuffix(e.Footer.Text, "s…") {
		t.Errorf("footer %+v", e.Footer)
	}
	for _, f := range e.Fields {
		if f.Inline && countUTF16(f.Value) > discordInlineChars {
			t.Errorf("long field %s inline", f.Name)
		}
	}

	t.Run("a message too long for the description alone", func(t *testing.T) {
		hook.reset()
		r := fullResult()
		r.Message = strings.Repeat("a", 5000)
		if err := newDiscordTestSender(t, srv.URL, "").Send(context.Background(), Batch{Results: []report.Result{r}}); err != nil {
			t.Fatal(err)
		}
		p := discordDecode(t, hook.requests()[0].Body)
		discordCheckLimits(t, &p)
		if d := p.Embeds[0].Description; countUTF16(d) != discordDescriptionChars || !strings.HasSuffix(d, "a…") {
			t.Errorf("description has %d characters", countUTF16(d))
		}
	})

	t.Run("many properties become one field", func(t *testing.T) {
		hook.reset()
		r := fullResult()
		r.Properties = map[string]string{}
		for i := 0; i < 40; i++ {
			r.Properties[fmt.Sprintf("p%02d", i)] = "v"
		}
		b := Batch{Results: []report.Result{r}, CustomFields: map[string]string{"cluster": "prod-eu"}}
		if err := newDiscordTestSender(t, srv.URL, "").Send(context.Background(), b); err != nil {
			t.Fatal(err)
		}
		p := discordDecode(t, hook.requests()[0].Body)
		discordCheckLimits(t, &p)
		fields := p.Embeds[0].Fields
		props, custom := fields[len(fields)-2], fields[len(fields)-1]
		if props.Name != "Properties" || !strings.HasPrefix(props.Value, "p00: v\np01: v\n") || custom.Name != "Custom fields" || custom.Value != "cluster: prod-eu" {
			t.Errorf("got %+v and %+v", props, custom)
		}
	})
}

func TestDiscordFailureOnLaterMessageReportsSent(t *testing.T) {
	hook, srv := startHook(t, func(n int) (int, map[string]string, string) {
		if n == 2 {
			return http.StatusBadGateway, nil, ""
		}
		return http.StatusNoContent, nil, ""
	})
	err := newDiscordTestSender(t, srv.URL+"/api/webhooks/1/SECRETTOKEN", "").
		Send(context.Background(), Batch{Report: testReport, Results: slackDiscordBigBatch(25)})
	assertStoppedAtSecondMessage(t, hook, err, http.StatusBadGateway, "SECRETTOKEN",
		func(body []byte) int { return len(discordDecode(t, body).Embeds) })
}

func TestDiscordMessageTemplate(t *testing.T) {
	hook, srv := startHook(t, nil)
	tmpl := "**{{ .Policy }}** on {{ .Resource.Kind }} `{{ .Resource.Name }}`: {{ .Message }} ({{ .CustomFields.cluster }})"
	r := fullResult()
	b := Batch{Report: testReport, Results: []report.Result{r, bareResult()}, CustomFields: map[string]string{"cluster": "prod-eu"}}
	if err := newDiscordTestSender(t, srv.URL, tmpl).Send(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	p := discordDecode(t, hook.requests()[0].Body)
	discordCheckLimits(t, &p)
	if got, want := p.Embeds[0].Description, "**require-labels** on Deployment `nginx`: label app is required (prod-eu)"; got != want {
		t.Errorf("description %q, want %q", got, want)
	}
	if p.Embeds[0].Title != "FAIL · require-labels / check-app" || len(p.Embeds[0].Fields) == 0 {
		t.Errorf("title and fields are kept with a template: %+v", p.Embeds[0])
	}
	if d := p.Embeds[1].Description; !strings.HasPrefix(d, "*messageTemplate: ") || !strings.HasSuffix(d, "*\nm2") {
		t.Errorf("a template failing on one result should fall back to the message with the error, got %q", d)
	}
}
