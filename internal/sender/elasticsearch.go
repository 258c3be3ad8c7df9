package sender

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/destination/descriptor"
	"github.com/policyherald/policy-herald/internal/redact"
	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/sender/transport"
)

// elasticsearch indexes one document per result through the bulk API of Elasticsearch or
// OpenSearch: POST <url>/_bulk, Content-Type application/x-ndjson, an action line and a
// document line per result:
//
//	{"create":{"_index":"policy-herald-2026.08.15","_id":"a1"}}
//	{"@timestamp":"2026-08-15T10:00:00.000000123Z","id":"a1","policy":"require-labels",...}
//
// Settings: "url" (Secret key or elasticsearch.url; the cluster's base URL, "/_bulk" is
// appended unless it already ends in it), elasticsearch.index (default policy-herald) with the
// suffix of elasticsearch.rotation (daily "-2006.01.02" by default, monthly "-2006.01",
// annually "-2006", none), "username" (Secret or inline) and "password" (Secret) for basic
// authentication, else "apiKey" (Secret) sent as "Authorization: ApiKey <apiKey>" (the
// base64 form Elasticsearch's create API key answer calls "encoded"), elasticsearch.headers.
//
// The document is the ResultDocument with "@timestamp": the result's time, or the time of the
// send when the producer gave none. The rotation suffix is computed from the same time, in
// UTC, so a result always lands in the same index and its retry does not index it twice.
//
// Each action is "create" with "_id" the result's ID: a retried batch, or a result delivered
// again, meets a 409 version_conflict_engine_exception for the documents already there, which
// counts as delivered. Per-item errors of the bulk answer (items[].create.status and error):
// 2xx and 409 are delivered; 429 and 5xx may succeed later; the rest are refused. The *Error
// of a partly failed bulk has Sent = the number of items before the first failed one (only the
// rest is retried, and what of it is already there answers 409), and is retryable only when
// every failed item is: when one is refused for good, the pipeline tries each result on its
// own.
//
// typelessAPI: Elasticsearch 7 deprecated mapping types and 8 (and OpenSearch 2) refuse a
// "_type" in the bulk action line; Elasticsearch 6 requires one, and "_doc" is the type name
// its docs use for the forward-compatible single-type indices. So with typelessAPI the action
// line has no "_type", and without it "_type":"_doc" (which Elasticsearch 7 accepts with a
// deprecation warning). Set typelessAPI for Elasticsearch 8 and OpenSearch.
type elasticsearch struct {
	*transport.Target
	index    string
	rotation v1alpha1.IndexRotation
	typeless bool
	now      func() time.Time
}

const (
	// esMaxBatch is how many results one Send takes.
	esMaxBatch = 200
	// esMaxBody is the most bytes of one bulk body before the batch is split: Elasticsearch
	// takes up to http.max_content_length (100 MB) but recommends bulk requests of a few MB.
	esMaxBody = 5 << 20
	// esMaxResponse is the most bytes of a bulk answer that are read (an item with an error
	// takes a few hundred bytes).
	esMaxResponse     = 4 << 20
	esDefaultIndex    = "policy-herald"
	contentTypeNDJSON = "application/x-ndjson"
)

func init() {
	register(newElasticsearch, descriptor.Descriptor{Type: v1alpha1.DestinationElasticsearch,
		Required: []string{"url"}, SecretKeys: []string{"url", "username", "password", "apiKey"},
		Endpoint: []string{"url", "index"}, Credential: []string{"headers", "username", "password", "apiKey"},
		Other: []string{"rotation", "typelessAPI"}})
}

