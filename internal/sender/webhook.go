package sender

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/destination/descriptor"
	"github.com/policyherald/policy-herald/internal/sender/transport"
)

// webhook posts one ResultDocument per result to any HTTP endpoint.
//
// Settings: "url" (required), "token" (optional, from the Secret) sent as the Authorization
// header value as is, so it must include its scheme, for example "Bearer abc". The token wins
// over an Authorization entry in the configured headers, as Secret values win over inline ones;
// with neither, user info in the URL is sent as basic authentication.
type webhook struct {
	*transport.Target
	name string
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
		Endpoint: []string{"url"}, Credential: []string{"headers", "token"}, Other: []string{"keepalive"}})
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
	w := &webhook{Target: target, name: cfg.Name}
	if inline.Keepalive == nil {
		return w, nil
	}
	ka := inline.Keepalive
	if ka.Interval.Duration <= 0 {
		return nil, errors.New("webhook: keepalive interval must be positive")
	}
	return &webhookKeepalive{webhook: w, interval: ka.Interval.Duration, params: ka.Params}, nil
}

// MaxBatch is 1: the webhook posts one document per result.
func (w *webhook) MaxBatch() int { return 1 }

// Send posts one document per result, in order, and stops at the first failure: the results
// before it were delivered, so a retry of the whole batch delivers them again (at least once).
func (w *webhook) Send(ctx context.Context, b Batch) error {
	for i := range b.Results {
		body, err := json.Marshal(NewResultDocument(b.Report, &b.Results[i], b.CustomFields))
		if err != nil {
			return &Error{Reason: fmt.Sprintf("encoding the webhook document: %v", err)}
		}
		if err := w.PostJSON(ctx, body); err != nil {
			return err
		}
	}
	return nil
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
