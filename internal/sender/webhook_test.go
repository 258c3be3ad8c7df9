package sender

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/destination/descriptor"
	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/sender/transport"
	"github.com/policyherald/policy-herald/internal/testing/wait"
)

func newWebhookSender(t testing.TB, rawURL string, settings descriptor.Settings, wd *v1alpha1.WebhookDestination, tlsCfg *tls.Config) Sender {
	t.Helper()
	if settings == nil {
		settings = descriptor.Settings{}
	}
	settings["url"] = rawURL
	if wd == nil {
		wd = &v1alpha1.WebhookDestination{}
	}
	return newTestSender(t, Config{
		Type:        v1alpha1.DestinationWebhook,
		Destination: &v1alpha1.Destinations{Webhook: wd},
		Settings:    settings,
		TLS:         tlsCfg,
		Name:        "team-a/hook",
	})
}

func TestWebhookConfigErrorsHideSecrets(t *testing.T) {
	const secret = "S3CRETVALUE"
	dest := func(headers map[string]string) *v1alpha1.Destinations {
		return &v1alpha1.Destinations{Webhook: &v1alpha1.WebhookDestination{HTTPSettings: v1alpha1.HTTPSettings{Headers: headers}}}
	}
	assertConfigErrors(t, v1alpha1.DestinationWebhook, secret, map[string]Config{
		"no url":        {Settings: descriptor.Settings{}},
		"bad scheme":    {Settings: descriptor.Settings{"url": "ftp://h/" + secret}},
		"no host":       {Settings: descriptor.Settings{"url": "http:///" + secret}},
		"unparsable":    {Settings: descriptor.Settings{"url": "http://h/%zz" + secret}},
		"bad header":    {Settings: descriptor.Settings{"url": "http://h/"}, Destination: dest(map[string]string{"X-Key": secret + "\r\nX: y"})},
		"bad name":      {Settings: descriptor.Settings{"url": "http://h/"}, Destination: dest(map[string]string{"X Key": secret})},
		"bad token":     {Settings: descriptor.Settings{"url": "http://h/", "token": "Bearer " + secret + "\n"}},
		"zero interval": {Settings: descriptor.Settings{"url": "http://h/"}, Destination: &v1alpha1.Destinations{Webhook: &v1alpha1.WebhookDestination{Keepalive: &v1alpha1.Keepalive{}}}},
	})
}

