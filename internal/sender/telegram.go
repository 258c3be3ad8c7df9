package sender

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/consolelink"
	"github.com/policyherald/policy-herald/internal/destination/descriptor"
	"github.com/policyherald/policy-herald/internal/redact"
	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/sender/render"
	"github.com/policyherald/policy-herald/internal/sender/transport"
)

// telegram sends one Bot API sendMessage request per result, its text in MarkdownV2.
//
// Settings: "token" (required, from the Secret): the bot token, sent in the URL path as
// {apiURL}/bot{token}/sendMessage; "chatID" (required): a numeric chat ID or an @channelusername;
// "apiURL" (optional, default https://api.telegram.org): the Bot API base URL, for example a
// proxy, whose path is kept as a prefix. Configured headers are sent with every request.
//
// The text is the default layout (title, resource, status, ...), or the rendered
// messageTemplate taken as plain text. Either way every character MarkdownV2 reserves is
// escaped, and the text is cut to the Bot API limit of 4096 characters after entity parsing.
// With a console (Config.ConsoleURL), a last line links to the console's page of the result's
// resource, or of its policy.
type telegram struct {
	*transport.Target
	chatID any // int64 or string, as the Bot API's chat_id: Integer or String
	tmpl   *render.Template
	// console, when set, is where each result links to (Config.ConsoleURL).
	console consolelink.Base
}

const (
	telegramDefaultAPIURL = "https://api.telegram.org"
	// telegramMaxText is the Bot API limit of a message's text after entity parsing. It is
	// counted here in UTF-16 code units, which is never less than the count in characters.
	telegramMaxText = 4096
	// telegramMaxBatch is how many results one Send takes. Each is its own message; on a
	// failure Error.Sent says how many went out, so a retry resumes after them.
	telegramMaxBatch = 10
	// telegramMinShrink is how much of a shrinkable span (the result's message) is kept when
	// the text is too long; what is still too long is then cut from the end.
	telegramMinShrink = 1024
	// telegramReserved are the characters MarkdownV2 reserves outside entities; each must be
	// escaped with a preceding backslash to be shown as itself.
	telegramReserved = "_*[]()~`>#+-=|{}.!\\"
)

func init() {
	// The chat is the conversation the bot posts to, like Slack's channel: the token still only
	// goes to the Bot API, so choosing another chat is not a redirect.
	register(newTelegram, descriptor.Descriptor{Type: v1alpha1.DestinationTelegram,
		Required: []string{"token", "chatID"}, SecretKeys: []string{"token", "chatID"},
		Endpoint: []string{"apiURL"}, Credential: []string{"headers", "token"}, Other: []string{"chatID"}, Template: true, Chat: true})
}

func newTelegram(cfg Config) (Sender, error) {
	d := cfg.Destination.Telegram
	inline := telegramInline{apiURL: d.APIURL, chatID: d.ChatID, headers: d.Headers}

	token := cfg.Settings["token"]
	if token == "" {
		return nil, errors.New("telegram: the bot token is not set (Secret key token)")
	}
	if !telegramValidToken(token) {
		return nil, errors.New("telegram: the bot token may only hold letters, digits and : _ - . ~")
	}
	chatID, err := telegramChatID(inline.chatID)
	if err != nil {
		return nil, err
	}

	base, err := transport.ParseEndpoint("telegram apiURL", cmp.Or(inline.apiURL, telegramDefaultAPIURL))
	if err != nil {
		return nil, err
	}
	secrets := []string{token, "bot" + token, url.QueryEscape(token)}
	if _, part, ok := strings.Cut(token, ":"); ok && len(part) >= redact.MinSegment {
		secrets = append(secrets, part) // the secret half alone, should a server echo only it
	}
	// The redactor knows the configured base URL (a proxy's path or query may be secret) and the
	// token, not the full request URL: "sendMessage" is no secret to mangle.
	target, err := transport.NewTarget("telegram", base, cfg.httpClient(), inline.headers, secrets...)
	if err != nil {
		return nil, err
	}
	// The base URL's path is a prefix, kept as it was written (escapes included).
	suffix := "/bot" + token + "/sendMessage"
	u := *base.URL
	u.Path = strings.TrimRight(base.URL.Path, "/") + suffix
	u.RawPath = strings.TrimRight(base.URL.EscapedPath(), "/") + suffix
	u.Fragment, u.RawFragment = "", ""
	target.Endpoint = transport.EndpointOf(&u)

	tmpl, err := render.NewTemplate(cfg.MessageTemplate)
	if err != nil {
		return nil, fmt.Errorf("telegram: %w", err)
	}
	return &telegram{Target: target, chatID: chatID, tmpl: tmpl, console: cfg.ConsoleURL}, nil
}

