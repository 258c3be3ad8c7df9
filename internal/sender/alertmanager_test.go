package sender

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/destination/descriptor"
	"github.com/policyherald/policy-herald/internal/report"
)

// ---------------------------------------------------------------------------------------------
// A real Alertmanager (hack/test-servers.sh builds v0.28.1) whose receiver is a webhook to a
// loopback sink, so that notifications, resolved ones included, can be read back.
// ---------------------------------------------------------------------------------------------

// amNotification is the webhook receiver's message (notify/webhook, version 4).
type amNotification struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   uint64            `json:"truncatedAlerts"`
	Receiver          string            `json:"receiver"`
	Status            string            `json:"status"`
	Alerts            []amNotifiedAlert `json:"alerts"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
}

type amNotifiedAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// amGettableAlert is an element of GET /api/v2/alerts (api/v2/openapi.yaml gettableAlert).
type amGettableAlert struct {
	Labels       map[string]string       `json:"labels"`
	Annotations  map[string]string       `json:"annotations"`
	Receivers    []struct{ Name string } `json:"receivers"`
	Fingerprint  string                  `json:"fingerprint"`
	StartsAt     time.Time               `json:"startsAt"`
	UpdatedAt    time.Time               `json:"updatedAt"`
	EndsAt       time.Time               `json:"endsAt"`
	GeneratorURL string                  `json:"generatorURL"`
	Status       struct {
		State       string   `json:"state"`
		SilencedBy  []string `json:"silencedBy"`
		InhibitedBy []string `json:"inhibitedBy"`
		MutedBy     []string `json:"mutedBy"`
	} `json:"status"`
}

// amSink records the notifications of a real Alertmanager.
type amSink struct {
	t    *testing.T
	mu   sync.Mutex
	msgs []amNotification
	url  string
}

func startAMSink(t *testing.T) *amSink {
	t.Helper()
	s := &amSink{t: t}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m amNotification
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&m); err != nil {
			t.Errorf("webhook notification: %v", err)
		}
		s.mu.Lock()
		s.msgs = append(s.msgs, m)
		s.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	s.url = srv.URL + "/hook"
	return s
}

// waitFor waits until a notification of status has an alert with result_id id.
func (s *amSink) waitFor(status, id string) amNotifiedAlert {
	s.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		for _, m := range s.msgs {
			for _, a := range m.Alerts {
				if m.Status == status && a.Status == status && a.Labels["result_id"] == id {
					s.mu.Unlock()
					return a
				}
			}
		}
		s.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.t.Fatalf("no %s notification of result %s within 15s; got %+v", status, id, s.msgs)
	return amNotifiedAlert{}
}

// startAlertmanager runs a real Alertmanager notifying sink and returns its base URL.
func startAlertmanager(t *testing.T, sink *amSink) string {
	t.Helper()
	bin := serverPath(t, "alertmanager")
	dir := t.TempDir()
	cfg := fmt.Sprintf(`route: {receiver: hook, group_by: ['result_id'], group_wait: 1s, group_interval: 1s, repeat_interval: 1h}
receivers:
  - name: hook
    webhook_configs: [{url: '%s', send_resolved: true}]
