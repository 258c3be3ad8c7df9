package sender

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/consolelink"
	"github.com/policyherald/policy-herald/internal/destination/descriptor"
	"github.com/policyherald/policy-herald/internal/sender/render"
	"github.com/policyherald/policy-herald/internal/sender/transport"
)

// slack posts Block Kit messages to a Slack incoming webhook.
//
// Settings: "url" (required; the Secret's, else the inline field) and "channel" (optional; the
// Secret's, else the inline field), sent as the message's channel override. Slack honours the
// override only for legacy webhooks; webhooks of Slack apps always post to their own channel.
// Configured headers are sent with every request, and the TLS configuration and proxy
// environment apply as for every HTTP destination.
//
// Layout of one message, for a person reading a channel:
//
//   - blocks: a section "N new policy results in <Kind> <namespace>/<name>", then a context
//     block with the target's customFields (shown once per message: they are the same for every
//     result of the batch);
//   - attachments: one per result, coloured by severity (see severityPalette), holding a
//     header "<STATUS> · <policy> / <rule>" and a section whose text is the result's message and
//     properties and whose fields are Status, Severity, Category, Source, Kind, Name and
//     Namespace. With a messageTemplate the section holds the rendered template instead (the
//     header stays);
//   - text: a plain summary with one line per result, which Slack shows in notifications.
//
// With a console (Config.ConsoleURL), each result's section ends with a link to the console's
// page of its resource ("Open Deployment test/nginx in the console"), or of its policy.
//
// A batch becomes one message when it fits Slack's limits, otherwise several, split between
// results and sent in order. A text longer than its limit is cut and ends with "…".
type slack struct {
	*transport.Target
	channel string
	tmpl    *render.Template
	// console, when set, is where each result links to (Config.ConsoleURL).
	console consolelink.Base
	// api, with a bot token, posts through the Web API instead of the webhook (slack_api.go).
	api *slackAPI
}

// Slack's limits. Sources: Block Kit reference (docs.slack.dev/reference/block-kit/blocks:
// "up to 50 blocks in each message"; header block: text "Maximum length ... 150 characters";
// section block: text "Maximum length ... 3000 characters", fields "Maximum number of items is
// 10. Maximum length for the text in each item is 2000 characters"; context block: "Maximum
// number of items is 10"), the secondary attachments reference
// (api.slack.com/reference/messaging/attachments: "limit your messages to contain no more than
// 20 attachments"; more than 100 is refused with too_many_attachments) and chat.postMessage
// (messages are truncated above 40,000 characters of text).
const (
	slackMaxBlocks       = 50
	slackMaxAttachments  = 20
	slackHeaderChars     = 150
	slackSectionChars    = 3000
	slackMaxFields       = 10
	slackFieldChars      = 2000
	slackContextElements = 10
	slackTextChars       = 40000
)

// Limits of our own, below Slack's.
const (
	// slackMaxBatch is how many results one Send takes: one attachment each, at most
	// slackMaxAttachments per message, so a batch of short results is one message.
	slackMaxBatch = slackMaxAttachments
	// slackBlockChars bounds the text of all blocks of one message (attachments included).
	// Slack documents no such limit for section blocks, but refuses messages whose blocks hold
	// about 12,000 characters or more with msg_blocks_too_long (slackapi/bolt-js#2509, #2867).
	slackBlockChars = 10000
	// slackValueChars bounds a field's value (names, kinds, categories: short by nature), so
	// that any one result fits in slackBlockChars with room to spare.
	slackValueChars = 500
	// slackPropertiesChars bounds the properties part of a result's text.
	slackPropertiesChars = 1000
	// slackSummaryChars and slackCustomChars bound the message's own blocks.
	slackSummaryChars = 300
	slackCustomChars  = 1000
	// slackLineChars bounds a result's line in the notification text.
	slackLineChars = 200
)