// telegramInline are the inline fields of the telegram block.
type telegramInline struct {
	apiURL, chatID string
	headers        map[string]string
}

// telegramValidToken accepts what can go into a URL path segment as is: bot tokens are
// "<bot id>:<secret>" of letters, digits, '_' and '-'.
func telegramValidToken(token string) bool {
	for _, r := range token {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune(":_-.~", r):
		default:
			return false
		}
	}
	return token != ""
}

// telegramChatID returns the chat_id to send: an integer for numeric IDs (groups and channels
// are negative), else an @channelusername as a string. Errors do not echo the value.
func telegramChatID(s string) (any, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("telegram: chatID is not set")
	}
	if id, err := strconv.ParseInt(s, 10, 64); err == nil {
		return id, nil
	}
	if len(s) > 1 && s[0] == '@' && !strings.ContainsFunc(s[1:], func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_')
	}) {
		return s, nil
	}
	return nil, errors.New("telegram: chatID must be a numeric chat ID or an @channelusername")
}

// MaxBatch is telegramMaxBatch: one message per result, several results per Send.
func (t *telegram) MaxBatch() int { return telegramMaxBatch }

// telegramRequest is the body of sendMessage.
type telegramRequest struct {
	ChatID             any                 `json:"chat_id"`
	Text               string              `json:"text"`
	ParseMode          string              `json:"parse_mode"`
	LinkPreviewOptions telegramLinkPreview `json:"link_preview_options"`
}

// telegramLinkPreview is LinkPreviewOptions (Bot API 7.0 and later; it replaced
// disable_web_page_preview). Links in messages are the producers' and get no preview.
type telegramLinkPreview struct {
	IsDisabled bool `json:"is_disabled"`
}

// Send posts one message per result, in order, and stops at the first failure, whose Error
// says in Sent how many results went out before it.
func (t *telegram) Send(ctx context.Context, b Batch) error {
	return b.eachInOrder(func(r *report.Result) error { return t.sendOne(ctx, b.Report, r, b.CustomFields) })
}

func (t *telegram) sendOne(ctx context.Context, rep ReportRef, r *report.Result, custom map[string]string) error {
	doc := NewResultDocument(rep, r, custom)
	text, err := t.text(&doc)
	if err != nil {
		return &Error{Reason: "telegram: " + err.Error()}
	}
	return t.sendText(ctx, text)
}

// sendText sends one message of MarkdownV2 text.
func (t *telegram) sendText(ctx context.Context, text string) error {
	body, err := json.Marshal(telegramRequest{
		ChatID:             t.chatID,
		Text:               text,
		ParseMode:          "MarkdownV2",
		LinkPreviewOptions: telegramLinkPreview{IsDisabled: true},
	})
	if err != nil {
		return &Error{Reason: fmt.Sprintf("encoding the telegram message: %v", err)}
	}
	return t.postMessage(ctx, body)
}

// text is the MarkdownV2 text of one result: the rendered template as plain text, or the
// default layout when there is no template or it renders only white space.
// With a console, a last line links to the result's page there.
func (t *telegram) text(d *ResultDocument) (string, error) {
	var spans []telegramSpan
	if t.tmpl != nil {
		out, err := t.tmpl.Render(d)
		if err != nil {
			return "", err
		}
		if out = strings.TrimSpace(telegramClean(out, true)); out != "" {
			spans = []telegramSpan{{text: out, shrink: true}}
		}
	}
	if spans == nil {
		spans = telegramLayout(d)
	}
	if link := resultLink(t.console, d); link != "" {
		spans = append(spans, telegramSpan{text: "\n"}, telegramSpan{text: render.LinkLabel(d), link: link})
	}
	return telegramRender(spans, telegramMaxText), nil
}

// telegramSpan is a piece of plain text, bold or not, or the text of a link. Spans are escaped
// when rendered.
type telegramSpan struct {
	text   string
	bold   bool
	shrink bool   // cut first when the text is too long (the result's message)
	link   string // the address the text links to, if any
}