`, sink.url)
	cfgFile := filepath.Join(dir, "am.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	base := "http://127.0.0.1:" + loopbackPort(t)
	startServer(t, base+"/-/ready", bin, "--config.file="+cfgFile, "--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+strings.TrimPrefix(base, "http://"), "--cluster.listen-address=")
	return base
}

// amAlerts is what GET /api/v2/alerts returns, decoded strictly.
func amAlerts(t *testing.T, base string) []amGettableAlert {
	t.Helper()
	resp, err := http.Get(base + "/api/v2/alerts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v2/alerts: %d %s", resp.StatusCode, body)
	}
	var out []amGettableAlert
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("GET /api/v2/alerts: %v\n%s", err, body)
	}
	return out
}

// amAlertOf returns the alert of result id, and whether there is one.
func amAlertOf(t *testing.T, base, id string) (amGettableAlert, bool) {
	t.Helper()
	for _, a := range amAlerts(t, base) {
		if a.Labels["result_id"] == id {
			return a, true
		}
	}
	return amGettableAlert{}, false
}

func amConfig(url string, additional ...string) Config {
	return Config{Type: v1alpha1.DestinationAlertManager, Name: "team-a/am", Destination: &v1alpha1.Destinations{
		AlertManager: &v1alpha1.AlertManagerDestination{
			HTTPSettings:   v1alpha1.HTTPSettings{URL: url},
			AdditionalURLs: additional,
			ResendInterval: &metav1.Duration{Duration: time.Minute},
		}}}
}

func newAM(t *testing.T, cfg Config) *alertManager {
	t.Helper()
	s := newTestSender(t, cfg)
	a, ok := s.(*alertManager)
	if !ok {
		t.Fatalf("New returned %T", s)
	}
	if _, ok := s.(Refresher); !ok {
		t.Fatal("the alertManager sender is no Refresher")
	}
	return a
}

// wantLabels are the labels of fullResult in testReport with customFields cluster=prod-eu.
func wantLabels(id string) map[string]string {
	return map[string]string{
		"alertname": "PolicyViolation", "policy": "require-labels", "rule": "check-app", "status": "fail",
		"severity": "high", "category": "Best Practices", "source": "kyverno", "namespace": "test",
		"kind": "Deployment", "name": "nginx", "report": "rep-1", "result_id": id, "cluster": "prod-eu",
	}
}

func within(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if d := got.Sub(want); d < -time.Second || d > time.Second {
		t.Errorf("%s = %s, want %s", what, got, want)
	}
}

func TestAlertManagerRealServerFiringRefreshResolve(t *testing.T) {
	sink := startAMSink(t)
	base := startAlertmanager(t, sink)
	a := newAM(t, amConfig(base))
	if got := a.RefreshInterval(); got != time.Minute {
		t.Fatalf("RefreshInterval = %s", got)
	}
	r := fullResult()
	b := Batch{Report: testReport, Results: []report.Result{r}, CustomFields: map[string]string{"cluster": "prod-eu"}}
	ctx := context.Background()

	start := time.Now()
	if err := a.Send(ctx, b); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got, ok := amAlertOf(t, base, r.ID())
	if !ok {
		t.Fatalf("the alert is not in GET /api/v2/alerts: %+v", amAlerts(t, base))
	}
	if !maps.Equal(got.Labels, wantLabels(r.ID())) {
		t.Errorf("labels = %v\nwant %v", got.Labels, wantLabels(r.ID()))
	}
	if got.Status.State != "active" {
		t.Errorf("state = %s", got.Status.State)
	}
	for k, v := range map[string]string{
		"summary":     "require-labels/check-app: fail on Deployment test/nginx",
		"description": "label app is required", "resource": "Deployment test/nginx",
		"resource_api_version": "apps/v1", "resource_uid": "5d2c", "report": "PolicyReport test/rep-1",
		"timestamp": "2026-08-15T10:00:00Z", "created": "x", "cluster": "from-result",
	} {
		if got.Annotations[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, got.Annotations[k], v)
		}
	}
	within(t, "startsAt", got.StartsAt, r.Timestamp())
	within(t, "endsAt", got.EndsAt, start.Add(4*time.Minute))
	fired := sink.waitFor("firing", r.ID())
	if fired.Labels["policy"] != "require-labels" || fired.Annotations["description"] != "label app is required" {
		t.Errorf("firing notification: %+v", fired)
	}

	// Refresh, two minutes later by the sender's clock: endsAt moves forward, the alert is the
	// same (same fingerprint).
	later := time.Now().Add(2 * time.Minute)
	a.now = func() time.Time { return later }
	if err := a.Refresh(ctx, b); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	again, ok := amAlertOf(t, base, r.ID())
	if !ok || again.Fingerprint != got.Fingerprint {
		t.Fatalf("after Refresh: %+v (was %+v)", again, got)
	}
	within(t, "endsAt after Refresh", again.EndsAt, later.Add(4*time.Minute))
	if n := len(amAlerts(t, base)); n != 1 {
		t.Errorf("%d alerts after Refresh, want 1", n)
	}

	a.now = time.Now
	if err := a.Resolve(ctx, b); err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	if left, ok := amAlertOf(t, base, r.ID()); ok {
		t.Fatalf("the alert is still returned after Resolve: %+v", left)
	}
	resolved := sink.waitFor("resolved", r.ID())
	if !maps.Equal(resolved.Labels, wantLabels(r.ID())) || resolved.EndsAt.After(time.Now()) {
		t.Errorf("resolved notification: %+v", resolved)
	}
}

func TestAlertManagerRealServerHighAvailability(t *testing.T) {
	sink := startAMSink(t)
	one, two := startAlertmanager(t, sink), startAlertmanager(t, sink)
	down := "http://" + closedAddr(t)
	ctx := context.Background()
	r := fullResult()
	b := Batch{Report: testReport, Results: []report.Result{r}, CustomFields: map[string]string{"cluster": "prod-eu"}}

	// Both get every post.
	if err := newAM(t, amConfig(one, two)).Send(ctx, b); err != nil {
		t.Fatalf("Send to two: %v", err)
	}
	for _, base := range []string{one, two} {
		if got, ok := amAlertOf(t, base, r.ID()); !ok || !maps.Equal(got.Labels, wantLabels(r.ID())) {
			t.Errorf("%s: alert %+v (found %v)", base, got, ok)
		}
	}

	// One of them down: delivered, as the other accepted it; so is the resolve.
	r2 := bareResult()
	b2 := Batch{Report: testReport, Results: []report.Result{r2}}
	half := newAM(t, amConfig(down, two))
	if err := half.Send(ctx, b2); err != nil {
		t.Fatalf("Send with one Alertmanager down: %v", err)
	}
	if _, ok := amAlertOf(t, two, r2.ID()); !ok {
		t.Error("the Alertmanager that is up did not get the alert")
	}
	sink.waitFor("firing", r2.ID())
	if err := half.Resolve(ctx, b2); err != nil {
		t.Fatalf("Resolve with one Alertmanager down: %v", err)
	}
	if _, ok := amAlertOf(t, two, r2.ID()); ok {
		t.Error("the alert is still active after Resolve")
	}
	sink.waitFor("resolved", r2.ID())

	// All down: a retryable error naming each.
	other := "http://" + closedAddr(t)
	err := newAM(t, amConfig(down, other)).Send(ctx, b2)
	var e *Error
	if !errors.As(err, &e) || !e.Retryable || !strings.Contains(e.Reason, "no Alertmanager accepted the alerts") ||
		!strings.Contains(e.Reason, strings.TrimPrefix(down, "http://")) || !strings.Contains(e.Reason, strings.TrimPrefix(other, "http://")) {
		t.Fatalf("all down: %#v", err)
	}
}

// ---------------------------------------------------------------------------------------------
// The wire format and the shared HTTP behaviour, against a loopback server that checks each
// request against the v2 API's postableAlerts.
// ---------------------------------------------------------------------------------------------

// amPostable is postableAlert (api/v2/openapi.yaml): labels required, the rest optional.
type amPostable struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     *time.Time        `json:"startsAt"`
	EndsAt       *time.Time        `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
}

