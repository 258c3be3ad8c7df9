package sender

import (
	"cmp"
	"context"
	"fmt"
	"strings"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/consolelink"
	"github.com/policyherald/policy-herald/internal/sender/render"
	"github.com/policyherald/policy-herald/internal/sender/transport"
)

// discord posts embeds to a Discord webhook.
//
// Settings: "url" (required; the Secret's, else the inline field). Configured headers are sent
// with every request, and the TLS configuration and proxy environment apply as for every HTTP
// destination.
//
// Layout: one embed per result, coloured by severity (see severityPalette), titled
// "<STATUS> · <policy> / <rule>", with the result's message as description (the rendered
// messageTemplate instead, when one is set), the report in the footer, the result's time as
// timestamp, and fields Policy, Rule, Status, Severity, Category, Source, Kind, Name and
// Namespace (inline when short), then one field per property and one "Custom fields" field with
// the target's customFields. The message content is a one-line summary, for notifications;
// mentions are never parsed. With a console (Config.ConsoleURL), each embed's title links to the
// console's page of the result's resource, or of its policy.
//
// A batch becomes one message when it fits Discord's limits, otherwise several, split between
// results and sent in order. A text longer than its limit is cut and ends with "…".
type discord struct {
	*transport.Target
	tmpl *render.Template
	// console, when set, is where each result links to (Config.ConsoleURL).
	console consolelink.Base
}

// Discord's limits, from the Discord developer documentation: Message resource, "Embed Limits"
// (title 256 characters, description 4096, up to 25 fields, field name 256, field value 1024,
// footer text 2048, author name 256, and 6000 characters in total across the title,
// description, field names and values, footer text and author name of all embeds of a message)
// and Webhook resource, "Execute Webhook" (content up to 2000 characters, up to 10 embeds).
const (
	discordMaxEmbeds        = 10
	discordMaxFields        = 25
	discordTitleChars       = 256
	discordDescriptionChars = 4096
	discordFieldNameChars   = 256
	discordFieldValueChars  = 1024
	discordFooterChars      = 2048
	discordMessageChars     = 6000
	discordContentChars     = 2000
)

// Limits of our own, below Discord's, so that any one result fits in an embed: the title,
// footer and fields get what they need within these bounds (at most about 4,400 characters
// together) and the description the rest (at least about 1,600).
const (
	// discordMaxBatch is how many results one Send takes: one message's worth of embeds.
	discordMaxBatch = discordMaxEmbeds
	// discordValueChars bounds the value of the fixed fields (names, kinds: short by nature).
	discordValueChars = 200
	// discordPropertiesChars bounds the property fields of an embed together; above it, or
	// above the field count, they are shown as one field of lines.
	discordPropertiesChars = 1500
	// discordCustomChars bounds the customFields field.
	discordCustomChars = 500
	// discordKeyChars bounds the name of a property field.
	discordKeyChars = 64
	// discordFooterOwnChars bounds the footer (the report's kind, namespace and name).
	discordFooterOwnChars = 256
	// discordInlineChars is the longest value shown inline (three fields to a row).
	discordInlineChars = 40
	// discordSummaryChars bounds the message content.
	discordSummaryChars = 300
)

// The JSON documents posted to Discord.
type discordMessage struct {
	Content         string                 `json:"content,omitempty"`
	Embeds          []discordEmbed         `json:"embeds"`
	AllowedMentions discordAllowedMentions `json:"allowed_mentions"`
}

// discordAllowedMentions with an empty parse list turns every mention off.
type discordAllowedMentions struct {
	Parse []string `json:"parse"`
}

type discordEmbed struct {
	Title       string         `json:"title,omitempty"`
	URL         string         `json:"url,omitempty"`
	Description string         `json:"description,omitempty"`
	Timestamp   string         `json:"timestamp,omitempty"`
	Color       int            `json:"color"`
	Footer      *discordFooter `json:"footer,omitempty"`
	Fields      []discordField `json:"fields,omitempty"`
}

type discordFooter struct {
	Text string `json:"text"`
}

type discordField struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Inline bool   `json:"inline,omitempty"`
}

func init() {
	registerChat(v1alpha1.DestinationDiscord,
		func(d *v1alpha1.Destinations) *v1alpha1.ChatWebhookDestination { return d.Discord },
		func(t *transport.Target, tmpl *render.Template, cfg Config) Sender {
			return &discord{Target: t, tmpl: tmpl, console: cfg.ConsoleURL}
		})
}

// MaxBatch is how many embeds one message takes.
func (d *discord) MaxBatch() int { return discordMaxBatch }

// Send posts the batch as one message, or as several in order when it does not fit one. When
// a message fails, the *Error's Sent counts the results of the messages before it.
func (d *discord) Send(ctx context.Context, b Batch) error {
	return d.PostInOrder(ctx, "discord", d.messages(b))
}

// messages lays the batch out in as few messages as Discord's limits allow.
func (d *discord) messages(b Batch) []transport.Outgoing {
	if len(b.Results) == 0 {
		return nil
	}
	embeds := make([]discordEmbed, len(b.Results))
	for i := range b.Results {
		embeds[i] = d.embed(b, i)
	}
	spans := render.Pack(len(embeds), discordMaxEmbeds, []render.Limit{{Max: discordMessageChars}},
		func(i int) []int { return []int{discordEmbedLen(&embeds[i])} })
	groups := make([][]discordEmbed, len(spans))
	for i, sp := range spans {
		groups[i] = embeds[sp.Start:sp.End]
	}

	out := make([]transport.Outgoing, 0, len(groups))
	for gi, g := range groups {
		// The report's name is text from the cluster like any other: it goes through the
		// same cleaning and escaping as the embeds.
		summary := render.DiscordEscape(render.PlainText(discordSummary(b.Report, len(b.Results))))
		if len(groups) > 1 {
			summary += fmt.Sprintf(" (part %d of %d)", gi+1, len(groups))
		}
		msg := discordMessage{
			Content:         render.CutUnits(summary, discordSummaryChars),
			Embeds:          g,
			AllowedMentions: discordAllowedMentions{Parse: []string{}},
		}
		out = append(out, transport.Outgoing{Doc: msg, Results: len(g)})
	}
	return out
}

