package sender

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/destination/descriptor"
	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/sender/transport"
)

// splunk sends events to a Splunk HTTP Event Collector (HEC): one POST per batch to <url>
// (default path /services/collector/event when the URL has none), with
// "Authorization: Splunk <token>" and a body of concatenated JSON event objects (not a JSON
// array, and not a JSON string holding them, which was Policy Reporter's bug):
//
//	{"time":1723716000.123,"source":"policy-herald","sourcetype":"_json","index":"main","event":{...}}{"time":...}
//
// Settings: "url" (Secret key or splunk.url), "token" (Secret, required), splunk.index (left out
// when empty: the token's default index), splunk.source (default policy-herald),
// splunk.sourceType (default _json), splunk.headers. The token wins over an Authorization
// header. The event is the ResultDocument; time is the result's time in epoch seconds to the
// millisecond, or the time of the send when the producer gave none. No host is sent: HEC fills
// in its own default.
//
// Indexer acknowledgement: a token with it enabled answers 400 {"text":"Data channel is
// missing","code":10} to a request without a channel. The sender then sends this and every
// later request with X-Splunk-Request-Channel, a random UUID of the sender, and, when the answer
// has an ackId, polls POST /services/collector/ack (the collector path with /ack instead of
// /event) with {"acks":[ackId]} until {"acks":{"<ackId>":true}}, at most splunkAckTimeout:
// then the send fails, retryably (the events may be indexed later, so a retry may index them
// twice: at least once). Cookies of the answers are kept, so a load balancer's sticky session
// takes the polls to the instance that has the ack. A batch larger than splunkMaxBody is split
// into several requests.
type splunk struct {
	*transport.Target
	ack        *transport.Endpoint
	channel    string
	useChannel atomic.Bool
	index      string
	source     string
	sourceType string
	now        func() time.Time
	// ackPoll is the first wait between acknowledgement polls (doubling to splunkAckMaxPoll);
	// ackTimeout bounds the whole wait.
	ackPoll, ackTimeout time.Duration
}

const (
	splunkDefaultPath = "/services/collector/event"
	// splunkMaxBatch is how many results one Send takes.
	splunkMaxBatch = 100
	// splunkMaxBody is the most bytes of one request body. Splunk Cloud refuses HEC requests
	// over 1 MB; Splunk Enterprise's max_content_length is larger.
	splunkMaxBody = 1000000
	// splunkMaxResponse is the most bytes of an answer that are read.
	splunkMaxResponse = 64 << 10
	splunkAckTimeout  = 30 * time.Second
	splunkAckPoll     = 250 * time.Millisecond
	splunkAckMaxPoll  = 2 * time.Second
	// splunkChannelHeader names the HEC channel of a request.
	splunkChannelHeader = "X-Splunk-Request-Channel"
	// splunkCodeNoChannel is HEC's code for "Data channel is missing".
	splunkCodeNoChannel = 10
)

func init() {
	register(newSplunk, descriptor.Descriptor{Type: v1alpha1.DestinationSplunk,
		Required: []string{"url", "token"}, SecretKeys: []string{"url", "token"},
		Endpoint: []string{"url", "index"}, Credential: []string{"headers", "token"}, Other: []string{"source", "sourceType"}})
}

func newSplunk(cfg Config) (Sender, error) {
	inline := *cfg.Destination.Splunk
	token := cfg.Settings["token"]
	if token == "" {
		return nil, errors.New("splunk: the HEC token is not set (Secret key token)")
	}
	auth := "Splunk " + token
	if !transport.ValidHeaderValue(auth) || strings.ContainsAny(token, " \t") {
		return nil, errors.New("splunk: the token is not a valid header value")
	}
	ep, err := transport.ParseEndpoint("splunk url", inline.URL)
	if err != nil {
		return nil, err
	}
	if p := strings.TrimRight(ep.URL.Path, "/"); p == "" {
		u := *ep.URL
		u.Path, u.RawPath = splunkDefaultPath, ""
		ep = transport.EndpointOf(&u)
	}
	target, err := transport.NewTarget("splunk", ep, cfg.httpClient(), inline.Headers, auth)
	if err != nil {
		return nil, err
	}
	target.Headers.Set("Authorization", auth)
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, fmt.Errorf("splunk: %w", err)
	}
	target.Poster.Client.Jar = jar

	s := &splunk{
		Target:     target,
		ack:        splunkAckEndpoint(ep),
		channel:    newUUID(),
		index:      inline.Index,
		source:     inline.Source,
		sourceType: inline.SourceType,
		now:        time.Now,
		ackPoll:    splunkAckPoll,
		ackTimeout: splunkAckTimeout,
	}
	if s.source == "" {
		s.source = "policy-herald"
	}
	if s.sourceType == "" {
		s.sourceType = "_json"
	}
	return s, nil
}

// splunkAckEndpoint is the acknowledgement endpoint of the collector at ep: its path up to
// /services/collector and /ack, or /ack next to the last segment of a path without it. The
// query stays.
func splunkAckEndpoint(ep *transport.Endpoint) *transport.Endpoint {
	u := *ep.URL
	p := strings.TrimRight(u.Path, "/")
	if i := strings.Index(p, "/services/collector"); i >= 0 {
		p = p[:i] + "/services/collector/ack"
	} else if j := strings.LastIndex(p, "/"); j >= 0 {
		p = p[:j] + "/ack"
	}
	u.Path, u.RawPath = p, ""
	return transport.EndpointOf(&u)
}

