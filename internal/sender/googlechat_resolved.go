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
	return postPacked(ctx, g.Target, "googleChat", len(cards), g.maxBody,
		func(i int) any { return cards[i] },
		func(start, end int) any { return g.resolvedMessage(&b, cards[start:end]) })
}

// resolvedMessage is a message of the notice of b's results holding cards (nil: the frame).
func (g *googleChat) resolvedMessage(b *Batch, cards []gchatCardWith) gchatMessage {
	return gchatMessageOf(render.ResolvedLine(len(b.Results)), b, cards)
}
