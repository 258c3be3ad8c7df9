package sender

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/destination/descriptor"
	"github.com/policyherald/policy-herald/internal/report"
)

// pdTestKey is a routing key of the right length (32 characters).
const pdTestKey = "R0UTINGKEYSECRETTOKEN0123456789a"

// The registry tests build every sender from sample values of its required settings.
func init() { sampleSettings["routingKey"] = pdTestKey }

// ---------------------------------------------------------------------------------------------
// A loopback Events API v2 that checks every request against the published contract
// (PagerDuty/api-schema reference/events-v2/openapiv3.json and the Events API v2 docs) and
// answers as PagerDuty does.
// ---------------------------------------------------------------------------------------------

// pdEvent is the request body of POST /v2/enqueue; unknown fields are refused.
type pdEvent struct {
	RoutingKey  *string         `json:"routing_key"`
	EventAction *string         `json:"event_action"`
	DedupKey    string          `json:"dedup_key"`
	Client      string          `json:"client"`
	ClientURL   string          `json:"client_url"`
	Payload     *pdPayload      `json:"payload"`
	Links       json.RawMessage `json:"links"`
	Images      json.RawMessage `json:"images"`
}

type pdPayload struct {
	Summary       string          `json:"summary"`
	Timestamp     string          `json:"timestamp"`
	Severity      string          `json:"severity"`
	Source        string          `json:"source"`
	Component     string          `json:"component"`
	Group         string          `json:"group"`
	Class         string          `json:"class"`
	CustomDetails json.RawMessage `json:"custom_details"`
}

// pdResponse is the body of every answer (202 and the error responses alike).
type pdResponse struct {
	Status   string   `json:"status"`
	Message  string   `json:"message"`
	DedupKey string   `json:"dedup_key,omitempty"`
	Errors   []string `json:"errors,omitempty"`
}

type pagerDutyContract struct {
	t *testing.T
	// answer, when not nil, answers request n (from 1) instead of the contract (after it
	// checked the request).
	answer func(n int) (int, map[string]string, string)

	mu     sync.Mutex
	events []pdEvent
	raw    [][]byte
	open   map[string]pdEvent // dedup_key → the trigger of an open alert
	n      int
}

func startPagerDuty(t *testing.T) (*pagerDutyContract, *httptest.Server) {
	t.Helper()
	c := &pagerDutyContract{t: t, open: map[string]pdEvent{}}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return c, srv
}

func (c *pagerDutyContract) reply(w http.ResponseWriter, status int, r pdResponse) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(r)
}

func (c *pagerDutyContract) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	invalid := func(errs ...string) {
		c.t.Errorf("pagerDuty contract: invalid event: %v", errs)
		c.reply(w, http.StatusBadRequest, pdResponse{Status: "invalid event", Message: "Event object is invalid", Errors: errs})
	}
	if r.Method != http.MethodPost || r.URL.Path != "/v2/enqueue" {
		c.t.Errorf("pagerDuty contract: %s %s", r.Method, r.URL.Path)
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		invalid("Content-Type " + ct)
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if len(body) > 512<<10 {
		invalid("event over 512 KB")
		return
	}
	ev, errs, decodeErr := pdCheckEvent(body)
	if decodeErr != nil {
		c.t.Errorf("pagerDuty contract: body: %v\n%s", decodeErr, body)
		c.reply(w, http.StatusBadRequest, pdResponse{Status: "Unrecognized object", Message: "Event object format is unrecognized", Errors: []string{"JSON parse error"}})
		return
	}
	action := ""
	if ev.EventAction != nil {
		action = *ev.EventAction
	}
	if len(errs) > 0 {
		invalid(errs...)
		return
	}
	c.mu.Lock()
	c.n++
	n := c.n
	c.events = append(c.events, ev)
	c.raw = append(c.raw, body)
	c.mu.Unlock()
	if c.answer != nil {
		status, headers, respBody := c.answer(n)
		if status != http.StatusAccepted {
			for k, v := range headers {
				w.Header().Set(k, v)
			}
			w.WriteHeader(status)
			_, _ = io.WriteString(w, respBody)
			return
		}
	}
	c.mu.Lock()
	switch action {
	case "trigger":
		c.open[ev.DedupKey] = ev
	case "resolve":
		delete(c.open, ev.DedupKey)
	}
	c.mu.Unlock()
	c.reply(w, http.StatusAccepted, pdResponse{Status: "success", Message: "Event processed", DedupKey: ev.DedupKey})
}

