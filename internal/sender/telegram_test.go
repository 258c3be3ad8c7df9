package sender

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/destination/descriptor"
	"github.com/policyherald/policy-herald/internal/report"
)

var updateTelegram = flag.Bool("update-telegram", false, "rewrite testdata/golden/telegram-*.json")

const (
	telegramTestToken  = "123456:SECRET-TOKEN"
	telegramTestSecret = "SECRET-TOKEN"
)

// ---------------------------------------------------------------------------------------------
// A strict MarkdownV2 parser, written from the Bot API's "Formatting options" rules:
//   - any character with code 1..126 can be escaped anywhere with a preceding '\';
//   - outside entities _ * [ ] ( ) ~ ` > # + - = | { } . ! and '\' itself must be escaped;
//   - *bold*, _italic_, __underline__ (a "__" is always underline, left to right), ~strike~,
//     ||spoiler|| may nest but not overlap;
//   - the text is 1..4096 characters after entity parsing.
//   - inline links [text](url): inside the address only ')' and '\' must be escaped.
// Code, pre, mentions, custom emoji and block quotes are not emitted by the sender, so their
// opening characters (` ! >) are refused like any other unescaped reserved character.
// ---------------------------------------------------------------------------------------------

type telegramParsed struct {
	plain string
	bold  []string       // the plain text of each bold entity, in order
	links []telegramLink // the inline links, in order
}

// telegramLink is an inline link: [text](url).
type telegramLink struct{ text, url string }

func telegramParseMarkdownV2(text string) (telegramParsed, error) {
	var out telegramParsed
	if !utf8.ValidString(text) {
		return out, errors.New("text is not valid UTF-8")
	}
	type open struct {
		kind  string
		start int // byte offset in plain
	}
	var (
		plain strings.Builder
		stack []open
		rs    = []rune(text)
	)
	toggle := func(kind string, at int) error {
		if n := len(stack); n > 0 && stack[n-1].kind == kind {
			o := stack[n-1]
			stack = stack[:n-1]
			if plain.Len() == o.start {
				return fmt.Errorf("empty %s entity at rune %d", kind, at)
			}
			if kind == "bold" {
				out.bold = append(out.bold, plain.String()[o.start:])
			}
			return nil
		}
		for _, o := range stack {
			if o.kind == kind {
				return fmt.Errorf("%s entity closed across another at rune %d", kind, at)
			}
		}
		stack = append(stack, open{kind, plain.Len()})
		return nil
	}
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch r {
		case '\\':
			if i+1 == len(rs) {
				return out, errors.New("a lone '\\' ends the text")
			}
			next := rs[i+1]
			if next < 1 || next > 126 {
				return out, fmt.Errorf("'\\' before %q at rune %d: only characters 1..126 can be escaped", next, i)
			}
			plain.WriteRune(next)
			i++
		case '*':
			if err := toggle("bold", i); err != nil {
				return out, err
			}
		case '_':
			kind := "italic"
			if i+1 < len(rs) && rs[i+1] == '_' {
				kind = "underline"
				i++
			}
			if err := toggle(kind, i); err != nil {
				return out, err
			}
		case '~':
			if err := toggle("strikethrough", i); err != nil {
				return out, err
			}
		case '|':
			if i+1 >= len(rs) || rs[i+1] != '|' {
				return out, fmt.Errorf("unescaped '|' at rune %d", i)
			}
			i++
			if err := toggle("spoiler", i); err != nil {
				return out, err
			}
		case '[':
			for _, o := range stack {
				if o.kind == "link" {
					return out, fmt.Errorf("a link inside a link at rune %d", i)
				}
			}
			stack = append(stack, open{"link", plain.Len()})
		case ']':
			n := len(stack)
			if n == 0 || stack[n-1].kind != "link" {
				return out, fmt.Errorf("unescaped reserved character ']' at rune %d in %q", i, telegramAround(rs, i))
			}
			o := stack[n-1]
			stack = stack[:n-1]
			if i+1 >= len(rs) || rs[i+1] != '(' {
				return out, fmt.Errorf("']' without '(' at rune %d", i)
			}
			// The address: up to an unescaped ')'; inside it only ')' and '\' must be escaped.
			var url strings.Builder
			j := i + 2
			for ; j < len(rs) && rs[j] != ')'; j++ {
				if rs[j] == '\\' {
					if j+1 == len(rs) {
						return out, errors.New("a lone '\\' ends the text")
					}
					j++
				}
				url.WriteRune(rs[j])
			}
			if j == len(rs) {
				return out, fmt.Errorf("the link at rune %d is never closed", i)
			}
			if plain.Len() == o.start || url.Len() == 0 {
				return out, fmt.Errorf("empty link text or address at rune %d", i)
			}
			out.links = append(out.links, telegramLink{text: plain.String()[o.start:], url: url.String()})
			i = j
		case '(', ')', '`', '>', '#', '+', '-', '=', '{', '}', '.', '!':
			return out, fmt.Errorf("unescaped reserved character %q at rune %d in %q", r, i, telegramAround(rs, i))
		default:
			plain.WriteRune(r)
		}
	}
	if len(stack) > 0 {
		return out, fmt.Errorf("%s entity is never closed", stack[len(stack)-1].kind)
	}
	out.plain = plain.String()
	if strings.TrimSpace(out.plain) == "" {
		return out, errors.New("message text is empty")
	}
	if n := len(utf16.Encode([]rune(out.plain))); n > telegramMaxText {
		return out, fmt.Errorf("message is too long: %d UTF-16 code units after entity parsing", n)
	}
	return out, nil
}

