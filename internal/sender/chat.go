package sender

import (
	"context"
	"fmt"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
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
// target and messageTemplate (see newChatTarget), so that these senders differ in their layout
// only. Errors name the destination by its type.
func registerChat(typ v1alpha1.DestinationType, block func(*v1alpha1.Destinations) *v1alpha1.ChatWebhookDestination,
	build func(*transport.Target, *render.Template) Sender) {
	register(func(cfg Config) (Sender, error) {
		target, tmpl, err := newChatTarget(string(typ), cfg, block(cfg.Destination).HTTPSettings)
		if err != nil {
			return nil, err
		}
		return build(target, tmpl), nil
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
