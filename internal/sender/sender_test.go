package sender

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/destination/descriptor"
	"github.com/policyherald/policy-herald/internal/redact"
	"github.com/policyherald/policy-herald/internal/report"
)

func TestNewUnsupportedAndMismatch(t *testing.T) {
	_, err := New(context.Background(), Config{Type: "carrierPigeon"}) // a type no factory knows
	if err == nil || err.Error() != "destination carrierPigeon is unknown" {
		t.Fatalf("carrierPigeon: got %v", err)
	}
	_, err = New(context.Background(), Config{Type: v1alpha1.DestinationWebhook, Destination: &v1alpha1.Destinations{Slack: &v1alpha1.SlackDestination{}}})
	if err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("mismatch: got %v", err)
	}
	if _, err := New(context.Background(), Config{}); err == nil {
		t.Fatal("empty type: want error")
	}
	// Every destination block of the API has its sender registered, and nothing else is.
	var want []v1alpha1.DestinationType
	api := reflect.TypeFor[v1alpha1.Destinations]()
	for i := range api.NumField() {
		name, _, _ := strings.Cut(api.Field(i).Tag.Get("json"), ",")
		want = append(want, v1alpha1.DestinationType(name))
	}
	slices.Sort(want)
	var got []v1alpha1.DestinationType
	for typ := range registry {
		got = append(got, typ)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("implemented destinations = %v, want %v", got, want)
	}
}

// httpDestinations are the destinations whose sender posts to the URL of their HTTP settings
// (see newHTTPTarget), each with the block that holds those settings.
var httpDestinations = []struct {
	typ  v1alpha1.DestinationType
	dest func(v1alpha1.HTTPSettings) *v1alpha1.Destinations
}{
	{v1alpha1.DestinationWebhook, func(s v1alpha1.HTTPSettings) *v1alpha1.Destinations {
		return &v1alpha1.Destinations{Webhook: &v1alpha1.WebhookDestination{HTTPSettings: s}}
	}},
	{v1alpha1.DestinationSlack, func(s v1alpha1.HTTPSettings) *v1alpha1.Destinations {
		return &v1alpha1.Destinations{Slack: &v1alpha1.SlackDestination{HTTPSettings: s}}
	}},
	{v1alpha1.DestinationDiscord, func(s v1alpha1.HTTPSettings) *v1alpha1.Destinations {
		return &v1alpha1.Destinations{Discord: &v1alpha1.ChatWebhookDestination{HTTPSettings: s}}
	}},
	{v1alpha1.DestinationTeams, func(s v1alpha1.HTTPSettings) *v1alpha1.Destinations {
		return &v1alpha1.Destinations{Teams: &v1alpha1.ChatWebhookDestination{HTTPSettings: s}}
	}},
	{v1alpha1.DestinationGoogleChat, func(s v1alpha1.HTTPSettings) *v1alpha1.Destinations {
		return &v1alpha1.Destinations{GoogleChat: &v1alpha1.ChatWebhookDestination{HTTPSettings: s}}
	}},
}

func TestHTTPDestinationsURLAndHeaders(t *testing.T) {
	b := Batch{Report: testReport, Results: []report.Result{bareResult()}}
	for _, d := range httpDestinations {
		t.Run(string(d.typ), func(t *testing.T) {
			hook, srv := startHook(t, nil)
			inline := v1alpha1.HTTPSettings{URL: srv.URL + "/inline", Headers: map[string]string{
				"x-env": "prod", "Authorization": "Bearer abc", "Content-Type": "text/plain",
			}}
			custom := v1alpha1.HTTPSettings{URL: srv.URL + "/inline", Headers: map[string]string{"User-Agent": "custom"}}
			for _, cfg := range []Config{
				{Destination: d.dest(inline), Settings: descriptor.Settings{"url": srv.URL + "/from-secret"}}, // the Secret's url wins
				{Destination: d.dest(inline)},
				{Destination: d.dest(custom)},
			} {
				cfg.Type = d.typ
				if err := newTestSender(t, cfg).Send(context.Background(), b); err != nil {
					t.Fatalf("Send: %v", err)
				}
			}
			reqs := hook.requests()
			if len(reqs) != 3 || reqs[0].Path != "/from-secret" || reqs[1].Path != "/inline" {
				t.Fatalf("requests: %+v", reqs)
			}
			for _, r := range reqs[:2] {
				if r.Method != http.MethodPost {
					t.Errorf("method %s", r.Method)
				}
				// Configured headers are sent canonicalised, but the body stays JSON.
				for k, v := range map[string]string{"X-Env": "prod", "Authorization": "Bearer abc", "Content-Type": "application/json", "User-Agent": "policy-herald"} {
					if got := r.Header.Values(k); len(got) != 1 || got[0] != v {
						t.Errorf("header %s = %q, want %q", k, got, v)
					}
				}
			}
			if got := reqs[2].Header.Values("User-Agent"); len(got) != 1 || got[0] != "custom" {
				t.Errorf("a configured User-Agent should win, got %q", got)
			}
		})
	}
}