// pdCheckEvent decodes body strictly as an Events API v2 event and validates it as the Events
// API does: errs are the errors of an "invalid event", decodeErr says it is no event object.
func pdCheckEvent(body []byte) (ev pdEvent, errs []string, decodeErr error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		return ev, nil, err
	}
	if dec.More() {
		return ev, nil, errors.New("trailing data after the event")
	}
	if len(body) > 512<<10 {
		errs = append(errs, "event over 512 KB")
	}
	switch {
	case ev.RoutingKey == nil:
		errs = append(errs, "'routing_key' is missing or blank")
	case len(*ev.RoutingKey) != 32:
		errs = append(errs, "Length of 'routing_key' is incorrect (should be 32 characters)")
	}
	action := ""
	if ev.EventAction != nil {
		action = *ev.EventAction
	}
	switch action {
	case "trigger":
		p := ev.Payload
		if p == nil {
			errs = append(errs, "'payload' is missing or blank")
			break
		}
		if strings.TrimSpace(p.Summary) == "" || utf8.RuneCountInString(p.Summary) > 1024 {
			errs = append(errs, "'payload.summary' is missing, blank or longer than 1024 characters")
		}
		if strings.TrimSpace(p.Source) == "" {
			errs = append(errs, "'payload.source' is missing or blank")
		}
		switch p.Severity {
		case "critical", "error", "warning", "info":
		default:
			errs = append(errs, "'payload.severity' is invalid (must be one of the following: 'critical', 'warning', 'error' or 'info')")
		}
		if p.Timestamp != "" {
			if _, err := time.Parse(time.RFC3339, p.Timestamp); err != nil {
				errs = append(errs, "'payload.timestamp' is not a valid ISO 8601 date-time")
			}
		}
		if len(p.CustomDetails) > 0 && p.CustomDetails[0] != '{' {
			errs = append(errs, "'payload.custom_details' must be an object")
		}
	case "acknowledge", "resolve":
		if ev.DedupKey == "" {
			errs = append(errs, "'dedup_key' is missing or blank")
		}
	default:
		errs = append(errs, "'event_action' is invalid (must be one of the following: 'trigger', 'acknowledge' or 'resolve')")
	}
	if len(ev.DedupKey) > 255 {
		errs = append(errs, "'dedup_key' is longer than 255 characters")
	}
	return ev, errs, nil
}

func (c *pagerDutyContract) got() ([]pdEvent, [][]byte, map[string]pdEvent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	open := make(map[string]pdEvent, len(c.open))
	for k, v := range c.open {
		open[k] = v
	}
	return append([]pdEvent(nil), c.events...), append([][]byte(nil), c.raw...), open
}

func pdConfig(url string) Config {
	return Config{Type: v1alpha1.DestinationPagerDuty, Name: "team-a/pd",
		Destination: &v1alpha1.Destinations{PagerDuty: &v1alpha1.PagerDutyDestination{}},
		Settings:    descriptor.Settings{"routingKey": pdTestKey, "url": url}}
}

// ---------------------------------------------------------------------------------------------