func newElasticsearch(cfg Config) (Sender, error) {
	inline := *cfg.Destination.Elasticsearch
	ep, err := transport.ParseEndpoint("elasticsearch url", inline.URL)
	if err != nil {
		return nil, err
	}
	ep = withPathSuffix(ep, "/_bulk")

	index := inline.Index
	if index == "" {
		index = esDefaultIndex
	}
	if !esValidIndex(index) {
		return nil, errors.New("elasticsearch: index must be lowercase letters, digits, '.', '_' and '-', start with a letter or digit, and have at most 200 bytes")
	}
	rotation := inline.Rotation
	switch rotation {
	case "":
		rotation = "daily"
	case "none", "daily", "monthly", "annually":
	default:
		return nil, fmt.Errorf("elasticsearch: rotation %q is not none, daily, monthly or annually", rotation)
	}

	username := inline.Username
	password := cfg.Settings["password"]
	apiKey := cfg.Settings["apiKey"]
	var auth string
	switch {
	case username != "":
		if password == "" {
			return nil, errors.New("elasticsearch: a username is set but the Secret has no password")
		}
		if strings.Contains(username, ":") {
			return nil, errors.New("elasticsearch: the username may not contain ':'")
		}
		auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(username+":"+password))
	case password != "":
		return nil, errors.New("elasticsearch: a password is set but no username")
	case apiKey != "":
		auth = "ApiKey " + apiKey
		if !transport.ValidHeaderValue(auth) {
			return nil, errors.New("elasticsearch: the apiKey is not a valid header value")
		}
	}
	target, err := transport.NewTarget("elasticsearch", ep, cfg.httpClient(), inline.Headers, auth, username, password, apiKey)
	if err != nil {
		return nil, err
	}
	if auth != "" {
		target.Headers.Set("Authorization", auth)
	}
	return &elasticsearch{Target: target, index: index, rotation: rotation, typeless: inline.TypelessAPI == nil || *inline.TypelessAPI, now: time.Now}, nil
}

// esValidIndex tells whether name is an index name Elasticsearch accepts once a suffix is
// added (the API validates the same pattern; a Secret or a channel may not go through it).
func esValidIndex(name string) bool {
	if name == "" || len(name) > 200 || name[0] == '-' || name[0] == '_' || name[0] == '.' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// withPathSuffix is ep with suffix appended to its path, unless the path already ends in it.
func withPathSuffix(ep *transport.Endpoint, suffix string) *transport.Endpoint {
	u := *ep.URL
	base := strings.TrimRight(u.Path, "/")
	if strings.HasSuffix(base, suffix) {
		return ep
	}
	u.Path = base + suffix
	u.RawPath = ""
	return transport.EndpointOf(&u)
}

// MaxBatch is esMaxBatch.
func (s *elasticsearch) MaxBatch() int { return esMaxBatch }

// esDocument is the document of one result: the ResultDocument and @timestamp.
type esDocument struct {
	Timestamp string `json:"@timestamp"`
	ResultDocument
}

// esAction is the action line of one document.
type esAction struct {
	Create esActionMeta `json:"create"`
}

type esActionMeta struct {
	Index string `json:"_index"`
	Type  string `json:"_type,omitempty"`
	ID    string `json:"_id"`
}

// esBulkResponse is the part of the bulk API's answer that is read.
type esBulkResponse struct {
	Errors bool                            `json:"errors"`
	Items  []map[string]esBulkItemResponse `json:"items"`
}

type esBulkItemResponse struct {
	Status int          `json:"status"`
	Error  *esItemError `json:"error,omitempty"`
}

type esItemError struct {
	Type   string `json:"type"`
	Reason string `json:"reason"`
}

// Send indexes the batch in one bulk request, or several in order when the body would be over
// esMaxBody.
func (s *elasticsearch) Send(ctx context.Context, b Batch) error {
	now := s.now()
	lines := make([][]byte, len(b.Results))
	for i := range b.Results {
		l, err := s.pair(&b, &b.Results[i], now)
		if err != nil {
			return &Error{Reason: fmt.Sprintf("encoding the elasticsearch document: %v", err)}
		}
		lines[i] = l
	}
	for _, sp := range bodySpans(lines, esMaxBody) {
		if err := s.bulk(ctx, lines[sp.Start:sp.End]); err != nil {
			return transport.WithSent(err, sp.Start+err.Sent)
		}
	}
	return nil
}

// pair is the action and document lines of r, each ending in a line feed.
func (s *elasticsearch) pair(b *Batch, r *report.Result, now time.Time) ([]byte, error) {
	t := r.Timestamp()
	if t.IsZero() {
		t = now.UTC()
	}
	action := esAction{Create: esActionMeta{Index: s.indexFor(t), ID: r.ID()}}
	if !s.typeless {
		action.Create.Type = "_doc"
	}
	a, err := transport.MarshalJSON(action)
	if err != nil {
		return nil, err
	}
	d, err := transport.MarshalJSON(esDocument{Timestamp: t.Format(time.RFC3339Nano), ResultDocument: NewResultDocument(b.Report, r, b.CustomFields)})
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(a)+len(d)+2)
	out = append(append(append(append(out, a...), '\n'), d...), '\n')
	return out, nil
}

