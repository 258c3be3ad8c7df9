package sender

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http/httpproxy"
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

// newHTTPClient builds the client of one sender: the default transport's settings, the proxy
// from HTTP_PROXY, HTTPS_PROXY and NO_PROXY as they are when the client is built (not cached
// for the life of the process like http.ProxyFromEnvironment), the given TLS configuration, and
// no redirects: a redirected POST is either turned into a GET or replayed with its credentials
// to wherever the Location points, and neither is what the owner configured.
func newHTTPClient(tlsCfg *tls.Config) *http.Client {
	var t *http.Transport
	if dt, ok := http.DefaultTransport.(*http.Transport); ok {
		t = dt.Clone()
	} else {
		t = &http.Transport{ForceAttemptHTTP2: true, MaxIdleConns: 100, IdleConnTimeout: 90 * time.Second}
	}
	proxy := httpproxy.FromEnvironment().ProxyFunc()
	t.Proxy = func(r *http.Request) (*url.URL, error) { return proxy(r.URL) }
	t.DialContext = (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = tlsHandshakeTimeout
	t.MaxIdleConnsPerHost = 16
	if tlsCfg != nil {
		t.TLSClientConfig = tlsCfg.Clone()
	}
	return &http.Client{
		Transport:     t,
		Timeout:       requestTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
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

// poster sends JSON documents for one sender.
type poster struct {
	client *http.Client
	red    *redactor
	now    func() time.Time
}

func newPoster(tlsCfg *tls.Config, red *redactor) *poster {
	return &poster{client: newHTTPClient(tlsCfg), red: red, now: time.Now}
}

// postJSON POSTs body to ep with Content-Type application/json and User-Agent policy-herald,
// then headers over those (except Content-Type, which stays JSON). It returns nil on 2xx, else
// an *Error. The response body is drained and closed.
func (p *poster) postJSON(ctx context.Context, ep *endpoint, headers http.Header, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.raw, bytes.NewReader(body))
	if err != nil { // the URL was checked when the sender was built; say nothing of it here
		return &Error{Reason: fmt.Sprintf("POST to %s: the request could not be built", ep.host)}
	}
	req.Header = make(http.Header, len(headers)+2)
	req.Header.Set("Content-Type", contentTypeJSON)
	req.Header.Set("User-Agent", userAgent)
	for k, vs := range headers {
		if http.CanonicalHeaderKey(k) == "Content-Type" {
			continue
		}
		req.Header[k] = vs
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return transportError(http.MethodPost, ep.host, err, p.red)
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
		_ = resp.Body.Close()
	}()
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

func validHeaderValue(v string) bool { return httpguts.ValidHeaderFieldValue(v) }
