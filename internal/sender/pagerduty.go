package sender

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/destination/descriptor"
	"github.com/policyherald/policy-herald/internal/sender/render"
	"github.com/policyherald/policy-herald/internal/sender/transport"
)

// pagerDuty sends one Events API v2 event per result (POST https://events.pagerduty.com/v2/
// enqueue): a trigger when the result is new, a resolve with the same dedup_key when it leaves
// the cluster or passes. The routing key (Secret key routingKey) goes in the body, never in a
// URL or header, and the redactor knows it.
//
// dedup_key is the result's ID, which is unique within the cluster; when the target has
// customFields, a hash of them follows it ("<id>-<16 hex>"), so that clusters sharing a service
// and telling themselves apart by a customField (cluster: prod-eu) do not dedup into, or
// resolve, each other's alerts. Like Alertmanager's labels, changing customFields changes the
// key: alerts opened before are then not resolved by the operator.
type pagerDuty struct {
	*transport.Target
	routingKey string
	source     string
	tmpl       *render.Template
}

const (
	pagerDutyDefaultURL = "https://events.pagerduty.com/v2/enqueue"
	pagerDutyClient     = "Policy Herald"
	// pagerDutyMaxSummary is the Events API's limit on payload.summary, in characters.
	pagerDutyMaxSummary = 1024
	// pagerDutyMaxSource bounds payload.source (the API's source field allows 255).
	pagerDutyMaxSource = 255
	// pagerDutyRoutingKeyLen is the length of integration and orchestration routing keys; the
	// Events API refuses others ("Length of 'routing_key' is incorrect").
	pagerDutyRoutingKeyLen = 32
	// Bounds of custom_details (the Events API takes events of up to 512 KB).
	pagerDutyMaxMessage    = 8 << 10
	pagerDutyMaxProperties = 64
	pagerDutyMaxProperty   = 1024
)

// pagerDutyEvent is an Events API v2 event (PagerDuty/api-schema reference/events-v2).
type pagerDutyEvent struct {
	RoutingKey string            `json:"routing_key"`
	Action     string            `json:"event_action"`
	DedupKey   string            `json:"dedup_key"`
	Client     string            `json:"client,omitempty"`
	Payload    *pagerDutyPayload `json:"payload,omitempty"`
}

type pagerDutyPayload struct {
	Summary       string            `json:"summary"`
	Source        string            `json:"source"`
	Severity      string            `json:"severity"`
	Timestamp     string            `json:"timestamp,omitempty"`
	Component     string            `json:"component,omitempty"`
	Group         string            `json:"group,omitempty"`
	Class         string            `json:"class,omitempty"`
	CustomDetails *pagerDutyDetails `json:"custom_details,omitempty"`
}

// pagerDutyDetails is the result's document, bounded, with the template's error when it
// failed for this result; without the message when the template replaced it.
type pagerDutyDetails struct {
	ResultDocument
	TemplateError string `json:"templateError,omitempty"`
}

func init() {
	// The routing key both authenticates and picks the service the incident is opened on.
	register(newPagerDuty, descriptor.Descriptor{Type: v1alpha1.DestinationPagerDuty,
		Required: []string{"routingKey"}, SecretKeys: []string{"url", "routingKey"},
		Endpoint: []string{"url"}, Credential: []string{"headers", "routingKey"}, Other: []string{"source"}, Template: true})
}