func TestPagerDutyTriggerThenResolve(t *testing.T) {
	c, srv := startPagerDuty(t)
	s := newTestSender(t, pdConfig(srv.URL+"/v2/enqueue"))
	if _, ok := s.(Resolver); !ok || s.MaxBatch() != 1 {
		t.Fatalf("pagerDuty: Resolver %v, MaxBatch %d", ok, s.MaxBatch())
	}
	if _, ok := s.(Refresher); ok {
		t.Error("pagerDuty is a Refresher: PagerDuty keeps alerts open until resolved")
	}
	r := fullResult()
	b := Batch{Report: testReport, Results: []report.Result{r}, CustomFields: map[string]string{"cluster": "prod-eu"}}
	if err := s.Send(context.Background(), b); err != nil {
		t.Fatalf("Send: %v", err)
	}
	events, raw, open := c.got()
	if len(events) != 1 || len(open) != 1 {
		t.Fatalf("events %d, open %v", len(events), open)
	}
	ev := events[0]
	key := ev.DedupKey
	if !strings.HasPrefix(key, r.ID()+"-") || len(key) != len(r.ID())+17 {
		t.Errorf("dedup_key %q, want the result ID and the customFields hash", key)
	}
	if *ev.RoutingKey != pdTestKey || *ev.EventAction != "trigger" || ev.Client != "Policy Herald" {
		t.Errorf("event: %+v", ev)
	}
	want := pdPayload{
		Summary: "[fail] require-labels/check-app on Deployment test/nginx: label app is required",
		Source:  "Deployment test/nginx", Severity: "error", Timestamp: "2026-08-15T10:00:00Z",
		Component: "require-labels", Group: "test", Class: "Best Practices",
	}
	got := *ev.Payload
	got.CustomDetails = nil
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Errorf("payload = %+v\nwant %+v", got, want)
	}
	var details ResultDocument
	dec := json.NewDecoder(bytes.NewReader(ev.Payload.CustomDetails))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&details); err != nil {
		t.Fatalf("custom_details is not the result document: %v\n%s", err, raw[0])
	}
	if details.ID != r.ID() || details.Policy != "require-labels" || details.CustomFields["cluster"] != "prod-eu" || details.Properties["created"] != "x" {
		t.Errorf("custom_details: %+v", details)
	}

	// The dedup_key is stable: a second trigger of the same result is the same alert.
	if err := s.Send(context.Background(), b); err != nil {
		t.Fatalf("Send again: %v", err)
	}
	if _, _, open := c.got(); len(open) != 1 {
		t.Fatalf("a second trigger opened another alert: %v", open)
	}

	if err := s.(Resolver).Resolve(context.Background(), b); err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	events, raw, open = c.got()
	res := events[len(events)-1]
	if *res.EventAction != "resolve" || res.DedupKey != key || res.Payload != nil || *res.RoutingKey != pdTestKey {
		t.Errorf("resolve: %s", raw[len(raw)-1])
	}
	if len(open) != 0 {
		t.Errorf("alerts still open after Resolve: %v", open)
	}

	// Without customFields the dedup_key is the result ID alone.
	b.CustomFields = nil
	if err := s.Send(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if events, _, _ := c.got(); events[len(events)-1].DedupKey != r.ID() {
		t.Errorf("dedup_key without customFields = %q, want %q", events[len(events)-1].DedupKey, r.ID())
	}
}

func TestPagerDutySeverity(t *testing.T) {
	cases := []struct {
		sev    v1alpha1.Severity
		status v1alpha1.ResultStatus
		want   string
	}{
		{v1alpha1.SeverityCritical, v1alpha1.StatusFail, "critical"},
		{v1alpha1.SeverityHigh, v1alpha1.StatusFail, "error"},
		{v1alpha1.SeverityMedium, v1alpha1.StatusWarn, "warning"},
		{v1alpha1.SeverityLow, v1alpha1.StatusFail, "info"},
		{v1alpha1.SeverityInfo, v1alpha1.StatusError, "info"},
		{"", v1alpha1.StatusError, "error"},
		{"", v1alpha1.StatusFail, "warning"},
		{"", v1alpha1.StatusWarn, "warning"},
		{"", v1alpha1.StatusPass, "info"},
	}
	c, srv := startPagerDuty(t)
	s := newTestSender(t, pdConfig(srv.URL+"/v2/enqueue"))
	for i, tc := range cases {
		r := bareResult()
		r.Hash = uint64(0x100 + i)
		r.Check = &report.Check{Policy: "p", Status: tc.status, Severity: tc.sev}
		if err := s.Send(context.Background(), Batch{Report: testReport, Results: []report.Result{r}}); err != nil {
			t.Fatal(err)
		}
		events, _, _ := c.got()
		if got := events[len(events)-1].Payload.Severity; got != tc.want {
			t.Errorf("%s/%s: severity %s, want %s", tc.sev, tc.status, got, tc.want)
		}
	}
}

