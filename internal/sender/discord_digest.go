package sender

import (
	"context"
	"strings"

	"github.com/policyherald/policy-herald/internal/sender/render"
	"github.com/policyherald/policy-herald/internal/sender/transport"
)

// Discord's digests and summaries: one message with one embed, coloured by the most serious
// severity, titled with the digest's title ("Digest: policy require-labels — 37 results since
// 10:00 UTC", or a summary's "412 more results: 300 fail, 112 warn in 9 namespaces") linking to
// the group's page in the console, a description listing the results one a line ("• FAIL ·
// require-labels / check-app — Deployment shop/nginx · high", the title a link to the console)
// and "and N more results", inline fields Status, Severity and Namespaces, a Custom fields field,
// and the end of the interval as timestamp. A summary's description is its note. The listed
// results are as many as fit the description and the message's 6000 characters; those left out
// are counted in "and N more".

// discordDigestLineChars bounds a listed result's title and detail, each.
const discordDigestLineChars = 150

// SendDigest posts d as one message.
func (d *discord) SendDigest(ctx context.Context, dg Digest) error {
	return d.PostInOrder(ctx, "discord", []transport.Outgoing{{Doc: d.digestMessage(&dg), Results: 1}})
}

// digestMessage lays dg out as one message within Discord's limits.
func (d *discord) digestMessage(dg *Digest) discordMessage {
	v := newDigestView(dg, d.console)
	esc := func(s string) string { return render.DiscordEscape(render.PlainText(s)) }
	e := discordEmbed{
		Title: render.CutUnits(esc(v.Title), discordTitleChars),
		URL:   v.Link,
		Color: render.SeverityHeat(v.Severity),
	}
	if !dg.To.IsZero() {
		e.Timestamp = dg.To.UTC().Format("2006-01-02T15:04:05Z07:00")
	}
	for _, c := range v.Counts {
		e.Fields = append(e.Fields, discordNewField(c.Key, esc(c.Value), discordValueChars))
	}
	if len(v.Custom) > 0 {
		custom := make([]render.Pair, len(v.Custom))
		for i, p := range v.Custom {
			custom[i] = render.Pair{Key: esc(p.Key), Value: esc(p.Value)}
		}
		e.Fields = append(e.Fields, discordNewField("Custom fields", discordLines(discordPairs(custom)), discordCustomChars))
	}

	var lines []string
	if v.Note != "" {
		lines = append(lines, esc(v.Note))
	}
	items := make([]string, len(v.Entries))
	for i, en := range v.Entries {
		items[i] = discordDigestLine(en)
	}
	room := min(discordDescriptionChars, discordMessageChars-discordEmbedLen(&e))
	used := render.UTF16Len(strings.Join(lines, "\n")) + render.UTF16Len("\n"+render.MoreLine(v.Total))
	n := fitCount(len(items), used, room, func(i int) int { return render.UTF16Len(items[i]) + 1 })
	lines = append(lines, items[:n]...)
	if more := render.MoreLine(v.more(n)); more != "" {
		lines = append(lines, more)
	}
	e.Description = render.CutUnits(strings.Join(lines, "\n"), room)
	return discordMessage{Embeds: []discordEmbed{e}, AllowedMentions: discordAllowedMentions{Parse: []string{}}}
}

// discordDigestLine is one listed result, its title a masked link when it has one.
func discordDigestLine(e digestEntry) string {
	title := render.DiscordEscape(render.CutUnits(e.Title, discordDigestLineChars))
	line := "• " + title
	if e.Link != "" {
		line = "• [" + title + "](" + render.MarkdownURL(e.Link) + ")"
	}
	if e.Detail != "" {
		line += " — " + render.DiscordEscape(render.CutUnits(e.Detail, discordDigestLineChars))
	}
	return line
}