// embed lays out one result. It never exceeds discordMessageChars on its own.
func (d *discord) embed(b Batch, i int) discordEmbed {
	raw := NewResultDocument(b.Report, &b.Results[i], b.CustomFields)
	// Escaped before the layout, so that limits count the escapes and a template's own
	// Markdown keeps working while what it inserts cannot become a masked link.
	view := render.ViewOf(*render.MapDocument(&raw, render.DiscordEscape))
	doc := view.Doc
	e := discordEmbed{
		Title:     discordTitle(&view),
		URL:       resultLink(d.console, &raw),
		Timestamp: doc.Timestamp,
		Color:     render.SeverityHeat(doc.Severity),
		Fields:    discordFields(&view),
	}
	if ref := render.JoinNonEmpty(" ", doc.Report.Kind, render.JoinNonEmpty("/", doc.Report.Namespace, doc.Report.Name)); ref != "" {
		e.Footer = &discordFooter{Text: render.CutUnits(ref, discordFooterOwnChars)}
	}

	description := strings.TrimSpace(doc.Message)
	if d.tmpl != nil {
		text, err := d.tmpl.Render(&doc)
		if err != nil {
			text = "*" + render.CutUnits(render.DiscordEscape(render.PlainText(err.Error())), 300) + "*\n" + description
		}
		description = strings.TrimSpace(text)
	}
	room := min(discordDescriptionChars, discordMessageChars-discordEmbedLen(&e))
	e.Description = render.CutUnits(description, room)
	return e
}

// discordTitle is the title of a result's embed, from its escaped view.
func discordTitle(view *render.View) string {
	return render.CutUnits(view.StatusTitle, discordTitleChars)
}

// discordFields are the fixed fields of a result, then its properties and customFields.
func discordFields(view *render.View) []discordField {
	doc := &view.Doc
	facts := append([]render.Pair{{Key: "Policy", Value: doc.Policy}, {Key: "Rule", Value: doc.Rule}}, render.Facts(doc)...)
	out := make([]discordField, 0, discordMaxFields)
	for _, f := range facts {
		if v := strings.TrimSpace(f.Value); v != "" {
			out = append(out, discordNewField(f.Key, v, discordValueChars))
		}
	}

	// Properties are a field each, unless there are too many or they are too long: then they
	// are one field of "key: value" lines. The customFields, the same for every result of a
	// target, are one field of lines, so that they cannot be taken for the result's own.
	props := discordPairs(view.Properties)
	size := 0
	for i := range props {
		size += render.UTF16Len(props[i].Name) + render.UTF16Len(props[i].Value)
	}
	room := discordMaxFields - len(out)
	if len(doc.CustomFields) > 0 {
		room--
	}
	if len(props) <= room && size <= discordPropertiesChars {
		out = append(out, props...)
	} else {
		out = append(out, discordNewField("Properties", discordLines(props), discordPropertiesChars))
	}
	if len(doc.CustomFields) > 0 {
		out = append(out, discordNewField("Custom fields", discordLines(discordPairs(view.Custom)), discordCustomChars))
	}
	return out
}

// discordLines renders fields as "name: value" lines.
func discordLines(fields []discordField) string {
	lines := make([]string, len(fields))
	for i, f := range fields {
		lines[i] = f.Name + ": " + f.Value
	}
	return strings.Join(lines, "\n")
}

// discordPairs are pairs as fields.
func discordPairs(pairs []render.Pair) []discordField {
	out := make([]discordField, 0, len(pairs))
	for _, p := range pairs {
		f := discordNewField(render.CutUnits(cmp.Or(strings.TrimSpace(p.Key), "(empty)"), discordKeyChars), cmp.Or(strings.TrimSpace(p.Value), "(empty)"), discordFieldValueChars)
		out = append(out, f)
	}
	return out
}

func discordNewField(name, value string, max int) discordField {
	value = render.CutUnits(value, min(max, discordFieldValueChars))
	return discordField{
		Name:   render.CutUnits(name, discordFieldNameChars),
		Value:  value,
		Inline: render.UTF16Len(value) <= discordInlineChars && !strings.Contains(value, "\n"),
	}
}

// discordSummary is the content of a message: what it is about, for notifications.
func discordSummary(rep ReportRef, n int) string {
	return discordHeadline(render.NewResultsLine(n), rep)
}

// discordHeadline is "<line> in <report>", not escaped.
func discordHeadline(line string, rep ReportRef) string {
	s := line
	if name := render.JoinNonEmpty("/", rep.Namespace, rep.Name); name != "" {
		s += " in " + render.JoinNonEmpty(" ", rep.Kind, name)
	}
	return s
}

// discordEmbedLen is what an embed counts toward the 6000 characters of a message.
func discordEmbedLen(e *discordEmbed) int {
	n := render.UTF16Len(e.Title) + render.UTF16Len(e.Description)
	if e.Footer != nil {
		n += render.UTF16Len(e.Footer.Text)
	}
	for i := range e.Fields {
		n += render.UTF16Len(e.Fields[i].Name) + render.UTF16Len(e.Fields[i].Value)
	}
	return n
}