// amContract serves POST /prefix/api/v2/alerts as Alertmanager does: 200 without a body for
// valid alerts, 400 with the validation error as a JSON string otherwise. It records the
// decoded alerts.
type amContract struct {
	t      *testing.T
	mu     sync.Mutex
	posts  [][]amPostable
	header []http.Header
	answer func(n int) (int, map[string]string, string) // nil: as Alertmanager
}

func (c *amContract) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fail := func(format string, args ...any) {
		c.t.Errorf("alertmanager contract: "+format, args...)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = fmt.Fprintf(w, "%q", fmt.Sprintf(format, args...))
	}
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/api/v2/alerts") {
		fail("%s %s, want POST .../api/v2/alerts", r.Method, r.URL.Path)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		fail("Content-Type %q", ct)
		return
	}
	body, _ := io.ReadAll(r.Body)
	alerts, problem := amCheckAlerts(body)
	if problem != "" {
		fail("%s", problem)
		return
	}
	c.mu.Lock()
	c.posts = append(c.posts, alerts)
	c.header = append(c.header, r.Header.Clone())
	n := len(c.posts)
	c.mu.Unlock()
	if c.answer != nil {
		status, headers, body := c.answer(n)
		for k, v := range headers {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// amCheckAlerts decodes body strictly as postableAlerts and checks each alert as Alertmanager
// validates it; problem says what it would refuse, "" when nothing.
func amCheckAlerts(body []byte) (alerts []amPostable, problem string) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&alerts); err != nil {
		return nil, fmt.Sprintf("body: %v", err)
	}
	if dec.More() {
		return nil, "trailing data after the alerts"
	}
	for i, a := range alerts {
		if len(a.Labels) == 0 || a.StartsAt == nil || a.EndsAt == nil || a.EndsAt.Before(*a.StartsAt) {
			return nil, fmt.Sprintf("alert %d: labels, startsAt <= endsAt required: %+v", i, a)
		}
		for _, ls := range []map[string]string{a.Labels, a.Annotations} {
			for k, v := range ls {
				if !classicLabelName(k) || v == "" {
					return nil, fmt.Sprintf("alert %d: label or annotation %q=%q", i, k, v)
				}
			}
		}
	}
	return alerts, ""
}