func TestWebhookWireFormat(t *testing.T) {
	rc, srv := startHook(t, nil)

	s := newWebhookSender(t, srv.URL+"/hooks/in?x=1", descriptor.Settings{"token": "Bearer abc"},
		&v1alpha1.WebhookDestination{HTTPSettings: v1alpha1.HTTPSettings{Headers: map[string]string{
			"x-env": "prod", "Content-Type": "text/plain", "X-Multi": "a, b",
		}}}, nil)
	if s.MaxBatch() != 1 {
		t.Fatalf("MaxBatch = %d", s.MaxBatch())
	}
	if _, ok := s.(Runner); ok {
		t.Fatal("a webhook without keepalive must not be a Runner")
	}
	custom := map[string]string{"cluster": "prod-eu"}
	b := Batch{
		Report:       ReportRef{Kind: "PolicyReport", Namespace: "test", Name: "rep-1", Labels: map[string]string{"a": "b"}},
		Results:      []report.Result{fullResult(), bareResult()},
		CustomFields: custom,
	}
	if err := s.Send(context.Background(), b); err != nil {
		t.Fatalf("Send: %v", err)
	}
	reqs := rc.requests()
	if len(reqs) != 2 {
		t.Fatalf("got %d requests, want 2 (one per result)", len(reqs))
	}
	for _, r := range reqs {
		if r.Method != http.MethodPost || r.RequestURI != "/hooks/in?x=1" {
			t.Errorf("request line %s %s", r.Method, r.RequestURI)
		}
		want := map[string]string{
			"Content-Type": "application/json", "User-Agent": "policy-herald",
			"X-Env": "prod", "X-Multi": "a, b", "Authorization": "Bearer abc",
		}
		for k, v := range want {
			if got := r.Header.Values(k); len(got) != 1 || got[0] != v {
				t.Errorf("header %s = %q, want %q", k, got, v)
			}
		}
	}

	wantFull := ResultDocument{
		ID: "a1", Policy: "require-labels", Rule: "check-app", Status: "fail", Severity: "high",
		Category: "Best Practices", Message: "label app is required", Scored: true, Source: "kyverno",
		Timestamp: "2026-08-15T10:00:00Z", Priority: "error",
		Resource:     &DocumentResource{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "test", Name: "nginx", UID: "5d2c"},
		Report:       DocumentReport{Kind: "PolicyReport", Namespace: "test", Name: "rep-1"},
		Properties:   map[string]string{"created": "x", "cluster": "from-result"},
		CustomFields: map[string]string{"cluster": "prod-eu"},
	}
	wantBare := ResultDocument{
		ID: "a2", Policy: "p2", Status: "warn", Message: "m2", Source: "trivy", Priority: "warning",
		Report:       DocumentReport{Kind: "PolicyReport", Namespace: "test", Name: "rep-1"},
		CustomFields: map[string]string{"cluster": "prod-eu"},
	}
	checkDoc(t, reqs[0].Body, wantFull, []string{"id", "policy", "rule", "status", "severity", "category", "message",
		"scored", "source", "timestamp", "priority", "resource", "report", "properties", "customFields"})
	checkDoc(t, reqs[1].Body, wantBare, []string{"id", "policy", "rule", "status", "message", "scored", "source",
		"priority", "report", "customFields"})

	// A cluster-scoped report, no custom fields, an empty resource and empty properties.
	rc.reset()
	r := bareResult()
	r.Resource = &report.Resource{}
	r.Properties = map[string]string{}
	if err := s.Send(context.Background(), Batch{Report: ReportRef{Kind: "ClusterPolicyReport", Name: "c"}, Results: []report.Result{r}}); err != nil {
		t.Fatal(err)
	}
	checkDoc(t, rc.requests()[0].Body, ResultDocument{ID: "a2", Policy: "p2", Status: "warn", Message: "m2", Source: "trivy",
		Priority: "warning", Report: DocumentReport{Kind: "ClusterPolicyReport", Name: "c"}},
		[]string{"id", "policy", "rule", "status", "message", "scored", "source", "priority", "report"})
	var raw map[string]json.RawMessage
	_ = json.Unmarshal(rc.requests()[0].Body, &raw)
	if string(raw["report"]) != `{"kind":"ClusterPolicyReport","name":"c"}` {
		t.Errorf("report = %s", raw["report"])
	}

	// An empty batch sends nothing.
	rc.reset()
	if err := s.Send(context.Background(), Batch{}); err != nil || len(rc.requests()) != 0 {
		t.Fatalf("empty batch: err=%v requests=%d", err, len(rc.requests()))
	}
}

// checkDoc decodes body strictly into a ResultDocument, compares it with want and checks the
// exact set of top-level keys (so omitted fields are really absent).
func checkDoc(t *testing.T, body []byte, want ResultDocument, keys []string) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var got ResultDocument
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("document\n got %+v\nwant %+v", got, want)
		if !reflect.DeepEqual(got.Resource, want.Resource) {
			t.Errorf("resource got %+v want %+v", got.Resource, want.Resource)
		}
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	var gotKeys []string
	for k := range m {
		gotKeys = append(gotKeys, k)
	}
	sort.Strings(gotKeys)
	sort.Strings(keys)
	if !reflect.DeepEqual(gotKeys, keys) {
		t.Errorf("keys %v, want %v in %s", gotKeys, keys, body)
	}
}

// webhookBodyTemplate is the bodyTemplate of the golden requests: every text through json, a
// branch on .Resource, one of the result's maps whole.
const webhookBodyTemplate = `{"text": {{ json (printf "[%s] %s: %s" .Severity .Policy .Message) }}, "status": {{ json .Status }},
 "resource": {{ with .Resource }}{{ json (printf "%s %s/%s" .Kind .Namespace .Name) }}{{ else }}null{{ end }},
 "labels": {{ json .Properties }}, "cluster": {{ json (index .CustomFields "cluster") }}, "source": "policy-herald"}`

