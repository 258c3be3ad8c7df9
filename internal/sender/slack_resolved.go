package sender

import (
	"context"
	"strings"

	"github.com/policyherald/policy-herald/internal/sender/render"
	"github.com/policyherald/policy-herald/internal/sender/transport"
)

// Slack's resolved notices (notifyResolved): a message "✅ N policy results resolved in
// <report>", then one quote per result with its title as the original message's header showed
// it ("FAIL · require-labels / check-app") and its resource. Through an incoming webhook it is a
// message of its own; through the Web API it answers the original message in its thread (see
// slack_api.go).

// slackQuoteChars bounds a result's quote: slackMaxBatch quotes and the headline stay within
// slackBlockChars, so a notice is always one message.
const slackQuoteChars = 400

// announceResolved posts the resolved notice of b's results.
func (s *slack) announceResolved(ctx context.Context, b Batch) error {
	if len(b.Results) == 0 {
		return nil
	}
	if s.api != nil {
		return s.api.resolve(ctx, s, b)
	}
	return s.PostInOrder(ctx, "slack", []transport.Outgoing{{Doc: s.resolvedMessage(b), Results: len(b.Results)}})
}

// resolvedMessage is the notice of b's results (at most slackMaxBatch).
func (s *slack) resolvedMessage(b Batch) slackMessage {
	headline := slackHeadline(render.ResolvedLine(len(b.Results)), b.Report)
	msg := slackMessage{
		Channel: s.channel,
		Blocks: []slackBlock{{Type: "section", Text: &slackText{Type: "mrkdwn",
			Text: slackCut(headline, slackSummaryChars) + "\n" + render.ResolvedNote(len(b.Results))}}},
	}
	var text strings.Builder
	text.WriteString(strings.ReplaceAll(headline, "*", ""))
	for i := range b.Results {
		view := newChatView(&b, i)
		quote := "> " + slackEscape(slackTitle(&view))
		if view.Resource != "" {
			quote += "\n> " + slackEscape(view.Resource)
		}
		msg.Blocks = append(msg.Blocks, slackBlock{Type: "section", Text: &slackText{Type: "mrkdwn", Text: slackCut(quote, slackQuoteChars)}})
		text.WriteString("\n")
		text.WriteString(slackLine(&view))
	}
	msg.Text = slackCut(text.String(), slackTextChars)
	return msg
}