func newPagerDuty(cfg Config) (Sender, error) {
	inline := *cfg.Destination.PagerDuty
	key := strings.TrimSpace(cfg.Settings["routingKey"])
	if key == "" {
		return nil, errors.New("pagerDuty: the routing key is not set (Secret key routingKey)")
	}
	if len(key) != pagerDutyRoutingKeyLen || strings.IndexFunc(key, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0 {
		return nil, fmt.Errorf("pagerDuty: the routing key must be %d printable characters: the integration key of an Events API v2 integration or an event orchestration", pagerDutyRoutingKeyLen)
	}
	s := inline.HTTPSettings
	if s.URL == "" {
		s.URL = pagerDutyDefaultURL
	}
	target, err := newHTTPTarget("pagerDuty", cfg, s, key)
	if err != nil {
		return nil, err
	}
	tmpl, err := render.NewTemplate(cfg.MessageTemplate)
	if err != nil {
		return nil, fmt.Errorf("pagerDuty: %w", err)
	}
	source := inline.Source
	return &pagerDuty{Target: target, routingKey: key, source: render.PlainText(strings.TrimSpace(source)), tmpl: tmpl}, nil
}

// MaxBatch is 1: an event is one result.
func (p *pagerDuty) MaxBatch() int { return 1 }

// Send triggers one alert per result, in order, and stops at the first failure.
func (p *pagerDuty) Send(ctx context.Context, b Batch) error {
	msgs := make([]transport.Outgoing, len(b.Results))
	for i := range b.Results {
		msgs[i] = transport.Outgoing{Doc: p.trigger(b, i), Results: 1}
	}
	return p.PostInOrder(ctx, "pagerDuty", msgs)
}

// Resolve resolves the alert of each result: the same dedup_key, no payload.
func (p *pagerDuty) Resolve(ctx context.Context, b Batch) error {
	msgs := make([]transport.Outgoing, len(b.Results))
	for i := range b.Results {
		msgs[i] = transport.Outgoing{Doc: &pagerDutyEvent{
			RoutingKey: p.routingKey, Action: "resolve", DedupKey: pagerDutyDedupKey(b, i),
		}, Results: 1}
	}
	return p.PostInOrder(ctx, "pagerDuty", msgs)
}

func (p *pagerDuty) trigger(b Batch, i int) *pagerDutyEvent {
	r := &b.Results[i]
	doc := NewResultDocument(b.Report, r, b.CustomFields)
	details := &pagerDutyDetails{ResultDocument: boundDocument(doc, pagerDutyMaxMessage, pagerDutyMaxProperties, pagerDutyMaxProperty)}
	summary := pagerDutySummary(&doc)
	if p.tmpl != nil {
		// Over the bounded document: a message of a megabyte would make the template's output
		// go over its limit.
		text, err := p.tmpl.Render(&details.ResultDocument)
		if err != nil {
			details.TemplateError = render.CutBytes(err.Error(), 300)
		} else if text = strings.TrimSpace(text); text != "" {
			// The template replaces the result's text: custom_details does not carry the
			// message beside it.
			summary, details.Message = text, ""
		}
	}
	ns := doc.Report.Namespace
	if doc.Resource != nil && doc.Resource.Namespace != "" {
		ns = doc.Resource.Namespace
	}
	payload := &pagerDutyPayload{
		Summary:       render.CutUnits(strings.Join(strings.Fields(summary), " "), pagerDutyMaxSummary),
		Source:        render.CutUnits(p.sourceOf(&doc), pagerDutyMaxSource),
		Severity:      pagerDutySeverity(doc.Severity, doc.Status),
		Timestamp:     doc.Timestamp,
		Component:     render.CutUnits(doc.Policy, pagerDutyMaxSource),
		Group:         render.CutUnits(ns, pagerDutyMaxSource),
		Class:         render.CutUnits(doc.Category, pagerDutyMaxSource),
		CustomDetails: details,
	}
	return &pagerDutyEvent{
		RoutingKey: p.routingKey, Action: "trigger", DedupKey: pagerDutyDedupKey(b, i),
		Client: pagerDutyClient, Payload: payload,
	}
}

// sourceOf is the configured source, else the result's resource ("Deployment team-a/nginx"),
// else its report.
func (p *pagerDuty) sourceOf(d *ResultDocument) string {
	if p.source != "" {
		return p.source
	}
	if res := d.Resource; res != nil && res.Name != "" {
		return render.JoinNonEmpty(" ", res.Kind, render.JoinNonEmpty("/", res.Namespace, res.Name))
	}
	if s := render.JoinNonEmpty(" ", d.Report.Kind, render.JoinNonEmpty("/", d.Report.Namespace, d.Report.Name)); s != "" {
		return s
	}
	return "policy-herald"
}

// pagerDutySummary is "[<status>] <policy>/<rule> on <Kind> <ns>/<name>: <message>".
func pagerDutySummary(d *ResultDocument) string {
	s := "[" + string(d.Status) + "] " + render.JoinNonEmpty("/", d.Policy, d.Rule)
	if res := d.Resource; res != nil && res.Name != "" {
		s += " on " + render.JoinNonEmpty(" ", res.Kind, render.JoinNonEmpty("/", res.Namespace, res.Name))
	}
	if d.Message != "" {
		s += ": " + d.Message
	}
	return s
}

// pagerDutySeverity maps the result's severity: critical→critical, high→error,
// medium→warning, low and info→info. A result without a severity maps by its status:
// error→error, fail and warn→warning, others→info.
func pagerDutySeverity(sev v1alpha1.Severity, status v1alpha1.ResultStatus) string {
	switch sev {
	case v1alpha1.SeverityCritical:
		return "critical"
	case v1alpha1.SeverityHigh:
		return "error"
	case v1alpha1.SeverityMedium:
		return "warning"
	case v1alpha1.SeverityLow, v1alpha1.SeverityInfo:
		return "info"
	}
	switch status {
	case v1alpha1.StatusError:
		return "error"
	case v1alpha1.StatusFail, v1alpha1.StatusWarn:
		return "warning"
	}
	return "info"
}

// pagerDutyDedupKey is the result's ID, followed by a hash of the customFields when there are
// any (see pagerDuty).
func pagerDutyDedupKey(b Batch, i int) string {
	id := b.Results[i].ID()
	if len(b.CustomFields) == 0 {
		return id
	}
	h := fnv.New64a()
	for _, k := range render.SortedKeys(b.CustomFields) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(k)))
		_, _ = h.Write(n[:])
		_, _ = h.Write([]byte(k))
		binary.BigEndian.PutUint64(n[:], uint64(len(b.CustomFields[k])))
		_, _ = h.Write(n[:])
		_, _ = h.Write([]byte(b.CustomFields[k]))
	}
	return fmt.Sprintf("%s-%016x", id, h.Sum64())
}

// boundDocument is d with its message cut to maxMessage bytes and at most maxProps properties
// (in sorted order), each value cut to maxValue bytes.
func boundDocument(d ResultDocument, maxMessage, maxProps, maxValue int) ResultDocument {
	d.Message = render.CutBytes(d.Message, maxMessage)
	if len(d.Properties) > 0 {
		props := make(map[string]string, min(len(d.Properties), maxProps))
		for _, k := range render.SortedKeys(d.Properties) {
			if len(props) == maxProps {
				break
			}
			props[render.CutBytes(k, maxValue)] = render.CutBytes(d.Properties[k], maxValue)
		}
		d.Properties = props
	}
	return d
}