// The JSON documents posted to Slack.
type slackMessage struct {
	Channel     string            `json:"channel,omitempty"`
	ThreadTS    string            `json:"thread_ts,omitempty"`
	Text        string            `json:"text"`
	Blocks      []slackBlock      `json:"blocks,omitempty"`
	Attachments []slackAttachment `json:"attachments,omitempty"`
	UnfurlLinks bool              `json:"unfurl_links"`
	UnfurlMedia bool              `json:"unfurl_media"`
}

type slackAttachment struct {
	Color  string       `json:"color"`
	Blocks []slackBlock `json:"blocks"`
}

type slackBlock struct {
	Type     string      `json:"type"`
	Text     *slackText  `json:"text,omitempty"`
	Fields   []slackText `json:"fields,omitempty"`
	Elements []slackText `json:"elements,omitempty"`
}

type slackText struct {
	Type string `json:"type"` // plain_text or mrkdwn
	Text string `json:"text"`
}

func init() {
	// The incoming webhook needs its url; the Web API a bot token and a channel.
	register(newSlack, descriptor.Descriptor{Type: v1alpha1.DestinationSlack,
		Alternatives: [][]string{{"url"}, {"token", "channel"}}, SecretKeys: []string{"url", "channel", "token"},
		Endpoint: []string{"url"}, Credential: append(slices.Clone(descriptor.HTTPCredentials), "token"),
		Other: []string{"channel"}, Template: true, Chat: true})
}

func newSlack(cfg Config) (Sender, error) {
	inline := *cfg.Destination.Slack
	channel := strings.TrimSpace(inline.Channel)
	token := strings.TrimSpace(cfg.Settings["token"])
	if token == "" {
		if inline.URL == "" {
			return nil, errors.New("slack: set url (an incoming webhook), or a bot token (Secret key token) and a channel")
		}
		target, tmpl, err := newChatTarget("slack", cfg, inline.HTTPSettings)
		if err != nil {
			return nil, err
		}
		return &slack{Target: target, channel: channel, tmpl: tmpl, console: cfg.ConsoleURL}, nil
	}
	if channel == "" {
		return nil, errors.New("slack: with a bot token, set the channel to post to")
	}
	api, err := newSlackAPI(cfg, inline.Headers, token)
	if err != nil {
		return nil, err
	}
	tmpl, err := render.NewTemplate(cfg.MessageTemplate)
	if err != nil {
		return nil, fmt.Errorf("slack: %w", err)
	}
	return &slack{Target: api.target, channel: channel, tmpl: tmpl, api: api, console: cfg.ConsoleURL}, nil
}

// MaxBatch is how many results fit one message when they are short.
func (s *slack) MaxBatch() int { return slackMaxBatch }

// Send posts the batch as one message, or as several in order when it does not fit one. When
// a message fails, the *Error's Sent counts the results of the messages before it.
func (s *slack) Send(ctx context.Context, b Batch) error {
	if s.api != nil {
		return s.api.send(ctx, s, b)
	}
	return s.PostInOrder(ctx, "slack", s.messages(b))
}

// slackPart is one result, laid out.
type slackPart struct {
	att   slackAttachment
	chars int    // text of its blocks, in UTF-16 code units
	line  string // its line in the notification text
}

