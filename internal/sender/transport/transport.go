// Package transport is what the senders that reach their destination over HTTP share: the one
// HTTP client constructor (proxy, TLS, address guard, no redirects), endpoints and headers
// checked without echoing them, posting JSON, and the *Error every sender returns, whose text
// names a host only and is redacted of the destination's secrets.
package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http/httpproxy"

	"github.com/policyherald/policy-herald/internal/addrguard"
	"github.com/policyherald/policy-herald/internal/redact"
)

const (
	UserAgent           = "policy-herald"
	ContentTypeJSON     = "application/json"
	dialTimeout         = 10 * time.Second
	tlsHandshakeTimeout = 10 * time.Second
	// RequestTimeout bounds one request, from dialling to the end of the response body.
	RequestTimeout = 30 * time.Second
	// MaxDrain is how much of a response body is read so the connection can be reused; a
	// longer body closes the connection instead.
	MaxDrain = 256 << 10
)

// NewClient builds the client of one sender, and every sender's client is built here: the
// default transport's settings, the proxy from HTTP_PROXY, HTTPS_PROXY and NO_PROXY as they are
// when the client is built (not cached for the life of the process like
// http.ProxyFromEnvironment), tlsCfg (nil: the system defaults), every connection passing guard
// (nil: unrestricted), and no redirects: a redirected POST is either turned into a GET or
// replayed with its credentials to wherever the Location points, and neither is what the owner
// configured.
func NewClient(tlsCfg *tls.Config, guard *addrguard.Guard) *http.Client {
	var t *http.Transport
	if dt, ok := http.DefaultTransport.(*http.Transport); ok {
		t = dt.Clone()
	} else {
		t = &http.Transport{ForceAttemptHTTP2: true, MaxIdleConns: 100, IdleConnTimeout: 90 * time.Second}
	}
	proxy := httpproxy.FromEnvironment().ProxyFunc()
	t.Proxy = func(r *http.Request) (*url.URL, error) { return proxy(r.URL) }
	t.DialContext = dialer(guard).DialContext
	t.TLSHandshakeTimeout = tlsHandshakeTimeout
	t.MaxIdleConnsPerHost = 16
	if tlsCfg != nil {
		t.TLSClientConfig = tlsCfg.Clone()
	}
	return &http.Client{
		Transport:     t,
		Timeout:       RequestTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// dialer is the dialer of every sender; with a guard, each address it tries (after name
// resolution, so a name rebound to a refused address is caught) must pass the guard.
func dialer(g *addrguard.Guard) *net.Dialer {
	d := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	if g != nil {
		d.Control = g.Control
	}
	return d
}

// Endpoint is a parsed destination URL. Its host is what errors and logs may name.
type Endpoint struct {
	Raw  string
	URL  *url.URL
	Host string // what errors and logs may name
}

// ParseEndpoint checks that raw is an absolute http(s) URL with a host. Its errors never echo
// the URL: it may hold a token.
func ParseEndpoint(setting, raw string) (*Endpoint, error) {
	if raw == "" {
		return nil, fmt.Errorf("%s is not set", setting)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s is not a valid URL", setting)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%s must be an http:// or https:// URL", setting)
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("%s has no host", setting)
	}
	return &Endpoint{Raw: raw, URL: u, Host: u.Host}, nil
}

// EndpointOf is the endpoint at u, which the caller derived from a parsed one (a path appended).
func EndpointOf(u *url.URL) *Endpoint { return &Endpoint{Raw: u.String(), URL: u, Host: u.Host} }

// buildHeaders canonicalises configured headers and checks them. Its errors name the header,
// never its value.
func buildHeaders(in map[string]string) (http.Header, error) {
	h := make(http.Header, len(in)+1)
	for k, v := range in {
		if !httpguts.ValidHeaderFieldName(k) {
			return nil, fmt.Errorf("header name %q is not valid", k)
		}
		if !httpguts.ValidHeaderFieldValue(v) {
			return nil, fmt.Errorf("the value of header %q is not valid (control characters or line breaks)", k)
		}
		h.Set(k, v)
	}
	return h, nil
}

// Target is what a destination reached over HTTP posts to: its Endpoint, the headers sent
// with every request, and the Poster whose redactor knows the destination's secrets.
type Target struct {
	Endpoint *Endpoint
	Headers  http.Header
	Poster   *Poster
	// ContentType is the Content-Type of PostJSON's requests, a JSON media type the destination
	// chose (the webhook's contentType); empty means ContentTypeJSON.
	ContentType string
}

// NewTarget builds the target of the destination named name (as its errors name it, for
// example "slack" or "googleChat") at ep, posting with client. headers are checked and
// canonicalised; errors never echo a header value. The poster's redactor knows ep's URL, every
// header value and extraSecrets (such as a token).
func NewTarget(name string, ep *Endpoint, client *http.Client, headers map[string]string, extraSecrets ...string) (*Target, error) {
	h, err := buildHeaders(headers)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	secrets := make([]string, 0, len(h)+len(extraSecrets))
	for _, vs := range h {
		secrets = append(secrets, vs...)
	}
	secrets = append(secrets, extraSecrets...)
	return &Target{Endpoint: ep, Headers: h, Poster: NewPoster(client, redact.New(ep.URL, secrets...))}, nil
}

// DialHosts is the target's host, for the sender's address check (see sender.New).
func (t *Target) DialHosts() ([]string, error) { return []string{t.Endpoint.URL.Hostname()}, nil }

// PostJSON POSTs body to the target's Endpoint with its headers and ContentType (see
// Poster.PostJSON).
func (t *Target) PostJSON(ctx context.Context, body []byte) error {
	if t.ContentType != "" {
		return t.Poster.Post(ctx, t.Endpoint, t.ContentType, t.Headers, body)
	}
	return t.Poster.PostJSON(ctx, t.Endpoint, t.Headers, body)
}

// Outgoing is one message of a batch: the document to post and how many results it carries.
type Outgoing struct {
	Doc     any
	Results int
}

// PostInOrder posts msgs in order, each encoded by MarshalJSON, and stops at the first failure,
// whose *Error says in Sent how many results the messages before it carried and, when there are
// several messages, which one failed. name names the destination in an encoding error.
func (t *Target) PostInOrder(ctx context.Context, name string, msgs []Outgoing) error {
	sent := 0
	for i := range msgs {
		body, err := MarshalJSON(msgs[i].Doc)
		if err != nil {
			return &Error{Reason: fmt.Sprintf("encoding the %s message: %v", name, err), Sent: sent}
		}
		if err := t.PostJSON(ctx, body); err != nil {
			var e *Error
			if errors.As(err, &e) {
				e.Sent = sent
				if len(msgs) > 1 {
					e.Reason += fmt.Sprintf(" (message %d of %d)", i+1, len(msgs))
				}
			}
			return err
		}
		sent += msgs[i].Results
	}
	return nil
}

// PostSized posts doc, the message of a batch whose first result is result start, after
// checking that it encodes to at most maxBody bytes. A failure's *Error has Sent = start; name
// names the destination in the error of a message that cannot be encoded or is too large.
func (t *Target) PostSized(ctx context.Context, name string, doc any, maxBody, start int) error {
	body, err := MarshalJSON(doc)
	if err == nil && len(body) > maxBody {
		err = fmt.Errorf("a message of %d bytes is over the limit of %d", len(body), maxBody)
	}
	if err != nil { // cannot happen when the caller measured the message
		return &Error{Reason: name + ": " + err.Error(), Sent: start}
	}
	if err := t.PostJSON(ctx, body); err != nil {
		return WithSent(err, start)
	}
	return nil
}

// Poster sends JSON documents for one sender.
type Poster struct {
	Client *http.Client
	Red    *redact.Redactor
	Now    func() time.Time
}

// NewPoster returns a poster sending with client, its errors redacted by red.
func NewPoster(client *http.Client, red *redact.Redactor) *Poster {
	return &Poster{Client: client, Red: red, Now: time.Now}
}

// PostJSON POSTs body to ep (see Do) and returns nil on 2xx, else an *Error. The response
// body is drained and closed.
func (p *Poster) PostJSON(ctx context.Context, ep *Endpoint, headers http.Header, body []byte) error {
	return p.Post(ctx, ep, ContentTypeJSON, headers, body)
}

// Post is PostJSON with the Content-Type contentType.
func (p *Poster) Post(ctx context.Context, ep *Endpoint, contentType string, headers http.Header, body []byte) error {
	resp, e := p.Request(ctx, http.MethodPost, ep, contentType, headers, body)
	if e != nil {
		return e
	}
	defer DrainAndClose(resp)
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return nil
	}
	var start []byte
	if resp.StatusCode >= 400 && resp.StatusCode <= 499 {
		start, _ = io.ReadAll(io.LimitReader(resp.Body, ExcerptRead))
	}
	if e := ResponseError(http.MethodPost, ep.Host, resp, start, p.Red, p.Now()); e != nil {
		return e
	}
	return nil
}

