package sender

import (
	"context"
	"html"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/consolelink"
	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/sender/render"
	"github.com/policyherald/policy-herald/internal/sender/transport"
)

// googleChat posts cardsV2 messages to a Google Chat space's incoming webhook.
//
// Settings: "url" (the webhook URL, whose key and token are in its query: keep it in the
// Secret), falling back to googleChat.url. googleChat.headers are sent with every request.
//
// Every result is one card: a header (policy and rule; the resource), a section with the
// message, a Details section (status and severity in colour, category, resource), and the
// result's properties and the target's custom fields, each in a section of its own. The cards
// of a batch are packed into as few messages as the size limit allows, in order, each with a
// line of text naming the report. The messageTemplate, when set, replaces the message text; it
// is taken as plain text, like every value from a result: "<", ">" and "&" are escaped, as card
// text is HTML. With a console (Config.ConsoleURL), the Details end with a link to the
// console's page of the result's resource, or of its policy.
type googleChat struct {
	*transport.Target
	tmpl *render.Template
	// maxBody is the most bytes one request body may have (gchatMaxBody).
	maxBody int
	// console, when set, is where each result links to (Config.ConsoleURL).
	console consolelink.Base
}

const (
	// gchatMaxBatch is how many results one Send takes. Google documents no limit on the
	// number of cards in a message, only on its size; the cards are packed by size.
	gchatMaxBatch = 20
	// gchatMaxBody is the most bytes a request body may have. Google Chat: "The maximum message
	// size, including the message contents, is 32,000 bytes" (spaces.messages.create,
	// developers.google.com/workspace/chat/api/reference/rest/v1/spaces.messages/create), and
	// a card's "Maximum size is 32 KB" (CardWithId). The body is kept under 30,000 bytes of
	// JSON, which is larger than the message Google stores.
	gchatMaxBody = 30000
	// gchatMaxWidgets is the most widgets a card may have: "You can add up to 100 widgets per
	// card. Any widgets beyond this limit are ignored" (Cards v2, Card).
	gchatMaxWidgets = 100
	// gchatMaxMessage is the most bytes of one result's message text once HTML-escaped.
	gchatMaxMessage = 8000
	// gchatMaxCompactMessage is the message's limit in the compact form of a result.
	gchatMaxCompactMessage = 1500
	// gchatMaxLine is the most bytes of a header, label or value once escaped.
	gchatMaxLine = 512
	// gchatMaxValue is the most bytes of a property's or custom field's value once escaped.
	gchatMaxValue = 1024
	// gchatMaxCardID is the most bytes of a cardId.
	gchatMaxCardID = 64
)

func init() {
	registerChat(v1alpha1.DestinationGoogleChat,
		func(d *v1alpha1.Destinations) *v1alpha1.ChatWebhookDestination { return d.GoogleChat },
		func(t *transport.Target, tmpl *render.Template, cfg Config) Sender {
			return &googleChat{Target: t, tmpl: tmpl, maxBody: gchatMaxBody, console: cfg.ConsoleURL}
		})
}

// MaxBatch is gchatMaxBatch: one card per result, packed into as few messages as fit.
func (g *googleChat) MaxBatch() int { return gchatMaxBatch }