func TestHTTPDestinationsTLS(t *testing.T) {
	b := Batch{Report: testReport, Results: []report.Result{bareResult()}}
	for _, d := range httpDestinations {
		t.Run(string(d.typ), func(t *testing.T) {
			hook := &testHook{}
			srv := newTLSServer(t, hook)
			send := func(tlsCfg *tls.Config) error {
				return newTestSender(t, Config{
					Type: d.typ, Destination: d.dest(v1alpha1.HTTPSettings{}), Settings: descriptor.Settings{"url": srv.URL + "/hook"}, TLS: tlsCfg,
				}).Send(context.Background(), b)
			}
			if err := send(trustingTLS(srv)); err != nil {
				t.Fatalf("with the server's CA: %v", err)
			}
			for _, cfg := range []*tls.Config{nil, {MinVersion: tls.VersionTLS12}} { // the system CAs
				err := send(cfg)
				assertTLSRejected(t, err)
				if e := err.(*Error); e.Sent != 0 {
					t.Errorf("Sent = %d", e.Sent)
				}
			}
			if n := len(hook.requests()); n != 1 {
				t.Errorf("server got %d requests, want 1", n)
			}
		})
	}
}

func TestHTTPDestinationsProxyFromEnvironment(t *testing.T) {
	b := Batch{Report: testReport, Results: []report.Result{bareResult()}}
	for _, d := range httpDestinations {
		t.Run(string(d.typ), func(t *testing.T) {
			raw := "http://" + strings.ToLower(string(d.typ)) + ".invalid/hooks/x?q=1"
			assertSendsThroughProxy(t, nil, b, raw, func() Sender {
				return newTestSender(t, Config{Type: d.typ, Destination: d.dest(v1alpha1.HTTPSettings{URL: raw})})
			})
		})
	}
}

func TestHTTPDestinationsErrorsHideSecrets(t *testing.T) {
	// The server echoes what it got in the body of a 400.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, _ := r.BasicAuth()
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error": "bad request %s %s key=%s user=%s pass=%s"}`, r.URL.Path, r.URL.RawQuery, r.Header.Get("X-Api-Key"), u, p)
	}))
	defer echo.Close()
	headers := v1alpha1.HTTPSettings{Headers: map[string]string{"X-Api-Key": "SECRETHEADER"}}
	for _, d := range httpDestinations {
		t.Run(string(d.typ), func(t *testing.T) {
			for i, raw := range []string{withSecrets(echo.URL), withSecrets("https://" + closedAddr(t))} {
				s := newTestSender(t, Config{Type: d.typ, Destination: d.dest(headers), Settings: descriptor.Settings{"url": raw}})
				err := s.Send(context.Background(), slackDiscordBatch())
				if err == nil {
					t.Fatal("want an error")
				}
				assertErrorHidesSecrets(t, err)
				want := "POST to " + strings.TrimPrefix(echo.URL, "http://") + ": 400 Bad Request: {"
				if i == 0 && !strings.HasPrefix(err.Error(), want) {
					t.Errorf("error %q, want it to start with %q (and the echo redacted)", err, want)
				}
			}
		})
	}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "") == s }

func TestRedactorCoversURLParts(t *testing.T) {
	u, _ := url.Parse("https://alice:pw%21x@hooks.example.com/services/T0123456/B0123456/XXXXXXXXXXXX?token=qv1&sig=a%2Bb#frag")
	r := redact.New(u, "Bearer abcdef")
	in := "echo https://alice:pw%21x@hooks.example.com/services/T0123456/B0123456/XXXXXXXXXXXX?token=qv1&sig=a%2Bb " +
		"path=/services/T0123456/B0123456/XXXXXXXXXXXX seg=XXXXXXXXXXXX q=token=qv1&sig=a%2Bb v=a+b user=alice pass=pw!x auth=Bearer abcdef cred=abcdef"
	out := r.Redact(in)
	for _, s := range []string{"XXXXXXXXXXXX", "T0123456", "qv1", "a%2Bb", "a+b", "alice", "pw!x", "abcdef", "/services"} {
		if strings.Contains(out, s) {
			t.Errorf("%q survives redaction: %s", s, out)
		}
	}
}