// messages lays the batch out in as few messages as Slack's limits allow.
func (s *slack) messages(b Batch) []transport.Outgoing {
	if len(b.Results) == 0 {
		return nil
	}
	var custom *slackBlock
	if text := slackPairs(render.SortedPairs(render.MapStrings(b.CustomFields, render.PlainText)), " · "); text != "" {
		custom = &slackBlock{Type: "context", Elements: []slackText{{Type: "mrkdwn", Text: slackCut(text, slackCustomChars)}}}
	}
	// What every message holds besides its results: the summary section and the custom fields.
	ownBlocks, ownChars := 1, slackSummaryChars
	if custom != nil {
		ownBlocks++
		ownChars += render.UTF16Len(custom.Elements[0].Text)
	}

	parts := make([]slackPart, len(b.Results))
	for i := range b.Results {
		parts[i] = s.part(b, i)
	}
	spans := render.Pack(len(parts), slackMaxAttachments,
		[]render.Limit{{Base: ownBlocks, Max: slackMaxBlocks}, {Base: ownChars, Max: slackBlockChars}},
		func(i int) []int { return []int{len(parts[i].att.Blocks), parts[i].chars} })
	groups := make([][]slackPart, len(spans))
	for i, sp := range spans {
		groups[i] = parts[sp.Start:sp.End]
	}

	out := make([]transport.Outgoing, 0, len(groups))
	for gi, g := range groups {
		summary := slackSummary(b.Report, len(b.Results))
		if len(groups) > 1 {
			summary += fmt.Sprintf(" (part %d of %d)", gi+1, len(groups))
		}
		msg := slackMessage{
			Channel: s.channel,
			Blocks:  []slackBlock{{Type: "section", Text: &slackText{Type: "mrkdwn", Text: slackCut(summary, slackSummaryChars)}}},
		}
		if custom != nil {
			msg.Blocks = append(msg.Blocks, *custom)
		}
		var text strings.Builder
		text.WriteString(strings.ReplaceAll(summary, "*", ""))
		for _, p := range g {
			msg.Attachments = append(msg.Attachments, p.att)
			text.WriteString("\n")
			text.WriteString(p.line)
		}
		msg.Text = slackCut(text.String(), slackTextChars)
		out = append(out, transport.Outgoing{Doc: msg, Results: len(g)})
	}
	return out
}

// part lays out one result: its attachment and its notification line.
func (s *slack) part(b Batch, i int) slackPart {
	view := newChatView(&b, i)
	doc := view.Doc
	header := slackBlock{Type: "header", Text: &slackText{Type: "plain_text", Text: slackTitle(&view)}}
	att := slackAttachment{Color: render.SeverityHeatHex(doc.Severity), Blocks: []slackBlock{header}}

	var section slackBlock
	if s.tmpl != nil {
		section = slackBlock{Type: "section"}
		text, err := s.tmpl.Render(slackEscapedDocument(&doc))
		if err != nil {
			text = "_" + slackCut(slackEscape(err.Error()), 300) + "_\n" + slackBody(&doc)
		}
		if text = strings.TrimSpace(text); text != "" {
			section.Text = &slackText{Type: "mrkdwn", Text: slackCut(text, slackSectionChars)}
		}
	} else {
		section = slackBlock{Type: "section", Fields: slackFields(&doc)}
		if text := slackBody(&doc); text != "" {
			section.Text = &slackText{Type: "mrkdwn", Text: text}
		}
	}
	if link := resultLink(s.console, &doc); link != "" {
		// The link goes last in the section's text, after the text cut to leave it room.
		a := slackLink(link, render.LinkLabel(&doc))
		text := a
		if section.Text != nil {
			text = slackCut(section.Text.Text, slackSectionChars-render.UTF16Len(a)-2) + "\n\n" + a
		}
		section.Text = &slackText{Type: "mrkdwn", Text: text}
	}
	if section.Text != nil || len(section.Fields) > 0 {
		att.Blocks = append(att.Blocks, section)
	}

	chars := 0
	for _, bl := range att.Blocks {
		chars += slackBlockLen(&bl)
	}

	return slackPart{att: att, chars: chars, line: slackLine(&view)}
}

// slackTitle is the header of a result's attachment: "<STATUS> · <policy> / <rule>".
func slackTitle(view *render.View) string { return render.CutUnits(view.StatusTitle, slackHeaderChars) }

// slackLine is a result's line in the notification text, escaped.
func slackLine(view *render.View) string {
	doc := &view.Doc
	line := "• " + view.StatusTitle
	if res := doc.Resource; res != nil {
		line += " — " + render.JoinNonEmpty(" ", res.Kind, render.JoinNonEmpty("/", res.Namespace, res.Name))
	}
	if doc.Severity != "" {
		line += " [" + string(doc.Severity) + "]"
	}
	return slackCut(slackEscape(line), slackLineChars)
}

