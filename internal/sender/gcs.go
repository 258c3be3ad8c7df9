package sender

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"cloud.google.com/go/auth"
	"cloud.google.com/go/auth/credentials"
	"cloud.google.com/go/auth/httptransport"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/destination/descriptor"
	"github.com/policyherald/policy-herald/internal/redact"
	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/sender/transport"
)

// gcs writes one ResultDocument per result to a Google Cloud Storage bucket, as the object
// <prefix>/<YYYY-MM-DD>/<policy>-<result ID>.json (Content-Type application/json, with its
// CRC32C for the service to check), one JSON API multipart upload each (gcs_upload.go). The
// date is the result's own timestamp in UTC, "undated" when it has none, so the name of a
// result never changes: a retry overwrites its object instead of writing a second one.
//
// Settings: "bucket" (required), "prefix" (default policy-herald; "/" writes at the top of the
// bucket), "credentials" (from the Secret): a service account key JSON, the only kind of
// credential accepted, as other kinds of credential configuration name files and URLs for the
// operator to read. Without credentials only a platform-namespace object (AmbientCredentials)
// uses the operator's own identity, Application Default Credentials (GKE workload identity),
// looked up at the first write.
//
// Every request (the uploads and, with a key, its OAuth token requests to the key's token_uri)
// goes through the sender's own HTTP client: cfg.TLS, the proxy from the environment, no
// redirects and the address guard; the access token is added by the authorization middleware of
// Google's auth library, and there is no storage client (its gRPC and telemetry dependencies
// were a fifth of the binary). The operator's own identity fetches its tokens the way the
// Google libraries do (the metadata server is link-local, which the guard refuses). The
// STORAGE_EMULATOR_HOST variable of the operator's process is ignored: the sender always names
// its endpoint.
type gcs struct {
	// client is the sender's HTTP client with the authorization middleware.
	client *http.Client
	upload string // the URL of the bucket's multipart uploads
	bucket string
	prefix string // without a trailing slash; "" for the top of the bucket
	ep     *transport.Endpoint
	// token is the token_uri of the key, nil for the operator's identity.
	token *url.URL
	// secrets are what errors must not show: the key JSON, its private key and key ID; and the
	// last Authorization header sent (lastAuth), added when an error is made.
	secrets  []string
	lastAuth *authRecorder
	// base is the transport under the authorization middleware, whose idle connections Close
	// closes.
	base *http.Transport
	now  func() time.Time
}

const (
	gcsEndpoint      = "https://storage.googleapis.com/storage/v1/"
	gcsDefaultPrefix = "policy-herald"
	gcsTokenURL      = "https://oauth2.googleapis.com/token"
	// gcsWriteScope lets the tokens write objects (and read them, which the sender does not do).
	gcsWriteScope = "https://www.googleapis.com/auth/devstorage.read_write"
	// gcsMaxBatch results are written per Send, one object after the other; a failure reports
	// how many went before it, so only the rest is retried.
	gcsMaxBatch = 10
	// gcsMaxPrefix bounds the prefix so that every object name stays within the 1024 bytes GCS
	// allows: prefix, "/", date (10), "/", policy (gcsMaxPolicy), "-", ID (16), ".json".
	gcsMaxPrefix = 512
	gcsMaxPolicy = 200
	// gcsMaxCredentials bounds the key JSON read from the Secret (a key is about 2.3 KiB).
	gcsMaxCredentials = 64 << 10
)

// gcsNoAmbient is the error of a tenant's destination without credentials.
const gcsNoAmbient = "gcs needs credentials in its Secret: only objects in the platform namespace may use the operator's own Google identity"

// errGCSNoADC is returned at the first write when the operator has no Google identity.
var errGCSNoADC = errors.New("the operator's own Google identity (Application Default Credentials, such as GKE workload identity) was not found; set credentials in the Secret")

