package sender

import (
	"bytes"
	"context"
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

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"

	"github.com/policyherald/policy-herald/internal/addrguard"
	"github.com/policyherald/policy-herald/internal/redact"
)

const (
	userAgent           = "policy-herald"
	contentTypeJSON     = "application/json"
	dialTimeout         = 10 * time.Second
	tlsHandshakeTimeout = 10 * time.Second
	// requestTimeout bounds one request, from dialling to the end of the response body.
	requestTimeout = 30 * time.Second
	// maxDrain is how much of a response body is read so the connection can be reused; a
	// longer body closes the connection instead.
	maxDrain = 256 << 10
)

// newHTTPClient builds the client of one sender, and every sender's client is built here: the
// default transport's settings, the proxy from HTTP_PROXY, HTTPS_PROXY and NO_PROXY as they are
// when the client is built (not cached for the life of the process like
// http.ProxyFromEnvironment), cfg.TLS, every connection passing cfg.Guard, and no redirects: a
// redirected POST is either turned into a GET or replayed with its credentials to wherever the
// Location points, and neither is what the owner configured.
func newHTTPClient(cfg Config) *http.Client {
	var t *http.Transport
	if dt, ok := http.DefaultTransport.(*http.Transport); ok {
		t = dt.Clone()
	} else {
		t = &http.Transport{ForceAttemptHTTP2: true, MaxIdleConns: 100, IdleConnTimeout: 90 * time.Second}
	}
	proxy := httpproxy.FromEnvironment().ProxyFunc()
	t.Proxy = func(r *http.Request) (*url.URL, error) { return proxy(r.URL) }
	t.DialContext = guardedDialer(cfg.Guard).DialContext
	t.TLSHandshakeTimeout = tlsHandshakeTimeout
	t.MaxIdleConnsPerHost = 16
	if cfg.TLS != nil {
		t.TLSClientConfig = cfg.TLS.Clone()
	}
	return &http.Client{
		Transport:     t,
		Timeout:       requestTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// guardedDialer is the dialer of every sender; with a guard, each address it tries (after name
// resolution, so a name rebound to a refused address is caught) must pass the guard.
func guardedDialer(g *addrguard.Guard) *net.Dialer {
	d := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	if g != nil {
		d.Control = g.Control
	}
	return d
}

// endpoint is a parsed destination URL. Its host is what errors and logs may name.
type endpoint struct {
	raw  string
	url  *url.URL
	host string
}

// parseEndpoint checks that raw is an absolute http(s) URL with a host. Its errors never echo
// the URL: it may hold a token.
func parseEndpoint(setting, raw string) (*endpoint, error) {
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
	return &endpoint{raw: raw, url: u, host: u.Host}, nil
}

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

// httpTarget is what a destination reached over HTTP posts to: its endpoint, the headers sent
// with every request, and the poster whose redactor knows the destination's secrets.
type httpTarget struct {
	ep      *endpoint
	headers http.Header
	post    *poster
}

// newHTTPTarget builds the target of the destination named name (as its errors name it, for
// example "slack" or "googleChat") from its HTTP settings: the url of cfg.Settings (from the
// Secret) wins over s.URL; s.Headers are checked and canonicalised. The poster's client is
// newHTTPClient(cfg), and its redactor knows the URL, every header value and extraSecrets (such as a token). Errors
// never echo the URL or a header value.
func newHTTPTarget(name string, cfg Config, s v1alpha1.HTTPSettings, extraSecrets ...string) (*httpTarget, error) {
	raw := cfg.Settings["url"]
	if raw == "" {
		raw = s.URL
	}
	ep, err := parseEndpoint(name+" url", raw)
	if err != nil {
		return nil, err
	}
	return newHTTPTargetAt(name, ep, cfg, s.Headers, extraSecrets...)
}

// newHTTPTargetAt is newHTTPTarget for an endpoint the destination has resolved itself. The
// redactor knows ep's URL.
func newHTTPTargetAt(name string, ep *endpoint, cfg Config, headers map[string]string, extraSecrets ...string) (*httpTarget, error) {
	h, err := buildHeaders(headers)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	secrets := make([]string, 0, len(h)+len(extraSecrets))
	for _, vs := range h {
		secrets = append(secrets, vs...)
	}
	secrets = append(secrets, extraSecrets...)
	return &httpTarget{ep: ep, headers: h, post: newPoster(cfg, redact.New(ep.url, secrets...))}, nil
}

// postJSON POSTs body to the target's endpoint with its headers (see poster.postJSON).
func (t *httpTarget) postJSON(ctx context.Context, body []byte) error {
	return t.post.postJSON(ctx, t.ep, t.headers, body)
}

// outgoing is one message of a batch: the document to post and how many results it carries.
type outgoing struct {
	doc     any
	results int
}

// postInOrder posts msgs in order, each encoded by marshalJSON, and stops at the first failure,
// whose *Error says in Sent how many results the messages before it carried and, when there are
// several messages, which one failed. name names the destination in an encoding error.
func (t *httpTarget) postInOrder(ctx context.Context, name string, msgs []outgoing) error {
	sent := 0
	for i := range msgs {
		body, err := marshalJSON(msgs[i].doc)
		if err != nil {
			return &Error{Reason: fmt.Sprintf("encoding the %s message: %v", name, err), Sent: sent}
		}
		if err := t.postJSON(ctx, body); err != nil {
			var e *Error
			if errors.As(err, &e) {
				e.Sent = sent
				if len(msgs) > 1 {
					e.Reason += fmt.Sprintf(" (message %d of %d)", i+1, len(msgs))
				}
			}
			return err
		}
		sent += msgs[i].results
	}
	return nil
}

// postSized posts doc, the message of a batch whose first result is result start, after
// checking that it encodes to at most maxBody bytes. A failure's *Error has Sent = start; name
// names the destination in the error of a message that cannot be encoded or is too large.
func (t *httpTarget) postSized(ctx context.Context, name string, doc any, maxBody, start int) error {
	body, err := marshalJSON(doc)
	if err == nil && len(body) > maxBody {
		err = fmt.Errorf("a message of %d bytes is over the limit of %d", len(body), maxBody)
	}
	if err != nil { // cannot happen when the caller measured the message
		return &Error{Reason: name + ": " + err.Error(), Sent: start}
	}
	if err := t.postJSON(ctx, body); err != nil {
		return withSent(err, start)
	}
	return nil
}

// poster sends JSON documents for one sender.
type poster struct {
	client *http.Client
	red    *redact.Redactor
	now    func() time.Time
}

func newPoster(cfg Config, red *redact.Redactor) *poster {
	return &poster{client: newHTTPClient(cfg), red: red, now: time.Now}
}

// postJSON POSTs body to ep (see do) and returns nil on 2xx, else an *Error. The response
// body is drained and closed.
func (p *poster) postJSON(ctx context.Context, ep *endpoint, headers http.Header, body []byte) error {
	resp, err := p.do(ctx, ep, headers, body)
	if err != nil {
		return err
	}
	defer drainAndClose(resp)
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return nil
	}
	var start []byte
	if resp.StatusCode >= 400 && resp.StatusCode <= 499 {
		start, _ = io.ReadAll(io.LimitReader(resp.Body, excerptRead))
	}
	if e := responseError(http.MethodPost, ep.host, resp, start, p.red, p.now()); e != nil {
		return e
	}
	return nil
}

// do POSTs body to ep with Content-Type application/json and User-Agent policy-herald, then
// headers over those (except Content-Type, which stays JSON). It returns the response, whose
// body the caller must pass to drainAndClose, or an *Error when there is none.
func (p *poster) do(ctx context.Context, ep *endpoint, headers http.Header, body []byte) (*http.Response, error) {
	resp, e := p.request(ctx, http.MethodPost, ep, contentTypeJSON, headers, body)
	if e != nil {
		return nil, e
	}
	return resp, nil
}

// request sends body with method to ep with Content-Type contentType and User-Agent
// policy-herald, then headers over those (except a Content-Type among them). It returns the
// response, whose body the caller must close, or an *Error when there is none.
func (p *poster) request(ctx context.Context, method string, ep *endpoint, contentType string, headers http.Header, body []byte) (*http.Response, *Error) {
	req, err := http.NewRequestWithContext(ctx, method, ep.raw, bytes.NewReader(body))
	if err != nil { // the URL was checked when the sender was built; say nothing of it here
		return nil, &Error{Reason: fmt.Sprintf("%s to %s: the request could not be built", method, ep.host)}
	}
	req.Header = make(http.Header, len(headers)+2)
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", userAgent)
	for k, vs := range headers {
		if http.CanonicalHeaderKey(k) == "Content-Type" {
			continue
		}
		req.Header[k] = vs
	}
	resp, err := p.client.Do(req)
	if e := notAllowedError(method, ep.host, err); e != nil {
		return nil, e // refused by the address guard: no retry will change that
	}
	if err != nil {
		return nil, transportError(method, ep.host, err, p.red)
	}
	return resp, nil
}

// drainAndClose reads what is left of a response body, up to maxDrain, so the connection can be
// reused, and closes it.
func drainAndClose(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	_ = resp.Body.Close()
}

// marshalJSON encodes v as compact JSON without escaping &, < and > as \u0026 and the like:
// the chat services read both, the body stays readable, and "<" takes one byte of a size limit
// instead of six.
func marshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func validHeaderValue(v string) bool { return httpguts.ValidHeaderFieldValue(v) }
