package sender

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	slackapi "github.com/slack-go/slack"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/destination"
	"github.com/policyherald/policy-herald/internal/report"
)

// The golden files of the Slack and Discord senders are rewritten with
// `go test ./internal/sender -run Golden -update`. The flag is registered here unless another
// test file of the package already did.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite the golden files under testdata/golden")
	}
}

func slackDiscordUpdate() bool {
	f := flag.Lookup("update")
	if f == nil {
		return false
	}
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return false
	}
	v, _ := g.Get().(bool)
	return v
}

// slackDiscordGolden compares body, indented, with testdata/golden/name (or rewrites it).
func slackDiscordGolden(t *testing.T, name string, body []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, body, "", "  "); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, body)
	}
	buf.WriteByte('\n')
	path := filepath.Join("testdata", "golden", name)
	if slackDiscordUpdate() {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/sender -run Golden -update to create it)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("body differs from %s (run with -update to accept):\n got: %s\nwant: %s", path, buf.Bytes(), want)
	}
}

// slackDiscordHook is a chat webhook: it records requests and answers request n (from 1) as
// answer says, 200 when answer is nil.
type slackDiscordHook struct {
	mu     sync.Mutex
	reqs   []recorded
	answer func(n int) (status int, headers map[string]string, body string)
}

func (h *slackDiscordHook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.reqs = append(h.reqs, recorded{Method: r.Method, RequestURI: r.RequestURI, Host: r.Host, Header: r.Header.Clone(), Body: body, At: time.Now()})
	n, answer := len(h.reqs), h.answer
	h.mu.Unlock()
	status, headers, respBody := http.StatusOK, map[string]string(nil), "ok"
	if answer != nil {
		status, headers, respBody = answer(n)
	}
	for k, v := range headers {
		w.Header().Set(k, v)
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, respBody)
}

func (h *slackDiscordHook) requests() []recorded {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]recorded(nil), h.reqs...)
}

// slackDiscordLen is the length of s in UTF-16 code units, which is never less than its count of
// code points: checking it is the stricter reading of "characters".
func slackDiscordLen(s string) int { return len(utf16.Encode([]rune(s))) }

// slackDiscordReport is the report of the test batches.
var slackDiscordReport = ReportRef{Kind: "PolicyReport", Namespace: "test", Name: "rep-1"}

// slackDiscordBatch is a representative batch: a failing result with everything, including
// text that must not turn into a mention or a link; a warning without rule or resource; a
// passing result of a cluster-scoped object.
func slackDiscordBatch() Batch {
	full := fullResult()
	full.Message = "label app is required: <!channel> & <https://evil.example|click>"
	warn := report.Result{
		ID: "r2", Policy: "disallow-latest-tag", Message: "image tag latest is not allowed", Source: "kyverno",
		Status: v1alpha1.StatusWarn, Severity: v1alpha1.SeverityMedium, Category: "Best Practices",
	}
	pass := report.Result{
		ID: "r3", Policy: "require-ns-owner", Rule: "owner-label", Source: "kyverno", Status: v1alpha1.StatusPass,
		Severity: v1alpha1.SeverityInfo, Message: "validation rule 'owner-label' passed.",
		Resource: &report.Resource{APIVersion: "v1", Kind: "Namespace", Name: "team-a"},
	}
	return Batch{
		Report:       slackDiscordReport,
		Results:      []report.Result{full, warn, pass},
		CustomFields: map[string]string{"cluster": "prod-eu", "env": "prod"},
	}
}

// slackDiscordBigBatch is n results of varied size, each named policy-<i>.
func slackDiscordBigBatch(n int) []report.Result {
	out := make([]report.Result, n)
	sevs := []v1alpha1.Severity{"", v1alpha1.SeverityInfo, v1alpha1.SeverityLow, v1alpha1.SeverityMedium, v1alpha1.SeverityHigh, v1alpha1.SeverityCritical}
	for i := range out {
		r := fullResult()
		r.ID = fmt.Sprintf("r%d", i)
		r.Policy = fmt.Sprintf("policy-%d", i)
		r.Severity = sevs[i%len(sevs)]
		switch i % 4 {
		case 1: // long message
			r.Message = strings.Repeat("word & <x> ", 250+i*7)
		case 2: // many properties
			r.Properties = map[string]string{}
			for p := 0; p < 30; p++ {
				r.Properties[fmt.Sprintf("prop-%02d", p)] = strings.Repeat("v", 20+p)
			}
		case 3: // long names
			r.Resource.Name = strings.Repeat("n", 253)
			r.Rule = strings.Repeat("rule-", 60)
		}
		out[i] = r
	}
	return out
}