func TestWebhookBodyTemplate(t *testing.T) {
	rc, srv := startHook(t, nil)
	s := newWebhookSender(t, srv.URL+"/in", descriptor.Settings{"token": "Bearer abc"}, &v1alpha1.WebhookDestination{
		BodyTemplate: webhookBodyTemplate, ContentType: "application/vnd.alerts+json; charset=utf-8",
		HTTPSettings: v1alpha1.HTTPSettings{Headers: map[string]string{"Content-Type": "text/plain"}},
	}, nil)
	full := fullResult()
	full.Message = `label "app" is required` + "\n\tsee <https://kyverno.io> & \\docs"
	b := Batch{Report: testReport, Results: []report.Result{full, bareResult()}, CustomFields: map[string]string{"cluster": "prod-eu"}}
	if err := s.Send(context.Background(), b); err != nil {
		t.Fatalf("Send: %v", err)
	}
	reqs := rc.requests()
	if len(reqs) != 2 {
		t.Fatalf("got %d requests, want 2", len(reqs))
	}
	for i, r := range reqs {
		if got := r.Header.Values("Content-Type"); len(got) != 1 || got[0] != "application/vnd.alerts+json; charset=utf-8" {
			t.Errorf("Content-Type = %q: want the contentType, over the configured header", got)
		}
		if r.Header.Get("Authorization") != "Bearer abc" {
			t.Errorf("Authorization = %q", r.Header.Get("Authorization"))
		}
		checkGolden(t, fmt.Sprintf("webhook-template-%d.json", i+1), r.Body, false)
	}
	var doc struct{ Text string }
	if err := json.Unmarshal(reqs[0].Body, &doc); err != nil || doc.Text != "[high] require-labels: "+full.Message {
		t.Errorf("text %q, %v: the message must arrive as it was, quotes and all", doc.Text, err)
	}

	// A result the template fails on is refused for good, naming the field, and nothing is sent.
	rc.reset()
	strict := newWebhookSender(t, srv.URL, nil, &v1alpha1.WebhookDestination{BodyTemplate: `{"name": {{ json .Resource.Name }}}`}, nil)
	err := strict.Send(context.Background(), Batch{Report: testReport, Results: []report.Result{bareResult()}})
	if err == nil || IsRetryable(err) || !strings.Contains(err.Error(), "webhook: bodyTemplate: ") {
		t.Errorf("a result without a resource: got %v, want a permanent bodyTemplate error", err)
	}
	unescaped := newWebhookSender(t, srv.URL, nil, &v1alpha1.WebhookDestination{BodyTemplate: `{"category": "{{ .Category }}"}`}, nil)
	odd := fullResult()
	odd.Category = `a "quoted" category`
	err = unescaped.Send(context.Background(), Batch{Report: testReport, Results: []report.Result{odd}})
	if err == nil || IsRetryable(err) || !strings.Contains(err.Error(), "the output is not JSON") {
		t.Errorf("a body that is not JSON: got %v, want a permanent error", err)
	}
	if n := len(rc.requests()); n != 0 {
		t.Errorf("%d requests sent for results without a body", n)
	}

	// Without a template, contentType alone changes the header of the default document.
	typed := newWebhookSender(t, srv.URL, nil, &v1alpha1.WebhookDestination{ContentType: "application/cloudevents+json"}, nil)
	if err := typed.Send(context.Background(), Batch{Report: testReport, Results: []report.Result{bareResult()}}); err != nil {
		t.Fatal(err)
	}
	if r := rc.requests()[0]; r.Header.Get("Content-Type") != "application/cloudevents+json" || !json.Valid(r.Body) {
		t.Errorf("Content-Type %q, body %s", r.Header.Get("Content-Type"), r.Body)
	}
}