func init() {
	register(newGCS, descriptor.Descriptor{Type: v1alpha1.DestinationGCS,
		Required: []string{"bucket"}, SecretKeys: []string{"credentials"},
		Endpoint: []string{"bucket"}, Credential: []string{"credentials"}, Other: []string{"prefix"}})
}

func newGCS(cfg Config) (Sender, error) {
	ep := gcsEndpoint
	if cfg.apiEndpoint != "" {
		ep = cfg.apiEndpoint
	}
	g, err := newGCSAt(cfg, ep)
	if err != nil {
		return nil, err
	}
	return g, nil
}

// newGCSAt builds the sender writing to the JSON API at rawEndpoint (…/storage/v1/). Only
// tests pass another endpoint than gcsEndpoint: the API has no endpoint field.
func newGCSAt(cfg Config, rawEndpoint string) (*gcs, error) {
	bucket, prefix := cfg.Destination.GCS.Bucket, cfg.Destination.GCS.Prefix
	if err := checkBucketName(bucket); err != nil {
		return nil, fmt.Errorf("gcs: %w", err)
	}
	prefix, err := gcsPrefix(prefix)
	if err != nil {
		return nil, fmt.Errorf("gcs: %w", err)
	}
	ep, err := transport.ParseEndpoint("gcs endpoint", rawEndpoint)
	if err != nil {
		return nil, err
	}

	httpc := cfg.httpClient()
	base, ok := httpc.Transport.(*http.Transport)
	if !ok {
		return nil, errors.New("gcs: the HTTP client cannot be built")
	}
	g := &gcs{bucket: bucket, prefix: prefix, ep: ep, base: base, now: time.Now}

	var creds *auth.Credentials
	if raw := cfg.Settings["credentials"]; raw != "" {
		key, err := parseServiceAccountKey(raw)
		if err != nil {
			return nil, fmt.Errorf("gcs: %w", err)
		}
		g.token = key.tokenURL
		g.secrets = []string{raw, key.PrivateKey, key.PrivateKeyID}
		// The token requests share the client of the uploads (TLS, proxy, guard), redirects
		// refused.
		tokenClient := &http.Client{Transport: base, Timeout: transport.RequestTimeout, CheckRedirect: httpc.CheckRedirect}
		creds, err = credentials.NewCredentialsFromJSON(credentials.ServiceAccount, []byte(raw), &credentials.DetectOptions{
			Scopes: []string{gcsWriteScope},
			Client: tokenClient,
		})
		if err != nil { // the library's text may quote the key: say nothing of it
			return nil, errors.New("gcs: the credentials in the Secret could not be loaded as a service account key")
		}
	} else {
		if !cfg.AmbientCredentials {
			return nil, errors.New(gcsNoAmbient)
		}
		creds = auth.NewCredentials(&auth.CredentialsOptions{TokenProvider: &ambientTokens{}})
	}

	g.lastAuth = &authRecorder{base: base}
	authed := &http.Client{Transport: g.lastAuth, Timeout: transport.RequestTimeout, CheckRedirect: httpc.CheckRedirect}
	if err := httptransport.AddAuthorizationMiddleware(authed, creds); err != nil {
		return nil, fmt.Errorf("gcs: %w", err)
	}
	g.client = authed
	g.upload = gcsUploadURL(ep.URL, bucket)
	return g, nil
}

// MaxBatch is gcsMaxBatch: objects are written one by one, in order.
func (g *gcs) MaxBatch() int { return gcsMaxBatch }

// Send writes one object per result, in order, and stops at the first failure, whose *Error
// says in Sent how many were written before it.
func (g *gcs) Send(ctx context.Context, b Batch) error {
	for i := range b.Results {
		r := &b.Results[i]
		body, err := transport.MarshalJSON(NewResultDocument(b.Report, r, b.CustomFields))
		if err != nil {
			return &Error{Reason: fmt.Sprintf("gcs: encoding the result document: %v", err), Sent: i}
		}
		if err := g.write(ctx, g.objectName(r), body); err != nil {
			e := transport.WithSent(err, i)
			if len(b.Results) > 1 {
				e.Reason += fmt.Sprintf(" (object %d of %d)", i+1, len(b.Results))
			}
			return e
		}
	}
	return nil
}

