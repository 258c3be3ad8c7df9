package sender

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/policyherald/policy-herald/internal/sender/transport"
)

// Slack through its Web API: with a bot token (Secret key token, xoxb-…) and a channel, the
// sender posts the same messages with chat.postMessage instead of an incoming webhook, and
// learns each message's channel and ts, which it hands the pipeline (Batch.Posted) as the
// thread id "<channel>/<ts>" of the results the message holds. A resolved notice then answers
// in the original message's thread (thread_ts), and once none of that message's results is
// open any more (Batch.Closed) the original gets a ✅ reaction (reactions.add,
// white_check_mark). The reaction comes first: it is idempotent (already_reacted counts as
// done), so a retry after a failed reply never reacts twice, and a reply that went out is
// never repeated for a failed reaction. A reaction refused for good (the message was deleted,
// the bot lacks reactions:write) is left out: the reply still goes. Results whose thread is not
// known (delivered before the Web API was configured, or beyond the ledger's bound of thread
// ids) get a notice of their own in the channel, unthreaded.
//
// Requests are JSON with "Authorization: Bearer <token>" (and the configured headers). The Web
// API answers 200 with {"ok":false,"error":"<code>"} when it refuses: ratelimited,
// internal_error, fatal_error, service_unavailable and request_timeout are retried, every
// other code is not (invalid_auth, channel_not_found, not_in_channel, missing_scope, ...). A
// 429 is retried after its Retry-After.

// slackAPIBase is the Web API's address; only tests change it (Config.apiEndpoint).
const slackAPIBase = "https://slack.com/api/"

// slackReaction is the emoji a resolved original message gets.
const slackReaction = "white_check_mark"

// slackAPI calls Slack's Web API for one sender.
type slackAPI struct {
	base    string // ends with "/"
	target  *transport.Target
	headers http.Header // the target's, with the Authorization header
}

// slackAPIResponse is what the Web API answers (the fields the sender reads).
type slackAPIResponse struct {
	OK      bool   `json:"ok"`
	Error   string `json:"error"`
	Channel string `json:"channel"`
	TS      string `json:"ts"`
}

// slackReactionRequest is the body of reactions.add.
type slackReactionRequest struct {
	Channel   string `json:"channel"`
	Timestamp string `json:"timestamp"`
	Name      string `json:"name"`
}

// newSlackAPI builds the Web API client of a sender with the given headers and token.
func newSlackAPI(cfg Config, headers map[string]string, token string) (*slackAPI, error) {
	if !transport.ValidHeaderValue(token) || strings.ContainsAny(token, " \t") {
		return nil, errors.New("slack: the bot token holds characters a token cannot have")
	}
	base := slackAPIBase
	if cfg.apiEndpoint != "" {
		base = strings.TrimRight(cfg.apiEndpoint, "/") + "/"
	}
	ep, err := transport.ParseEndpoint("slack API", base+"chat.postMessage")
	if err != nil {
		return nil, err
	}
	target, err := transport.NewTarget("slack", ep, cfg.httpClient(), headers, token)
	if err != nil {
		return nil, err
	}
	h := target.Headers.Clone()
	h.Set("Authorization", "Bearer "+token)
	return &slackAPI{base: base, target: target, headers: h}, nil
}

// send posts the messages of b in order with chat.postMessage and tells b.Posted the thread of
// each. A failure's *Error says in Sent how many results went out before it.
func (a *slackAPI) send(ctx context.Context, s *slack, b Batch) error {
	msgs := s.messages(b)
	sent := 0
	for i, m := range msgs {
		resp, err := a.call(ctx, "chat.postMessage", m.Doc)
		if err != nil {
			if len(msgs) > 1 {
				err.Reason += fmt.Sprintf(" (message %d of %d)", i+1, len(msgs))
			}
			return transport.WithSent(err, sent)
		}
		if b.Posted != nil && resp.Channel != "" && resp.TS != "" {
			b.Posted(resp.Channel+"/"+resp.TS, b.Results[sent:sent+m.Results])
		}
		sent += m.Results
	}
	return nil
}

