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
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/destination/descriptor"
	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/sender/transport"
)

const splunkTestToken = "11111111-2222-3333-4444-555555555555"

func splunkConfig(url string, inline v1alpha1.SplunkDestination, settings descriptor.Settings) Config {
	inline.URL = url
	if settings == nil {
		settings = descriptor.Settings{}
	}
	if _, ok := settings["token"]; !ok {
		settings["token"] = splunkTestToken
	}
	return Config{Type: v1alpha1.DestinationSplunk, Name: "ns/splunk", Settings: settings,
		Destination: &v1alpha1.Destinations{Splunk: &inline}}
}

// ---------------------------------------------------------------------------------------------
// HEC against VictoriaLogs.
// ---------------------------------------------------------------------------------------------

func TestSplunkRealServer(t *testing.T) {
	vl := startVictoriaLogs(t, "", "")
	// No path: the sender posts to /services/collector/event.
	s := newTestSender(t, splunkConfig(vl.base, v1alpha1.SplunkDestination{Index: "policy"}, nil))
	before := time.Now()
	if err := s.Send(context.Background(), logsBatch()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	rows := vl.query(t, `*`, 3, nil)
	meta := map[string]string{"source": "policy-herald", "sourcetype": "_json", "index": "policy", "_stream": `{source="policy-herald",sourcetype="_json"}`}
	assertFields(t, rows[0], meta)
	assertFields(t, rows[0], map[string]string{
		"_msg": "label app is required", "_time": "2026-08-15T10:00:00Z", "event.id": "a1", "event.policy": "require-labels",
		"event.status": "fail", "event.severity": "high", "event.resource.name": "nginx", "event.report.name": "rep-1",
		"event.customFields.cluster": "prod-eu", "event.properties.created": "x",
	})
	assertFields(t, rows[1], map[string]string{"_msg": "label app is still required", "_time": "2026-08-15T10:00:01Z", "event.id": "a3"})
	assertFields(t, rows[2], meta)
	assertFields(t, rows[2], map[string]string{"_msg": "m2", "event.id": "a2", "event.source": "trivy"})
	assertNear(t, "bare result's _time", rows[2]["_time"], before, 10*time.Second)

	t.Run("source, sourceType and a path", func(t *testing.T) {
		s := newTestSender(t, splunkConfig(vl.base+"/insert/splunk/services/collector/event",
			v1alpha1.SplunkDestination{Source: "kyverno-results", SourceType: "policy:result"}, nil))
		if err := s.Send(context.Background(), Batch{Report: testReport, Results: []report.Result{bareResult()}}); err != nil {
			t.Fatal(err)
		}
		rows := vl.query(t, `source:"kyverno-results"`, 1, nil)
		assertFields(t, rows[0], map[string]string{"_msg": "m2", "sourcetype": "policy:result"})
		if _, ok := rows[0]["index"]; ok {
			t.Errorf("index sent without one configured: %v", rows[0])
		}
	})
}

// ---------------------------------------------------------------------------------------------
// A HEC that answers as Splunk's does, indexer acknowledgement included.
// ---------------------------------------------------------------------------------------------

// splunkContractEvent is one event of a request, decoded strictly: HEC's event metadata
// (time, host, source, sourcetype, index, fields) and the ResultDocument as the event.
type splunkContractEvent struct {
	Time       json.Number       `json:"time"`
	Host       string            `json:"host"`
	Source     string            `json:"source"`
	SourceType string            `json:"sourcetype"`
	Index      string            `json:"index"`
	Fields     map[string]string `json:"fields"`
	Event      ResultDocument    `json:"event"`
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// hecServer is a loopback HTTP Event Collector. With ack set it behaves as a token with indexer
// acknowledgement: requests without a channel get 400 code 10, accepted requests an ackId, and
// /services/collector/ack answers false for the first pendingPolls polls of an ackId. Every
// answer sets a load balancer cookie, which the acks must carry.
type hecServer struct {
	t            *testing.T
	token        string
	ack          bool
	pendingPolls int
	// answer, when set and returning a status, answers event requests instead.
	answer func(n int) (int, map[string]string, string)

	mu       sync.Mutex
	events   []splunkContractEvent
	requests []recorded
	nextAck  int64
	polls    map[int64]int
}

func startHEC(t *testing.T, ack bool) (*hecServer, *httptest.Server) {
	h := &hecServer{t: t, token: splunkTestToken, ack: ack, polls: map[int64]int{}}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return h, srv
}

func (h *hecServer) reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	http.SetCookie(w, &http.Cookie{Name: "AWSALB", Value: "sticky-1", Path: "/"})
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (h *hecServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t := h.t
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.requests = append(h.requests, recorded{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
	if r.Method != http.MethodPost {
		t.Errorf("%s %s", r.Method, r.URL.Path)
	}
	if r.Header.Get("Authorization") != "Splunk "+h.token {
		h.reply(w, http.StatusUnauthorized, map[string]any{"text": "Token is required", "code": 2})
		return
	}
	channel := r.Header.Get("X-Splunk-Request-Channel")
	if channel != "" && !uuidRE.MatchString(channel) {
		h.reply(w, http.StatusBadRequest, map[string]any{"text": "Invalid data channel", "code": 11})
		return
	}
	if h.answer != nil && !strings.HasSuffix(r.URL.Path, "/ack") {
		if status, headers, resp := h.answer(len(h.requests)); status != 0 {
			for k, v := range headers {
				w.Header().Set(k, v)
			}
			w.WriteHeader(status)
			_, _ = io.WriteString(w, resp)
			return
		}
	}
	switch {
	case strings.HasSuffix(r.URL.Path, "/services/collector/event"):
		if h.ack && channel == "" {
			h.reply(w, http.StatusBadRequest, map[string]any{"text": "Data channel is missing", "code": 10})
			return
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		if len(body) == 0 || body[0] != '{' {
			t.Errorf("the body must be concatenated event objects, not %.20q", body)
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		var got []splunkContractEvent
		for {
			var e splunkContractEvent
			err := dec.Decode(&e)
			if err == io.EOF {
				break
			}
			if err != nil {
				h.reply(w, http.StatusBadRequest, map[string]any{"text": "Invalid data format", "code": 6, "invalid-event-number": len(got)})
				t.Errorf("event %d: %v", len(got), err)
				return
			}
			if _, err := strconv.ParseFloat(string(e.Time), 64); err != nil {
				t.Errorf("time %q is not epoch seconds", e.Time)
			}
			got = append(got, e)
		}
		if len(got) == 0 {
			h.reply(w, http.StatusBadRequest, map[string]any{"text": "No data", "code": 5})
			return
		}
		h.events = append(h.events, got...)
		if !h.ack {
			h.reply(w, http.StatusOK, map[string]any{"text": "Success", "code": 0})
			return
		}
		id := h.nextAck
		h.nextAck++
		h.reply(w, http.StatusOK, map[string]any{"text": "Success", "code": 0, "ackId": id})
	case strings.HasSuffix(r.URL.Path, "/services/collector/ack"):
		if !h.ack {
			h.reply(w, http.StatusBadRequest, map[string]any{"text": "ACK is disabled", "code": 14})
			return
		}
		if channel == "" {
			h.reply(w, http.StatusBadRequest, map[string]any{"text": "Data channel is missing", "code": 10})
			return
		}
		if c, err := r.Cookie("AWSALB"); err != nil || c.Value != "sticky-1" {
			t.Errorf("ack poll without the load balancer's cookie")
		}
		var q struct {
			Acks []int64 `json:"acks"`
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&q); err != nil || len(q.Acks) == 0 {
			h.reply(w, http.StatusBadRequest, map[string]any{"text": "Invalid data format", "code": 6})
			return
		}
		acks := map[string]bool{}
		for _, id := range q.Acks {
			h.polls[id]++
			acks[strconv.FormatInt(id, 10)] = id < h.nextAck && h.pendingPolls >= 0 && h.polls[id] > h.pendingPolls
		}
		h.reply(w, http.StatusOK, map[string]any{"acks": acks})
	default:
		h.reply(w, http.StatusBadRequest, map[string]any{"text": "unsupported path requested", "code": 404})
	}
}

func (h *hecServer) snapshot() ([]recorded, []splunkContractEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]recorded(nil), h.requests...), append([]splunkContractEvent(nil), h.events...)
}

func TestSplunkContract(t *testing.T) {
	hec, srv := startHEC(t, false)
	s := newTestSender(t, splunkConfig(srv.URL, v1alpha1.SplunkDestination{Index: "k8s",
		HTTPSettings: v1alpha1.HTTPSettings{Headers: map[string]string{"Authorization": "Bearer other", "X-Extra": "1"}}}, nil))
	if s.MaxBatch() != splunkMaxBatch {
		t.Errorf("MaxBatch = %d", s.MaxBatch())
	}
	if err := s.Send(context.Background(), logsBatch()); err != nil {
		t.Fatal(err)
	}
	reqs, events := hec.snapshot()
	if len(reqs) != 1 || reqs[0].Path != "/services/collector/event" || reqs[0].Header.Get("X-Extra") != "1" {
		t.Fatalf("requests %+v", reqs)
	}
	if reqs[0].Header.Get("X-Splunk-Request-Channel") != "" {
		t.Error("a channel without acknowledgements")
	}
	if len(events) != 3 {
		t.Fatalf("%d events", len(events))
	}
	e := events[0]
	if e.Time != "1786788000.000" || e.Source != "policy-herald" || e.SourceType != "_json" || e.Index != "k8s" || e.Host != "" ||
		e.Event.ID != "a1" || e.Event.Resource == nil || e.Event.Resource.Name != "nginx" {
		t.Errorf("event %+v", e)
	}
	if events[2].Time != "1786788001.000" || events[1].Event.ID != "a2" {
		t.Errorf("events %+v", events)
	}
}

func TestSplunkIndexerAcknowledgement(t *testing.T) {
	hec, srv := startHEC(t, true)
	hec.pendingPolls = 2
	s := newTestSender(t, splunkConfig(srv.URL+"/services/collector/event", v1alpha1.SplunkDestination{}, nil))
	s.(*splunk).ackPoll = 5 * time.Millisecond
	if err := s.Send(context.Background(), logsBatch()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	reqs, events := hec.snapshot()
	// Refused without a channel, posted again with one, then polled until acknowledged.
	var paths []string
	for _, r := range reqs {
		paths = append(paths, r.Path)
	}
	want := []string{"/services/collector/event", "/services/collector/event", "/services/collector/ack", "/services/collector/ack", "/services/collector/ack"}
	if strings.Join(paths, " ") != strings.Join(want, " ") {
		t.Fatalf("requests %v, want %v", paths, want)
	}
	channel := reqs[1].Header.Get("X-Splunk-Request-Channel")
	if reqs[0].Header.Get("X-Splunk-Request-Channel") != "" || !uuidRE.MatchString(channel) {
		t.Errorf("channels %q then %q", reqs[0].Header.Get("X-Splunk-Request-Channel"), channel)
	}
	for _, r := range reqs[2:] {
		if r.Header.Get("X-Splunk-Request-Channel") != channel || string(r.Body) != `{"acks":[0]}` {
			t.Errorf("ack poll %s with channel %q", r.Body, r.Header.Get("X-Splunk-Request-Channel"))
		}
	}
	if len(events) != 3 {
		t.Errorf("%d events indexed, want 3", len(events))
	}
	// The next batch goes with the channel at once.
	if err := s.Send(context.Background(), Batch{Report: testReport, Results: []report.Result{bareResult()}}); err != nil {
		t.Fatal(err)
	}
	reqs, _ = hec.snapshot()
	if r := reqs[5]; r.Path != "/services/collector/event" || r.Header.Get("X-Splunk-Request-Channel") != channel {
		t.Errorf("second batch: %s with channel %q", r.Path, r.Header.Get("X-Splunk-Request-Channel"))
	}

	t.Run("not acknowledged in time", func(t *testing.T) {
		hec, srv := startHEC(t, true)
		hec.pendingPolls = 1 << 30
		s := newTestSender(t, splunkConfig(srv.URL, v1alpha1.SplunkDestination{}, nil))
		s.(*splunk).ackPoll, s.(*splunk).ackTimeout = 5*time.Millisecond, 60*time.Millisecond
		start := time.Now()
		err := s.Send(context.Background(), logsBatch())
		var e *Error
		if !errorAs(err, &e) || !e.Retryable || !strings.Contains(e.Reason, "not acknowledged") {
			t.Fatalf("want a retryable timeout, got %#v", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("waited %s", d)
		}
	})
	t.Run("canceled while waiting", func(t *testing.T) {
		hec, srv := startHEC(t, true)
		hec.pendingPolls = 1 << 30
		s := newTestSender(t, splunkConfig(srv.URL, v1alpha1.SplunkDestination{}, nil))
		s.(*splunk).ackPoll = 5 * time.Millisecond
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		err := s.Send(ctx, logsBatch())
		if !IsRetryable(err) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("want a retryable deadline error, got %#v", err)
		}
	})
}

func TestSplunkRefusals(t *testing.T) {
	for _, c := range []struct {
		name      string
		status    int
		headers   map[string]string
		body      string
		retryable bool
		after     time.Duration
		text      string
	}{
		{"invalid token", http.StatusForbidden, nil, `{"text":"Invalid token","code":4}`, false, 0, "Invalid token"},
		{"incorrect index", http.StatusBadRequest, nil, `{"text":"Incorrect index","code":7,"invalid-event-number":1}`, false, 0, "Incorrect index"},
		{"busy", http.StatusServiceUnavailable, map[string]string{"Retry-After": "5"}, `{"text":"Server is busy","code":9}`, true, 5 * time.Second, ""},
		{"internal", http.StatusInternalServerError, nil, `{"text":"Internal server error","code":8}`, true, 0, ""},
		{"not json", http.StatusOK, nil, `<html>proxy</html>`, true, 0, "not HEC's JSON"},
	} {
		t.Run(c.name, func(t *testing.T) {
			hec, srv := startHEC(t, false)
			hec.token = "SECRETTOKEN"
			hec.answer = answerWith(c.status, c.headers, c.body)
			s := newTestSender(t, splunkConfig(withSecrets(srv.URL), v1alpha1.SplunkDestination{},
				descriptor.Settings{"token": "SECRETTOKEN"}))
			err := s.Send(context.Background(), logsBatch())
			var e *Error
			if !errorAs(err, &e) || e.Retryable != c.retryable || e.RetryAfter != c.after || !strings.Contains(e.Reason, c.text) {
				t.Fatalf("got %#v", err)
			}
			assertErrorHidesSecrets(t, err)
			if reqs, _ := hec.snapshot(); len(reqs) != 1 || reqs[0].Header.Get("Authorization") != "Splunk SECRETTOKEN" {
				t.Errorf("requests %+v", reqs)
			}
		})
	}
}

// TestSplunkSplitsLargeBatches: requests stay under splunkMaxBody; a failed one reports what
// the ones before it carried.
func TestSplunkSplitsLargeBatches(t *testing.T) {
	b := largeBatch(splunkMaxBatch, 0x3000, func(int) string { return strings.Repeat("s", 60<<10) })
	hec, srv := startHEC(t, false)
	s := newTestSender(t, splunkConfig(srv.URL, v1alpha1.SplunkDestination{}, nil))
	if err := s.Send(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	reqs, events := hec.snapshot()
	if len(reqs) < 6 || len(events) != splunkMaxBatch {
		t.Fatalf("%d requests, %d events", len(reqs), len(events))
	}
	for _, r := range reqs {
		if len(r.Body) > splunkMaxBody {
			t.Errorf("request of %d bytes", len(r.Body))
		}
	}
	hec2, srv2 := startHEC(t, false)
	hec2.answer = failingAt(3, http.StatusServiceUnavailable, `{"text":"Server is busy","code":9}`)
	s2 := newTestSender(t, splunkConfig(srv2.URL, v1alpha1.SplunkDestination{}, nil))
	err := s2.Send(context.Background(), b)
	_, got := hec2.snapshot()
	var e *Error
	if !errorAs(err, &e) || !e.Retryable || e.Sent == 0 || e.Sent != len(got) {
		t.Fatalf("want retryable with Sent = %d events already indexed, got %#v", len(got), err)
	}
}

func TestSplunkConfigErrors(t *testing.T) {
	u := "https://hec.example.com:8088"
	assertConfigErrors(t, v1alpha1.DestinationSplunk, "hunter2pw", map[string]Config{
		"no token":  {Settings: descriptor.Settings{"url": u}},
		"no url":    {Settings: descriptor.Settings{"token": "hunter2pw"}},
		"bad token": {Settings: descriptor.Settings{"url": u, "token": "hunter2pw\r\n"}},
		"space":     {Settings: descriptor.Settings{"url": u, "token": "hunter2pw x"}},
	})
}

func TestSplunkAckEndpoint(t *testing.T) {
	for in, want := range map[string]string{
		"https://h:8088": "https://h:8088/services/collector/ack",
		"https://h:8088/services/collector/event":          "https://h:8088/services/collector/ack",
		"https://h:8088/services/collector/event/1.0":      "https://h:8088/services/collector/ack",
		"https://h/insert/splunk/services/collector/event": "https://h/insert/splunk/services/collector/ack",
		"https://h/hec/event?x=1":                          "https://h/hec/ack?x=1",
	} {
		ep, err := transport.ParseEndpoint("url", in)
		if err != nil {
			t.Fatal(err)
		}
		if ep.URL.Path == "" {
			ep = withPathSuffix(ep, splunkDefaultPath)
		}
		if got := splunkAckEndpoint(ep).Raw; got != want {
			t.Errorf("%s: ack at %s, want %s", in, got, want)
		}
	}
}

// ---------------------------------------------------------------------------------------------
// What every HTTP destination does, for the three log destinations.
// ---------------------------------------------------------------------------------------------

// logsReceiver answers each log destination as its service does on success.
func logsReceiver(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	switch {
	case strings.HasSuffix(r.URL.Path, "/_bulk"):
		n := bytes.Count(body, []byte("\n")) / 2
		items := make([]string, n)
		for i := range items {
			items[i] = `{"create":{"status":201}}`
		}
		fmt.Fprintf(w, `{"took":1,"errors":false,"items":[%s]}`, strings.Join(items, ","))
	case strings.Contains(r.URL.Path, "/services/collector"):
		_, _ = io.WriteString(w, `{"text":"Success","code":0}`)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

var logsDestinations = []struct {
	typ v1alpha1.DestinationType
	cfg func(url string) Config
}{
	{v1alpha1.DestinationLoki, func(u string) Config { return lokiConfig(u, v1alpha1.LokiDestination{}, nil) }},
	{v1alpha1.DestinationElasticsearch, func(u string) Config {
		return esConfig(u, v1alpha1.ElasticsearchDestination{TypelessAPI: ptr.To(true)}, nil)
	}},
	{v1alpha1.DestinationSplunk, func(u string) Config { return splunkConfig(u, v1alpha1.SplunkDestination{}, nil) }},
}

func TestLogDestinationsTLSProxyAndGuard(t *testing.T) {
	for _, d := range logsDestinations {
		t.Run(string(d.typ), func(t *testing.T) {
			srv := newTLSServer(t, http.HandlerFunc(logsReceiver))
			cfg := d.cfg(srv.URL)
			cfg.TLS = trustingTLS(srv)
			if err := newTestSender(t, cfg).Send(context.Background(), logsBatch()); err != nil {
				t.Fatalf("with the server's CA: %v", err)
			}
			assertTLSRejected(t, newTestSender(t, d.cfg(srv.URL)).Send(context.Background(), logsBatch()))

			var mu sync.Mutex
			var uris []string
			psrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				uris = append(uris, r.RequestURI)
				mu.Unlock()
				logsReceiver(w, r)
			}))
			t.Cleanup(psrv.Close)
			useProxy(t, psrv.URL)
			if err := newTestSender(t, d.cfg("http://logs.example.invalid")).Send(context.Background(), logsBatch()); err != nil {
				t.Fatalf("through the proxy: %v", err)
			}
			mu.Lock()
			if len(uris) == 0 || !strings.HasPrefix(uris[0], "http://logs.example.invalid/") {
				t.Errorf("proxy saw %v", uris)
			}
			mu.Unlock()

			useProxy(t, "")
			_, plain := startHook(t, nil)
			if _, err := newGuarded(context.Background(), d.cfg(plain.URL), defaultGuard()); err == nil {
				t.Error("newGuarded accepted a loopback destination")
			}
			s, err := newGuarded(context.Background(), d.cfg(strings.Replace(plain.URL, "127.0.0.1", "localhost", 1)), unresolvable(defaultGuard()))
			if err != nil {
				t.Fatal(err)
			}
			assertNotAllowed(t, s.Send(context.Background(), logsBatch()))
		})
	}
}