func telegramAround(rs []rune, i int) string {
	return string(rs[max(0, i-10):min(len(rs), i+10)])
}

func TestTelegramMarkdownV2Validator(t *testing.T) {
	good := map[string]string{
		`plain text`:                        "plain text",
		`*bold*`:                            "bold",
		`a\.b\-c\_d`:                        "a.b-c_d",
		`\\`:                                `\`,
		`*a \* b* c`:                        "a * b c",
		`_i_ __u__ ~s~ ||sp|| *_bi_*`:       "i u s sp bi",
		"🙂 ü 中文":                            "🙂 ü 中文",
		`\a\b`:                              "ab", // any character 1..126 may be escaped
		`*x*\*y`:                            "x*y",
		"line\n*bold*\n\\> not a quote":     "line\nbold\n> not a quote",
		`[x](y)`:                            "x",
		`see [*a\.b*](https://h/p\)q\\r)\.`: "see a.b.",
	}
	for in, want := range good {
		p, err := telegramParseMarkdownV2(in)
		if err != nil || p.plain != want {
			t.Errorf("parse(%q) = %q, %v; want %q", in, p.plain, err, want)
		}
	}
	bad := []string{
		"a.b", "a-b", "snake_case", "*open", "**", "x\\", "\\🙂", "[x]", "[x](y", "[](y)", "[x]()", "[[x]](y)", "[x](a)b)", "`c`", "a|b", "*_x*_",
		"\\\\*", "!", "#tag", "1+1=2", "{}", "> quote", "", "  ", "*\n*", strings.Repeat("x", 4097),
		strings.Repeat("😀", 2049), // 4098 UTF-16 code units
	}
	for _, in := range bad {
		if p, err := telegramParseMarkdownV2(in); err == nil {
			t.Errorf("parse(%.40q) accepted, plain %.40q", in, p.plain)
		}
	}
	if p, _ := telegramParseMarkdownV2(`see [*a\.b*](https://h/p\)q\\r)\.`); len(p.links) != 1 || p.links[0] != (telegramLink{"a.b", `https://h/p)q\r`}) {
		t.Errorf("links %q", p.links)
	}
	// The validator catches what a careless escaper gets wrong: tgbotapi v5.5.1's EscapeText
	// does not escape the backslash, so "x\.y" becomes "x\\.y", an escaped backslash and a bare
	// dot.
	if _, err := telegramParseMarkdownV2(tgbotapi.EscapeText(tgbotapi.ModeMarkdownV2, `x\.y`)); err == nil {
		t.Error("the validator should refuse tgbotapi's escaping of a backslash")
	}
}

// ---------------------------------------------------------------------------------------------
// A loopback Bot API.
// ---------------------------------------------------------------------------------------------

// telegramWire is the sendMessage body as the sender must send it, decoded strictly.
type telegramWire struct {
	ChatID             json.RawMessage `json:"chat_id"`
	Text               string          `json:"text"`
	ParseMode          string          `json:"parse_mode"`
	LinkPreviewOptions *struct {
		IsDisabled bool `json:"is_disabled"`
	} `json:"link_preview_options"`
}

type telegramSeen struct {
	URI    string
	Header http.Header
	Body   []byte
	Msg    telegramWire
	Parsed telegramParsed
}

// telegramBotAPI checks every request like the Bot API would (method, path with the token,
// JSON body, MarkdownV2 text) and answers ok, or with reply when set.
type telegramBotAPI struct {
	t      *testing.T
	prefix string // path before /bot<token>/sendMessage
	mu     sync.Mutex
	seen   []telegramSeen
	// reply, when set, answers request n (0-based) instead of the default success.
	reply func(w http.ResponseWriter, n int) bool
}

func (a *telegramBotAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t := a.t
	body, _ := io.ReadAll(r.Body)
	fail := func(code int, desc string) {
		t.Errorf("bot API: %s", desc)
		telegramAnswer(w, code, tgbotapi.APIResponse{Ok: false, ErrorCode: code, Description: desc}, nil)
	}
	if r.Method != http.MethodPost {
		fail(http.StatusMethodNotAllowed, "method "+r.Method)
		return
	}
	if want := a.prefix + "/bot" + telegramTestToken + "/sendMessage"; r.URL.Path != want {
		fail(http.StatusNotFound, "path "+r.URL.Path+", want "+want)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		fail(http.StatusBadRequest, "Content-Type "+ct)
		return
	}
	var m telegramWire
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		fail(http.StatusBadRequest, "body: "+err.Error())
		return
	}
	if m.ParseMode != "MarkdownV2" || m.LinkPreviewOptions == nil || !m.LinkPreviewOptions.IsDisabled || len(m.ChatID) == 0 {
		fail(http.StatusBadRequest, "fields: "+string(body))
		return
	}
	p, err := telegramParseMarkdownV2(m.Text)
	if err != nil {
		fail(http.StatusBadRequest, "Bad Request: can't parse entities: "+err.Error())
		return
	}
	a.mu.Lock()
	n := len(a.seen)
	a.seen = append(a.seen, telegramSeen{URI: r.RequestURI, Header: r.Header.Clone(), Body: body, Msg: m, Parsed: p})
	reply := a.reply
	a.mu.Unlock()
	if reply != nil && reply(w, n) {
		return
	}
	res, _ := json.Marshal(tgbotapi.Message{MessageID: n + 1, Date: 1, Text: p.plain, Chat: &tgbotapi.Chat{ID: -1001, Type: "supergroup"}})
	telegramAnswer(w, http.StatusOK, tgbotapi.APIResponse{Ok: true, Result: res}, nil)
}