func (c *amContract) got() [][]amPostable {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]amPostable(nil), c.posts...)
}

func classicLabelName(k string) bool {
	for i, r := range k {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return k != "" && !strings.HasPrefix(k, "__")
}

func startAMContract(t *testing.T) (*amContract, *httptest.Server) {
	t.Helper()
	c := &amContract{t: t}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return c, srv
}

func TestAlertManagerWireFormat(t *testing.T) {
	c, srv := startAMContract(t)
	cfg := amConfig(srv.URL + "/prefix/")
	cfg.Destination.AlertManager.Headers = map[string]string{"Authorization": "Bearer abc", "X-Scope-OrgID": "team-a"}
	cfg.MessageTemplate = "{{ .Severity }} {{ .Policy }}: {{ .Message }} ({{ .Resource.Name }})"
	a := newAM(t, cfg)
	now := time.Date(2026, 9, 1, 8, 0, 0, 0, time.UTC)
	a.now = func() time.Time { return now }

	hostile := fullResult()
	hostile.Hash = 0xb1
	hostile.Message = strings.Repeat("long message ", 1000)
	hostile.Properties = map[string]string{"9lives": "a", "__meta": "b", "k.e-y": "c", "summary": "must not win"}
	future := bareResult()
	future.Time = now.Add(time.Hour).UnixNano() // a producer's clock ahead: startsAt is now
	b := Batch{Report: testReport, Results: []report.Result{hostile, future, bareResult()}, CustomFields: map[string]string{
		"cluster": "prod-eu", "policy": "must-not-win", "team.name": "a-team", "1st": "x",
	}}
	b.Results[2].Hash = 0xb3
	if err := a.Send(context.Background(), b); err != nil {
		t.Fatalf("Send: %v", err)
	}
	posts := c.got()
	if len(posts) != 1 || len(posts[0]) != 3 {
		t.Fatalf("posts: %+v", posts)
	}
	if h := c.header[0]; h.Get("Authorization") != "Bearer abc" || h.Get("X-Scope-Orgid") != "team-a" || h.Get("User-Agent") != "policy-herald" {
		t.Errorf("headers: %v", h)
	}
	first := posts[0][0]
	want := wantLabels(hostile.ID())
	maps.Copy(want, map[string]string{"team_name": "a-team", "_1st": "x"})
	if !maps.Equal(first.Labels, want) {
		t.Errorf("labels = %v\nwant %v", first.Labels, want)
	}
	if d := first.Annotations["description"]; len(d) > amMaxDescription {
		t.Errorf("description is %d bytes, over %d", len(d), amMaxDescription)
	}
	if d := first.Annotations["description"]; !strings.HasPrefix(d, "high require-labels: long message") || !strings.HasSuffix(d, "…") {
		t.Errorf("description from the template, cut: %q", d[:min(len(d), 80)])
	}
	for k, v := range map[string]string{"_9lives": "a", "_meta": "b", "k_e_y": "c", "summary": "require-labels/check-app: fail on Deployment test/nginx"} {
		if first.Annotations[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, first.Annotations[k], v)
		}
	}
	if !first.StartsAt.Equal(hostile.Timestamp().Truncate(time.Millisecond)) || !first.EndsAt.Equal(now.Add(4*time.Minute)) {
		t.Errorf("startsAt %s endsAt %s", first.StartsAt, first.EndsAt)
	}
	// A result without a resource: no kind/name labels; the template fails on .Resource.Name,
	// so the message is the description and the error is an annotation.
	second := posts[0][1]
	if _, ok := second.Labels["kind"]; ok || second.Labels["namespace"] != "test" || second.Labels["rule"] != "" {
		t.Errorf("labels of a result without resource: %v", second.Labels)
	}
	if second.Annotations["description"] != "m2" || !strings.Contains(second.Annotations["template_error"], "messageTemplate") {
		t.Errorf("annotations of a failed template: %v", second.Annotations)
	}
	if !second.StartsAt.Equal(now) {
		t.Errorf("startsAt of a result from the future = %s, want now", second.StartsAt)
	}
	if posts[0][2].Labels["result_id"] == second.Labels["result_id"] {
		t.Error("two results share a result_id")
	}

	// Resolve: the same labels, endsAt = now.
	if err := a.Resolve(context.Background(), b); err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	res := c.got()[1]
	for i := range res {
		if !maps.Equal(res[i].Labels, posts[0][i].Labels) || !res[i].EndsAt.Equal(now) {
			t.Errorf("resolve %d: %+v", i, res[i])
		}
	}
	// Labels are the same at every post.
	a.now = func() time.Time { return now.Add(time.Hour) }
	if err := a.Refresh(context.Background(), b); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	ref := c.got()[2]
	for i := range ref {
		if !maps.Equal(ref[i].Labels, posts[0][i].Labels) || !ref[i].EndsAt.Equal(now.Add(time.Hour+4*time.Minute)) {
			t.Errorf("refresh %d: %+v", i, ref[i])
		}
	}
	if a.MaxBatch() != 50 {
		t.Errorf("MaxBatch = %d", a.MaxBatch())
	}
}

