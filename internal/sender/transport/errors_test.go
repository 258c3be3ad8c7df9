package transport

import (
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/policyherald/policy-herald/internal/redact"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 8, 15, 10, 0, 0, 0, time.UTC)
	cases := map[string]time.Duration{
		"":                                 0,
		"120":                              120 * time.Second,
		" 7 ":                              7 * time.Second,
		"0":                                0,
		"-5":                               0,
		"soon":                             0,
		"Sat, 15 Aug 2026 10:01:30 GMT":    90 * time.Second,
		"Saturday, 15-Aug-26 10:00:10 GMT": 10 * time.Second,
		"Sat Aug 15 10:00:05 2026":         5 * time.Second,
		"Sat, 15 Aug 2026 09:59:00 GMT":    0, // in the past
	}
	for in, want := range cases {
		if got := ParseRetryAfter(in, now); got != want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestExcerpt(t *testing.T) {
	red := redact.New(nil, "tok3n-value")
	got := Excerpt([]byte("  error:\n\tbad\x00 request  tok3n-value\r\n"), red)
	if want := "error: bad request [redacted]"; got != want {
		t.Fatalf("excerpt = %q, want %q", got, want)
	}
	long := strings.Repeat("é", 300) // 2 bytes each: the cut must not split one
	got = Excerpt([]byte(long), red)
	if !strings.HasSuffix(got, "…") || len(got) > ExcerptBytes+len("…") || !utf8.ValidString(got) {
		t.Fatalf("long excerpt: %d bytes %q", len(got), got)
	}
	if got := Excerpt([]byte{0xff, 'a'}, red); got != "\uFFFDa" {
		t.Fatalf("invalid utf8: %q", got)
	}
}

func TestResponseErrorClasses(t *testing.T) {
	now := time.Date(2026, 8, 15, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		code      int
		retryable bool
	}{
		{200, false}, {204, false}, {301, false}, {400, false}, {401, false}, {403, false}, {404, false},
		{408, true}, {413, false}, {422, false}, {429, true}, {500, true}, {502, true}, {503, true}, {504, true},
	}
	for _, c := range cases {
		e := ResponseError("POST", "h.example", &http.Response{StatusCode: c.code, Header: http.Header{}}, nil, nil, now)
		if c.code < 300 {
			if e != nil {
				t.Errorf("%d: want nil, got %v", c.code, e)
			}
			continue
		}
		if e == nil || e.Retryable != c.retryable || e.StatusCode != c.code {
			t.Errorf("%d: got %+v, want retryable=%v", c.code, e, c.retryable)
		}
	}
	e := ResponseError("POST", "hooks.example.com", &http.Response{StatusCode: 503, Header: http.Header{}}, nil, nil, now)
	if e.Reason != "POST to hooks.example.com: 503 Service Unavailable" {
		t.Fatalf("reason %q", e.Reason)
	}
}