func TestWebhookBodyTemplateRefused(t *testing.T) {
	for name, c := range map[string]struct {
		wd   v1alpha1.WebhookDestination
		want string
	}{
		"not JSON":          {v1alpha1.WebhookDestination{BodyTemplate: `policy {{ .Policy }}`}, "webhook: bodyTemplate: the output is not JSON at byte 1"},
		"message unescaped": {v1alpha1.WebhookDestination{BodyTemplate: `{"text": "{{ .Message }}"}`}, "webhook: bodyTemplate: the output is not JSON"},
		"unbounded":         {v1alpha1.WebhookDestination{BodyTemplate: `{{ range 100000 }}{{ end }}{}`}, "webhook: bodyTemplate: {{range}} only goes over a field"},
		"broken":            {v1alpha1.WebhookDestination{BodyTemplate: `{{ json .Policy `}, "webhook: bodyTemplate: template: body:1"},
		"text/plain":        {v1alpha1.WebhookDestination{ContentType: "text/plain"}, `webhook: contentType "text/plain": want application/json or application/<name>+json: text/plain is not a JSON media type`},
		"json in a name":    {v1alpha1.WebhookDestination{ContentType: "application/jsonx"}, "is not a JSON media type"},
		"not a media type":  {v1alpha1.WebhookDestination{ContentType: "application/json; ="}, `webhook: contentType "application/json; ="`},
	} {
		_, err := New(context.Background(), Config{Type: v1alpha1.DestinationWebhook, Destination: &v1alpha1.Destinations{Webhook: &c.wd},
			Settings: descriptor.Settings{"url": "http://h/"}})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", name, err, c.want)
		}
	}
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "application/cloudevents+json", "application/vnd.a.b+json"} {
		if _, err := New(context.Background(), Config{Type: v1alpha1.DestinationWebhook, Settings: descriptor.Settings{"url": "http://h/"},
			Destination: &v1alpha1.Destinations{Webhook: &v1alpha1.WebhookDestination{ContentType: ct}}}); err != nil {
			t.Errorf("%s: %v", ct, err)
		}
	}
}

func TestWebhookTokenWinsOverAuthorizationHeader(t *testing.T) {
	rc, srv := startHook(t, nil)
	s := newWebhookSender(t, srv.URL, descriptor.Settings{"token": "Bearer from-secret"},
		&v1alpha1.WebhookDestination{HTTPSettings: v1alpha1.HTTPSettings{Headers: map[string]string{"authorization": "Bearer inline", "User-Agent": "custom"}}}, nil)
	if err := s.Send(context.Background(), Batch{Results: []report.Result{bareResult()}}); err != nil {
		t.Fatal(err)
	}
	h := rc.requests()[0].Header
	if got := h.Values("Authorization"); len(got) != 1 || got[0] != "Bearer from-secret" {
		t.Errorf("Authorization = %q", got)
	}
	if got := h.Get("User-Agent"); got != "custom" {
		t.Errorf("configured User-Agent should win, got %q", got)
	}
}

