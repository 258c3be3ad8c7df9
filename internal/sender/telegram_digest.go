package sender

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/policyherald/policy-herald/internal/sender/render"
)

// Telegram's digests and summaries: one sendMessage, in MarkdownV2:
//
//	*Digest: policy require-labels — 37 results since 10:00 UTC*
//	*Status:* 30 fail, 7 warn
//	*Severity:* 12 high, 25 medium
//	*Namespaces:* 3
//
//	• FAIL · require-labels / check-app — Deployment shop/nginx · high
//	...
//	and 34 more results
//	Open in the console
//	*Custom fields:*
//	• cluster: prod-eu
//
// Each listed result's title links to the console when there is one, as does "Open in the
// console". A summary has its note under the title and lists no results. The listed results
// are as many as fit the 4096 characters of a message; those left out are counted in
// "and N more".

// telegramDigestLineChars bounds a listed result's title and detail, and a custom field's key
// and value, each: a message holds 4096 characters.
const telegramDigestLineChars = 150

// SendDigest sends d as one message.
func (t *telegram) SendDigest(ctx context.Context, d Digest) error {
	body, err := json.Marshal(telegramRequest{
		ChatID:             t.chatID,
		Text:               telegramRender(t.digestSpans(&d), telegramMaxText),
		ParseMode:          "MarkdownV2",
		LinkPreviewOptions: telegramLinkPreview{IsDisabled: true},
	})
	if err != nil {
		return &Error{Reason: fmt.Sprintf("encoding the telegram message: %v", err)}
	}
	return t.postMessage(ctx, body)
}

// digestSpans lays d out, listing as many results as fit telegramMaxText.
func (t *telegram) digestSpans(d *Digest) []telegramSpan {
	v := newDigestView(d, t.console)
	head := []telegramSpan{{text: v.Title, bold: true}}
	if v.Note != "" {
		head = append(head, telegramSpan{text: "\n" + v.Note})
	}
	for _, c := range v.Counts {
		head = append(head, telegramSpan{text: "\n"}, telegramSpan{text: c.Key + ":", bold: true}, telegramSpan{text: " " + c.Value})
	}
	var tail []telegramSpan
	if v.Link != "" {
		tail = append(tail, telegramSpan{text: "\n"}, telegramSpan{text: render.GroupLinkLabel, link: v.Link})
	}
	if len(v.Custom) > 0 {
		tail = append(tail, telegramSpan{text: "\n"}, telegramSpan{text: "Custom fields:", bold: true})
		for _, p := range v.Custom {
			tail = append(tail, telegramSpan{text: "\n• " + render.CutUnits(p.Key, telegramDigestLineChars) + ": " + render.CutUnits(p.Value, telegramDigestLineChars)})
		}
	}

	items := make([][]telegramSpan, len(v.Entries))
	for i, e := range v.Entries {
		title := telegramSpan{text: render.CutUnits(e.Title, telegramDigestLineChars), link: e.Link}
		items[i] = []telegramSpan{{text: "\n• "}, title}
		if e.Detail != "" {
			items[i] = append(items[i], telegramSpan{text: " — " + render.CutUnits(e.Detail, telegramDigestLineChars)})
		}
	}
	// The listed results take what the rest leaves, "and N more" counted at its longest.
	used := telegramSpansLen(head) + telegramSpansLen(tail) + telegramLen("\n\n"+render.MoreLine(v.Total))
	n := fitCount(len(items), used, telegramMaxText, func(i int) int { return telegramSpansLen(items[i]) })

	spans := head
	if n > 0 {
		spans = append(spans, telegramSpan{text: "\n"})
	}
	for _, it := range items[:n] {
		spans = append(spans, it...)
	}
	if more := render.MoreLine(v.more(n)); more != "" {
		spans = append(spans, telegramSpan{text: "\n" + more})
	}
	return append(spans, tail...)
}

// telegramSpansLen is the length of spans' text as the Bot API counts it: without the link
// addresses and the markup.
func telegramSpansLen(spans []telegramSpan) int {
	n := 0
	for _, s := range spans {
		n += telegramLen(s.text)
	}
	return n
}
