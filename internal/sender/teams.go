package sender

import (
	"context"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/consolelink"
	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/sender/render"
	"github.com/policyherald/policy-herald/internal/sender/transport"
)

// teams posts Adaptive Cards to a Microsoft Teams Workflows webhook (the "When a Teams webhook
// request is received" trigger; the Office 365 connector MessageCards are retired). Workflows
// answer 202 Accepted on success.
//
// Settings: "url" (the webhook URL, which holds its signature: keep it in the Secret), falling
// back to teams.url. teams.headers are sent with every request.
//
// A batch (new results of one report) becomes one card: a header with the count, the report and
// the target's custom fields, then one Container per result (policy and rule, a FactSet with
// status, severity, category and resource, the message, the result's properties), styled by
// priority: attention, warning, accent, good. A batch whose card would be larger than
// teamsMaxBody is split into several messages, each a complete card with the header; a result
// too large for a message of its own is sent in a compact form. The messageTemplate, when set,
// replaces each result's message text. With a console (Config.ConsoleURL), each result ends
// with a link to the console's page of its resource, or of its policy.
type teams struct {
	*transport.Target
	tmpl *render.Template
	// maxBody is the most bytes one request body may have (teamsMaxBody).
	maxBody int
	// console, when set, is where each result links to (Config.ConsoleURL).
	console consolelink.Base
}

const (
	// teamsMaxBatch is how many results one Send takes: one card, split when too large.
	teamsMaxBatch = 20
	// teamsMaxBody is the most bytes a request body may have. Teams documents "The message size
	// limit is 28 KB. When the size exceeds 28 KB, you receive an error" (Create Incoming
	// Webhooks, learn.microsoft.com/microsoftteams/platform/webhooks-and-connectors/how-to/
	// add-incoming-webhook). That is measured on the message Teams stores, which the Workflow
	// builds from the body; senders report rejections close to the limit, so the body is kept
	// well under it: 24,000 bytes of UTF-8 JSON.
	teamsMaxBody = 24000
	// teamsMaxMessage is the most bytes of one result's message text (or rendered template).
	teamsMaxMessage = 8000
	// teamsMaxCompactMessage is the message's limit in the compact form of a result.
	teamsMaxCompactMessage = 1500
	// teamsMaxLine is the most bytes of a title, a fact's title or value, or the report line.
	teamsMaxLine = 512
	// teamsMaxValue is the most bytes of a property's or custom field's value.
	teamsMaxValue = 1024

	teamsCardSchema  = "http://adaptivecards.io/schemas/adaptive-card.json"
	teamsCardVersion = "1.4" // Teams renders up to 1.5; every element used here exists since 1.2
	teamsContentType = "application/vnd.microsoft.card.adaptive"
)

func init() {
	registerChat(v1alpha1.DestinationTeams,
		func(d *v1alpha1.Destinations) *v1alpha1.ChatWebhookDestination { return d.Teams },
		func(t *transport.Target, tmpl *render.Template, cfg Config) Sender {
			return &teams{Target: t, tmpl: tmpl, maxBody: teamsMaxBody, console: cfg.ConsoleURL}
		})
}

// MaxBatch is teamsMaxBatch: one card per batch.
func (t *teams) MaxBatch() int { return teamsMaxBatch }

// The wire format: a message activity with one Adaptive Card attachment.
type (
	teamsMessage struct {
		Type        string            `json:"type"`
		Attachments []teamsAttachment `json:"attachments"`
	}
	teamsAttachment struct {
		ContentType string    `json:"contentType"`
		ContentURL  *string   `json:"contentUrl"` // always null
		Content     teamsCard `json:"content"`
	}
	teamsCard struct {
		Schema       string         `json:"$schema"`
		Type         string         `json:"type"`
		Version      string         `json:"version"`
		FallbackText string         `json:"fallbackText,omitempty"`
		Body         []teamsElement `json:"body"`
		Actions      []teamsAction  `json:"actions,omitempty"`
		MSTeams      teamsCardHost  `json:"msteams"`
	}
	// teamsAction is an Action.OpenUrl: a button that opens an address.
	teamsAction struct {
		Type  string `json:"type"`
		Title string `json:"title"`
		URL   string `json:"url"`
	}
	teamsCardHost struct {
		Width string `json:"width"`
	}
	// teamsElement is a TextBlock, a FactSet or a Container, with the fields each uses.
	teamsElement struct {
		Type      string         `json:"type"`
		Style     string         `json:"style,omitempty"`
		Separator bool           `json:"separator,omitempty"`
		Spacing   string         `json:"spacing,omitempty"`
		Text      string         `json:"text,omitempty"`
		Size      string         `json:"size,omitempty"`
		Weight    string         `json:"weight,omitempty"`
		Color     string         `json:"color,omitempty"`
		IsSubtle  bool           `json:"isSubtle,omitempty"`
		Wrap      bool           `json:"wrap,omitempty"`
		Facts     []teamsFact    `json:"facts,omitempty"`
		Items     []teamsElement `json:"items,omitempty"`
	}
	teamsFact struct {
		Title string `json:"title"`
		Value string `json:"value"`
	}
)

