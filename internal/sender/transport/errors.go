package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/policyherald/policy-herald/internal/addrguard"
	"github.com/policyherald/policy-herald/internal/redact"
)

// Error is a failed delivery. Reason is safe to show anywhere: it names the destination's host
// only, never a URL path or query, user info, header value or token.
type Error struct {
	// Reason says what failed, for example "POST to hooks.example.com: 503 Service Unavailable".
	Reason string
	// Retryable is true when sending the same batch again later may succeed.
	Retryable bool
	// RetryAfter is the delay the destination asked for (Retry-After), 0 when it gave none.
	RetryAfter time.Duration
	// StatusCode is the HTTP status of the response, 0 when there was none.
	StatusCode int
	// Sent is how many results from the start of the batch were delivered before the failure,
	// for destinations that split a batch into several messages. Only the rest is retried.
	Sent int

	// Cause is the underlying error, stripped of the *url.Error that carries the full URL, so
	// errors.Is(err, context.Canceled) works without the URL being reachable through Unwrap.
	Cause error
}

func (e *Error) Error() string { return e.Reason }

// Unwrap returns the underlying error (never a *url.Error).
func (e *Error) Unwrap() error { return e.Cause }

// WithSent returns err as an *Error whose Sent is sent: err itself when it is one, else a
// retryable *Error wrapping it.
func WithSent(err error, sent int) *Error {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Reason: err.Error(), Retryable: true, Cause: err}
	}
	e.Sent = sent
	return e
}

// IsRetryable tells whether a retry of a failed Send may succeed. Errors that are not *Error
// are treated as retryable, nil as not.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Retryable
	}
	return true
}

const (
	// ExcerptBytes is how much of a rejected request's response body goes into Reason.
	ExcerptBytes = 200
	// ExcerptRead is how much of the body is read to make the excerpt. It is much more than
	// ExcerptBytes so that a secret echoed by the server is redacted whole before the cut.
	ExcerptRead = 8 << 10
)

// ResponseError classifies a response: nil for 2xx, otherwise an *Error. body is the start of
// the response body (used for the excerpt of non-retryable 4xx responses).
func ResponseError(method, host string, resp *http.Response, body []byte, red *redact.Redactor, now time.Time) *Error {
	code := resp.StatusCode
	if code >= 200 && code <= 299 {
		return nil
	}
	e := &Error{StatusCode: code}
	status := strconv.Itoa(code)
	if text := http.StatusText(code); text != "" {
		status += " " + text // never the server's own status text: it is not ours to trust
	}
	e.Reason = fmt.Sprintf("%s to %s: %s", method, host, status)
	switch {
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		e.Retryable = true
		e.RetryAfter = ParseRetryAfter(resp.Header.Get("Retry-After"), now)
	case code == http.StatusRequestTimeout || code >= 500:
		e.Retryable = true
	case code >= 300 && code <= 399:
		e.Reason += " (redirects are not followed; configure the final URL)"
	default: // other 4xx, and anything unexpected: the request itself is wrong
		if ex := Excerpt(body, red); ex != "" {
			e.Reason += ": " + ex
		}
	}
	if e.RetryAfter > 0 {
		e.Reason += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	return e
}

// TransportError classifies an error from http.Client.Do: the request got no response.
// Network errors, timeouts and cancellations are retryable; an untrusted or mismatched server
// certificate, or a server that does not speak TLS, are not: they will not fix themselves.
func TransportError(method, host string, err error, red *redact.Redactor) *Error {
	cause := err
	var ue *url.Error
	if errors.As(err, &ue) { // its text holds the full URL: keep only what it wraps
		cause = ue.Err
	}
	e := &Error{Retryable: true, Cause: cause}
	var (
		unknownCA   x509.UnknownAuthorityError
		hostname    x509.HostnameError
		invalid     x509.CertificateInvalidError
		verify      *tls.CertificateVerificationError
		recordHdr   tls.RecordHeaderError
		what        string
		netErr      net.Error
		causeString = red.Redact(cause.Error())
	)
	switch {
	case errors.Is(cause, context.Canceled):
		what = "canceled"
	case errors.Is(cause, context.DeadlineExceeded):
		what = "timed out"
	case errors.As(cause, &unknownCA), errors.As(cause, &hostname), errors.As(cause, &invalid),
		errors.As(cause, &verify):
		what = "TLS certificate rejected"
		e.Retryable = false
	case errors.As(cause, &recordHdr),
		// net/http turns the RecordHeaderError of an HTTP answer into a plain error.
		strings.Contains(cause.Error(), "server gave HTTP response to HTTPS client"):
		what = "the server did not answer with TLS"
		e.Retryable = false
	case errors.As(cause, &netErr) && netErr.Timeout():
		what = "timed out"
	}
	if what == "" {
		e.Reason = fmt.Sprintf("%s to %s: %s", method, host, causeString)
	} else {
		e.Reason = fmt.Sprintf("%s to %s: %s: %s", method, host, what, causeString)
	}
	return e
}

// ParseRetryAfter reads a Retry-After header: delta-seconds or an HTTP-date. It returns 0 when
// the header is absent, invalid or in the past.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		const maxSecs = int64(1<<63-1) / int64(time.Second)
		if secs > maxSecs {
			secs = maxSecs
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d.Round(time.Second)
		}
	}
	return 0
}

// Excerpt makes the start of a response body safe for Reason: secrets redacted, valid UTF-8 on
// one line with runs of white space and control characters collapsed, at most ExcerptBytes.
func Excerpt(body []byte, red *redact.Redactor) string {
	if len(body) == 0 {
		return ""
	}
	s := red.Redact(strings.ToValidUTF8(string(body), "\uFFFD"))
	var b strings.Builder
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	out := b.String()
	if len(out) <= ExcerptBytes {
		return out
	}
	cut := ExcerptBytes
	for cut > 0 && !utf8.RuneStart(out[cut]) {
		cut--
	}
	return out[:cut] + "…"
}

// NotAllowed turns a dial refused by the guard into a non-retryable *Error naming the host
// and the refused address (never the URL), or returns nil when err is something else.
func NotAllowed(method, host string, err error) *Error {
	var na *addrguard.NotAllowedError
	if !errors.As(err, &na) {
		return nil
	}
	return &Error{Reason: fmt.Sprintf("%s to %s: the address %s is not allowed (loopback, link-local and blocked networks are refused)", method, host, na.Addr), Cause: na}
}