// The wire format: a Message with cardsV2 (Google Chat API v1, Cards v2).
type (
	gchatMessage struct {
		Text    string          `json:"text,omitempty"`
		CardsV2 []gchatCardWith `json:"cardsV2"`
	}
	gchatCardWith struct {
		CardID string    `json:"cardId"`
		Card   gchatCard `json:"card"`
	}
	gchatCard struct {
		Header   gchatCardHeader `json:"header"`
		Sections []gchatSection  `json:"sections"`
	}
	gchatCardHeader struct {
		Title    string `json:"title"`
		Subtitle string `json:"subtitle,omitempty"`
	}
	gchatSection struct {
		Header                    string        `json:"header,omitempty"`
		Collapsible               bool          `json:"collapsible,omitempty"`
		UncollapsibleWidgetsCount int           `json:"uncollapsibleWidgetsCount,omitempty"`
		Widgets                   []gchatWidget `json:"widgets"`
	}
	// gchatWidget is a textParagraph, a decoratedText or a buttonList.
	gchatWidget struct {
		TextParagraph *gchatTextParagraph `json:"textParagraph,omitempty"`
		DecoratedText *gchatDecoratedText `json:"decoratedText,omitempty"`
		ButtonList    *gchatButtonList    `json:"buttonList,omitempty"`
	}
	gchatButtonList struct {
		Buttons []gchatButton `json:"buttons"`
	}
	gchatButton struct {
		Text    string       `json:"text"`
		OnClick gchatOnClick `json:"onClick"`
	}
	gchatOnClick struct {
		OpenLink gchatOpenLink `json:"openLink"`
	}
	gchatOpenLink struct {
		URL string `json:"url"`
	}
	gchatTextParagraph struct {
		Text string `json:"text"`
	}
	gchatDecoratedText struct {
		TopLabel    string `json:"topLabel,omitempty"`
		Text        string `json:"text"`
		BottomLabel string `json:"bottomLabel,omitempty"`
		WrapText    bool   `json:"wrapText,omitempty"`
	}
)

// Send posts the batch's cards in as few messages as fit, in order. It stops at the first
// failure, whose Error says in Sent how many results went out.
func (g *googleChat) Send(ctx context.Context, b Batch) error {
	full, compact, renderErr := g.cards(&b)
	parts, err := g.plan(&b, full, compact)
	if err != nil {
		return &Error{Reason: "googleChat: " + err.Error()}
	}
	for _, p := range parts {
		cards := full[p.start:p.end]
		if p.compact {
			cards = compact[p.start:p.end]
		}
		// The plan measured every message.
		if err := g.PostSized(ctx, "googleChat", g.message(&b, cards, p, len(parts) > 1, len(full)), g.maxBody, p.start); err != nil {
			return err
		}
	}
	if renderErr != nil {
		return renderErr
	}
	return nil
}

// cards lays out every result in full and compact form. When the messageTemplate fails on a
// result, the results before it are laid out and the error to return once they are sent says
// they were.
func (g *googleChat) cards(b *Batch) (full, compact []gchatCardWith, renderErr *Error) {
	ids := gchatCardIDs(b)
	for i := range b.Results {
		r := &b.Results[i]
		msg := r.Message
		if g.tmpl != nil {
			doc := NewResultDocument(b.Report, r, b.CustomFields)
			text, err := g.tmpl.Render(&doc)
			if err != nil {
				return full, compact, &Error{Reason: "googleChat: " + err.Error(), Sent: i}
			}
			if strings.TrimSpace(text) != "" {
				msg = text
			}
		}
		link := ""
		if g.console != "" {
			doc := NewResultDocument(b.Report, r, nil)
			if url := resultLink(g.console, &doc); url != "" {
				link = gchatAnchor(url, render.LinkLabel(&doc))
			}
		}
		full = append(full, gchatCardWith{CardID: ids[i], Card: gchatResult(r, msg, link, b.CustomFields, false)})
		compact = append(compact, gchatCardWith{CardID: ids[i], Card: gchatResult(r, msg, link, b.CustomFields, true)})
	}
	return full, compact, nil
}

// gchatCardIDs are the cardIds of b's results, unique within the batch.
func gchatCardIDs(b *Batch) []string {
	seen := make(map[string]bool, len(b.Results))
	out := make([]string, len(b.Results))
	for i := range b.Results {
		id := gchatCardID(b.Results[i].ID())
		if id == "" || seen[id] {
			id = "result-" + strconv.Itoa(i+1)
		}
		seen[id] = true
		out[i] = id
	}
	return out
}

// plan packs the cards into messages of at most maxBody bytes. Sizes are exact: the elements
// of a JSON array are encoded one by one, so a message is its frame plus each card and the
// commas between them. The frame is measured with the longest text any part can have.
func (g *googleChat) plan(b *Batch, full, compact []gchatCardWith) ([]chatPart, error) {
	n := len(full)
	frame := func(bool) (int, error) { // the compact form has the same frame
		body, err := transport.MarshalJSON(g.message(b, nil, chatPart{start: n, end: n}, true, n))
		return len(body), err
	}
	size := func(i int, compactForm bool) (int, error) {
		c := full[i]
		if compactForm {
			c = compact[i]
		}
		enc, err := transport.MarshalJSON(c)
		return len(enc) + 1, err // and its comma (one too many for the first card)
	}
	return planChat(n, g.maxBody, frame, size)
}