// telegramLayout is the default text of a result:
//
//	*[high] require-labels*
//	*Resource:* Deployment test/nginx (apps/v1)
//	*Status:* fail
//	... Time, Category, Rule, Source
//	*Message:*
//	label app is required
//	*Properties:*
//	• cluster: prod-eu
//	*Custom fields:*
//	• owner: team-a
func telegramLayout(d *ResultDocument) []telegramSpan {
	line := render.OneLine
	spans := []telegramSpan{{text: telegramTitle(d), bold: true}}
	field := func(label, value string) {
		if value = line(value); value != "" {
			spans = append(spans, telegramSpan{text: "\n"}, telegramSpan{text: label + ":", bold: true},
				telegramSpan{text: " " + value})
		}
	}
	if res := d.Resource; res != nil {
		v := render.ObjectLine(res.Kind, res.Namespace, res.Name)
		if res.APIVersion != "" {
			v += " (" + res.APIVersion + ")"
		}
		field("Resource", v)
	}
	field("Status", string(d.Status))
	field("Time", d.Timestamp)
	field("Category", d.Category)
	field("Rule", d.Rule)
	field("Source", d.Source)
	if msg := strings.TrimSpace(telegramClean(d.Message, true)); msg != "" {
		spans = append(spans, telegramSpan{text: "\n"}, telegramSpan{text: "Message:", bold: true},
			telegramSpan{text: "\n" + msg, shrink: true})
	}
	list := func(label string, m map[string]string) {
		if len(m) == 0 {
			return
		}
		spans = append(spans, telegramSpan{text: "\n"}, telegramSpan{text: label + ":", bold: true})
		for _, p := range render.SortedPairs(m) {
			spans = append(spans, telegramSpan{text: "\n• " + line(p.Key) + ": " + line(p.Value)})
		}
	}
	list("Properties", d.Properties)
	list("Custom fields", d.CustomFields)
	return spans
}

// telegramTitle is the first line of a result's message: "[high] require-labels" (the policy,
// else the rule, else "Policy result"; the severity when set).
func telegramTitle(d *ResultDocument) string {
	line := render.OneLine
	title := cmp.Or(line(d.Policy), line(d.Rule), "Policy result")
	if d.Severity != "" {
		title = "[" + line(string(d.Severity)) + "] " + title
	}
	return title
}

// telegramClean is plainText(s); in a single line, line breaks and tabs become spaces.
func telegramClean(s string, multiline bool) string {
	s = render.PlainText(s)
	if multiline {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' {
			return ' '
		}
		return r
	}, s)
}

// telegramLen is the length of plain text in UTF-16 code units.
func telegramLen(s string) int {
	n := 0
	for _, r := range s {
		if l := utf16.RuneLen(r); l > 0 {
			n += l
		} else {
			n++
		}
	}
	return n
}

// telegramCut returns the longest prefix of s that is at most max units long together with
// the ellipsis, followed by the ellipsis; "" when not even the ellipsis fits. It cuts between
// runes of the plain text, before anything is escaped, so no escape sequence is ever split.
func telegramCut(s string, max int) string {
	budget := max - telegramLen(render.Ellipsis)
	if budget < 0 {
		return ""
	}
	n := 0
	for i, r := range s {
		l := telegramLen(string(r))
		if n+l > budget {
			// No dangling white space or zero-width joiner before the ellipsis.
			return strings.TrimRight(s[:i], " \t\n\u200d") + render.Ellipsis
		}
		n += l
	}
	return s + render.Ellipsis // not reached when s is too long; kept for safety
}

// telegramRender fits spans into limit units of plain text and renders them as MarkdownV2:
// the shrinkable spans are cut first (down to telegramMinShrink), then the text from its end.
func telegramRender(spans []telegramSpan, limit int) string {
	total := 0
	for _, s := range spans {
		total += telegramLen(s.text)
	}
	for i := range spans {
		if total <= limit {
			break
		}
		if !spans[i].shrink {
			continue
		}
		l := telegramLen(spans[i].text)
		if l <= telegramMinShrink {
			continue
		}
		cut := telegramCut(spans[i].text, max(l-(total-limit), telegramMinShrink))
		total += telegramLen(cut) - l
		spans[i].text = cut
	}
	if total > limit {
		n := 0
		for i := range spans {
			l := telegramLen(spans[i].text)
			if n+l <= limit {
				n += l
				continue
			}
			spans[i].text = telegramCut(spans[i].text, limit-n)
			spans = spans[:i+1]
			break
		}
	}

	var b strings.Builder
	for i := 0; i < len(spans); {
		if spans[i].link != "" {
			// A link is an entity of its own; its text does not count the address.
			if spans[i].text != "" {
				b.WriteByte('[')
				telegramEscape(&b, spans[i].text)
				b.WriteString("](")
				b.WriteString(telegramURL.Replace(spans[i].link))
				b.WriteByte(')')
			}
			i++
			continue
		}
		// Adjacent spans of the same style are one entity: no "**" between them.
		j, text := i+1, spans[i].text
		for j < len(spans) && spans[j].bold == spans[i].bold && spans[j].link == "" {
			text += spans[j].text
			j++
		}
		if text != "" {
			if spans[i].bold {
				b.WriteByte('*')
			}
			telegramEscape(&b, text)
			if spans[i].bold {
				b.WriteByte('*')
			}
		}
		i = j
	}
	return b.String()
}