// newUUID is a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// MaxBatch is splunkMaxBatch.
func (s *splunk) MaxBatch() int { return splunkMaxBatch }

// splunkEvent is one HEC event.
type splunkEvent struct {
	Time       json.Number    `json:"time"`
	Host       string         `json:"host,omitempty"`
	Source     string         `json:"source,omitempty"`
	SourceType string         `json:"sourcetype,omitempty"`
	Index      string         `json:"index,omitempty"`
	Event      ResultDocument `json:"event"`
}

// splunkAnswer is HEC's answer to an event or ack request.
type splunkAnswer struct {
	Text         string          `json:"text"`
	Code         *int            `json:"code"`
	InvalidEvent *int            `json:"invalid-event-number"`
	AckID        *int64          `json:"ackId"`
	Acks         map[string]bool `json:"acks"`
}

// Send posts the batch, split into several requests when one would be over splunkMaxBody.
func (s *splunk) Send(ctx context.Context, b Batch) error {
	now := s.now()
	events := make([][]byte, len(b.Results))
	for i := range b.Results {
		e, err := transport.MarshalJSON(s.event(&b, &b.Results[i], now))
		if err != nil {
			return &Error{Reason: fmt.Sprintf("encoding the splunk event: %v", err)}
		}
		events[i] = e
	}
	for _, sp := range bodySpans(events, splunkMaxBody) {
		var body []byte
		for _, e := range events[sp.Start:sp.End] {
			body = append(body, e...)
		}
		if err := s.post1(ctx, body); err != nil {
			return transport.WithSent(err, sp.Start)
		}
	}
	return nil
}

// event is the HEC event of r.
func (s *splunk) event(b *Batch, r *report.Result, now time.Time) splunkEvent {
	t := r.Timestamp()
	if t.IsZero() {
		t = now
	}
	ms := t.UnixMilli()
	sec, frac := ms/1000, ms%1000
	if frac < 0 {
		sec, frac = sec-1, frac+1000
	}
	return splunkEvent{
		Time:       json.Number(fmt.Sprintf("%d.%03d", sec, frac)),
		Source:     s.source,
		SourceType: s.sourceType,
		Index:      s.index,
		Event:      NewResultDocument(b.Report, r, b.CustomFields),
	}
}

// post1 posts one body of events; on "Data channel is missing" it switches to channels and
// posts it again; with an ackId in the answer it waits for the acknowledgement.
func (s *splunk) post1(ctx context.Context, body []byte) *Error {
	for attempt := 0; ; attempt++ {
		channel := s.useChannel.Load()
		ans, e := s.request(ctx, s.Endpoint, body, channel)
		if e != nil {
			if !channel && attempt == 0 && e.StatusCode == http.StatusBadRequest && ans != nil && ans.Code != nil && *ans.Code == splunkCodeNoChannel {
				s.useChannel.Store(true)
				continue
			}
			return e
		}
		if channel && ans.AckID != nil {
			return s.awaitAck(ctx, *ans.AckID)
		}
		return nil
	}
}

// request posts body to ep, with the channel header when channel is set, and returns the
// answer (also the one of a refusal, when it is HEC's JSON) and the *Error of a failure.
func (s *splunk) request(ctx context.Context, ep *transport.Endpoint, body []byte, channel bool) (*splunkAnswer, *Error) {
	headers := s.Headers
	if channel {
		headers = s.Headers.Clone()
		headers.Set(splunkChannelHeader, s.channel)
	}
	resp, data, e := exchange(ctx, s.Poster, http.MethodPost, ep, transport.ContentTypeJSON, headers, body, splunkMaxResponse)
	if e != nil {
		return nil, e
	}
	var ans splunkAnswer
	jerr := json.Unmarshal(data, &ans)
	if e := transport.ResponseError(http.MethodPost, ep.Host, resp, data, s.Poster.Red, s.Poster.Now()); e != nil {
		if jerr == nil {
			return &ans, e
		}
		return nil, e
	}
	if jerr != nil && len(strings.TrimSpace(string(data))) > 0 {
		return nil, &Error{Reason: fmt.Sprintf("POST to %s: the answer is not HEC's JSON", ep.Host), Retryable: true, StatusCode: resp.StatusCode}
	}
	return &ans, nil
}

// awaitAck polls the acknowledgement of id until it is true or ackTimeout passes.
func (s *splunk) awaitAck(ctx context.Context, id int64) *Error {
	body, _ := json.Marshal(map[string][]int64{"acks": {id}})
	key := strconv.FormatInt(id, 10)
	deadline := time.Now().Add(s.ackTimeout)
	wait := s.ackPoll
	for {
		t := time.NewTimer(min(wait, max(time.Until(deadline), 0)))
		select {
		case <-ctx.Done():
			t.Stop()
			return &Error{Reason: fmt.Sprintf("POST to %s: waiting for the indexer acknowledgement: %v", s.ack.Host, ctx.Err()), Retryable: true, Cause: ctx.Err()}
		case <-t.C:
		}
		ans, e := s.request(ctx, s.ack, body, true)
		if e != nil {
			return e
		}
		if ans.Acks[key] {
			return nil
		}
		if !time.Now().Before(deadline) {
			return &Error{Reason: fmt.Sprintf("POST to %s: the events were not acknowledged by the indexers within %s", s.ack.Host, s.ackTimeout), Retryable: true}
		}
		wait = min(wait*2, splunkAckMaxPoll)
	}
}
