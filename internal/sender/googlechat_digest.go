package sender

import (
	"context"

	"github.com/policyherald/policy-herald/internal/sender/render"
)

// Google Chat's digests and summaries: one message with one card, whose header is the title
// ("Digest: policy require-labels — 37 results since 10:00 UTC", or a summary's "412 more
// results: 300 fail, 112 warn in 9 namespaces") and, for a summary, its note; a section of the
// counts (Status, Severity, Namespaces); a Results section with one decoratedText per listed
// result (its title, a link to the console when there is one, above "Deployment shop/nginx ·
// high") and "and N more results"; an "Open in the console" button for the group's page; and the
// custom fields. The listed results are as many as fit gchatMaxBody; those left out are counted
// in "and N more".

// SendDigest posts d as one message.
func (g *googleChat) SendDigest(ctx context.Context, d Digest) error {
	msg, err := g.digestMessage(&d)
	if err != nil {
		return &Error{Reason: "googleChat: " + err.Error()}
	}
	return g.PostSized(ctx, "googleChat", msg, g.maxBody, 0)
}

// digestMessage lays d out as one message of at most maxBody bytes.
func (g *googleChat) digestMessage(d *Digest) (gchatMessage, error) {
	v := newDigestView(d, g.console)
	header := gchatCardHeader{Title: render.CutBytes(render.OneLine(v.Title), gchatMaxLine), Subtitle: render.CutBytes(v.Note, gchatMaxLine)}
	var counts []gchatWidget
	for _, c := range v.Counts {
		counts = append(counts, gchatWidget{DecoratedText: &gchatDecoratedText{TopLabel: c.Key, Text: gchatHTML(c.Value, gchatMaxLine, false), WrapText: true}})
	}
	items := make([]gchatWidget, len(v.Entries))
	for i, e := range v.Entries {
		text := gchatHTML(e.Title, gchatMaxLine, false)
		if e.Link != "" {
			text = gchatAnchor(e.Link, e.Title)
		}
		items[i] = gchatWidget{DecoratedText: &gchatDecoratedText{Text: text, BottomLabel: gchatHTML(e.Detail, gchatMaxLine, false), WrapText: true}}
	}
	var button []gchatWidget
	if v.Link != "" {
		button = []gchatWidget{{ButtonList: &gchatButtonList{Buttons: []gchatButton{{
			Text: render.GroupLinkLabel, OnClick: gchatOnClick{OpenLink: gchatOpenLink{URL: v.Link}},
		}}}}}
	}
	// Within the widget limit: the counts, the button, "and N more", then the results, then
	// the custom fields.
	items = items[:min(len(items), gchatMaxWidgets-len(counts)-len(button)-1)]
	custom := gchatFields(d.CustomFields)
	custom = custom[:min(len(custom), max(gchatMaxWidgets-len(counts)-len(button)-1-len(items), 0))]

	build := func(n int) gchatMessage {
		card := gchatCard{Header: header}
		if len(counts) > 0 {
			card.Sections = append(card.Sections, gchatSection{Widgets: counts})
		}
		results := append([]gchatWidget{}, items[:n]...)
		if more := render.MoreLine(v.more(n)); more != "" {
			results = append(results, gchatWidget{TextParagraph: &gchatTextParagraph{Text: "<i>" + more + "</i>"}})
		}
		if len(results) > 0 {
			card.Sections = append(card.Sections, gchatSection{Header: "Results", Widgets: results})
		}
		if len(button) > 0 {
			card.Sections = append(card.Sections, gchatSection{Widgets: button})
		}
		if len(custom) > 0 {
			card.Sections = append(card.Sections, gchatSection{Header: "Custom fields", Collapsible: len(custom) > 5,
				UncollapsibleWidgetsCount: gchatUncollapsed(len(custom)), Widgets: custom})
		}
		return gchatMessage{CardsV2: []gchatCardWith{{CardID: "digest", Card: card}}}
	}
	// The frame is measured with "and N more" at its longest.
	n, err := fitJSON(build(0), items, g.maxBody)
	return build(n), err
}