// telegramURL escapes the address of an inline link: inside "(...)" only ')' and '\' must be.
var telegramURL = strings.NewReplacer(`\`, `\\`, ")", `\)`)

// telegramEscape writes s with a backslash before every character MarkdownV2 reserves.
func telegramEscape(b *strings.Builder, s string) {
	for _, r := range s {
		if r < 127 && strings.ContainsRune(telegramReserved, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
}

// telegramResponse is the Bot API's answer: {"ok":false,"error_code":429,"description":"...",
// "parameters":{"retry_after":5}} on failure.
type telegramResponse struct {
	OK          *bool  `json:"ok"`
	ErrorCode   int    `json:"error_code"`
	Description string `json:"description"`
	Parameters  *struct {
		RetryAfter      json.Number `json:"retry_after"`
		MigrateToChatID int64       `json:"migrate_to_chat_id"`
	} `json:"parameters"`
}

// postMessage POSTs body like transport.Poster.PostJSON, through the same client (TLS, proxy, no
// redirects), but reads the Bot API's answer: its description and retry_after.
func (t *telegram) postMessage(ctx context.Context, body []byte) error {
	const method = http.MethodPost
	resp, err := t.Poster.Do(ctx, t.Endpoint, t.Headers, body)
	if err != nil {
		return err
	}
	defer transport.DrainAndClose(resp)
	limit := int64(transport.ExcerptRead)
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		limit = transport.MaxDrain // the sent message is echoed back; only "ok" matters
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, limit))

	var tr telegramResponse
	api := json.Unmarshal(data, &tr) == nil && tr.OK != nil
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode <= 299 && (!api || *tr.OK):
		return nil // a proxy may answer 2xx without a Bot API body: delivered all the same
	case !api || *tr.OK:
		// Not a Bot API answer (a proxy's or load balancer's page): classify it like any other.
		var start []byte
		if resp.StatusCode >= 400 && resp.StatusCode <= 499 {
			start = data
		}
		if e := transport.ResponseError(method, t.Endpoint.Host, resp, start, t.Poster.Red, t.Poster.Now()); e != nil {
			return e
		}
		return nil
	}
	return t.apiError(resp, &tr)
}

// apiError classifies a Bot API error answer. Its description goes into Reason, redacted and
// cut; parameters.retry_after and the Retry-After header are honoured, the longer one winning.
func (t *telegram) apiError(resp *http.Response, tr *telegramResponse) *Error {
	code := resp.StatusCode
	if code >= 200 && code <= 299 && tr.ErrorCode != 0 {
		code = tr.ErrorCode // "ok":false in a 2xx answer: the Bot API's own code says what failed
	}
	e := &Error{StatusCode: resp.StatusCode}
	status := strconv.Itoa(code)
	if text := http.StatusText(code); text != "" {
		status += " " + text
	}
	e.Reason = fmt.Sprintf("POST to %s: %s", t.Endpoint.Host, status)
	if d := transport.Excerpt([]byte(tr.Description), t.Poster.Red); d != "" {
		e.Reason += ": " + d
	}
	var hint string
	switch {
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		e.Retryable = true
		e.RetryAfter = transport.ParseRetryAfter(resp.Header.Get("Retry-After"), t.Poster.Now())
	case code == http.StatusRequestTimeout || code >= 500:
		e.Retryable = true
	case code >= 300 && code <= 399:
		hint = "redirects are not followed; configure the final URL"
	case code == http.StatusUnauthorized:
		hint = "check the bot token"
	case code == http.StatusNotFound:
		hint = "check the bot token and apiURL"
	}
	if p := tr.Parameters; p != nil {
		if ra := telegramSeconds(p.RetryAfter); ra > 0 {
			e.Retryable = true // flood control: the same request succeeds after the wait
			e.RetryAfter = max(e.RetryAfter, ra)
		}
		if p.MigrateToChatID != 0 {
			hint = fmt.Sprintf("the group is now the supergroup %d: set chatID to it", p.MigrateToChatID)
		}
	}
	if hint != "" {
		e.Reason += " (" + hint + ")"
	}
	if e.RetryAfter > 0 {
		e.Reason += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	return e
}

// telegramSeconds reads retry_after (an integer number of seconds; a fraction is rounded up).
func telegramSeconds(n json.Number) time.Duration {
	f, err := n.Float64()
	if err != nil || !(f > 0) {
		return 0
	}
	const maxSecs = float64(math.MaxInt64 / int64(time.Second))
	return time.Duration(math.Min(math.Ceil(f), maxSecs)) * time.Second
}