// Close closes the sender's idle connections; the pipeline calls it when the sender is
// replaced.
func (g *gcs) Close() { g.base.CloseIdleConnections() }

// write uploads body as the object name in one request (no resumable session), with its
// CRC32C, and does not retry: the pipeline retries, and the error of the first attempt is what
// it needs to decide.
func (g *gcs) write(ctx context.Context, name string, body []byte) error {
	const method = http.MethodPost
	payload, contentType, err := gcsMultipart(g.bucket, name, body)
	if err != nil { // writing to memory: cannot happen
		return &Error{Reason: fmt.Sprintf("gcs: building the upload: %v", err)}
	}
	req, err := http.NewRequestWithContext(ctx, method, g.upload, bytes.NewReader(payload))
	if err != nil { // the endpoint was checked when the sender was built; say nothing of it here
		return &Error{Reason: fmt.Sprintf("%s to %s: the request could not be built", method, g.ep.Host)}
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", transport.UserAgent)
	resp, err := g.client.Do(req)
	if err != nil {
		return g.error(err)
	}
	defer transport.DrainAndClose(resp)
	var start []byte
	if resp.StatusCode >= 400 && resp.StatusCode <= 499 {
		start, _ = io.ReadAll(io.LimitReader(resp.Body, transport.ExcerptRead))
	}
	if e := transport.ResponseError(method, g.ep.Host, resp, gcsErrorMessage(start), g.redactor(), g.now()); e != nil {
		return e
	}
	return nil
}

// objectName is <prefix>/<YYYY-MM-DD>/<policy>-<result ID>.json.
func (g *gcs) objectName(r *report.Result) string {
	day := "undated"
	if t := r.Timestamp(); !t.IsZero() {
		day = t.Format(time.DateOnly)
	}
	name := day + "/" + objectNamePart(r.Policy, gcsMaxPolicy) + "-" + r.ID() + ".json"
	if g.prefix == "" {
		return name
	}
	return g.prefix + "/" + name
}

// bucketName is what GCS accepts: 3 to 63 lowercase letters, digits, '-', '_' and '.', starting
// and ending with a letter or digit; with dots up to 222, each dot-separated part at most 63.
var bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$`)

func checkBucketName(b string) error {
	if b == "" {
		return errors.New("bucket is not set")
	}
	if !bucketName.MatchString(b) {
		return fmt.Errorf("bucket %q is not a valid bucket name (lowercase letters, digits, '-', '_' and '.')", b)
	}
	if !strings.Contains(b, ".") && len(b) > 63 {
		return fmt.Errorf("bucket %q is longer than 63 characters", b)
	}
	for _, part := range strings.Split(b, ".") {
		if part == "" || len(part) > 63 {
			return fmt.Errorf("bucket %q is not a valid bucket name (each part between dots is 1 to 63 characters)", b)
		}
	}
	return nil
}

// gcsPrefix returns the prefix without leading and trailing slashes: the default when it is
// not set, "" when it is only slashes. GCS refuses names with line breaks, invalid UTF-8 and
// those under .well-known/acme-challenge/; control characters break its XML listings.
func gcsPrefix(p string) (string, error) {
	if p == "" {
		return gcsDefaultPrefix, nil
	}
	p = strings.Trim(p, "/")
	switch {
	case len(p) > gcsMaxPrefix:
		return "", fmt.Errorf("prefix is longer than %d bytes", gcsMaxPrefix)
	case !utf8.ValidString(p):
		return "", errors.New("prefix is not valid UTF-8")
	case strings.IndexFunc(p, unicode.IsControl) >= 0:
		return "", errors.New("prefix contains line breaks or control characters")
	case p == ".well-known/acme-challenge" || strings.HasPrefix(p, ".well-known/acme-challenge/"):
		return "", errors.New("prefix may not start with .well-known/acme-challenge/")
	}
	return p, nil
}

// serviceAccountKey is what the sender checks of a service account key before the library
// reads it.
type serviceAccountKey struct {
	Type           string `json:"type"`
	PrivateKey     string `json:"private_key"`
	PrivateKeyID   string `json:"private_key_id"`
	ClientEmail    string `json:"client_email"`
	TokenURI       string `json:"token_uri"`
	UniverseDomain string `json:"universe_domain"`

	tokenURL *url.URL
}

// parseServiceAccountKey checks raw. Its errors never quote raw or the library's errors about
// it (a JSON syntax error quotes the input).
func parseServiceAccountKey(raw string) (*serviceAccountKey, error) {
	if len(raw) > gcsMaxCredentials {
		return nil, fmt.Errorf("the credentials in the Secret are over %d KiB: a service account key is about 2 KiB", gcsMaxCredentials>>10)
	}
	var k serviceAccountKey
	if err := json.Unmarshal([]byte(raw), &k); err != nil {
		return nil, errors.New("the credentials in the Secret are not JSON: a service account key JSON is expected")
	}
	if k.Type != "service_account" {
		return nil, errors.New(`the credentials in the Secret are not a service account key: only keys with "type": "service_account" are accepted`)
	}
	if k.ClientEmail == "" {
		return nil, errors.New("the service account key in the Secret has no client_email")
	}
	if err := checkPrivateKey(k.PrivateKey); err != nil {
		return nil, err
	}
	if k.UniverseDomain != "" && k.UniverseDomain != "googleapis.com" {
		return nil, errors.New("the service account key in the Secret is for another universe than googleapis.com, which is not supported")
	}
	tok := k.TokenURI
	if tok == "" {
		tok = gcsTokenURL
	}
	u, err := url.Parse(tok)
	if err != nil || u.Scheme != "https" || u.Hostname() == "" || u.User != nil {
		return nil, errors.New("the token_uri of the service account key in the Secret must be an https:// URL with a host")
	}
	k.tokenURL = u
	return &k, nil
}

// checkPrivateKey checks that the key is a PEM-encoded RSA key, as the library will sign with
// it only when it fetches the first token.
func checkPrivateKey(pk string) error {
	const bad = "the private_key of the service account key in the Secret is not a PEM-encoded RSA private key"
	if pk == "" {
		return errors.New("the service account key in the Secret has no private_key")
	}
	block, _ := pem.Decode([]byte(pk))
	if block == nil {
		return errors.New(bad)
	}
	if key, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		if _, ok := key.(*rsa.PrivateKey); ok {
			return nil
		}
		return errors.New(bad)
	}
	if _, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return nil
	}
	return errors.New(bad)
}

// ambientTokens are the tokens of the operator's own identity, found at the first request
// (finding them may ask the metadata server, which should not hold up a reconciler).
type ambientTokens struct {
	mu    sync.Mutex
	creds *auth.Credentials
}

func (a *ambientTokens) Token(ctx context.Context) (*auth.Token, error) {
	a.mu.Lock()
	c := a.creds
	if c == nil {
		var err error
		c, err = credentials.DetectDefault(&credentials.DetectOptions{Scopes: []string{gcsWriteScope}})
		if err != nil {
			a.mu.Unlock()
			return nil, errGCSNoADC
		}
		a.creds = c
	}
	a.mu.Unlock()
	return c.Token(ctx)
}

// DialHosts are the endpoint's host and the key's token host.
func (g *gcs) DialHosts() ([]string, error) {
	hosts := []string{g.ep.URL.Hostname()}
	if g.token != nil {
		hosts = append(hosts, g.token.Hostname())
	}
	return hosts, nil
}

// error turns an upload that got no response (its token could not be fetched, or the
// connection failed) into an *Error naming the endpoint's host (or the token host) only.
func (g *gcs) error(err error) *Error {
	const method = http.MethodPost // uploads are POSTs, and so are token requests
	host := g.ep.Host
	red := g.redactor()
	if e := transport.NotAllowed(method, hostOfInnermostURL(err, host), err); e != nil {
		return e
	}
	var ae *auth.Error
	if errors.As(err, &ae) && ae.Response != nil {
		tokenHost := gcsTokenHost(g.token)
		e := transport.ResponseError(method, tokenHost, ae.Response, tokenErrorText(ae.Body), red, g.now())
		if e == nil { // a 2xx token response that could not be read
			e = &Error{Reason: fmt.Sprintf("%s to %s: the token response could not be read", method, tokenHost), Retryable: true}
		}
		e.Reason = "fetching an access token: " + e.Reason
		e.Cause = errors.New(e.Reason)
		return e
	}
	if errors.Is(err, errGCSNoADC) {
		return &Error{Reason: fmt.Sprintf("%s to %s: %v", method, host, errGCSNoADC), Retryable: true, Cause: errGCSNoADC}
	}
	if ue := innermostURLError(err); ue != nil {
		h := host
		if u, perr := url.Parse(ue.URL); perr == nil && u.Host != "" {
			h = u.Host
		}
		e := transport.TransportError(method, h, ue, red)
		if g.token != nil && h == g.token.Host {
			e.Reason = "fetching an access token: " + e.Reason
		}
		return e
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return transport.TransportError(method, host, err, red)
	}
	// Anything else (Do wraps its errors in a *url.Error): keep hosts of URLs only, and no secret.
	return &Error{Reason: fmt.Sprintf("%s to %s: %s", method, host, stripURLs(red.Redact(err.Error()))), Retryable: true, Cause: errors.New("gcs upload failed")}
}

// redactor knows the sender's secrets and the last access token it sent.
func (g *gcs) redactor() *redact.Redactor {
	secrets := g.secrets
	if a := g.lastAuth.last.Load(); a != nil {
		secrets = append(secrets[:len(secrets):len(secrets)], *a)
	}
	return redact.New(g.token, secrets...)
}

// authRecorder remembers the last Authorization header the authorization middleware set, so
// that an error echoing the access token can have it redacted.
type authRecorder struct {
	base http.RoundTripper
	last atomic.Pointer[string]
}

func (a *authRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	if v := r.Header.Get("Authorization"); v != "" {
		if p := a.last.Load(); p == nil || *p != v {
			a.last.Store(&v)
		}
	}
	return a.base.RoundTrip(r)
}

// innermostURLError returns the last *url.Error in err's chain: a failed token request is a
// *url.Error inside the *url.Error of the upload it was for.
func innermostURLError(err error) *url.Error {
	var last *url.Error
	for {
		var ue *url.Error
		if !errors.As(err, &ue) {
			return last
		}
		last = ue
		err = ue.Err
	}
}

// hostOfInnermostURL is the host of the request that failed, def when there is none.
func hostOfInnermostURL(err error, def string) string {
	if ue := innermostURLError(err); ue != nil {
		if u, perr := url.Parse(ue.URL); perr == nil && u.Host != "" {
			return u.Host
		}
	}
	return def
}

func gcsTokenHost(u *url.URL) string {
	if u == nil {
		return "the token endpoint"
	}
	return u.Host
}

// tokenErrorText is what a token endpoint's error says: {"error": ..., "error_description": ...}
// as the OAuth 2.0 error response has it, or the body itself.
func tokenErrorText(body []byte) []byte {
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		if e.Description != "" {
			return []byte(e.Error + ": " + e.Description)
		}
		return []byte(e.Error)
	}
	return body
}

var urlPattern = regexp.MustCompile(`[a-zA-Z][a-zA-Z0-9+.-]*://[^\s"'<>]+`)

// stripURLs replaces every URL in s by its scheme and host.
func stripURLs(s string) string {
	return urlPattern.ReplaceAllStringFunc(s, func(m string) string {
		u, err := url.Parse(m)
		if err != nil || u.Host == "" {
			return "[url]"
		}
		return u.Scheme + "://" + u.Host
	})
}
