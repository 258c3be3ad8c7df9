package sender

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"strings"
	"time"

	"github.com/go-logr/logr"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/destination/descriptor"
	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/sender/render"
	"github.com/policyherald/policy-herald/internal/sender/transport"
)

// webhook posts one ResultDocument per result to any HTTP endpoint.
//
// Settings: "url" (required), "token" (optional, from the Secret) sent as the Authorization
// header value as is, so it must include its scheme, for example "Bearer abc". The token wins
// over an Authorization entry in the configured headers, as Secret values win over inline ones;
// with neither, user info in the URL is sent as basic authentication.
//
// bodyTemplate, when set, renders each result's body instead of the ResultDocument (see
// render.JSONTemplate); contentType is the Content-Type of every request.
type webhook struct {
	*transport.Target
	name string
	body *render.JSONTemplate // nil: the ResultDocument
}

// webhookKeepalive is a webhook that also sends heartbeats; only it implements Runner.
type webhookKeepalive struct {
	*webhook
	interval time.Duration
	params   map[string]string
}

func init() {
	register(newWebhook, descriptor.Descriptor{Type: v1alpha1.DestinationWebhook,
		Required: []string{"url"}, SecretKeys: []string{"url", "token"},
		Endpoint: []string{"url"}, Credential: []string{"headers", "token"}, Other: []string{"keepalive", "bodyTemplate", "contentType"}})
}

func newWebhook(cfg Config) (Sender, error) {
	inline := *cfg.Destination.Webhook
	token := cfg.Settings["token"]
	target, err := newHTTPTarget("webhook", cfg, inline.HTTPSettings, token)
	if err != nil {
		return nil, err
	}
	if token != "" {
		if !transport.ValidHeaderValue(token) {
			return nil, errors.New("webhook: the token is not a valid header value (control characters or line breaks)")
		}
		target.Headers.Set("Authorization", token)
	}
	if target.ContentType, err = jsonMediaType(inline.ContentType); err != nil {
		return nil, err
	}
	w := &webhook{Target: target, name: cfg.Name}
	if w.body, err = render.NewJSONTemplate("bodyTemplate", inline.BodyTemplate); err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	if inline.Keepalive == nil {
		return w, nil
	}
	ka := inline.Keepalive
	if ka.Interval.Duration <= 0 {
		return nil, errors.New("webhook: keepalive interval must be positive")
	}
	return &webhookKeepalive{webhook: w, interval: ka.Interval.Duration, params: ka.Params}, nil
}

// jsonMediaType checks a contentType setting: empty (application/json), application/json or
// application/<name>+json, with parameters if any. Anything else would tell the endpoint that
// the JSON body is something it is not.
func jsonMediaType(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	mt, _, err := mime.ParseMediaType(v)
	if err == nil && !transport.ValidHeaderValue(v) {
		err = errors.New("control characters or line breaks")
	}
	if err == nil && mt != transport.ContentTypeJSON && !(strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")) {
		err = fmt.Errorf("%s is not a JSON media type", mt)
	}
	if err != nil {
		return "", fmt.Errorf("webhook: contentType %q: want application/json or application/<name>+json: %w", v, err)
	}
	return v, nil
}

// MaxBatch is 1: the webhook posts one document per result.
func (w *webhook) MaxBatch() int { return 1 }

// Send posts one document per result, in order, and stops at the first failure: the results
// before it were delivered, so a retry of the whole batch delivers them again (at least once).
// A result the bodyTemplate fails on is refused for good.
func (w *webhook) Send(ctx context.Context, b Batch) error {
	for i := range b.Results {
		body, err := w.bodyOf(&b, &b.Results[i])
		if err != nil {
			return err
		}
		if err := w.PostJSON(ctx, body); err != nil {
			return err
		}
	}
	return nil
}

// bodyOf is the request body of r: the bodyTemplate's output, or the ResultDocument.
func (w *webhook) bodyOf(b *Batch, r *report.Result) ([]byte, error) {
	doc := NewResultDocument(b.Report, r, b.CustomFields)
	if w.body != nil {
		body, err := w.body.Render(&doc)
		if err != nil {
			return nil, &Error{Reason: "webhook: " + err.Error()}
		}
		return body, nil
	}
	body, err := json.Marshal(doc)
	if err != nil {
		return nil, &Error{Reason: fmt.Sprintf("encoding the webhook document: %v", err)}
	}
	return body, nil
}

// Run posts a heartbeat every interval until ctx ends. The first one goes out one interval
// after Run starts. Failures are logged with the logger of ctx and not retried: the next
// heartbeat is the retry.
func (w *webhookKeepalive) Run(ctx context.Context) {
	log := logr.FromContextOrDiscard(ctx).WithValues("target", w.name, "host", w.Endpoint.Host)
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if err := w.heartbeat(ctx, now); err != nil {
				if ctx.Err() != nil {
					return
				}
				log.Error(err, "Webhook heartbeat failed", "retryable", IsRetryable(err))
				continue
			}
			log.V(1).Info("Webhook heartbeat sent")
		}
	}
}

// heartbeat posts {"event":"heartbeat","time":"<RFC3339>"} with the keepalive params; event
// and time cannot be overridden by params.
func (w *webhookKeepalive) heartbeat(ctx context.Context, now time.Time) error {
	doc := make(map[string]string, len(w.params)+2)
	for k, v := range w.params {
		doc[k] = v
	}
	doc["event"] = "heartbeat"
	doc["time"] = now.UTC().Format(time.RFC3339)
	body, err := json.Marshal(doc)
	if err != nil {
		return &Error{Reason: fmt.Sprintf("encoding the heartbeat: %v", err)}
	}
	return w.PostJSON(ctx, body)
}
