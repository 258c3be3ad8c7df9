package sender

import (
	"context"

	"github.com/policyherald/policy-herald/internal/sender/render"
)

// Telegram's resolved notice (notifyResolved): one message per batch,
//
//	*✅ 2 policy results resolved*
//	PolicyReport team-a/rep-1
//	They pass now, or are gone from the cluster.
//	• [high] require-labels — Deployment team-a/nginx
//	• [medium] disallow-latest-tag
//
// each result quoted by the title its own message had, cut to the Bot API's 4096 characters
// from the end (a batch is at most telegramMaxBatch results, which fit).

func (t *telegram) announceResolved(ctx context.Context, b Batch) error {
	if len(b.Results) == 0 {
		return nil
	}
	return t.sendText(ctx, telegramRender(telegramResolved(&b), telegramMaxText))
}

// telegramResolved is the text of the notice of b's results.
func telegramResolved(b *Batch) []telegramSpan {
	spans := []telegramSpan{{text: render.ResolvedLine(len(b.Results)), bold: true}}
	if line := render.OneLine(reportLine(b.Report)); line != "" {
		spans = append(spans, telegramSpan{text: "\n" + line})
	}
	spans = append(spans, telegramSpan{text: "\n" + render.ResolvedNote(len(b.Results))})
	for i := range b.Results {
		d := NewResultDocument(b.Report, &b.Results[i], b.CustomFields)
		item := "\n• " + telegramTitle(&d)
		if res := d.Resource; res != nil {
			item += " — " + render.OneLine(render.ObjectLine(res.Kind, res.Namespace, res.Name))
		}
		spans = append(spans, telegramSpan{text: item})
	}
	return spans
}