// slackBody is the default text of a result: its message, then its properties.
func slackBody(d *ResultDocument) string {
	msg := slackEscape(strings.TrimSpace(d.Message))
	props := ""
	if p := slackPairs(render.SortedPairs(d.Properties), "\n"); p != "" {
		props = slackCut("*Properties*\n"+p, slackPropertiesChars)
	}
	switch {
	case props == "":
		return slackCut(msg, slackSectionChars)
	case msg == "":
		return props
	}
	return slackCut(msg, slackSectionChars-render.UTF16Len(props)-2) + "\n\n" + props
}

// slackFields are the short facts of a result, as section fields.
func slackFields(d *ResultDocument) []slackText {
	facts := render.Facts(d)
	facts[0].Value = cmp.Or(facts[0].Value, "-") // the status is always shown
	out := make([]slackText, 0, len(facts))
	for _, f := range facts {
		if f.Value == "" {
			continue
		}
		out = append(out, slackText{Type: "mrkdwn", Text: "*" + f.Key + "*\n" + slackCut(slackEscape(f.Value), slackValueChars)})
	}
	return out
}

// slackSummary is the first line of a message, in mrkdwn.
func slackSummary(rep ReportRef, n int) string { return slackHeadline(render.NewResultsLine(n), rep) }

// slackHeadline is "*<line>* in <report>", in mrkdwn.
func slackHeadline(line string, rep ReportRef) string {
	s := "*" + line + "*"
	if name := render.JoinNonEmpty("/", rep.Namespace, rep.Name); name != "" {
		s += " in " + slackEscape(render.PlainText(render.JoinNonEmpty(" ", rep.Kind, name)))
	}
	return s
}

// slackPairs renders pairs as "*key*: value" items, joined by sep, escaped.
func slackPairs(pairs []render.Pair, sep string) string {
	items := make([]string, 0, len(pairs))
	for _, p := range pairs {
		item := "*" + slackEscape(p.Key) + "*: " + slackEscape(p.Value)
		if sep == "\n" {
			item = "• " + item
		}
		items = append(items, item)
	}
	return strings.Join(items, sep)
}

// slackEscapedDocument is d with every string escaped for mrkdwn, so that what a template
// inserts cannot turn into a mention or a link, while the template's own text keeps its
// formatting.
func slackEscapedDocument(d *ResultDocument) *ResultDocument {
	return render.MapDocument(d, slackEscape)
}

// slackLink is a mrkdwn link to url showing label (plain text, escaped here).
func slackLink(url, label string) string {
	return "<" + slackEscape(strings.ReplaceAll(url, "|", "%7C")) + "|" + slackEscape(label) + ">"
}

var slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// slackEscape escapes the three characters Slack's mrkdwn gives a meaning to (mentions, links).
func slackEscape(s string) string { return slackEscaper.Replace(s) }

func slackBlockLen(b *slackBlock) int {
	n := 0
	if b.Text != nil {
		n += render.UTF16Len(b.Text.Text)
	}
	for _, f := range b.Fields {
		n += render.UTF16Len(f.Text)
	}
	for _, e := range b.Elements {
		n += render.UTF16Len(e.Text)
	}
	return n
}

// slackCut cuts escaped mrkdwn to at most max characters, ending with "…" when cut, never in the
// middle of an entity such as &amp;.
func slackCut(s string, max int) string {
	cut, ok := render.CutAt(s, max)
	if ok {
		return s
	}
	if amp := strings.LastIndexByte(cut, '&'); amp >= 0 && len(cut)-amp < len("&amp;") && !strings.Contains(cut[amp:], ";") {
		cut = cut[:amp]
	}
	return cut + "…"
}