func TestPagerDutyTemplateSourceAndBounds(t *testing.T) {
	c, srv := startPagerDuty(t)
	cfg := pdConfig(srv.URL + "/v2/enqueue")
	cfg.Destination.PagerDuty.Source = "prod-eu cluster"
	cfg.MessageTemplate = "{{ .Policy }} on {{ .Resource.Name }}: {{ .Message }}"
	s := newTestSender(t, cfg)
	big := fullResult()
	big.Message = strings.Repeat("é long message\n", 1<<20/16) // 1 MB with line breaks
	big.Properties = map[string]string{}
	for i := 0; i < 100; i++ {
		big.Properties[fmt.Sprintf("p%03d", i)] = strings.Repeat("v", 4096)
	}
	bare := bareResult() // the template fails on .Resource.Name: the default summary
	if err := s.Send(context.Background(), Batch{Report: testReport, Results: []report.Result{big, bare}}); err != nil {
		t.Fatalf("Send: %v", err) // the contract server refuses a summary over 1024 characters
	}
	events, raw, _ := c.got()
	if len(events) != 2 {
		t.Fatalf("%d events", len(events))
	}
	p := events[0].Payload
	if !strings.HasPrefix(p.Summary, "require-labels on nginx: é long message é long") || !strings.HasSuffix(p.Summary, "…") ||
		strings.Contains(p.Summary, "\n") || p.Source != "prod-eu cluster" {
		t.Errorf("summary %q… source %q", p.Summary[:60], p.Source)
	}
	if len(raw[0]) > 100<<10 {
		t.Errorf("the event is %d bytes", len(raw[0]))
	}
	var d pagerDutyDetails
	if err := json.Unmarshal(p.CustomDetails, &d); err != nil {
		t.Fatal(err)
	}
	if d.Message != "" || len(d.Properties) != 64 || len(d.Properties["p000"]) > 1024 {
		t.Errorf("custom_details not bounded, or the message beside the template's text: message %d bytes, %d properties", len(d.Message), len(d.Properties))
	}
	p2 := events[1].Payload
	if p2.Summary != "[warn] p2: m2" || !strings.Contains(string(p2.CustomDetails), `"templateError":"messageTemplate:`) ||
		!strings.Contains(string(p2.CustomDetails), `"message":"m2"`) {
		t.Errorf("failed template: summary %q details %s", p2.Summary, p2.CustomDetails)
	}
	// Without a source setting or resource, the source is the report.
	s = newTestSender(t, pdConfig(srv.URL+"/v2/enqueue"))
	if err := s.Send(context.Background(), Batch{Report: testReport, Results: []report.Result{bare}}); err != nil {
		t.Fatal(err)
	}
	events, _, _ = c.got()
	if got := events[2].Payload.Source; got != "PolicyReport test/rep-1" {
		t.Errorf("source %q", got)
	}
}

func TestPagerDutyErrors(t *testing.T) {
	ctx := context.Background()
	c, srv := startPagerDuty(t)
	c.answer = answersInTurn(
		cannedAnswer{http.StatusAccepted, nil, ""},
		cannedAnswer{http.StatusTooManyRequests, nil, ""}, // PagerDuty usually gives no Retry-After
		cannedAnswer{http.StatusTooManyRequests, map[string]string{"Retry-After": "3"}, ""},
		cannedAnswer{http.StatusBadRequest, map[string]string{"Content-Type": "application/json"},
			`{"status":"invalid event","message":"Event object is invalid","errors":["Length of 'routing_key' is incorrect (should be 32 characters)"]}`},
		cannedAnswer{http.StatusInternalServerError, nil, `{"status":"error","message":"internal"}`},
	)
	s := newTestSender(t, pdConfig(srv.URL+"/v2/enqueue"))
	two := Batch{Report: testReport, Results: []report.Result{fullResult(), bareResult()}}
	err := s.Send(ctx, two) // the first is accepted, the second throttled
	var e *Error
	if !errors.As(err, &e) || !e.Retryable || e.RetryAfter != 0 || e.Sent != 1 || e.StatusCode != 429 {
		t.Fatalf("429 without Retry-After: %#v", err)
	}
	if err = s.Send(ctx, oneResult()); !errors.As(err, &e) || !e.Retryable || e.RetryAfter != 3*time.Second {
		t.Fatalf("429 with Retry-After: %#v", err)
	}
	err = s.Send(ctx, oneResult())
	if !errors.As(err, &e) || e.Retryable || !strings.Contains(e.Reason, "Event object is invalid") {
		t.Fatalf("400: %#v", err)
	}
	if err = s.(Resolver).Resolve(ctx, oneResult()); !IsRetryable(err) {
		t.Fatalf("500: %#v", err)
	}
}