// message is part p of a batch of total results, with its cards; cards may be nil to
// measure the frame alone.
func (g *googleChat) message(b *Batch, cards []gchatCardWith, p chatPart, split bool, total int) gchatMessage {
	text := render.NewResultsLine(total)
	if split {
		text = render.PartLine(p.start, p.end, total)
	}
	return gchatMessageOf(text, b, cards)
}

// gchatMessageOf is the message "<text> in <report>" of b with cards (nil: none).
func gchatMessageOf(text string, b *Batch, cards []gchatCardWith) gchatMessage {
	if line := render.CutBytes(render.OneLine(reportLine(b.Report)), gchatMaxLine); line != "" {
		text += " in " + line
	}
	if cards == nil {
		cards = []gchatCardWith{}
	}
	return gchatMessage{Text: text, CardsV2: cards}
}

// gchatAnchor is card text linking to url, showing label (plain text, escaped here).
func gchatAnchor(url, label string) string {
	return `<a href="` + html.EscapeString(url) + `">` + gchatHTML(label, gchatMaxLine, false) + `</a>`
}

// gchatResult is the card of one result. link, when set, is the anchor to the result's page in
// the console, shown last of the details. The compact form cuts the message shorter and leaves
// out the properties and custom fields.
func gchatResult(r *report.Result, msg, link string, custom map[string]string, compact bool) gchatCard {
	resource := gchatResource(r)
	card := gchatCard{Header: gchatHeader(r)}

	limit := gchatMaxMessage
	if compact {
		limit = gchatMaxCompactMessage
	}
	if text := gchatHTML(msg, limit, true); text != "" {
		card.Sections = append(card.Sections, gchatSection{Widgets: []gchatWidget{
			{TextParagraph: &gchatTextParagraph{Text: text}},
		}})
	}

	var details []gchatWidget
	add := func(label, value, color string) {
		text := gchatHTML(value, gchatMaxLine, false)
		if text == "" {
			return
		}
		if color != "" {
			text = `<font color="` + color + `">` + text + `</font>`
		}
		details = append(details, gchatWidget{DecoratedText: &gchatDecoratedText{TopLabel: label, Text: text, WrapText: true}})
	}
	add("Status", string(r.Status), render.StatusTextColor(r.Status))
	add("Severity", string(r.Severity), render.SeverityTextColor(r.Severity))
	add("Category", r.Category, "")
	add("Resource", resource, "")
	if link != "" {
		details = append(details, gchatWidget{DecoratedText: &gchatDecoratedText{Text: link, WrapText: true}})
	}
	if len(details) > 0 {
		card.Sections = append(card.Sections, gchatSection{Header: "Details", Widgets: details})
	}

	used := len(details)
	if len(card.Sections) > 0 && card.Sections[0].Header == "" {
		used++ // the message
	}
	if compact {
		if n := len(r.Properties) + len(custom); n > 0 {
			card.Sections = append(card.Sections, gchatSection{Widgets: []gchatWidget{{TextParagraph: &gchatTextParagraph{
				Text: "<i>" + render.Plural(n, "property or custom field", "properties and custom fields") +
					" left out: the result is too large for one Google Chat message</i>",
			}}}})
		}
		return card
	}
	// Properties, then custom fields, within the widget limit; one widget is kept to say what
	// was left out.
	room := gchatMaxWidgets - used
	props, customs := gchatFields(r.Properties), gchatFields(custom)
	omitted := 0
	if len(props)+len(customs) > room {
		keep := room - 1
		if len(props) > keep {
			omitted += len(props) - keep
			props = props[:keep]
		}
		keep -= len(props)
		if len(customs) > keep {
			omitted += len(customs) - keep
			customs = customs[:keep]
		}
	}
	if len(props) > 0 {
		card.Sections = append(card.Sections, gchatSection{
			Header: "Properties", Collapsible: len(props) > 5, UncollapsibleWidgetsCount: gchatUncollapsed(len(props)),
			Widgets: props,
		})
	}
	if len(customs) > 0 {
		card.Sections = append(card.Sections, gchatSection{
			Header: "Custom fields", Collapsible: len(customs) > 5, UncollapsibleWidgetsCount: gchatUncollapsed(len(customs)),
			Widgets: customs,
		})
	}
	if omitted > 0 {
		card.Sections = append(card.Sections, gchatSection{Widgets: []gchatWidget{{TextParagraph: &gchatTextParagraph{
			Text: "<i>" + render.Plural(omitted, "more field", "more fields") + " left out: a card shows at most 100</i>",
		}}}})
	}
	return card
}