// indexFor is the index of a document of time t.
func (s *elasticsearch) indexFor(t time.Time) string {
	t = t.UTC()
	switch s.rotation {
	case "daily":
		return s.index + t.Format("-2006.01.02")
	case "monthly":
		return s.index + t.Format("-2006.01")
	case "annually":
		return s.index + t.Format("-2006")
	}
	return s.index
}

// bulk posts one bulk request of pairs and reads its answer. Its *Error has Sent counted from
// the first of pairs.
func (s *elasticsearch) bulk(ctx context.Context, pairs [][]byte) *Error {
	body := bytes.Join(pairs, nil)
	resp, data, e := exchange(ctx, s.Poster, http.MethodPost, s.Endpoint, contentTypeNDJSON, s.Headers, body, esMaxResponse)
	if e != nil {
		return e
	}
	if e := transport.ResponseError(http.MethodPost, s.Endpoint.Host, resp, data, s.Poster.Red, s.Poster.Now()); e != nil {
		return e
	}
	var ans esBulkResponse
	if err := json.Unmarshal(data, &ans); err != nil {
		return &Error{Reason: fmt.Sprintf("POST to %s: the bulk answer is not JSON the bulk API answers", s.Endpoint.Host), Retryable: true, StatusCode: resp.StatusCode}
	}
	if !ans.Errors {
		if len(ans.Items) != len(pairs) {
			return &Error{Reason: fmt.Sprintf("POST to %s: the bulk answer has %d items for %d documents", s.Endpoint.Host, len(ans.Items), len(pairs)), Retryable: true, StatusCode: resp.StatusCode}
		}
		return nil
	}
	return esItemErrors(s.Endpoint.Host, ans.Items, len(pairs), resp.StatusCode, s.Poster.Red)
}

// esItemErrors reads the items of a bulk answer with errors; nil when every item is delivered
// (created, or already there).
func esItemErrors(host string, items []map[string]esBulkItemResponse, n, status int, red *redact.Redactor) *Error {
	first, failed, allRetryable := -1, 0, true
	var firstText string
	for i := 0; i < n; i++ {
		var it esBulkItemResponse
		ok := false
		if i < len(items) {
			it, ok = items[i]["create"]
		}
		switch {
		case !ok: // no answer for the document: it is not known to be there
			it = esBulkItemResponse{Status: 0}
		case it.Status >= 200 && it.Status <= 299:
			continue
		case it.Status == http.StatusConflict && (it.Error == nil || it.Error.Type == "version_conflict_engine_exception"):
			continue // already there
		}
		failed++
		retryable := !ok || it.Status == http.StatusTooManyRequests || it.Status == http.StatusRequestTimeout || it.Status >= 500
		allRetryable = allRetryable && retryable
		if first < 0 {
			first = i
			switch {
			case !ok:
				firstText = "no answer"
			case it.Error != nil:
				firstText = fmt.Sprintf("%d %s: %s", it.Status, it.Error.Type, it.Error.Reason)
			default:
				firstText = fmt.Sprintf("%d", it.Status)
			}
		}
	}
	if failed == 0 {
		return nil
	}
	return &Error{
		Reason: fmt.Sprintf("POST to %s: %d of %d documents were not indexed; document %d: %s",
			host, failed, n, first+1, transport.Excerpt([]byte(firstText), red)),
		Retryable:  allRetryable,
		StatusCode: status,
		Sent:       first,
	}
}

// exchange sends body with method to ep with Content-Type contentType, User-Agent
// policy-herald and headers (except a Content-Type among them), and returns the response with
// at most max bytes of its body (read whole, the body closed), or an *Error when there is none:
// a transport error, or a body over max. Status codes are the caller's to classify.
func exchange(ctx context.Context, p *transport.Poster, method string, ep *transport.Endpoint, contentType string, headers http.Header, body []byte, max int) (*http.Response, []byte, *Error) {
	resp, e := p.Request(ctx, method, ep, contentType, headers, body)
	if e != nil {
		return nil, nil, e
	}
	defer func() { _ = resp.Body.Close() }() // read whole or up to max: nothing left to report
	data, err := io.ReadAll(io.LimitReader(resp.Body, int64(max)+1))
	if err != nil {
		e := transport.TransportError(method, ep.Host, err, p.Red)
		e.StatusCode = resp.StatusCode
		return nil, nil, e
	}
	if len(data) > max {
		if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
			return nil, nil, &Error{Reason: fmt.Sprintf("%s to %s: the answer is over %d bytes", method, ep.Host, max), Retryable: true, StatusCode: resp.StatusCode}
		}
		data = data[:max]
	}
	return resp, data, nil
}