// teamsEntry is one result, laid out in full and in the compact form used when the full one
// does not fit in a message of its own.
type teamsEntry struct {
	full, compact teamsElement
}

// Send posts the batch as one card, or as several when it is too large for one message, in
// order. It stops at the first failure, whose Error says in Sent how many results went out.
func (t *teams) Send(ctx context.Context, b Batch) error {
	entries, renderErr := t.entries(&b)
	parts, err := t.plan(&b, entries)
	if err != nil {
		return &Error{Reason: "teams: " + err.Error()}
	}
	for _, p := range parts { // the plan measured every message
		if err := t.PostSized(ctx, "teams", t.message(&b, entries, p, len(parts) > 1, len(entries)), t.maxBody, p.start); err != nil {
			return err
		}
	}
	if renderErr != nil {
		return renderErr
	}
	return nil
}

// entries lays out every result. When the messageTemplate fails on a result, the results
// before it are laid out and the error to return once they are sent says they were.
func (t *teams) entries(b *Batch) ([]teamsEntry, *Error) {
	out := make([]teamsEntry, 0, len(b.Results))
	for i := range b.Results {
		r := &b.Results[i]
		msg := render.TeamsEscape(render.Clean(r.Message, true))
		if t.tmpl != nil {
			doc := NewResultDocument(b.Report, r, b.CustomFields)
			// Escaped before rendering, as for Discord: the template's own links work, what it
			// inserts cannot become one.
			text, err := t.tmpl.Render(render.MapDocument(&doc, render.TeamsEscape))
			if err != nil {
				return out, &Error{Reason: "teams: " + err.Error(), Sent: i}
			}
			if text = render.Clean(text, true); text != "" {
				msg = text
			}
		}
		link := ""
		if t.console != "" {
			doc := NewResultDocument(b.Report, r, nil)
			if url := resultLink(t.console, &doc); url != "" {
				link = teamsLink(render.LinkLabel(&doc), url)
			}
		}
		out = append(out, teamsEntry{
			full:    teamsResult(r, msg, link, false),
			compact: teamsResult(r, msg, link, true),
		})
	}
	return out, nil
}

// plan splits the entries into messages of at most maxBody bytes, packing as many results into
// each as fit. Sizes are exact: elements of a JSON array are encoded one by one, so a message is
// its frame plus each element and a comma. The frame is measured with the longest header any
// part can have.
func (t *teams) plan(b *Batch, entries []teamsEntry) ([]chatPart, error) {
	n := len(entries)
	frame := func(compact bool) (int, error) {
		body, err := transport.MarshalJSON(t.message(b, nil, chatPart{start: n, end: n, compact: compact}, true, n))
		return len(body), err
	}
	size := func(i int, compact bool) (int, error) {
		e := entries[i].full
		if compact {
			e = entries[i].compact
		}
		enc, err := transport.MarshalJSON(e)
		return len(enc) + 1, err // and its comma
	}
	return planChat(n, t.maxBody, frame, size)
}

// message builds the message of part p of a batch of total results. entries may be nil to
// measure the frame alone.
func (t *teams) message(b *Batch, entries []teamsEntry, p chatPart, split bool, total int) teamsMessage {
	title := render.NewResultsLine(total)
	if split {
		title = render.PartLine(p.start, p.end, total)
	}
	body := []teamsElement{{Type: "TextBlock", Text: title, Size: "medium", Weight: "bolder", Wrap: true}}
	reportLine := render.CutBytes(teamsLine(reportLine(b.Report)), teamsMaxLine)
	if reportLine != "" {
		body = append(body, teamsElement{Type: "TextBlock", Spacing: "none", Text: reportLine, IsSubtle: true, Wrap: true})
	}
	if !p.compact {
		if facts := teamsFacts(b.CustomFields); len(facts) > 0 {
			body = append(body, teamsElement{Type: "FactSet", Facts: facts})
		}
	}
	for i := p.start; i < p.end && entries != nil; i++ {
		if p.compact {
			body = append(body, entries[i].compact)
		} else {
			body = append(body, entries[i].full)
		}
	}
	fallback := title
	if reportLine != "" {
		fallback += ": " + reportLine
	}
	return teamsEnvelope(body, fallback)
}