func TestPagerDutyConfig(t *testing.T) {
	assertConfigErrors(t, v1alpha1.DestinationPagerDuty, pdTestKey, map[string]Config{
		"no routing key":                {},
		"short routing key":             {Settings: descriptor.Settings{"routingKey": pdTestKey[:31]}},
		"routing key with a line break": {Settings: descriptor.Settings{"routingKey": pdTestKey[:31] + "\n"}},
		"bad url":                       {Settings: descriptor.Settings{"routingKey": pdTestKey, "url": "events.pagerduty.com/" + pdTestKey}},
		"broken template":               {Settings: descriptor.Settings{"routingKey": pdTestKey}, MessageTemplate: "{{ .Nope }}"},
	})
	s := newTestSender(t, Config{Type: v1alpha1.DestinationPagerDuty, Settings: descriptor.Settings{"routingKey": " " + pdTestKey + "\n"}})
	pd := s.(*pagerDuty)
	if pd.Endpoint.Raw != "https://events.pagerduty.com/v2/enqueue" || pd.routingKey != pdTestKey {
		t.Errorf("default endpoint %s, key trimmed %v", pd.Endpoint.Raw, pd.routingKey == pdTestKey)
	}
	eu := newTestSender(t, Config{Type: v1alpha1.DestinationPagerDuty, Settings: descriptor.Settings{"routingKey": pdTestKey},
		Destination: &v1alpha1.Destinations{PagerDuty: &v1alpha1.PagerDutyDestination{HTTPSettings: v1alpha1.HTTPSettings{URL: "https://events.eu.pagerduty.com/v2/enqueue"}}}})
	if got := eu.(*pagerDuty).Endpoint.Host; got != "events.eu.pagerduty.com" {
		t.Errorf("inline url: %s", got)
	}
}

func TestPagerDutyErrorsHideTheRoutingKey(t *testing.T) {
	// The server echoes the event, routing key included, and the URL in a 400.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"status":"invalid event","message":"Event object is invalid","errors":[%q, %q, %q]}`, body, r.URL.String(), r.Header.Get("X-Api-Key"))
	}))
	defer echo.Close()
	for _, raw := range []string{withSecrets(echo.URL), withSecrets("https://" + closedAddr(t))} {
		cfg := pdConfig(raw)
		cfg.Destination.PagerDuty.Headers = map[string]string{"X-Api-Key": "SECRETHEADER"}
		s := newTestSender(t, cfg)
		for _, send := range []func(context.Context, Batch) error{s.Send, s.(Resolver).Resolve} {
			err := send(context.Background(), oneResult())
			if err == nil {
				t.Fatal("want an error")
			}
			assertErrorHidesSecrets(t, err)
			if strings.Contains(err.Error(), pdTestKey) || strings.Contains(err.Error(), pdTestKey[:20]) {
				t.Fatalf("the error shows the routing key: %v", err)
			}
		}
	}
}

func TestPagerDutyTLSProxyAndGuard(t *testing.T) {
	ctx := context.Background()
	c := &pagerDutyContract{t: t, open: map[string]pdEvent{}}
	tsrv := newTLSServer(t, c)
	cfg := pdConfig(tsrv.URL + "/v2/enqueue")
	cfg.TLS = trustingTLS(tsrv)
	if err := newTestSender(t, cfg).Send(ctx, oneResult()); err != nil {
		t.Fatalf("with the server's CA: %v", err)
	}
	assertTLSRejected(t, newTestSender(t, pdConfig(tsrv.URL+"/v2/enqueue")).Send(ctx, oneResult()))
	if events, _, _ := c.got(); len(events) != 1 {
		t.Errorf("TLS server got %d events", len(events))
	}

	_, srv := startPagerDuty(t)
	if _, err := newGuarded(ctx, pdConfig(srv.URL+"/v2/enqueue"), defaultGuard()); err == nil {
		t.Error("newGuarded accepted a loopback url")
	}
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	s, err := newGuarded(ctx, pdConfig("http://localhost:"+port+"/v2/enqueue"), unresolvable(defaultGuard()))
	if err != nil {
		t.Fatal(err)
	}
	assertNotAllowed(t, s.Send(ctx, oneResult()))

	assertSendsThroughProxy(t, answerWith(http.StatusAccepted, nil, `{"status":"success","message":"Event processed","dedup_key":"a1"}`),
		oneResult(), "http://events.pagerduty.invalid/v2/enqueue",
		func() Sender { return newTestSender(t, pdConfig("http://events.pagerduty.invalid/v2/enqueue")) })
}

func TestPagerDutyHostileContent(t *testing.T) {
	c, srv := startPagerDuty(t)
	if err := newTestSender(t, pdConfig(srv.URL+"/v2/enqueue")).Send(context.Background(), hostileBatch()); err != nil {
		t.Fatalf("Send: %v", err) // the contract server refuses summaries over 1024 characters
	}
	_, raw, _ := c.got()
	if len(raw) != 2 {
		t.Fatalf("%d events", len(raw))
	}
	for _, body := range raw {
		for _, s := range jsonStrings(t, body) {
			if hasBadControl(s) {
				t.Errorf("control character in %q", s)
			}
		}
		if len(body) > 64<<10 {
			t.Errorf("an event of %d bytes", len(body))
		}
	}
}
