package sender

import (
	"context"
	"fmt"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/consolelink"
	"github.com/policyherald/policy-herald/internal/destination/descriptor"
	"github.com/policyherald/policy-herald/internal/sender/render"
	"github.com/policyherald/policy-herald/internal/sender/transport"
)

// What the chat senders build from the shared rendering (package render).

// newChatView is the view of result i of b.
func newChatView(b *Batch, i int) render.View {
	return render.ViewOf(NewResultDocument(b.Report, &b.Results[i], b.CustomFields))
}

// reportLine names a report: "PolicyReport team-a/cpol-require-labels".
func reportLine(rep ReportRef) string { return render.ObjectLine(rep.Kind, rep.Namespace, rep.Name) }

// newChatTarget is what every chat webhook sender is built from: the HTTP target of its
// settings (see newHTTPTarget) and its messageTemplate, nil when none is set. Errors name the
// destination.
func newChatTarget(name string, cfg Config, s v1alpha1.HTTPSettings) (*transport.Target, *render.Template, error) {
	target, err := newHTTPTarget(name, cfg, s)
	if err != nil {
		return nil, nil, err
	}
	tmpl, err := render.NewTemplate(cfg.MessageTemplate)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	return target, tmpl, nil
}

// registerChat registers the chat webhook destination typ (a ChatWebhookDestination block,
// picked out by block; see descriptor.ChatWebhook): build makes its sender from the block's
// target and messageTemplate (see newChatTarget) and reads the rest of cfg it needs (the console's
// address), so that these senders differ in their layout only. Errors name the destination by
// its type.
func registerChat(typ v1alpha1.DestinationType, block func(*v1alpha1.Destinations) *v1alpha1.ChatWebhookDestination,
	build func(*transport.Target, *render.Template, Config) Sender) {
	register(func(cfg Config) (Sender, error) {
		target, tmpl, err := newChatTarget(string(typ), cfg, block(cfg.Destination).HTTPSettings)
		if err != nil {
			return nil, err
		}
		return build(target, tmpl, cfg), nil
	}, descriptor.ChatWebhook(typ))
}

// chatPart is the results [start, end) of a batch, sent as one message; compact marks the one
// result of a part sent in its compact form (Teams leaves the custom fields out of its header).
type chatPart struct {
	start, end int
	compact    bool
}

// planChat packs the n results of a batch into messages of at most maxBody bytes, as many to a
// message as fit, for the chat senders whose messages are a frame around an array of one
// element per result. frame(compact) is the size of a message without results, with the
// longest text any part can have; size(i, compact) is that of result i's element and its
// comma. A result that does not fit in a message of its own goes alone in its compact form;
// one too large even so is an error.
func planChat(n, maxBody int, frame func(compact bool) (int, error), size func(i int, compact bool) (int, error)) ([]chatPart, error) {
	fullFrame, err := frame(false)
	if err != nil {
		return nil, err
	}
	sizes := make([]int, n)
	for i := range n {
		if sizes[i], err = size(i, false); err != nil {
			return nil, err
		}
	}
	var parts []chatPart
	for _, sp := range render.Pack(n, 0, []render.Limit{{Base: fullFrame, Max: maxBody}}, func(i int) []int { return []int{sizes[i]} }) {
		if !sp.Over {
			parts = append(parts, chatPart{start: sp.Start, end: sp.End})
			continue
		}
		compactFrame, err := frame(true)
		if err != nil {
			return nil, err
		}
		s, err := size(sp.Start, true)
		if err != nil {
			return nil, err
		}
		if compactFrame+s > maxBody {
			return nil, fmt.Errorf("result %d does not fit in a message of %d bytes even in compact form", sp.Start+1, maxBody)
		}
		parts = append(parts, chatPart{start: sp.Start, end: sp.End, compact: true})
	}
	return parts, nil
}

// resultLink is the console's page of the result d (its resource's, or its policy's when it
// names no resource); "" without a console.
func resultLink(console consolelink.Base, d *ResultDocument) string {
	if res := d.Resource; res != nil {
		if link := console.Resource(res.Namespace, res.Kind, res.Name); link != "" {
			return link
		}
	}
	if d.Policy == "" {
		return ""
	}
	return console.Policy(d.Policy)
}

// digestEntry is one result a digest lists: its texts (plain, not escaped yet) and its link.
type digestEntry struct {
	render.Item
	Link string
}

// digestView is what every chat destination shows of a digest, before its own layout and
// escaping: the title, the note under it (a summary's reason), the labelled counts, the listed
// results (none in a summary), the group's link and the custom fields.
type digestView struct {
	Title, Note string
	Counts      []render.Pair
	Entries     []digestEntry
	Link        string
	Custom      []render.Pair
	// Total is how many results the digest is about: those listed and "and N more".
	Total int
	// listing tells a digest, which lists results and counts the rest, from a summary.
	listing bool
	// Severity is the most serious severity among the results, for the message's colour.
	Severity v1alpha1.Severity
}

