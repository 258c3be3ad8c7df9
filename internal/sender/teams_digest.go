package sender

import (
	"context"

	"github.com/policyherald/policy-herald/internal/sender/render"
)

// Teams' digests and summaries: one Adaptive Card with the title ("Digest: policy
// require-labels — 37 results since 10:00 UTC", or a summary's "412 more results: 300 fail,
// 112 warn in 9 namespaces"), a summary's note, a FactSet of the counts (Status, Severity,
// Namespaces), the listed results one TextBlock each ("• FAIL · require-labels / check-app —
// Deployment shop/nginx · high", the title a link to the console), "and N more results", the
// custom fields as a FactSet, and an "Open in the console" button for the group's page. The
// listed results are as many as fit teamsMaxBody; those left out are counted in "and N more".

// teamsDigestLineBytes bounds a listed result's title and detail, each.
const teamsDigestLineBytes = 256

// SendDigest posts d as one card.
func (t *teams) SendDigest(ctx context.Context, d Digest) error {
	msg, err := t.digestMessage(&d)
	if err != nil {
		return &Error{Reason: "teams: " + err.Error()}
	}
	return t.PostSized(ctx, "teams", msg, t.maxBody, 0)
}

// digestMessage lays d out as one card of at most maxBody bytes.
func (t *teams) digestMessage(d *Digest) (teamsMessage, error) {
	v := newDigestView(d, t.console)
	title := render.CutBytes(teamsLine(v.Title), teamsMaxLine)
	head := []teamsElement{{Type: "TextBlock", Text: title, Size: "medium", Weight: "bolder", Wrap: true}}
	if v.Note != "" {
		head = append(head, teamsElement{Type: "TextBlock", Spacing: "none", Text: teamsLine(v.Note), IsSubtle: true, Wrap: true})
	}
	if len(v.Counts) > 0 {
		head = append(head, teamsElement{Type: "FactSet", Facts: teamsPairs(v.Counts)})
	}
	var tail []teamsElement
	if len(v.Custom) > 0 {
		tail = append(tail, teamsElement{Type: "FactSet", Separator: true, Facts: teamsPairs(v.Custom)})
	}
	items := make([]teamsElement, len(v.Entries))
	for i, e := range v.Entries {
		items[i] = teamsElement{Type: "TextBlock", Text: teamsDigestLine(e), Spacing: "small", Wrap: true}
		if i == 0 {
			items[i].Separator, items[i].Spacing = true, "medium"
		}
	}

	more := func(n int) []teamsElement {
		if line := render.MoreLine(n); line != "" {
			return []teamsElement{{Type: "TextBlock", Text: line, IsSubtle: true, Wrap: true}}
		}
		return nil
	}
	build := func(n int) teamsMessage {
		body := append(append(append(append([]teamsElement{}, head...), items[:n]...), more(v.more(n))...), tail...)
		msg := teamsEnvelope(body, title)
		if v.Link != "" {
			msg.Attachments[0].Content.Actions = []teamsAction{{Type: "Action.OpenUrl", Title: render.GroupLinkLabel, URL: v.Link}}
		}
		return msg
	}
	// The frame is measured with "and N more" at its longest.
	n, err := fitJSON(build(0), items, t.maxBody)
	return build(n), err
}

// teamsDigestLine is one listed result, its title a link when it has one.
func teamsDigestLine(e digestEntry) string {
	title := render.CutBytes(teamsLine(e.Title), teamsDigestLineBytes)
	if e.Link != "" {
		title = "[" + title + "](" + render.MarkdownURL(e.Link) + ")"
	}
	line := "• " + title
	if e.Detail != "" {
		line += " — " + render.CutBytes(teamsLine(e.Detail), teamsDigestLineBytes)
	}
	return line
}
