package sender

import (
	"context"

	"github.com/policyherald/policy-herald/internal/sender/render"
	"github.com/policyherald/policy-herald/internal/sender/transport"
)

// Discord's resolved notice (notifyResolved): the content "✅ N policy results resolved in
// <report>", then one green embed per result titled as the original embed was
// ("FAIL · require-labels / check-app"), its description the resource. A batch is at most
// discordMaxEmbeds results, each at most discordTitleChars + discordResolvedChars characters,
// so a notice is always one message within discordMessageChars.

// discordResolvedChars bounds a resolved embed's description (the resource).
const discordResolvedChars = 300

// discordResolvedColor is the green of resolved embeds.
const discordResolvedColor = 0x2eb67d

func (d *discord) announceResolved(ctx context.Context, b Batch) error {
	if len(b.Results) == 0 {
		return nil
	}
	return d.PostInOrder(ctx, "discord", []transport.Outgoing{{Doc: d.resolvedMessage(b), Results: len(b.Results)}})
}

// resolvedMessage is the notice of b's results (at most discordMaxEmbeds).
func (d *discord) resolvedMessage(b Batch) discordMessage {
	content := render.DiscordEscape(render.PlainText(discordHeadline(render.ResolvedLine(len(b.Results)), b.Report)))
	msg := discordMessage{
		Content:         render.CutUnits(content+"\n"+render.ResolvedNote(len(b.Results)), discordSummaryChars),
		AllowedMentions: discordAllowedMentions{Parse: []string{}},
	}
	for i := range b.Results {
		raw := NewResultDocument(b.Report, &b.Results[i], b.CustomFields)
		view := render.ViewOf(*render.MapDocument(&raw, render.DiscordEscape))
		msg.Embeds = append(msg.Embeds, discordEmbed{
			Title:       discordTitle(&view),
			Description: render.CutUnits(view.Resource, discordResolvedChars),
			Color:       discordResolvedColor,
		})
	}
	return msg
}