// resolve announces b's resolved results: each run of results of one thread in that thread
// (with the reaction first when the thread is closed), the others in the channel.
func (a *slackAPI) resolve(ctx context.Context, s *slack, b Batch) error {
	for start := 0; start < len(b.Results); {
		thread := b.Threads[b.Results[start].Hash]
		end := start + 1
		for end < len(b.Results) && b.Threads[b.Results[end].Hash] == thread {
			end++
		}
		part := b
		part.Results = b.Results[start:end]
		msg := s.resolvedMessage(part)
		if channel, ts, ok := strings.Cut(thread, "/"); ok && channel != "" && ts != "" {
			if b.Closed[thread] {
				if err := a.react(ctx, channel, ts); err != nil {
					return transport.WithSent(err, start)
				}
			}
			msg.Channel, msg.ThreadTS = channel, ts
		}
		if _, err := a.call(ctx, "chat.postMessage", msg); err != nil {
			return transport.WithSent(err, start)
		}
		start = end
	}
	return nil
}

// react adds the ✅ reaction to the message ts of channel. It fails only when a retry may
// succeed: a reaction refused for good is left out.
func (a *slackAPI) react(ctx context.Context, channel, ts string) *Error {
	_, err := a.call(ctx, "reactions.add", slackReactionRequest{Channel: channel, Timestamp: ts, Name: slackReaction})
	if err == nil || !err.Retryable {
		return nil
	}
	return err
}

// call POSTs doc as JSON to the Web API method and reads the answer.
func (a *slackAPI) call(ctx context.Context, method string, doc any) (*slackAPIResponse, *Error) {
	body, err := transport.MarshalJSON(doc)
	if err != nil {
		return nil, &Error{Reason: fmt.Sprintf("encoding the slack %s request: %v", method, err)}
	}
	ep, err := transport.ParseEndpoint("slack API", a.base+method)
	if err != nil {
		return nil, &Error{Reason: "slack: " + err.Error()}
	}
	p := a.target.Poster
	resp, perr := p.Request(ctx, http.MethodPost, ep, "application/json; charset=utf-8", a.headers, body)
	if perr != nil {
		return nil, perr
	}
	defer transport.DrainAndClose(resp)
	data, _ := io.ReadAll(io.LimitReader(resp.Body, transport.ExcerptRead))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var start []byte
		if resp.StatusCode >= 400 && resp.StatusCode <= 499 {
			start = data
		}
		return nil, transport.ResponseError(http.MethodPost, ep.Host, resp, start, p.Red, p.Now())
	}
	var out slackAPIResponse
	if err := json.Unmarshal(data, &out); err != nil {
		// A 2xx without a Web API body (a proxy's): delivered all the same, as through any other
		// HTTP destination; its thread is not known.
		return &slackAPIResponse{OK: true}, nil
	}
	if out.OK || (method == "reactions.add" && out.Error == "already_reacted") {
		return &out, nil
	}
	return nil, slackAPIError(ep.Host, method, out.Error, resp, p)
}

// slackAPIError classifies an ok:false answer by its error code.
func slackAPIError(host, method, code string, resp *http.Response, p *transport.Poster) *Error {
	e := &Error{StatusCode: resp.StatusCode,
		Reason: fmt.Sprintf("POST to %s: %s: %s", host, method, transport.Excerpt([]byte(code), p.Red))}
	var hint string
	switch code {
	case "ratelimited", "rate_limited":
		e.Retryable = true
		e.RetryAfter = transport.ParseRetryAfter(resp.Header.Get("Retry-After"), p.Now())
	case "internal_error", "fatal_error", "service_unavailable", "request_timeout":
		e.Retryable = true
	case "invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive":
		hint = "check the bot token"
	case "channel_not_found", "not_in_channel", "is_archived":
		hint = "check the channel, and that the bot is a member of it"
	case "missing_scope":
		hint = "the bot needs the scopes chat:write and reactions:write"
	}
	if hint != "" {
		e.Reason += " (" + hint + ")"
	}
	if e.RetryAfter > 0 {
		e.Reason += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	return e
}
