package sender

import (
	"context"

	"github.com/policyherald/policy-herald/internal/sender/render"
)

// Teams' resolved notice (notifyResolved): a card "✅ N policy results resolved", the report,
// then one Container per result (style good) with its title as the original card showed it
// ("require-labels / check-app") and its resource. It is one card unless teamsMaxBody requires
// several, packed like new results are.

func (t *teams) announceResolved(ctx context.Context, b Batch) error {
	if len(b.Results) == 0 {
		return nil
	}
	entries := make([]teamsElement, len(b.Results))
	for i := range b.Results {
		r := &b.Results[i]
		items := []teamsElement{{Type: "TextBlock", Text: teamsTitle(r), Weight: "bolder", Wrap: true}}
		if res := r.Resource; res != nil {
			items = append(items, teamsElement{Type: "TextBlock", Spacing: "none",
				Text: render.CutBytes(teamsLine(render.ObjectLine(res.Kind, res.Namespace, res.Name)), teamsMaxLine), IsSubtle: true, Wrap: true})
		}
		entries[i] = teamsElement{Type: "Container", Style: "good", Separator: true, Spacing: "medium", Items: items}
	}
	return postPacked(ctx, t.Target, "teams", len(entries), t.maxBody,
		func(i int) any { return entries[i] },
		func(start, end int) any { return t.resolvedMessage(&b, entries[start:end]) })
}

// resolvedMessage is a card of the notice of b's results holding entries (nil: the frame).
func (t *teams) resolvedMessage(b *Batch, entries []teamsElement) teamsMessage {
	title := render.ResolvedLine(len(b.Results))
	body := []teamsElement{{Type: "TextBlock", Text: title, Size: "medium", Weight: "bolder", Color: "good", Wrap: true}}
	line := render.CutBytes(teamsLine(reportLine(b.Report)), teamsMaxLine)
	if line != "" {
		body = append(body, teamsElement{Type: "TextBlock", Spacing: "none", Text: line, IsSubtle: true, Wrap: true})
	}
	body = append(body, teamsElement{Type: "TextBlock", Spacing: "none", Text: render.ResolvedNote(len(b.Results)), IsSubtle: true, Wrap: true})
	body = append(body, entries...)
	fallback := title
	if line != "" {
		fallback += ": " + line
	}
	return teamsEnvelope(body, fallback)
}