func TestWebhookTLS(t *testing.T) {
	rc := &testHook{}
	srv := newTLSServer(t, rc)
	b := Batch{Results: []report.Result{bareResult()}}

	t.Run("trusted CA", func(t *testing.T) {
		s := newWebhookSender(t, srv.URL+"/x", nil, nil, trustingTLS(srv))
		if err := s.Send(context.Background(), b); err != nil {
			t.Fatalf("Send: %v", err)
		}
	})
	t.Run("unknown CA is not retryable", func(t *testing.T) {
		for _, cfg := range []*tls.Config{nil, {MinVersion: tls.VersionTLS12}} {
			s := newWebhookSender(t, srv.URL+"/x", nil, nil, cfg)
			assertTLSRejected(t, s.Send(context.Background(), b))
		}
	})
	t.Run("wrong host name is not retryable", func(t *testing.T) {
		cfg := trustingTLS(srv)
		cfg.ServerName = "other.example"
		s := newWebhookSender(t, srv.URL+"/x", nil, nil, cfg)
		if err := s.Send(context.Background(), b); err == nil || IsRetryable(err) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("insecureSkipVerify", func(t *testing.T) {
		s := newWebhookSender(t, srv.URL+"/x", nil, nil, &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true}) //nolint:gosec // test
		if err := s.Send(context.Background(), b); err != nil {
			t.Fatalf("Send: %v", err)
		}
	})
	t.Run("https to a plain http server is not retryable", func(t *testing.T) {
		plain := httptest.NewServer(rc)
		defer plain.Close()
		s := newWebhookSender(t, strings.Replace(plain.URL, "http://", "https://", 1), nil, nil, nil)
		err := s.Send(context.Background(), b)
		if err == nil || IsRetryable(err) || !strings.Contains(err.Error(), "did not answer with TLS") {
			t.Fatalf("got %v", err)
		}
	})
}

func TestWebhookProxyFromEnvironment(t *testing.T) {
	proxy, psrv := startHook(t, nil)
	useProxy(t, psrv.URL)

	s := newWebhookSender(t, "http://webhook.invalid/path?q=1", descriptor.Settings{"token": "Bearer abc"}, nil, nil)
	if err := s.Send(context.Background(), Batch{Results: []report.Result{bareResult()}}); err != nil {
		t.Fatalf("Send through proxy: %v", err)
	}
	reqs := proxy.requests()
	if len(reqs) != 1 {
		t.Fatalf("proxy got %d requests", len(reqs))
	}
	r := reqs[0]
	if r.RequestURI != "http://webhook.invalid/path?q=1" || r.Host != "webhook.invalid" || r.Method != http.MethodPost {
		t.Errorf("proxy saw %s %s (Host %s)", r.Method, r.RequestURI, r.Host)
	}
	if r.Header.Get("Authorization") != "Bearer abc" || !json.Valid(r.Body) {
		t.Errorf("proxy saw headers %v body %s", r.Header, r.Body)
	}

	// NO_PROXY is honoured too, read when the sender is built.
	t.Setenv("NO_PROXY", "webhook.invalid")
	s = newWebhookSender(t, "http://webhook.invalid/path", nil, nil, nil)
	err := s.Send(context.Background(), Batch{Results: []report.Result{bareResult()}})
	if err == nil || len(proxy.requests()) != 1 {
		t.Fatalf("NO_PROXY: err=%v, proxy requests=%d", err, len(proxy.requests()))
	}
}

func TestWebhookErrorClassification(t *testing.T) {
	fixed := time.Date(2026, 8, 15, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		name       string
		status     int
		headers    map[string]string
		body       string
		retryable  bool
		retryAfter time.Duration
		reason     string
	}{
		{"429 seconds", 429, map[string]string{"Retry-After": "120"}, "", true, 120 * time.Second, ": 429 Too Many Requests (retry after 2m0s)"},
		{"429 date", 429, map[string]string{"Retry-After": "Sat, 15 Aug 2026 10:01:30 GMT"}, "", true, 90 * time.Second, ": 429 Too Many Requests (retry after 1m30s)"},
		{"429 without header", 429, nil, "", true, 0, ": 429 Too Many Requests"},
		{"503", 503, nil, "<html>down</html>", true, 0, ": 503 Service Unavailable"},
		{"500", 500, nil, "", true, 0, ": 500 Internal Server Error"},
		{"408", 408, nil, "", true, 0, ": 408 Request Timeout"},
		{"400 with body", 400, nil, "{\"error\":\n  \"invalid payload\"}\n", false, 0, `: 400 Bad Request: {"error": "invalid payload"}`},
		{"404 no body", 404, nil, "", false, 0, ": 404 Not Found"},
		{"302 not followed", 302, map[string]string{"Location": "/elsewhere"}, "", false, 0, ": 302 Found (redirects are not followed; configure the final URL)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rc, srv := startHook(t, answerWith(c.status, c.headers, c.body))
			s := newWebhookSender(t, srv.URL+"/hook", nil, nil, nil)
			s.(*webhook).Poster.Now = func() time.Time { return fixed }
			err := s.Send(context.Background(), Batch{Results: []report.Result{bareResult()}})
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("got %T %v", err, err)
			}
			host := strings.TrimPrefix(srv.URL, "http://")
			if want := "POST to " + host + c.reason; e.Reason != want {
				t.Errorf("reason %q\n  want %q", e.Reason, want)
			}
			if e.Retryable != c.retryable || e.RetryAfter != c.retryAfter || e.StatusCode != c.status {
				t.Errorf("got %+v", e)
			}
			if n := len(rc.requests()); n != 1 {
				t.Errorf("server got %d requests, want 1 (no redirect followed)", n)
			}
		})
	}

	t.Run("long 400 body is cut", func(t *testing.T) {
		_, srv := startHook(t, answerWith(400, nil, strings.Repeat("x", 5000)))
		err := newWebhookSender(t, srv.URL, nil, nil, nil).Send(context.Background(), Batch{Results: []report.Result{bareResult()}})
		_, ex, _ := strings.Cut(err.Error(), "Bad Request: ")
		if ex != strings.Repeat("x", transport.ExcerptBytes)+"…" {
			t.Fatalf("excerpt %d bytes: %q", len(ex), ex)
		}
	})
}