func (a *telegramBotAPI) requests() []telegramSeen {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]telegramSeen(nil), a.seen...)
}

// telegramAnswer writes a Bot API answer, encoded with tgbotapi's own response type so the
// sender is tested against a third party's idea of the shape.
func telegramAnswer(w http.ResponseWriter, code int, resp tgbotapi.APIResponse, header map[string]string) {
	for k, v := range header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(resp)
}

func telegramFail(code int, desc string, params *tgbotapi.ResponseParameters) tgbotapi.APIResponse {
	return tgbotapi.APIResponse{Ok: false, ErrorCode: code, Description: desc, Parameters: params}
}

func newTelegramAPI(t *testing.T, prefix string) (*telegramBotAPI, *httptest.Server) {
	t.Helper()
	a := &telegramBotAPI{t: t, prefix: prefix}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return a, srv
}

func newTelegramSender(t *testing.T, apiURL string, settings descriptor.Settings, td *v1alpha1.TelegramDestination, tlsCfg *tls.Config, tmpl string) *telegram {
	t.Helper()
	s := descriptor.Settings{"token": telegramTestToken, "chatID": "-1001234567890"}
	if apiURL != "" {
		s["apiURL"] = apiURL
	}
	for k, v := range settings {
		s[k] = v
	}
	if td == nil {
		td = &v1alpha1.TelegramDestination{}
	}
	return newTestSender(t, Config{
		Type:            v1alpha1.DestinationTelegram,
		Destination:     &v1alpha1.Destinations{Telegram: td},
		Settings:        s,
		TLS:             tlsCfg,
		Name:            "team-a/telegram",
		MessageTemplate: tmpl,
	}).(*telegram)
}

func assertNoTelegramSecrets(t *testing.T, what, s string) {
	t.Helper()
	for _, p := range []string{telegramTestToken, telegramTestSecret, "SECRET", "bot123456", "SECRETKEY", "hunter2"} {
		if strings.Contains(s, p) {
			t.Errorf("%s leaks %q: %s", what, p, s)
		}
	}
}

// ---------------------------------------------------------------------------------------------
// Wire format.
// ---------------------------------------------------------------------------------------------

func TestTelegramWireFormat(t *testing.T) {
	api, srv := newTelegramAPI(t, "")
	s := newTelegramSender(t, srv.URL, nil, &v1alpha1.TelegramDestination{Headers: map[string]string{
		"x-proxy-key": "hunter2", "Content-Type": "text/plain",
	}}, nil, "")
	if s.MaxBatch() != telegramMaxBatch {
		t.Fatalf("MaxBatch = %d", s.MaxBatch())
	}
	if _, ok := Sender(s).(Runner); ok {
		t.Fatal("telegram has no background work")
	}
	b := Batch{
		Report:       testReport,
		Results:      []report.Result{fullResult(), bareResult()},
		CustomFields: map[string]string{"cluster": "prod-eu"},
	}
	if err := s.Send(context.Background(), b); err != nil {
		t.Fatalf("Send: %v", err)
	}
	reqs := api.requests()
	if len(reqs) != 2 {
		t.Fatalf("got %d requests, want one per result", len(reqs))
	}
	for _, r := range reqs {
		if r.URI != "/bot"+telegramTestToken+"/sendMessage" {
			t.Errorf("request URI %q", r.URI)
		}
		for k, v := range map[string]string{"Content-Type": "application/json", "User-Agent": "policy-herald", "X-Proxy-Key": "hunter2"} {
			if got := r.Header.Values(k); len(got) != 1 || got[0] != v {
				t.Errorf("header %s = %q, want %q", k, got, v)
			}
		}
		if string(r.Msg.ChatID) != "-1001234567890" {
			t.Errorf("chat_id = %s, want the number", r.Msg.ChatID)
		}
	}
	wantFull := "[high] require-labels\n" +
		"Resource: Deployment test/nginx (apps/v1)\n" +
		"Status: fail\n" +
		"Time: 2026-08-15T10:00:00Z\n" +
		"Category: Best Practices\n" +
		"Rule: check-app\n" +
		"Source: kyverno\n" +
		"Message:\nlabel app is required\n" +
		"Properties:\n• cluster: from-result\n• created: x\n" +
		"Custom fields:\n• cluster: prod-eu"
	if got := reqs[0].Parsed.plain; got != wantFull {
		t.Errorf("full text\n got %q\nwant %q", got, wantFull)
	}
	if got := reqs[0].Parsed.bold; len(got) < 2 || got[0] != "[high] require-labels" || got[1] != "Resource:" {
		t.Errorf("bold entities %q", got)
	}
	wantBare := "p2\nStatus: warn\nSource: trivy\nMessage:\nm2\nCustom fields:\n• cluster: prod-eu"
	if got := reqs[1].Parsed.plain; got != wantBare {
		t.Errorf("bare text\n got %q\nwant %q", got, wantBare)
	}
	checkGolden(t, "telegram-full.json", reqs[0].Body, *updateTelegram)
	checkGolden(t, "telegram-bare.json", reqs[1].Body, *updateTelegram)

	// An empty batch sends nothing.
	if err := s.Send(context.Background(), Batch{}); err != nil || len(api.requests()) != 2 {
		t.Fatalf("empty batch: err=%v requests=%d", err, len(api.requests()))
	}
}