// gchatUncollapsed is how many widgets of a collapsible section stay visible.
func gchatUncollapsed(n int) int {
	if n > 5 {
		return 5
	}
	return 0
}

// gchatFields are the entries of m sorted by key, one decoratedText each.
func gchatFields(m map[string]string) []gchatWidget {
	out := make([]gchatWidget, 0, len(m))
	for _, p := range render.SortedPairs(m) {
		k := p.Key
		value := gchatHTML(p.Value, gchatMaxValue, false)
		if value == "" {
			value = "-"
		}
		out = append(out, gchatWidget{DecoratedText: &gchatDecoratedText{
			TopLabel: gchatHTML(k, gchatMaxLine, false), Text: value, WrapText: true,
		}})
	}
	return out
}

// gchatCardID makes a result ID a cardId: letters, digits, '-', '_' and '.', at most
// gchatMaxCardID bytes.
func gchatCardID(id string) string {
	id = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return -1
	}, id)
	if len(id) > gchatMaxCardID {
		id = id[:gchatMaxCardID]
	}
	return id
}

// gchatHeader is the header of a result's card: its title ("<policy> / <rule>") and resource.
// It is plain text: not escaped.
func gchatHeader(r *report.Result) gchatCardHeader {
	return gchatCardHeader{
		Title:    render.CutBytes(render.ResultTitle(render.OneLine(r.Policy), render.OneLine(r.Rule)), gchatMaxLine),
		Subtitle: render.CutBytes(render.OneLine(gchatResource(r)), gchatMaxLine),
	}
}

// gchatResource names a result's resource ("" for none).
func gchatResource(r *report.Result) string {
	if res := r.Resource; res != nil {
		return render.ObjectLine(res.Kind, res.Namespace, res.Name)
	}
	return ""
}

// gchatHTML is plain text as card text: valid UTF-8, trimmed, "&", "<" and ">" escaped,
// control characters dropped or made spaces, line breaks as <br> in multi-line text (spaces
// otherwise), at most max bytes once escaped; cut text ends with an ellipsis. No escape
// sequence is ever split.
func gchatHTML(s string, max int, multiline bool) string {
	s = strings.TrimSpace(render.PlainText(s))
	budget := max - len(render.Ellipsis)
	var b strings.Builder
	for i, r := range s {
		var piece string
		switch {
		case r == '&':
			piece = "&amp;"
		case r == '<':
			piece = "&lt;"
		case r == '>':
			piece = "&gt;"
		case r == '\n' && multiline:
			piece = "<br>"
		case r == '\r' && multiline:
			continue
		case unicode.IsControl(r):
			piece = " "
		default:
			piece = string(r)
		}
		if b.Len()+len(piece) > budget {
			// Only cut if the rest does not fit either.
			if b.Len()+gchatEscapedLen(s[i:], multiline) <= max {
				b.WriteString(piece)
				continue
			}
			return strings.TrimRight(b.String(), " ") + render.Ellipsis
		}
		b.WriteString(piece)
	}
	return b.String()
}

// gchatEscapedLen is how many bytes gchatHTML makes of s.
func gchatEscapedLen(s string, multiline bool) int {
	n := 0
	for _, r := range s {
		switch {
		case r == '&':
			n += len("&amp;")
		case r == '<', r == '>':
			n += len("&lt;")
		case r == '\n' && multiline:
			n += len("<br>")
		case r == '\r' && multiline:
		case unicode.IsControl(r):
			n++
		default:
			n += utf8.RuneLen(r)
		}
	}
	return n
}
