package sender

import (
	"context"
	"strings"

	"github.com/policyherald/policy-herald/internal/sender/render"
	"github.com/policyherald/policy-herald/internal/sender/transport"
)

// Slack's digests and summaries: one message, one attachment coloured by the most serious
// severity, holding
//
//   - a header: the title ("Digest: policy require-labels — 37 results since 10:00 UTC", or a
//     summary's "412 more results: 300 fail, 112 warn in 9 namespaces");
//   - a section: a summary's note, and the counts as fields (Status, Severity, Namespaces);
//   - sections listing the results, one line each: "• FAIL · require-labels / check-app —
//     Deployment shop/nginx · high", the title linking to the console when there is one;
//   - a context block: "and N more results" and the link to the group's page in the console;
//   - a context block with the target's custom fields.
//
// The listed results are as many as fit Slack's limits (slackBlockChars); those left out are
// counted in "and N more".

// slackDigestLineChars bounds a listed result's title and detail, each, so that a line with its
// link stays short.
const slackDigestLineChars = 150

// SendDigest posts d as one message.
func (s *slack) SendDigest(ctx context.Context, d Digest) error {
	return s.PostInOrder(ctx, "slack", []transport.Outgoing{{Doc: s.digestMessage(&d), Results: 1}})
}

// digestMessage lays d out as one message within Slack's limits.
func (s *slack) digestMessage(d *Digest) slackMessage {
	v := newDigestView(d, s.console)
	header := slackBlock{Type: "header", Text: &slackText{Type: "plain_text", Text: render.CutUnits(v.Title, slackHeaderChars)}}
	blocks := []slackBlock{header}

	counts := slackBlock{Type: "section"}
	if v.Note != "" {
		counts.Text = &slackText{Type: "mrkdwn", Text: slackCut(slackEscape(v.Note), slackSummaryChars)}
	}
	for _, c := range v.Counts {
		counts.Fields = append(counts.Fields, slackText{Type: "mrkdwn", Text: "*" + c.Key + "*\n" + slackCut(slackEscape(c.Value), slackValueChars)})
	}
	if counts.Text != nil || len(counts.Fields) > 0 {
		blocks = append(blocks, counts)
	}

	var custom *slackBlock
	if text := slackPairs(v.Custom, " · "); text != "" {
		custom = &slackBlock{Type: "context", Elements: []slackText{{Type: "mrkdwn", Text: slackCut(text, slackCustomChars)}}}
	}
	link := ""
	if v.Link != "" {
		link = slackLink(v.Link, render.GroupLinkLabel)
	}

	// The listed results take what the other blocks leave of slackBlockChars; the footer is
	// counted at its longest ("and N more" with every result left out).
	used := slackBlockLen(&header) + slackBlockLen(&counts) + render.UTF16Len(slackDigestFooter(v.Total, link))
	if custom != nil {
		used += slackBlockLen(custom)
	}
	lines := make([]string, len(v.Entries))
	for i, e := range v.Entries {
		lines[i] = slackDigestLine(e)
	}
	n := fitCount(len(lines), used, slackBlockChars, func(i int) int { return render.UTF16Len(lines[i]) + 1 })
	blocks = append(blocks, slackSections(lines[:n])...)
	if footer := slackDigestFooter(v.more(n), link); footer != "" {
		blocks = append(blocks, slackBlock{Type: "context", Elements: []slackText{{Type: "mrkdwn", Text: footer}}})
	}
	if custom != nil {
		blocks = append(blocks, *custom)
	}
	return slackMessage{
		Channel:     s.channel,
		Text:        slackCut(slackEscape(v.Title), slackTextChars),
		Attachments: []slackAttachment{{Color: render.SeverityHeatHex(v.Severity), Blocks: blocks}},
	}
}

// slackDigestLine is one listed result: "• FAIL · policy / rule — Deployment ns/name · high",
// its title a link when it has one.
func slackDigestLine(e digestEntry) string {
	title := render.CutUnits(e.Title, slackDigestLineChars)
	line := "• " + slackEscape(title)
	if e.Link != "" {
		line = "• " + slackLink(e.Link, title)
	}
	if e.Detail != "" {
		line += " — " + slackEscape(render.CutUnits(e.Detail, slackDigestLineChars))
	}
	return line
}

// slackDigestFooter is "and N more results · <link|Open in the console>"; "" for neither.
func slackDigestFooter(more int, link string) string {
	return render.JoinNonEmpty(" · ", render.MoreLine(more), link)
}

// slackSections are lines in as few sections as slackSectionChars allows.
func slackSections(lines []string) []slackBlock {
	var out []slackBlock
	for _, sp := range render.Pack(len(lines), 0, []render.Limit{{Max: slackSectionChars}},
		func(i int) []int { return []int{render.UTF16Len(lines[i]) + 1} }) {
		text := strings.Join(lines[sp.Start:sp.End], "\n")
		out = append(out, slackBlock{Type: "section", Text: &slackText{Type: "mrkdwn", Text: slackCut(text, slackSectionChars)}})
	}
	return out
}