func newSlackTestSender(t *testing.T, rawURL string, settings destination.Settings, sd *v1alpha1.SlackDestination, tlsCfg *tls.Config, tmpl string) *slackSender {
	t.Helper()
	if settings == nil {
		settings = destination.Settings{}
	}
	if rawURL != "" {
		settings["url"] = rawURL
	}
	if sd == nil {
		sd = &v1alpha1.SlackDestination{}
	}
	s, err := New(Config{
		Type:            v1alpha1.DestinationSlack,
		Destination:     &v1alpha1.Destinations{Slack: sd},
		Settings:        settings,
		TLS:             tlsCfg,
		Name:            "team-a/slack",
		MessageTemplate: tmpl,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s.(*slackSender)
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
	if msg.Text == "" || slackDiscordLen(msg.Text) > slackTextChars {
		t.Errorf("text has %d characters, want 1..%d", slackDiscordLen(msg.Text), slackTextChars)
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
		if n := slackDiscordLen(tb.Text); n < 1 || n > max {
			t.Errorf("%s: %d characters, want 1..%d", what, n, max)
		}
		total += slackDiscordLen(tb.Text)
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
	hook := &slackDiscordHook{}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	s := newSlackTestSender(t, srv.URL+"/services/T000/B000/XXXXXXXXXXXX", nil,
		&v1alpha1.SlackDestination{Channel: "#policy"}, nil, "")
	if s.MaxBatch() != 20 {
		t.Fatalf("MaxBatch = %d", s.MaxBatch())
	}
	if err := s.Send(context.Background(), slackDiscordBatch()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	reqs := hook.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1 message for the batch", len(reqs))
	}
	slackDiscordGolden(t, "slack-batch.json", reqs[0].Body)

	msg := slackDecode(t, reqs[0].Body)
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

func TestSlackSettingsHeadersAndChannel(t *testing.T) {
	hook := &slackDiscordHook{}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	b := Batch{Report: slackDiscordReport, Results: []report.Result{bareResult()}}
	inline := &v1alpha1.SlackDestination{
		HTTPSettings: v1alpha1.HTTPSettings{URL: srv.URL + "/inline", Headers: map[string]string{
			"x-env": "prod", "Authorization": "Bearer abc", "Content-Type": "text/plain",
		}},
		Channel: "#inline",
	}
	cases := []struct {
		name          string
		settings      destination.Settings
		path, channel string
	}{
		{"inline url and channel", nil, "/inline", "#inline"},
		{"secret url and channel win", destination.Settings{"url": srv.URL + "/secret", "channel": "#from-secret"}, "/secret", "#from-secret"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hook.reqs = nil
			s := newSlackTestSender(t, "", c.settings, inline, nil, "")
			if err := s.Send(context.Background(), b); err != nil {
				t.Fatalf("Send: %v", err)
			}
			r := hook.requests()[0]
			if r.Method != http.MethodPost || r.RequestURI != c.path {
				t.Errorf("request %s %s", r.Method, r.RequestURI)
			}
			for k, v := range map[string]string{"X-Env": "prod", "Authorization": "Bearer abc", "Content-Type": "application/json", "User-Agent": "policy-herald"} {
				if got := r.Header.Values(k); len(got) != 1 || got[0] != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			if msg := slackDecode(t, r.Body); msg.Channel != c.channel {
				t.Errorf("channel %q, want %q", msg.Channel, c.channel)
			}
		})
	}

	t.Run("no channel", func(t *testing.T) {
		hook.reqs = nil
		s := newSlackTestSender(t, srv.URL, nil, nil, nil, "")
		if err := s.Send(context.Background(), b); err != nil {
			t.Fatal(err)
		}
		var raw map[string]json.RawMessage
		_ = json.Unmarshal(hook.requests()[0].Body, &raw)
		if _, ok := raw["channel"]; ok {
			t.Errorf("channel sent without one configured: %s", hook.requests()[0].Body)
		}
	})
}

func TestSlackConfigErrorsHideSecrets(t *testing.T) {
	const secret = "S3CRETVALUE"
	cases := map[string]Config{
		"no url":         {Settings: destination.Settings{}},
		"bad scheme":     {Settings: destination.Settings{"url": "ftp://h/" + secret}},
		"unparsable":     {Settings: destination.Settings{"url": "http://h/%zz" + secret}},
		"bad header":     {Settings: destination.Settings{"url": "http://h/"}, Destination: &v1alpha1.Destinations{Slack: &v1alpha1.SlackDestination{HTTPSettings: v1alpha1.HTTPSettings{Headers: map[string]string{"X-Key": secret + "\n"}}}}},
		"bad template":   {Settings: destination.Settings{"url": "http://h/" + secret}, MessageTemplate: "{{ .Policy "},
		"unknown field":  {Settings: destination.Settings{"url": "http://h/" + secret}, MessageTemplate: "{{ .Nope }}"},
		"inline url bad": {Destination: &v1alpha1.Destinations{Slack: &v1alpha1.SlackDestination{HTTPSettings: v1alpha1.HTTPSettings{URL: "mailto:" + secret}}}},
	}
	for name, cfg := range cases {
		t.Run(name, func(t *testing.T) {
			cfg.Type = v1alpha1.DestinationSlack
			if cfg.Destination == nil {
				cfg.Destination = &v1alpha1.Destinations{Slack: &v1alpha1.SlackDestination{}}
			}
			_, err := New(cfg)
			if err == nil {
				t.Fatal("want an error")
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("error leaks the secret: %v", err)
			}
		})
	}
}

func TestSlackTLS(t *testing.T) {
	hook := &slackDiscordHook{}
	srv := newTLSServer(hook)
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	b := Batch{Results: []report.Result{bareResult()}}

	s := newSlackTestSender(t, srv.URL+"/hook", nil, nil, &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}, "")
	if err := s.Send(context.Background(), b); err != nil {
		t.Fatalf("with the CA: %v", err)
	}
	if n := len(hook.requests()); n != 1 {
		t.Fatalf("%d requests", n)
	}
	s = newSlackTestSender(t, srv.URL+"/hook", nil, nil, nil, "")
	err := s.Send(context.Background(), b)
	var e *Error
	if !errors.As(err, &e) || e.Retryable || !strings.Contains(e.Reason, "TLS certificate rejected") {
		t.Fatalf("without the CA: got %#v", err)
	}
}

func TestSlackProxyFromEnvironment(t *testing.T) {
	proxy := &slackDiscordHook{}
	psrv := httptest.NewServer(proxy)
	defer psrv.Close()
	t.Setenv("HTTP_PROXY", psrv.URL)
	t.Setenv("http_proxy", psrv.URL)
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")
	s := newSlackTestSender(t, "http://hooks.slack.invalid/services/x", nil, nil, nil, "")
	if err := s.Send(context.Background(), Batch{Results: []report.Result{bareResult()}}); err != nil {
		t.Fatalf("Send through the proxy: %v", err)
	}
	if reqs := proxy.requests(); len(reqs) != 1 || reqs[0].RequestURI != "http://hooks.slack.invalid/services/x" {
		t.Fatalf("proxy saw %+v", reqs)
	}
}

func TestSlackRateLimited(t *testing.T) {
	hook := &slackDiscordHook{answer: func(int) (int, map[string]string, string) {
		return http.StatusTooManyRequests, map[string]string{"Retry-After": "7"}, "rate_limited"
	}}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	err := newSlackTestSender(t, srv.URL+"/hook", nil, nil, nil, "").Send(context.Background(), slackDiscordBatch())
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got %T %v", err, err)
	}
	if !e.Retryable || e.RetryAfter != 7*time.Second || e.StatusCode != 429 || e.Sent != 0 {
		t.Fatalf("got %+v", e)
	}
	if !IsRetryable(err) || RetryAfter(err) != 7*time.Second {
		t.Fatalf("helpers disagree: %v", err)
	}
}

func TestSlackSplitsLargeBatches(t *testing.T) {
	t.Run("a full batch of short results is one message", func(t *testing.T) {
		hook := &slackDiscordHook{}
		srv := httptest.NewServer(hook)
		defer srv.Close()
		results := make([]report.Result, slackMaxBatch)
		for i := range results {
			results[i] = fullResult()
			results[i].Policy = fmt.Sprintf("policy-%d", i)
		}
		b := Batch{Report: slackDiscordReport, Results: results, CustomFields: map[string]string{"cluster": "prod-eu"}}
		if err := newSlackTestSender(t, srv.URL, nil, nil, nil, "").Send(context.Background(), b); err != nil {
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
		hook := &slackDiscordHook{}
		srv := httptest.NewServer(hook)
		defer srv.Close()
		results := make([]report.Result, slackMaxAttachments+1)
		for i := range results {
			results[i] = bareResult()
		}
		if err := newSlackTestSender(t, srv.URL, nil, nil, nil, "").Send(context.Background(), Batch{Results: results}); err != nil {
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
		hook := &slackDiscordHook{}
		srv := httptest.NewServer(hook)
		defer srv.Close()
		results := slackDiscordBigBatch(45)
		b := Batch{Report: slackDiscordReport, Results: results, CustomFields: map[string]string{"cluster": strings.Repeat("c", 3000)}}
		if err := newSlackTestSender(t, srv.URL, nil, nil, nil, "").Send(context.Background(), b); err != nil {
			t.Fatal(err)
		}
		reqs := hook.requests()
		if len(reqs) < 3 {
			t.Fatalf("%d messages, want at least 3", len(reqs))
		}
		var seen []string
		for i, r := range reqs {
			msg := slackDecode(t, r.Body)
			for _, h := range slackCheckLimits(t, msg) {
				seen = append(seen, strings.SplitN(strings.TrimPrefix(h, "FAIL · "), " ", 2)[0])
			}
			summary := slackBlockOf(t, msg.Blocks.BlockSet[0]).text
			if want := fmt.Sprintf("(part %d of %d)", i+1, len(reqs)); !strings.HasSuffix(summary, want) {
				t.Errorf("message %d summary %q, want suffix %q", i, summary, want)
			}
			if ctx := slackBlockOf(t, msg.Blocks.BlockSet[1]); slackDiscordLen(ctx.fields[0]) != slackCustomChars || !strings.HasSuffix(ctx.fields[0], "…") {
				t.Errorf("custom fields not cut: %d characters", slackDiscordLen(ctx.fields[0]))
			}
			t.Logf("message %d: %d results, %d bytes", i+1, len(msg.Attachments), len(r.Body))
		}
		var want []string
		for i := range results {
			want = append(want, fmt.Sprintf("policy-%d", i))
		}
		if !reflect.DeepEqual(seen, want) {
			t.Errorf("results delivered %v\n want %v", seen, want)
		}
	})
}

func TestSlackTruncatesLongTexts(t *testing.T) {
	hook := &slackDiscordHook{}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	r := fullResult()
	r.Message = strings.Repeat("é&", 3000) // escapes to 6 characters a pair: the cut must not split "&amp;"
	r.Policy = strings.Repeat("p", 300)
	r.Resource.Name = strings.Repeat("n", 2500)
	r.Properties = map[string]string{"big": strings.Repeat("v", 5000)}
	if err := newSlackTestSender(t, srv.URL, nil, nil, nil, "").Send(context.Background(), Batch{Results: []report.Result{r}}); err != nil {
		t.Fatal(err)
	}
	msg := slackDecode(t, hook.requests()[0].Body)
	headers := slackCheckLimits(t, msg)
	if len(headers) != 1 || slackDiscordLen(headers[0]) != slackHeaderChars || !strings.HasSuffix(headers[0], "p…") {
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
	if n := slackDiscordLen(section.text); n > slackSectionChars || n < slackSectionChars-6 {
		t.Errorf("section text has %d characters, want just under %d", n, slackSectionChars)
	}
	if !strings.HasPrefix(props, "• *big*: vvv") || !strings.HasSuffix(props, "v…") {
		t.Errorf("properties %q...", props[:20])
	}
	for _, f := range section.fields {
		if strings.HasPrefix(f, "*Name*\n") && (slackDiscordLen(f) != len("*Name*\n")+slackValueChars || !strings.HasSuffix(f, "n…")) {
			t.Errorf("name field has %d characters", slackDiscordLen(f))
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
		{"abcdefgh   xyz", 10, "abcdefgh…"}, // no space before the ellipsis
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
	hook := &slackDiscordHook{answer: func(n int) (int, map[string]string, string) {
		if n == 2 {
			return http.StatusInternalServerError, nil, "oops"
		}
		return http.StatusOK, nil, "ok"
	}}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	err := newSlackTestSender(t, srv.URL+"/services/T1/B1/SECRETPATH", nil, nil, nil, "").
		Send(context.Background(), Batch{Report: slackDiscordReport, Results: slackDiscordBigBatch(40)})
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got %T %v", err, err)
	}
	reqs := hook.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want the sender to stop at the failed 2nd message", len(reqs))
	}
	first := slackDecode(t, reqs[0].Body)
	if e.Sent != len(first.Attachments) || e.Sent == 0 || !e.Retryable || e.StatusCode != 500 {
		t.Fatalf("got %+v, want Sent=%d", e, len(first.Attachments))
	}
	if !strings.Contains(e.Reason, "(message 2 of ") || strings.Contains(e.Reason, "SECRETPATH") {
		t.Errorf("reason %q", e.Reason)
	}
}

func TestSlackMessageTemplate(t *testing.T) {
	hook := &slackDiscordHook{}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	tmpl := "*{{ .Policy }}* on `{{ .Resource.Kind }} {{ .Resource.Name }}`: {{ .Message }} <https://docs.example/{{ .Policy }}|docs> ({{ .CustomFields.cluster }})"
	s := newSlackTestSender(t, srv.URL, nil, nil, nil, tmpl)
	r := fullResult()
	r.Message = "no <!here> & no <@U123>"
	noResource := bareResult() // .Resource.Kind fails on a result without resource
	b := Batch{Report: slackDiscordReport, Results: []report.Result{r, noResource}, CustomFields: map[string]string{"cluster": "prod-eu"}}
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

func TestSlackErrorsNeverShowSecrets(t *testing.T) {
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, "invalid_payload %s %s key=%s", r.URL.Path, r.URL.RawQuery, r.Header.Get("X-Api-Key"))
	})
	srv := httptest.NewServer(echo)
	defer srv.Close()
	scheme, host, _ := strings.Cut(srv.URL, "://")
	sd := &v1alpha1.SlackDestination{HTTPSettings: v1alpha1.HTTPSettings{Headers: map[string]string{"X-Api-Key": "SECRETHEADER"}}}
	for _, raw := range []string{
		scheme + "://alice:hunter2pw@" + host + "/services/SECRETPATH?token=SECRETQUERY",
		"https://alice:hunter2pw@" + closedAddr(t) + "/services/SECRETPATH?token=SECRETQUERY",
	} {
		err := newSlackTestSender(t, raw, nil, sd, nil, "").Send(context.Background(), slackDiscordBatch())
		if err == nil {
			t.Fatal("want an error")
		}
		assertNoSecrets(t, "Error()", err.Error())
		assertNoSecrets(t, "%+v", fmt.Sprintf("%+v", err))
		if u := errors.Unwrap(err); u != nil {
			assertNoSecrets(t, "Unwrap()", u.Error())
		}
	}
}

func TestSlackEmptyBatchSendsNothing(t *testing.T) {
	hook := &slackDiscordHook{}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	if err := newSlackTestSender(t, srv.URL, nil, nil, nil, "").Send(context.Background(), Batch{}); err != nil || len(hook.requests()) != 0 {
		t.Fatalf("err=%v requests=%d", err, len(hook.requests()))
	}
}

func TestSlackAndDiscordPalettesAgree(t *testing.T) {
	for _, sev := range []v1alpha1.Severity{"", v1alpha1.SeverityInfo, v1alpha1.SeverityLow, v1alpha1.SeverityMedium, v1alpha1.SeverityHigh, v1alpha1.SeverityCritical, "bogus"} {
		if s, d := slackColor(sev), fmt.Sprintf("#%06x", discordColor(sev)); s != d {
			t.Errorf("%q: slack %s, discord %s", sev, s, d)
		}
	}
	seen := map[string]bool{}
	for _, c := range slackSeverityColors {
		if seen[c] {
			t.Errorf("colour %s used twice", c)
		}
		seen[c] = true
	}
}