func TestAlertManagerURLs(t *testing.T) {
	for in, want := range map[string]string{
		"http://am:9093":                        "http://am:9093/api/v2/alerts",
		"http://am:9093/":                       "http://am:9093/api/v2/alerts",
		"https://h/alertmanager":                "https://h/alertmanager/api/v2/alerts",
		"https://h/alertmanager/api/v2/alerts":  "https://h/alertmanager/api/v2/alerts",
		"https://h/alertmanager/api/v2/alerts/": "https://h/alertmanager/api/v2/alerts",
		"https://u:p@h/am?x=1":                  "https://u:p@h/am/api/v2/alerts?x=1",
	} {
		ep, err := alertManagerEndpoint("url", in)
		if err != nil || ep.Raw != want {
			t.Errorf("%s: %v %v, want %s", in, ep, err, want)
		}
	}
	assertConfigErrors(t, v1alpha1.DestinationAlertManager, "SECRETPATH", map[string]Config{
		"no url":            {},
		"bad url":           {Settings: descriptor.Settings{"url": "ftp://h/SECRETPATH"}},
		"bad additionalURL": {Settings: descriptor.Settings{"url": "http://h"}, Destination: &v1alpha1.Destinations{AlertManager: &v1alpha1.AlertManagerDestination{AdditionalURLs: []string{"h/SECRETPATH"}}}},
		"bad header":        {Settings: descriptor.Settings{"url": "http://h"}, Destination: &v1alpha1.Destinations{AlertManager: &v1alpha1.AlertManagerDestination{HTTPSettings: v1alpha1.HTTPSettings{Headers: map[string]string{"X": "SECRETPATH\n"}}}}},
		"broken template":   {Settings: descriptor.Settings{"url": "http://h"}, MessageTemplate: "{{ .Nope }}"},
	})
	// The Secret's url wins; a duplicate additional URL gets one post.
	c, srv := startAMContract(t)
	cfg := amConfig(srv.URL+"/inline", srv.URL+"/from-secret", srv.URL+"/second")
	cfg.Settings = descriptor.Settings{"url": srv.URL + "/from-secret"}
	if err := newAM(t, cfg).Send(context.Background(), oneResult()); err != nil {
		t.Fatal(err)
	}
	if n := len(c.got()); n != 2 {
		t.Errorf("%d posts, want 2 (the Secret's url and /second)", n)
	}
	if got := newAM(t, Config{Type: v1alpha1.DestinationAlertManager, Settings: descriptor.Settings{"url": srv.URL}}).RefreshInterval(); got != 5*time.Minute {
		t.Errorf("default RefreshInterval = %s", got)
	}
}