func TestWebhookTransportErrors(t *testing.T) {
	b := Batch{Results: []report.Result{bareResult()}}
	t.Run("connection refused", func(t *testing.T) {
		addr := closedAddr(t)
		err := newWebhookSender(t, "http://"+addr+"/hook", nil, nil, nil).Send(context.Background(), b)
		var e *Error
		if !errors.As(err, &e) || !e.Retryable || e.StatusCode != 0 || !strings.HasPrefix(e.Reason, "POST to "+addr+": ") {
			t.Fatalf("got %#v", err)
		}
	})
	t.Run("canceled", func(t *testing.T) {
		_, srv := startHook(t, nil)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := newWebhookSender(t, srv.URL, nil, nil, nil).Send(ctx, b)
		if !IsRetryable(err) || !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
		defer srv.Close()
		defer close(release)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		err := newWebhookSender(t, srv.URL, nil, nil, nil).Send(ctx, b)
		if !IsRetryable(err) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "timed out") {
			t.Fatalf("got %v", err)
		}
	})
}

func TestErrorsNeverShowSecrets(t *testing.T) {
	// The server echoes everything it got back in the body of a 400.
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, _ := r.BasicAuth()
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, "bad request %s %s auth=%s key=%s user=%s pass=%s",
			r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization"), r.Header.Get("X-Api-Key"), u, p)
	})
	plain := httptest.NewServer(echo)
	defer plain.Close()
	secure := newTLSServer(t, echo)
	hang := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-hang }))
	defer slow.Close()
	defer close(hang)

	wd := &v1alpha1.WebhookDestination{HTTPSettings: v1alpha1.HTTPSettings{Headers: map[string]string{"X-Api-Key": "SECRETHEADER"}}}
	cases := map[string]struct {
		url     string
		timeout time.Duration
	}{
		"400 echo":           {url: withSecrets(plain.URL)},
		"bad certificate":    {url: withSecrets(secure.URL)},
		"connection refused": {url: withSecrets("https://" + closedAddr(t))},
		"timeout":            {url: withSecrets(slow.URL), timeout: 50 * time.Millisecond},
		"no such host":       {url: "https://alice:hunter2pw@host.invalid/services/SECRETPATH?token=SECRETQUERY"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			s := newWebhookSender(t, c.url, descriptor.Settings{"token": "Bearer SECRETTOKEN"}, wd, nil)
			ctx := context.Background()
			if c.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, c.timeout)
				defer cancel()
			}
			err := s.Send(ctx, Batch{Results: []report.Result{bareResult()}})
			if err == nil {
				t.Fatal("want an error")
			}
			assertErrorHidesSecrets(t, err)
			t.Log(err)
		})
	}
}