// teamsEnvelope is the message of one full-width card with body and fallback text.
func teamsEnvelope(body []teamsElement, fallback string) teamsMessage {
	return teamsMessage{
		Type: "message",
		Attachments: []teamsAttachment{{
			ContentType: teamsContentType,
			Content: teamsCard{
				Schema:       teamsCardSchema,
				Type:         "AdaptiveCard",
				Version:      teamsCardVersion,
				FallbackText: fallback,
				Body:         body,
				MSTeams:      teamsCardHost{Width: "Full"},
			},
		}},
	}
}

// teamsLine is oneLine(s) with its Markdown links broken (teamsEscape): every text of a card
// that comes from a report is one, or the message, cleaned and escaped the same way.
func teamsLine(s string) string { return render.TeamsEscape(render.OneLine(s)) }

// teamsLink is a Markdown link to url showing label (plain text, escaped here).
func teamsLink(label, url string) string {
	return "[" + render.CutBytes(teamsLine(label), teamsMaxLine) + "](" + render.MarkdownURL(url) + ")"
}

// teamsResult is the Container of one result. msg is the cleaned message text (or template
// output); link, when set, is the Markdown link to the result's page in the console, shown
// last. The compact form cuts the message shorter and leaves out the properties.
func teamsResult(r *report.Result, msg, link string, compact bool) teamsElement {
	style, color := teamsStyle(r)
	items := []teamsElement{{Type: "TextBlock", Text: teamsTitle(r), Weight: "bolder", Color: color, Wrap: true}}

	facts := []teamsFact{{Title: "Status", Value: render.CutBytes(teamsLine(string(r.Status)), teamsMaxLine)}}
	add := func(title, value string) {
		if value = render.CutBytes(teamsLine(value), teamsMaxLine); value != "" {
			facts = append(facts, teamsFact{Title: title, Value: value})
		}
	}
	add("Severity", string(r.Severity))
	add("Category", r.Category)
	if res := r.Resource; res != nil {
		add("Resource", render.ObjectLine(res.Kind, res.Namespace, res.Name))
	}
	if facts[0].Value == "" {
		facts = facts[1:]
	}
	if len(facts) > 0 {
		items = append(items, teamsElement{Type: "FactSet", Facts: facts})
	}

	limit := teamsMaxMessage
	if compact {
		limit = teamsMaxCompactMessage
	}
	if msg != "" {
		items = append(items, teamsElement{Type: "TextBlock", Text: render.CutBytes(msg, limit), Wrap: true})
	}
	if props := teamsFacts(r.Properties); len(props) > 0 {
		if compact {
			items = append(items, teamsElement{
				Type: "TextBlock", Text: render.Plural(len(props), "property", "properties") +
					" left out: the result is too large for one Teams message",
				IsSubtle: true, Wrap: true,
			})
		} else {
			items = append(items, teamsElement{Type: "FactSet", Separator: true, Facts: props})
		}
	}
	if link != "" {
		items = append(items, teamsElement{Type: "TextBlock", Text: link, Size: "small", Wrap: true})
	}
	return teamsElement{Type: "Container", Style: style, Separator: true, Spacing: "medium", Items: items}
}

// teamsTitle is the title of a result's Container: "<policy> / <rule>".
func teamsTitle(r *report.Result) string {
	return render.CutBytes(render.ResultTitle(teamsLine(r.Policy), teamsLine(r.Rule)), teamsMaxLine)
}

// teamsStyle is the Container style and title colour of a result, by priority: critical and
// error are attention, warning is warning, info is accent; pass results are good, skipped ones
// emphasis.
func teamsStyle(r *report.Result) (style, color string) {
	switch r.Priority() {
	case v1alpha1.PriorityCritical, v1alpha1.PriorityError:
		return "attention", "attention"
	case v1alpha1.PriorityWarning:
		return "warning", "warning"
	case v1alpha1.PriorityInfo:
		return "accent", "accent"
	}
	if r.Status == v1alpha1.StatusPass {
		return "good", "good"
	}
	return "emphasis", ""
}

// teamsFacts are the entries of m sorted by key, cut to size; nil for none.
func teamsFacts(m map[string]string) []teamsFact {
	if len(m) == 0 {
		return nil
	}
	return teamsPairs(render.SortedPairs(m))
}

// teamsPairs are pairs as facts, cut to size.
func teamsPairs(pairs []render.Pair) []teamsFact {
	facts := make([]teamsFact, len(pairs))
	for i, p := range pairs {
		facts[i] = teamsFact{Title: render.CutBytes(teamsLine(p.Key), teamsMaxLine), Value: render.CutBytes(teamsLine(p.Value), teamsMaxValue)}
	}
	return facts
}