func TestAlertManagerErrors(t *testing.T) {
	ctx := context.Background()
	c, srv := startAMContract(t)
	c.answer = answersInTurn(
		cannedAnswer{http.StatusTooManyRequests, map[string]string{"Retry-After": "7"}, ""},
		cannedAnswer{http.StatusBadRequest, map[string]string{"Content-Type": "application/json"}, `"start time must be before end time"`},
		cannedAnswer{http.StatusServiceUnavailable, nil, ""},
	)
	a := newAM(t, amConfig(srv.URL))
	err := a.Send(ctx, oneResult())
	var e *Error
	if !errors.As(err, &e) || !e.Retryable || e.RetryAfter != 7*time.Second || e.StatusCode != 429 {
		t.Fatalf("429: %#v", err)
	}
	err = a.Send(ctx, oneResult())
	if !errors.As(err, &e) || e.Retryable || !strings.Contains(e.Reason, "start time must be before end time") {
		t.Fatalf("400: %#v", err)
	}
	if err = a.Resolve(ctx, oneResult()); !IsRetryable(err) {
		t.Fatalf("503: %#v", err)
	}

	// All Alertmanagers fail: retryable when one may take it later, with the shortest delay
	// one asked for; permanent when none will.
	busy := func(after string) *httptest.Server {
		_, s := startHook(t, answerWith(http.StatusTooManyRequests, map[string]string{"Retry-After": after}, ""))
		return s
	}
	_, bad := startHook(t, answerWith(http.StatusBadRequest, nil, `"invalid"`))
	err = newAM(t, amConfig(busy("30").URL, busy("5").URL, bad.URL)).Send(ctx, oneResult())
	if !errors.As(err, &e) || !e.Retryable || e.RetryAfter != 5*time.Second {
		t.Fatalf("all busy: %#v", err)
	}
	err = newAM(t, amConfig(busy("30").URL, "http://"+closedAddr(t))).Send(ctx, oneResult())
	if !errors.As(err, &e) || !e.Retryable || e.RetryAfter != 0 {
		t.Fatalf("busy and down: %#v (a down one gives no delay: back off)", err)
	}
	_, bad2 := startHook(t, answerWith(http.StatusUnauthorized, nil, ""))
	err = newAM(t, amConfig(bad.URL, bad2.URL)).Send(ctx, oneResult())
	if !errors.As(err, &e) || e.Retryable {
		t.Fatalf("all refuse: %#v", err)
	}
	if !errors.Is(newAM(t, amConfig(bad.URL, bad2.URL)).Send(canceled(), oneResult()), context.Canceled) {
		t.Error("a canceled post should unwrap to context.Canceled")
	}
}

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