func TestKeepalive(t *testing.T) {
	rc := &testHook{notify: make(chan struct{}, 100)}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	const interval = 50 * time.Millisecond
	s := newWebhookSender(t, srv.URL+"/beat", descriptor.Settings{"token": "Bearer abc"}, &v1alpha1.WebhookDestination{
		HTTPSettings: v1alpha1.HTTPSettings{Headers: map[string]string{"X-Env": "prod"}},
		Keepalive: &v1alpha1.Keepalive{
			Interval: metav1.Duration{Duration: interval},
			Params:   map[string]string{"cluster": "prod-eu", "event": "not-overridable"},
		},
	}, nil)
	runner, ok := s.(Runner)
	if !ok {
		t.Fatal("a webhook with keepalive must be a Runner")
	}
	ctx, cancel := context.WithCancel(context.Background())
	start := time.Now()
	done := make(chan struct{})
	go func() { runner.Run(ctx); close(done) }()

	for i := 0; i < 3; i++ {
		select {
		case <-rc.notify:
		case <-time.After(5 * time.Second):
			t.Fatalf("heartbeat %d did not come", i+1)
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	reqs := rc.requests()
	if reqs[0].At.Sub(start) < interval*8/10 {
		t.Errorf("first heartbeat after %v, want about one interval", reqs[0].At.Sub(start))
	}
	for i, r := range reqs {
		if r.Method != http.MethodPost || r.RequestURI != "/beat" || r.Header.Get("Authorization") != "Bearer abc" ||
			r.Header.Get("X-Env") != "prod" || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("heartbeat %d: %s %s %v", i, r.Method, r.RequestURI, r.Header)
		}
		var doc map[string]string
		if err := json.Unmarshal(r.Body, &doc); err != nil {
			t.Fatalf("heartbeat %s: %v", r.Body, err)
		}
		tm, err := time.Parse(time.RFC3339, doc["time"])
		if len(doc) != 3 || doc["event"] != "heartbeat" || doc["cluster"] != "prod-eu" || err != nil ||
			tm.Before(start.Add(-time.Second).Truncate(time.Second)) || tm.After(time.Now()) || !strings.HasSuffix(doc["time"], "Z") {
			t.Errorf("heartbeat %d: %s", i, r.Body)
		}
		if i > 0 {
			if gap := r.At.Sub(reqs[i-1].At); gap < interval/2 {
				t.Errorf("heartbeats %d and %d only %v apart", i-1, i, gap)
			}
		}
	}
	n := len(rc.requests())
	time.Sleep(3 * interval)
	if m := len(rc.requests()); m != n {
		t.Errorf("%d heartbeats after Run returned", m-n)
	}
}

func TestKeepaliveLogsFailuresWithoutSecrets(t *testing.T) {
	rc := &testHook{answer: answerWith(http.StatusInternalServerError, nil, ""), notify: make(chan struct{}, 100)}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	scheme, host, _ := strings.Cut(srv.URL, "://")
	s := newWebhookSender(t, scheme+"://alice:hunter2pw@"+host+"/services/SECRETPATH?token=SECRETQUERY",
		descriptor.Settings{"token": "Bearer SECRETTOKEN"}, &v1alpha1.WebhookDestination{
			Keepalive: &v1alpha1.Keepalive{Interval: metav1.Duration{Duration: 20 * time.Millisecond}},
		}, nil)

	var mu sync.Mutex
	var logs []string
	logger := funcr.New(func(prefix, args string) {
		mu.Lock()
		logs = append(logs, args)
		mu.Unlock()
	}, funcr.Options{Verbosity: 1})
	ctx, cancel := context.WithCancel(logr.NewContext(context.Background(), logger))
	done := make(chan struct{})
	go func() { s.(Runner).Run(ctx); close(done) }()
	for i := 0; i < 2; i++ {
		select {
		case <-rc.notify:
		case <-time.After(5 * time.Second):
			t.Fatal("no heartbeat")
		}
	}
	wait.For(t, 5*time.Second, "a failed heartbeat to be logged", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(logs) > 0
	})
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if len(logs) == 0 {
		t.Fatal("nothing logged")
	}
	for _, l := range logs {
		assertNoSecrets(t, "log", l)
		if !strings.Contains(l, "Webhook heartbeat failed") || !strings.Contains(l, `"host"="`+host+`"`) ||
			!strings.Contains(l, "500 Internal Server Error") || !strings.Contains(l, `"target"="team-a/hook"`) {
			t.Errorf("log line: %s", l)
		}
	}
}

func BenchmarkWebhookSend(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	s := newWebhookSender(b, srv.URL+"/hook", descriptor.Settings{"token": "Bearer abc"},
		&v1alpha1.WebhookDestination{HTTPSettings: v1alpha1.HTTPSettings{Headers: map[string]string{"X-Env": "prod"}}}, nil)
	batch := Batch{
		Report:       testReport,
		Results:      []report.Result{fullResult()},
		CustomFields: map[string]string{"cluster": "prod-eu"},
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.Send(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
}