// Do POSTs body to ep with Content-Type application/json and User-Agent policy-herald, then
// headers over those (except Content-Type, which stays JSON). It returns the response, whose
// body the caller must pass to DrainAndClose, or an *Error when there is none.
func (p *Poster) Do(ctx context.Context, ep *Endpoint, headers http.Header, body []byte) (*http.Response, error) {
	resp, e := p.Request(ctx, http.MethodPost, ep, ContentTypeJSON, headers, body)
	if e != nil {
		return nil, e
	}
	return resp, nil
}

// Request sends body with method to ep with Content-Type contentType and User-Agent
// policy-herald, then headers over those (except a Content-Type among them). It returns the
// response, whose body the caller must close, or an *Error when there is none.
func (p *Poster) Request(ctx context.Context, method string, ep *Endpoint, contentType string, headers http.Header, body []byte) (*http.Response, *Error) {
	req, err := http.NewRequestWithContext(ctx, method, ep.Raw, bytes.NewReader(body))
	if err != nil { // the URL was checked when the sender was built; say nothing of it here
		return nil, &Error{Reason: fmt.Sprintf("%s to %s: the request could not be built", method, ep.Host)}
	}
	req.Header = make(http.Header, len(headers)+2)
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", UserAgent)
	for k, vs := range headers {
		if http.CanonicalHeaderKey(k) == "Content-Type" {
			continue
		}
		req.Header[k] = vs
	}
	resp, err := p.Client.Do(req)
	if e := NotAllowed(method, ep.Host, err); e != nil {
		return nil, e // refused by the address guard: no retry will change that
	}
	if err != nil {
		return nil, TransportError(method, ep.Host, err, p.Red)
	}
	return resp, nil
}

// DrainAndClose reads what is left of a response body, up to MaxDrain, so the connection can be
// reused, and closes it.
func DrainAndClose(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, MaxDrain))
	_ = resp.Body.Close()
}

// MarshalJSON encodes v as compact JSON without escaping &, < and > as \u0026 and the like:
// the chat services read both, the body stays readable, and "<" takes one byte of a size limit
// instead of six.
func MarshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func ValidHeaderValue(v string) bool { return httpguts.ValidHeaderFieldValue(v) }