func TestAlertManagerErrorsHideSecrets(t *testing.T) {
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, _ := r.BasicAuth()
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `"bad %s %s key=%s user=%s pass=%s"`, r.URL.Path, r.URL.RawQuery, r.Header.Get("X-Api-Key"), u, p)
	}))
	defer echo.Close()
	for _, urls := range [][]string{
		{withSecrets(echo.URL)},
		{withSecrets(echo.URL), withSecrets("http://" + closedAddr(t))},
		{withSecrets("https://" + closedAddr(t))},
	} {
		cfg := amConfig("", urls[1:]...)
		cfg.Settings = descriptor.Settings{"url": urls[0]}
		cfg.Destination.AlertManager.Headers = map[string]string{"X-Api-Key": "SECRETHEADER"}
		err := newAM(t, cfg).Send(context.Background(), slackDiscordBatch())
		if err == nil {
			t.Fatal("want an error")
		}
		assertErrorHidesSecrets(t, err)
	}
}

func TestAlertManagerTLSProxyAndGuard(t *testing.T) {
	ctx := context.Background()
	c := &amContract{t: t}
	tsrv := newTLSServer(t, c)
	cfg := amConfig(tsrv.URL)
	cfg.TLS = trustingTLS(tsrv)
	if err := newAM(t, cfg).Send(ctx, oneResult()); err != nil {
		t.Fatalf("with the server's CA: %v", err)
	}
	assertTLSRejected(t, newAM(t, amConfig(tsrv.URL)).Send(ctx, oneResult()))
	if n := len(c.got()); n != 1 {
		t.Errorf("TLS server got %d posts", n)
	}

	// The guard refuses a loopback Alertmanager, the additional ones too.
	_, srv := startAMContract(t)
	if _, err := newGuarded(ctx, amConfig(srv.URL), defaultGuard()); err == nil {
		t.Error("newGuarded accepted a loopback url")
	}
	if _, err := newGuarded(ctx, amConfig("http://am.example.invalid", srv.URL), defaultGuard()); err == nil {
		t.Error("newGuarded accepted a loopback additional URL")
	}
	// A name that resolves to loopback only when dialled is refused by the dial.
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	s, err := newGuarded(ctx, amConfig("http://localhost:"+port), unresolvable(defaultGuard()))
	if err != nil {
		t.Fatal(err)
	}
	assertNotAllowed(t, s.Send(ctx, oneResult()))

	// HTTP_PROXY: the request goes to the proxy, with the full URL.
	assertSendsThroughProxy(t, nil, oneResult(), "http://am.invalid:9093/api/v2/alerts",
		func() Sender { return newAM(t, amConfig("http://am.invalid:9093")) })
}

func TestAlertManagerHostileContent(t *testing.T) {
	c, srv := startAMContract(t) // refuses label and annotation names that are not classic ones
	b := hostileBatch()
	b.Results[0].Properties["ünïcode key"] = "v"
	if err := newAM(t, amConfig(srv.URL)).Send(context.Background(), b); err != nil {
		t.Fatalf("Send: %v", err)
	}
	posts := c.got()
	if len(posts) != 1 || len(posts[0]) != 2 {
		t.Fatalf("posts: %+v", posts)
	}
	body, err := json.Marshal(posts[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range jsonStrings(t, body) {
		if hasBadControl(s) || !utf8Valid(s) {
			t.Errorf("control character or invalid UTF-8 in %q", s)
		}
	}
	if len(body) > 64<<10 {
		t.Errorf("two alerts take %d bytes", len(body))
	}
	if got := posts[0][0].Annotations["_n_code_key"]; got != "v" {
		t.Errorf("sanitised property: %v", posts[0][0].Annotations)
	}
}