// newDigestView is the view of d; an item without a link of its own gets the console's page
// of its result.
func newDigestView(d *Digest, console consolelink.Base) digestView {
	v := digestView{
		Link:   d.Link,
		Custom: render.SortedPairs(render.MapStrings(d.CustomFields, render.OneLine)),
		Total:  d.Total,
	}
	if len(d.BySeverity) > 0 {
		v.Severity = v1alpha1.Severity(d.BySeverity[0].Value)
	}
	if d.Kind == KindSummary {
		// Its title has the statuses and namespaces already; it lists no result.
		v.Title = render.SummaryTitle(d.Total, d.ByStatus, d.Namespaces)
		v.Note = render.SummaryNote(d.From, d.To)
		v.Counts = render.DigestCounts(nil, d.BySeverity, 0)
		return v
	}
	v.Title = render.DigestTitle(d.Group, d.Total, d.From, d.To)
	v.Counts = render.DigestCounts(d.ByStatus, d.BySeverity, d.Namespaces)
	v.listing = true
	for i := range d.Items {
		it := &d.Items[i]
		doc := NewResultDocument(it.Report, &it.Result, nil)
		link := it.Link
		if link == "" {
			link = resultLink(console, &doc)
		}
		v.Entries = append(v.Entries, digestEntry{Item: render.ItemOf(&doc), Link: link})
	}
	if v.Link == "" && console != "" {
		v.Link = groupLink(console, d.Group, v.Entries)
	}
	return v
}

// groupLink is the console's page of a digest's group when the digest brings none: its
// policy's, its resource's (that of its listed results, which all have it) or its namespace's;
// "" for a group by severity alone or for every result.
func groupLink(console consolelink.Base, group []GroupValue, entries []digestEntry) string {
	by := map[v1alpha1.DigestGroup]string{}
	for _, g := range group {
		by[v1alpha1.DigestGroup(g.Name)] = g.Value
	}
	switch {
	case by[v1alpha1.DigestByPolicy] != "":
		return console.Policy(by[v1alpha1.DigestByPolicy])
	case by[v1alpha1.DigestByResource] != "" && len(entries) > 0:
		return entries[0].Link
	case by[v1alpha1.DigestByNamespace] != "":
		return console.Namespace(by[v1alpha1.DigestByNamespace])
	}
	return ""
}

// more is how many results a digest that lists n of them leaves to "and N more"; 0 for a
// summary, which lists none.
func (v *digestView) more(n int) int {
	if !v.listing {
		return 0
	}
	return max(v.Total-n, 0)
}

// fitJSON is how many of items, in order, fit in a message of at most maxBody bytes of JSON
// whose encoding without them is frame: each adds its own encoding and a comma (elements of a
// JSON array are encoded one by one).
func fitJSON[T any](frame any, items []T, maxBody int) (int, error) {
	enc, err := transport.MarshalJSON(frame)
	if err != nil {
		return 0, err
	}
	sizes := make([]int, len(items))
	for i := range items {
		item, err := transport.MarshalJSON(items[i])
		if err != nil {
			return 0, err
		}
		sizes[i] = len(item) + 1
	}
	return fitCount(len(items), len(enc), maxBody, func(i int) int { return sizes[i] }), nil
}

// fitCount is how many of n items, in order, fit in max together with base (cost(i) each).
func fitCount(n, base, max int, cost func(i int) int) int {
	if n == 0 {
		return 0
	}
	first := render.Pack(n, 0, []render.Limit{{Base: base, Max: max}}, func(i int) []int { return []int{cost(i)} })[0]
	if first.Over {
		return 0
	}
	return first.End
}

// jsonSize is the length of v as MarshalJSON encodes it: a message's, measured for planChat.
func jsonSize(v any) (int, error) {
	b, err := transport.MarshalJSON(v)
	return len(b), err
}

// jsonElementSize is the length of v as an element of a JSON array: with its comma.
func jsonElementSize(v any) (int, error) {
	n, err := jsonSize(v)
	return n + 1, err
}

// postPacked posts n elements (cards, containers) in as few messages of at most maxBody bytes as
// fit, in order: message(start, end) is the message of elements [start, end), and of none for
// start == end (its frame). It is for messages whose elements always fit alone (no compact
// form); a failure's *Error says in Sent how many went out before it.
func postPacked(ctx context.Context, t *transport.Target, name string, n, maxBody int,
	elem func(i int) any, message func(start, end int) any) error {
	size := func(i int, _ bool) (int, error) { return jsonElementSize(elem(i)) }
	frame := func(bool) (int, error) { return jsonSize(message(n, n)) }
	parts, err := planChat(n, maxBody, frame, size)
	if err != nil {
		return &Error{Reason: name + ": " + err.Error()}
	}
	for _, p := range parts {
		if err := t.PostSized(ctx, name, message(p.start, p.end), maxBody, p.start); err != nil {
			return err
		}
	}
	return nil
}