func TestTelegramChatIDAndSettings(t *testing.T) {
	api, srv := newTelegramAPI(t, "")
	// Inline fields are used when the settings lack them; the settings (Secret) win.
	inline := &v1alpha1.TelegramDestination{APIURL: "http://192.0.2.1:1", ChatID: "@inline_channel"}
	for _, tc := range []struct {
		name     string
		settings descriptor.Settings
		want     string
	}{
		{"settings win", descriptor.Settings{"chatID": "@My_Channel", "apiURL": srv.URL}, `"@My_Channel"`},
		{"numeric", descriptor.Settings{"chatID": " 42 ", "apiURL": srv.URL}, `42`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTelegramSender(t, "", tc.settings, inline, nil, "")
			if err := s.Send(context.Background(), Batch{Results: []report.Result{bareResult()}}); err != nil {
				t.Fatal(err)
			}
			reqs := api.requests()
			if got := string(reqs[len(reqs)-1].Msg.ChatID); got != tc.want {
				t.Errorf("chat_id = %s, want %s", got, tc.want)
			}
		})
	}
	// Inline only.
	snd, err := New(context.Background(), Config{Type: v1alpha1.DestinationTelegram,
		Destination: &v1alpha1.Destinations{Telegram: &v1alpha1.TelegramDestination{ChatID: "-5"}},
		Settings:    descriptor.Settings{"token": telegramTestToken}})
	if err != nil {
		t.Fatal(err)
	}
	tg := snd.(*telegram)
	if tg.chatID != int64(-5) {
		t.Errorf("chatID = %#v", tg.chatID)
	}
	// The default API URL.
	if want := "https://api.telegram.org/bot" + telegramTestToken + "/sendMessage"; tg.Endpoint.Raw != want || tg.Endpoint.Host != "api.telegram.org" {
		t.Errorf("endpoint %q host %q", tg.Endpoint.Raw, tg.Endpoint.Host)
	}
}

func TestTelegramCustomAPIURLWithPathPrefix(t *testing.T) {
	api, srv := newTelegramAPI(t, "/tg/proxy")
	for _, base := range []string{srv.URL + "/tg/proxy", srv.URL + "/tg/proxy/", srv.URL + "/tg/proxy/?key=SECRETKEY#frag", srv.URL + "/tg%2Fproxy"} {
		s := newTelegramSender(t, base, nil, nil, nil, "")
		if err := s.Send(context.Background(), Batch{Results: []report.Result{bareResult()}}); err != nil {
			t.Fatalf("%s: %v", base, err)
		}
	}
	reqs := api.requests()
	want := []string{
		"/tg/proxy/bot" + telegramTestToken + "/sendMessage",
		"/tg/proxy/bot" + telegramTestToken + "/sendMessage",
		"/tg/proxy/bot" + telegramTestToken + "/sendMessage?key=SECRETKEY",
		"/tg%2Fproxy/bot" + telegramTestToken + "/sendMessage",
	}
	if len(reqs) != len(want) {
		t.Fatalf("%d requests", len(reqs))
	}
	for i, r := range reqs {
		if r.URI != want[i] {
			t.Errorf("request %d URI %q, want %q", i, r.URI, want[i])
		}
	}

	// The proxy's query is a secret too: an echo of it is redacted.
	api.reply = func(w http.ResponseWriter, _ int) bool {
		telegramAnswer(w, http.StatusBadRequest, telegramFail(400, "Bad Request: key=SECRETKEY token "+telegramTestToken, nil), nil)
		return true
	}
	s := newTelegramSender(t, srv.URL+"/tg/proxy?key=SECRETKEY", nil, nil, nil, "")
	err := s.Send(context.Background(), Batch{Results: []report.Result{bareResult()}})
	if err == nil || IsRetryable(err) {
		t.Fatalf("got %v", err)
	}
	assertNoTelegramSecrets(t, "error", err.Error())
	if !strings.Contains(err.Error(), "[redacted]") {
		t.Errorf("want the echo redacted: %v", err)
	}
}

