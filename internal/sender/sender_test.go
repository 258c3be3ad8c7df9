package sender

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/destination"
)

func TestNewUnsupportedAndMismatch(t *testing.T) {
	_, err := New(Config{Type: v1alpha1.DestinationLoki, Destination: &v1alpha1.Destinations{Loki: &v1alpha1.LokiDestination{}}})
	if err == nil || err.Error() != "destination loki is not supported yet" || !errors.Is(err, ErrNotSupported) {
		t.Fatalf("loki: got %v", err)
	}
	_, err = New(Config{Type: v1alpha1.DestinationWebhook, Destination: &v1alpha1.Destinations{Slack: &v1alpha1.SlackDestination{}}})
	if err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("mismatch: got %v", err)
	}
	if _, err := New(Config{}); err == nil {
		t.Fatal("empty type: want error")
	}
	want := []v1alpha1.DestinationType{
		v1alpha1.DestinationDiscord, v1alpha1.DestinationGoogleChat, v1alpha1.DestinationSlack,
		v1alpha1.DestinationTeams, v1alpha1.DestinationTelegram, v1alpha1.DestinationWebhook,
	}
	if got := Supported(); !slices.Equal(got, want) {
		t.Fatalf("Supported() = %v, want %v", got, want)
	}
}

func TestNewWebhookConfigErrorsHideSecrets(t *testing.T) {
	const secret = "S3CRETVALUE"
	cases := map[string]Config{
		"no url":        {Settings: destination.Settings{}},
		"bad scheme":    {Settings: destination.Settings{"url": "ftp://h/" + secret}},
		"no host":       {Settings: destination.Settings{"url": "http:///" + secret}},
		"unparsable":    {Settings: destination.Settings{"url": "http://h/%zz" + secret}},
		"bad header":    {Settings: destination.Settings{"url": "http://h/"}, Destination: webhookDest(map[string]string{"X-Key": secret + "\r\nX: y"})},
		"bad name":      {Settings: destination.Settings{"url": "http://h/"}, Destination: webhookDest(map[string]string{"X Key": secret})},
		"bad token":     {Settings: destination.Settings{"url": "http://h/", "token": "Bearer " + secret + "\n"}},
		"zero interval": {Settings: destination.Settings{"url": "http://h/"}, Destination: &v1alpha1.Destinations{Webhook: &v1alpha1.WebhookDestination{Keepalive: &v1alpha1.Keepalive{}}}},
	}
	for name, cfg := range cases {
		t.Run(name, func(t *testing.T) {
			cfg.Type = v1alpha1.DestinationWebhook
			_, err := New(cfg)
			if err == nil {
				t.Fatal("want error")
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("error leaks the secret: %v", err)
			}
		})
	}
}

func webhookDest(headers map[string]string) *v1alpha1.Destinations {
	return &v1alpha1.Destinations{Webhook: &v1alpha1.WebhookDestination{HTTPSettings: v1alpha1.HTTPSettings{Headers: headers}}}
}

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
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestExcerpt(t *testing.T) {
	red := newRedactor(nil, "tok3n-value")
	got := excerpt([]byte("  error:\n\tbad\x00 request  tok3n-value\r\n"), red)
	if want := "error: bad request [redacted]"; got != want {
		t.Fatalf("excerpt = %q, want %q", got, want)
	}
	long := strings.Repeat("é", 300) // 2 bytes each: the cut must not split one
	got = excerpt([]byte(long), red)
	if !strings.HasSuffix(got, "…") || len(got) > excerptBytes+len("…") || !utf8Valid(got) {
		t.Fatalf("long excerpt: %d bytes %q", len(got), got)
	}
	if got := excerpt([]byte{0xff, 'a'}, red); got != "\uFFFDa" {
		t.Fatalf("invalid utf8: %q", got)
	}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "") == s }

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
		e := responseError("POST", "h.example", &http.Response{StatusCode: c.code, Header: http.Header{}}, nil, nil, now)
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
	e := responseError("POST", "hooks.example.com", &http.Response{StatusCode: 503, Header: http.Header{}}, nil, nil, now)
	if e.Reason != "POST to hooks.example.com: 503 Service Unavailable" {
		t.Fatalf("reason %q", e.Reason)
	}
}

func TestRedactorCoversURLParts(t *testing.T) {
	u, _ := url.Parse("https://alice:pw%21x@hooks.example.com/services/T0123456/B0123456/XXXXXXXXXXXX?token=qv1&sig=a%2Bb#frag")
	r := newRedactor(u, "Bearer abcdef")
	in := "echo https://alice:pw%21x@hooks.example.com/services/T0123456/B0123456/XXXXXXXXXXXX?token=qv1&sig=a%2Bb " +
		"path=/services/T0123456/B0123456/XXXXXXXXXXXX seg=XXXXXXXXXXXX q=token=qv1&sig=a%2Bb v=a+b user=alice pass=pw!x auth=Bearer abcdef cred=abcdef"
	out := r.redact(in)
	for _, s := range []string{"XXXXXXXXXXXX", "T0123456", "qv1", "a%2Bb", "a+b", "alice", "pw!x", "abcdef", "/services"} {
		if strings.Contains(out, s) {
			t.Errorf("%q survives redaction: %s", s, out)
		}
	}
}
