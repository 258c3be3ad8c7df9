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
	size := func(i int, _ bool) (int, error) { return jsonElementSize(entries[i]) }
	frame := func(bool) (int, error) { return jsonSize(t.resolvedMessage(&b, nil)) }
	parts, err := planChat(len(entries), t.maxBody, frame, size)
	if err != nil {
		return &Error{Reason: "teams: " + err.Error()}
	}
	for _, p := range parts {
		if err := t.PostSized(ctx, "teams", t.resolvedMessage(&b, entries[p.start:p.end]), t.maxBody, p.start); err != nil {
			return err
		}
	}
	return nil
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
	return teamsWrap(body, fallback)
}