func TestTelegramTemplate(t *testing.T) {
	api, srv := newTelegramAPI(t, "")
	tmpl := "{{ .Severity }} *{{ .Policy }}* on {{ with .Resource }}{{ .Namespace }}/{{ .Name }}{{ end }}: {{ .Message }} [{{ index .CustomFields \"cluster\" }}] (v1.2_3!)\n\\o/ `x`"
	s := newTelegramSender(t, srv.URL, nil, nil, nil, tmpl)
	b := Batch{Report: testReport, Results: []report.Result{fullResult()}, CustomFields: map[string]string{"cluster": "prod-eu"}}
	if err := s.Send(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	r := api.requests()[0]
	want := "high *require-labels* on test/nginx: label app is required [prod-eu] (v1.2_3!)\n\\o/ `x`"
	if r.Parsed.plain != want || len(r.Parsed.bold) != 0 {
		t.Errorf("template text\n got %q (bold %q)\nwant %q as plain text", r.Parsed.plain, r.Parsed.bold, want)
	}
	checkGolden(t, "telegram-template.json", r.Body, *updateTelegram)

	// A template that renders only white space falls back to the default layout.
	s = newTelegramSender(t, srv.URL, nil, nil, nil, `{{ if eq .Severity "critical" }}!{{ end }}  `)
	if err := s.Send(context.Background(), Batch{Results: []report.Result{bareResult()}}); err != nil {
		t.Fatal(err)
	}
	if got := api.requests()[1].Parsed.plain; !strings.HasPrefix(got, "p2\nStatus: warn") {
		t.Errorf("blank template: got %q, want the default layout", got)
	}

	// A template that fails on a result (here one without a resource) fails it for good.
	s = newTelegramSender(t, srv.URL, nil, nil, nil, `{{ .Resource.Name }}`)
	err := s.Send(context.Background(), Batch{Results: []report.Result{bareResult()}})
	if err == nil || IsRetryable(err) || !strings.Contains(err.Error(), "messageTemplate") {
		t.Fatalf("got %v", err)
	}
	if len(api.requests()) != 2 {
		t.Error("nothing should be sent for a failed template")
	}
}

// ---------------------------------------------------------------------------------------------
// Escaping and length.
// ---------------------------------------------------------------------------------------------

var telegramTricky = []string{
	"my-app.v1.2",
	"snake_case_name",
	"[brackets](parens){braces}",
	`C:\path\to\file\`,
	`trailing backslash \`,
	`\*not bold\*`,
	"`code` and ```pre```",
	"~strike~ ||spoiler|| __under__ _it_",
	"> quote #tag +1 -1 =x |pipe| !bang",
	"emoji 🔥👩‍💻🇩🇪 and ü/中文",
	"all _*[]()~`>#+-=|{}.!\\ at once",
	"control\x00chars\x1b[31m\r\nand\ttabs",
	"invalid \xff\xfe utf8",
	"https://example.com/a_b?c=d&e=f#g",
	"<b>html</b> &amp;",
}

func TestTelegramEscapesTrickyInput(t *testing.T) {
	api, srv := newTelegramAPI(t, "")
	s := newTelegramSender(t, srv.URL, nil, nil, nil, "")
	for i, v := range telegramTricky {
		res := report.Result{
			Hash:       0x7,
			Check:      &report.Check{Policy: v, Rule: v, Category: v, Source: v, Status: v1alpha1.StatusFail, Severity: v1alpha1.SeverityCritical},
			Message:    v,
			Resource:   &report.Resource{APIVersion: v, Kind: v, Namespace: v, Name: v},
			Properties: map[string]string{v: v},
		}
		if err := s.Send(context.Background(), Batch{Results: []report.Result{res}, CustomFields: map[string]string{"k." + v: v}}); err != nil {
			t.Fatalf("%q: %v", v, err)
		}
		got := api.requests()[i].Parsed.plain
		line, multi := strings.TrimSpace(telegramClean(v, false)), strings.TrimSpace(telegramClean(v, true))
		for _, want := range []string{"[critical] " + line, "Rule: " + line, "Message:\n" + multi, "• " + line + ": " + line, "• k." + line + ": " + line} {
			if !strings.Contains(got, want) {
				t.Errorf("input %q: text %q lacks %q", v, got, want)
			}
		}
	}

	// The escaping agrees with tgbotapi's list of reserved characters wherever it has no
	// backslash (tgbotapi v5.5.1 forgets that one).
	for _, v := range telegramTricky {
		v = strings.ToValidUTF8(strings.ReplaceAll(v, `\`, ""), "\uFFFD")
		var b strings.Builder
		telegramEscape(&b, v)
		if want := tgbotapi.EscapeText(tgbotapi.ModeMarkdownV2, v); b.String() != want {
			t.Errorf("escape(%q) = %q, tgbotapi says %q", v, b.String(), want)
		}
	}
}

func TestTelegramTruncation(t *testing.T) {
	api, srv := newTelegramAPI(t, "")
	s := newTelegramSender(t, srv.URL, nil, nil, nil, "")
	send := func(r report.Result, custom map[string]string) telegramParsed {
		t.Helper()
		if err := s.Send(context.Background(), Batch{Results: []report.Result{r}, CustomFields: custom}); err != nil {
			t.Fatal(err)
		}
		reqs := api.requests()
		return reqs[len(reqs)-1].Parsed // the fake API has checked validity and length
	}
	custom := map[string]string{"cluster": "prod-eu"}

	// A long message of reserved characters is cut first; the rest of the layout stays.
	r := fullResult()
	r.Message = strings.Repeat(`a.b-c_d\e!`, 1000)
	p := send(r, custom)
	if n := telegramLen(p.plain); n != telegramMaxText {
		t.Errorf("length %d, want the whole budget %d used", n, telegramMaxText)
	}
	if !strings.Contains(p.plain, "…\nProperties:\n• cluster: from-result") || !strings.HasSuffix(p.plain, "• cluster: prod-eu") {
		t.Errorf("the message should be cut, not the fields after it: ...%q", p.plain[len(p.plain)-120:])
	}

	// Emoji: surrogate pairs and joiners count double; nothing is split mid-rune.
	r.Message = strings.Repeat("👩‍💻", 3000)
	p = send(r, custom)
	if n := telegramLen(p.plain); n > telegramMaxText {
		t.Errorf("length %d", n)
	}
	if strings.Contains(p.plain, "\u200d…") || !utf8.ValidString(p.plain) {
		t.Error("cut inside a joined emoji")
	}

	// Huge properties: the text is cut from its end.
	r = bareResult()
	r.Properties = map[string]string{}
	for i := range 100 {
		r.Properties[fmt.Sprintf("key.%03d", i)] = strings.Repeat("v-", 100)
	}
	p = send(r, custom)
	if n := telegramLen(p.plain); n > telegramMaxText || n < telegramMaxText-200 || !strings.HasSuffix(p.plain, "…") {
		t.Errorf("length %d, suffix %q", n, p.plain[len(p.plain)-10:])
	}
	if !strings.Contains(p.plain, "Message:\nm2\nProperties:\n• key.000: v-v-") {
		t.Errorf("a short message must not be cut for long properties: %.80q", p.plain)
	}

	// A long template output is cut too.
	s2 := newTelegramSender(t, srv.URL, nil, nil, nil, `{{ .Message }}`)
	r.Message = strings.Repeat("\\", 9000)
	if err := s2.Send(context.Background(), Batch{Results: []report.Result{r}}); err != nil {
		t.Fatal(err)
	}
	reqs := api.requests()
	p = reqs[len(reqs)-1].Parsed
	if p.plain != strings.Repeat(`\`, telegramMaxText-1)+"…" {
		t.Errorf("template cut: %d units, suffix %q", telegramLen(p.plain), p.plain[len(p.plain)-5:])
	}
}

func TestTelegramRenderBoundary(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
	}{
		{strings.Repeat(".", telegramMaxText), strings.Repeat(".", telegramMaxText)},
		{strings.Repeat(".", telegramMaxText+1), strings.Repeat(".", telegramMaxText-1) + "…"},
		{strings.Repeat("😀", telegramMaxText/2), strings.Repeat("😀", telegramMaxText/2)},
		{strings.Repeat("😀", telegramMaxText/2) + "x", strings.Repeat("😀", telegramMaxText/2-1) + "…"},
		{"x" + strings.Repeat("😀", telegramMaxText/2), "x" + strings.Repeat("😀", telegramMaxText/2-1) + "…"},
	} {
		out := telegramRender([]telegramSpan{{text: tc.in, bold: true}}, telegramMaxText)
		p, err := telegramParseMarkdownV2(out)
		if err != nil {
			t.Fatalf("%v", err)
		}
		if p.plain != tc.want || len(p.bold) != 1 {
			t.Errorf("in %d units: got %d units %.12q…, want %d", telegramLen(tc.in), telegramLen(p.plain), p.plain, telegramLen(tc.want))
		}
	}
	// Every possible budget: the render is valid MarkdownV2 and within it.
	spans := func() []telegramSpan {
		return []telegramSpan{{text: "[x] a.b", bold: true}, {text: "\n"}, {text: "M:", bold: true}, {text: "\n\\-_*", shrink: true}, {text: "\n• k: v!"}}
	}
	for limit := 1; limit <= 30; limit++ {
		out := telegramRender(spans(), limit)
		if out == "" {
			continue
		}
		p, err := telegramParseMarkdownV2(out)
		if err != nil || telegramLen(p.plain) > limit {
			t.Errorf("limit %d: %q: %v (%d units)", limit, out, err, telegramLen(p.plain))
		}
	}
}

// FuzzTelegramText checks that whatever a result holds, the text is valid MarkdownV2 within
// the limit and shows the values.
func FuzzTelegramText(f *testing.F) {
	for _, v := range telegramTricky {
		f.Add(v, v, 1)
	}
	f.Add(strings.Repeat("_", 5000), "\\", 3)
	f.Fuzz(func(t *testing.T, a, b string, n int) {
		n = int(uint(n)%8) + 1
		d := NewResultDocument(ReportRef{}, &report.Result{
			Check:      &report.Check{Policy: a, Rule: b, Status: v1alpha1.ResultStatus(a)},
			Message:    strings.Repeat(b, n),
			Resource:   &report.Resource{Kind: a, Name: b},
			Properties: map[string]string{a: b},
		}, map[string]string{b: a})
		out := telegramRender(telegramLayout(&d), telegramMaxText)
		p, err := telegramParseMarkdownV2(out)
		if err != nil {
			t.Fatalf("%v in %q", err, out)
		}
		if telegramLen(p.plain) > telegramMaxText {
			t.Fatal("too long")
		}
	})
}

// ---------------------------------------------------------------------------------------------
// Errors.
// ---------------------------------------------------------------------------------------------

func TestTelegramErrors(t *testing.T) {
	flood := func(secs int) *tgbotapi.ResponseParameters { return &tgbotapi.ResponseParameters{RetryAfter: secs} }
	cases := []struct {
		name      string
		code      int
		resp      *tgbotapi.APIResponse // nil: raw body
		raw       string
		header    map[string]string
		retryable bool
		after     time.Duration
		reason    []string
		absent    []string
	}{
		{name: "flood control", code: 429, resp: telegramPtr(telegramFail(429, "Too Many Requests: retry after 7", flood(7))),
			retryable: true, after: 7 * time.Second,
			reason: []string{"POST to 127.0.0.1", "429 Too Many Requests: Too Many Requests: retry after 7", "(retry after 7s)"}},
		{name: "Retry-After header longer", code: 429, resp: telegramPtr(telegramFail(429, "Too Many Requests: retry after 3", flood(3))),
			header: map[string]string{"Retry-After": "12"}, retryable: true, after: 12 * time.Second},
		{name: "Retry-After header only", code: 429, resp: telegramPtr(telegramFail(429, "Too Many Requests", nil)),
			header: map[string]string{"Retry-After": "4"}, retryable: true, after: 4 * time.Second},
		{name: "bad request", code: 400, resp: telegramPtr(telegramFail(400, "Bad Request: chat not found", nil)),
			reason: []string{"400 Bad Request: Bad Request: chat not found"}, absent: []string{"retry"}},
		{name: "migrated group", code: 400, resp: telegramPtr(telegramFail(400, "Bad Request: group chat was upgraded to a supergroup chat",
			&tgbotapi.ResponseParameters{MigrateToChatID: -1009876})),
			reason: []string{"upgraded to a supergroup chat", "set chatID to it", "-1009876"}},
		{name: "token echoed", code: 401, resp: telegramPtr(telegramFail(401, "Unauthorized: token "+telegramTestToken+" / "+telegramTestSecret+" at /bot"+telegramTestToken+"/sendMessage", nil)),
			reason: []string{"401 Unauthorized: Unauthorized: token [redacted]", "(check the bot token)"}},
		{name: "blocked", code: 403, resp: telegramPtr(telegramFail(403, "Forbidden: bot was kicked from the supergroup chat", nil)),
			reason: []string{"403 Forbidden: Forbidden: bot was kicked"}},
		{name: "description sanitised", code: 400, resp: telegramPtr(telegramFail(400, "Bad\r\nRequest:\x1b[31m "+strings.Repeat("long ", 100), nil)),
			reason: []string{"400 Bad Request: Bad Request: [31m long long"}, absent: []string{"\n", "\r", "\x1b"}},
		{name: "server error", code: 500, resp: telegramPtr(telegramFail(500, "Internal Server Error", nil)), retryable: true,
			reason: []string{"500 Internal Server Error: Internal Server Error"}},
		{name: "ok false in 200", code: 200, resp: telegramPtr(telegramFail(400, "Bad Request: message text is empty", nil)),
			reason: []string{"400 Bad Request: Bad Request: message text is empty"}},
		{name: "proxy page 502", code: 502, raw: "<html>bad gateway " + telegramTestToken + "</html>", retryable: true,
			reason: []string{"502 Bad Gateway"}, absent: []string{"html"}},
		{name: "proxy 404", code: 404, raw: "no route for /bot" + telegramTestToken + "/sendMessage",
			reason: []string{"404 Not Found: no route for /[redacted]/sendMessage"}},
		{name: "redirect", code: 302, raw: "", header: map[string]string{"Location": "https://elsewhere.example/bot" + telegramTestToken},
			reason: []string{"302 Found", "redirects are not followed"}},
		{name: "proxy 503 with Retry-After", code: 503, raw: "busy", header: map[string]string{"Retry-After": "9"}, retryable: true, after: 9 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			api, srv := newTelegramAPI(t, "")
			// Three results: the first goes out, the second fails, the third is never tried.
			api.reply = func(w http.ResponseWriter, n int) bool {
				if n == 0 {
					return false
				}
				if tc.resp != nil {
					telegramAnswer(w, tc.code, *tc.resp, tc.header)
					return true
				}
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.code)
				_, _ = io.WriteString(w, tc.raw)
				return true
			}
			s := newTelegramSender(t, srv.URL, nil, nil, nil, "")
			err := s.Send(context.Background(), Batch{Results: []report.Result{bareResult(), bareResult(), bareResult()}})
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("got %T %v", err, err)
			}
			if e.Retryable != tc.retryable || e.RetryAfter != tc.after || e.Sent != 1 || e.StatusCode != tc.code {
				t.Errorf("retryable=%v after=%v sent=%d status=%d; want %v %v 1 %d (%s)",
					e.Retryable, e.RetryAfter, e.Sent, e.StatusCode, tc.retryable, tc.after, tc.code, e.Reason)
			}
			if IsRetryable(err) != tc.retryable {
				t.Error("IsRetryable disagrees")
			}
			for _, want := range tc.reason {
				if !strings.Contains(e.Reason, want) {
					t.Errorf("reason %q lacks %q", e.Reason, want)
				}
			}
			for _, no := range tc.absent {
				if strings.Contains(e.Reason, no) {
					t.Errorf("reason %q has %q", e.Reason, no)
				}
			}
			if len(e.Reason) > 400 {
				t.Errorf("reason is %d bytes", len(e.Reason))
			}
			assertNoTelegramSecrets(t, "error", e.Reason)
			assertNoTelegramSecrets(t, "error chain", fmt.Sprintf("%+v %#v", err, errors.Unwrap(err)))
			if got := len(api.requests()); got != 2 {
				t.Errorf("%d requests, want 2: sending stops at the failure", got)
			}
		})
	}
}

func telegramPtr[T any](v T) *T { return &v }

func TestTelegramSuccessWithoutBotAPIBody(t *testing.T) {
	// A proxy that answers 204, or 200 with something else than the Bot API's JSON: delivered.
	for _, body := range []string{"", "OK", `{"ok":true}`, `[1,2]`} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			if body == "" {
				w.WriteHeader(http.StatusNoContent)
				return
			}
			_, _ = io.WriteString(w, body)
		}))
		s := newTelegramSender(t, srv.URL, nil, nil, nil, "")
		if err := s.Send(context.Background(), Batch{Results: []report.Result{bareResult()}}); err != nil {
			t.Errorf("body %q: %v", body, err)
		}
		srv.Close()
	}
}

func TestTelegramFloodControlResumes(t *testing.T) {
	api, srv := newTelegramAPI(t, "")
	api.reply = func(w http.ResponseWriter, n int) bool {
		if n == 2 {
			telegramAnswer(w, 429, telegramFail(429, "Too Many Requests: retry after 1", &tgbotapi.ResponseParameters{RetryAfter: 1}), nil)
			return true
		}
		return false
	}
	s := newTelegramSender(t, srv.URL, nil, nil, nil, "")
	results := make([]report.Result, 5)
	for i := range results {
		results[i] = bareResult()
		results[i].Policy = fmt.Sprintf("p%d", i)
	}
	b := Batch{Results: results}
	err := s.Send(context.Background(), b)
	var e *Error
	if !errors.As(err, &e) || e.Sent != 2 || !e.Retryable || e.RetryAfter != time.Second {
		t.Fatalf("got %+v", err)
	}
	// The caller resends what was not delivered.
	b.Results = b.Results[e.Sent:]
	if err := s.Send(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range api.requests() {
		got = append(got, strings.SplitN(r.Parsed.plain, "\n", 2)[0])
	}
	if want := "p0 p1 p2 p2 p3 p4"; strings.Join(got, " ") != want {
		t.Errorf("titles %q, want %q", got, want)
	}
}

func TestTelegramTLS(t *testing.T) {
	api := &telegramBotAPI{t: t}
	srv := newTLSServer(t, api)

	t.Run("trusted CA", func(t *testing.T) {
		s := newTelegramSender(t, srv.URL, nil, nil, trustingTLS(srv), "")
		if err := s.Send(context.Background(), Batch{Results: []report.Result{bareResult()}}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("unknown CA", func(t *testing.T) {
		s := newTelegramSender(t, srv.URL, nil, nil, &tls.Config{MinVersion: tls.VersionTLS12}, "")
		err := s.Send(context.Background(), Batch{Results: []report.Result{bareResult()}})
		assertTLSRejected(t, err)
		assertNoTelegramSecrets(t, "error", err.Error())
	})
	t.Run("plain HTTP to a TLS URL", func(t *testing.T) {
		plain := httptest.NewServer(api)
		defer plain.Close()
		s := newTelegramSender(t, strings.Replace(plain.URL, "http://", "https://", 1), nil, nil, nil, "")
		err := s.Send(context.Background(), Batch{Results: []report.Result{bareResult()}})
		if err == nil || IsRetryable(err) {
			t.Fatalf("got %v", err)
		}
		assertNoTelegramSecrets(t, "error", err.Error())
	})
	if n := len(api.requests()); n != 1 {
		t.Errorf("%d requests reached the API, want 1", n)
	}
}

func TestTelegramTransportErrors(t *testing.T) {
	s := newTelegramSender(t, "http://"+closedAddr(t)+"/p", nil, nil, nil, "")
	err := s.Send(context.Background(), Batch{Results: []report.Result{bareResult()}})
	if err == nil || !IsRetryable(err) {
		t.Fatalf("connection refused: got %v", err)
	}
	assertNoTelegramSecrets(t, "error", err.Error())
	var ue interface{ URL() string }
	if errors.As(err, &ue) {
		t.Error("the error chain must not hold the URL")
	}
	for e := err; e != nil; e = errors.Unwrap(e) {
		assertNoTelegramSecrets(t, "wrapped error", e.Error())
	}

	// Cancelled: retryable, errors.Is works, nothing was sent.
	_, srv := newTelegramAPI(t, "")
	s = newTelegramSender(t, srv.URL, nil, nil, nil, "")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = s.Send(ctx, Batch{Results: []report.Result{bareResult()}})
	var e *Error
	if !errors.As(err, &e) || !e.Retryable || e.Sent != 0 || !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
	assertNoTelegramSecrets(t, "error", err.Error())
}

func TestTelegramConfigErrorsHideSecrets(t *testing.T) {
	assertConfigErrors(t, v1alpha1.DestinationTelegram, "SECRET", map[string]Config{
		"no token":      {Settings: descriptor.Settings{"chatID": "1"}},
		"bad token":     {Settings: descriptor.Settings{"chatID": "1", "token": "123456:SECRET-TOKEN/../x"}},
		"token space":   {Settings: descriptor.Settings{"chatID": "1", "token": "123456:SECRET-TOKEN\n"}},
		"no chat":       {Settings: descriptor.Settings{"token": telegramTestToken}},
		"bad chat":      {Settings: descriptor.Settings{"token": telegramTestToken, "chatID": "SECRET chat"}},
		"bad scheme":    {Settings: descriptor.Settings{"token": telegramTestToken, "chatID": "1", "apiURL": "ftp://h/SECRET"}},
		"no host":       {Settings: descriptor.Settings{"token": telegramTestToken, "chatID": "1", "apiURL": "http:///SECRET"}},
		"unparsable":    {Settings: descriptor.Settings{"token": telegramTestToken, "chatID": "1", "apiURL": "http://h/%zzSECRET"}},
		"bad header":    {Settings: descriptor.Settings{"token": telegramTestToken, "chatID": "1"}, Destination: &v1alpha1.Destinations{Telegram: &v1alpha1.TelegramDestination{Headers: map[string]string{"X-Key": "SECRET\r\nX: y"}}}},
		"bad template":  {Settings: descriptor.Settings{"token": telegramTestToken, "chatID": "1"}, MessageTemplate: "{{ .Policy "},
		"unknown field": {Settings: descriptor.Settings{"token": telegramTestToken, "chatID": "1"}, MessageTemplate: "{{ .Policy.Nope }}"},
	})
}
