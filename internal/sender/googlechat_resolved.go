package sender

import (
	"context"

	"github.com/policyherald/policy-herald/internal/sender/render"
)

// Google Chat's resolved notice (notifyResolved): the text "✅ N policy results resolved in
// <report>", then one card per result with the header the original card had (its title
// "require-labels / check-app" and its resource) and a line saying it is resolved. Cards are
// packed into as few messages as gchatMaxBody allows, like new results.

func (g *googleChat) announceResolved(ctx context.Context, b Batch) error {
	if len(b.Results) == 0 {
		return nil
	}
	ids := gchatCardIDs(&b)
	note := gchatHTML(render.ResolvedMark+" Resolved. "+render.ResolvedNote(1), gchatMaxLine, false)
	cards := make([]gchatCardWith, len(b.Results))
	for i := range b.Results {
		cards[i] = gchatCardWith{CardID: ids[i], Card: gchatCard{
			Header:   gchatHeader(&b.Results[i]),
			Sections: []gchatSection{{Widgets: []gchatWidget{{TextParagraph: &gchatTextParagraph{Text: note}}}}},
		}}
	}
	size := func(i int, _ bool) (int, error) { return jsonElementSize(cards[i]) }
	frame := func(bool) (int, error) { return jsonSize(g.resolvedMessage(&b, nil)) }
	parts, err := planChat(len(cards), g.maxBody, frame, size)
	if err != nil {
		return &Error{Reason: "googleChat: " + err.Error()}
	}
	for _, p := range parts {
		if err := g.PostSized(ctx, "googleChat", g.resolvedMessage(&b, cards[p.start:p.end]), g.maxBody, p.start); err != nil {
			return err
		}
	}
	return nil
}

// resolvedMessage is a message of the notice of b's results holding cards (nil: the frame).
func (g *googleChat) resolvedMessage(b *Batch, cards []gchatCardWith) gchatMessage {
	return gchatMessageOf(render.ResolvedLine(len(b.Results)), b, cards)
}
