package sender

import (
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
