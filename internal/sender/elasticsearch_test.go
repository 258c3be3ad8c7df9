package sender

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/destination/descriptor"
	"github.com/policyherald/policy-herald/internal/report"
)

func esConfig(url string, inline v1alpha1.ElasticsearchDestination, settings descriptor.Settings) Config {
	inline.URL = url
	return Config{Type: v1alpha1.DestinationElasticsearch, Name: "ns/es", Settings: settings,
		Destination: &v1alpha1.Destinations{Elasticsearch: &inline}}
}

// ---------------------------------------------------------------------------------------------
// Elasticsearch's bulk API against VictoriaLogs.
// ---------------------------------------------------------------------------------------------

func TestElasticsearchRealServer(t *testing.T) {
	vl := startVictoriaLogs(t, "elastic", "hunter2pw")
	// What a user of VictoriaLogs' Elasticsearch API configures: which fields are the message
	// and the time.
	headers := map[string]string{"VL-Msg-Field": "message", "VL-Time-Field": "@timestamp", "VL-Stream-Fields": "source"}
	s := newTestSender(t, esConfig(vl.base+"/insert/elasticsearch",
		v1alpha1.ElasticsearchDestination{Username: "elastic", HTTPSettings: v1alpha1.HTTPSettings{Headers: headers}},
		descriptor.Settings{"password": "hunter2pw"}))
	before := time.Now()
	if err := s.Send(context.Background(), logsBatch()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	rows := vl.query(t, `*`, 3, nil)
	full := map[string]string{
		"_msg": "label app is required", "id": "a1", "policy": "require-labels", "rule": "check-app", "status": "fail",
		"severity": "high", "category": "Best Practices", "source": "kyverno", "scored": "true", "priority": "error",
		"timestamp": "2026-08-15T10:00:00Z", "resource.kind": "Deployment", "resource.name": "nginx",
		"resource.namespace": "test", "resource.uid": "5d2c", "report.kind": "PolicyReport", "report.name": "rep-1",
		"properties.created": "x", "customFields.cluster": "prod-eu", "customFields.team.name": "a/b",
		"_time": "2026-08-15T10:00:00.000000123Z", "_stream": `{source="kyverno"}`,
	}
	assertFields(t, rows[0], full)
	assertFields(t, rows[1], map[string]string{"_msg": "label app is still required", "id": "a3", "_time": "2026-08-15T10:00:01.000000123Z"})
	assertFields(t, rows[2], map[string]string{"_msg": "m2", "id": "a2", "status": "warn", "source": "trivy", "_stream": `{source="trivy"}`})
	assertNear(t, "bare result's _time", rows[2]["_time"], before, 10*time.Second)
	if _, ok := rows[2]["resource.kind"]; ok {
		t.Errorf("bare result has a resource: %v", rows[2])
	}

	t.Run("wrong password", func(t *testing.T) {
		s := newTestSender(t, esConfig(vl.base+"/insert/elasticsearch", v1alpha1.ElasticsearchDestination{},
			descriptor.Settings{"username": "elastic", "password": "SECRETTOKEN"}))
		err := s.Send(context.Background(), logsBatch())
		var e *Error
		if !errorAs(err, &e) || e.Retryable || e.StatusCode != http.StatusUnauthorized {
			t.Fatalf("want a permanent 401, got %#v", err)
		}
		assertErrorHidesSecrets(t, err)
	})
}

// ---------------------------------------------------------------------------------------------
// A bulk API that answers as Elasticsearch does.
// ---------------------------------------------------------------------------------------------

// esContractAction is a bulk action line as the sender may write it (create only).
type esContractAction struct {
	Create *struct {
		Index string `json:"_index"`
		ID    string `json:"_id"`
		Type  string `json:"_type,omitempty"`
	} `json:"create"`
}

// esContractDoc is the document a sender indexes: the ResultDocument and @timestamp.
type esContractDoc struct {
	Timestamp string `json:"@timestamp"`
	ResultDocument
}

// esServer is a loopback bulk API: it checks each request against Elasticsearch's bulk
// contract (POST <prefix>/_bulk, NDJSON with a final line feed, action and source lines) and
// answers as Elasticsearch 8 does: create of an existing _id is a 409
// version_conflict_engine_exception item, items the test sets answer with their status and
// error, "errors" is true when an item failed.
type esServer struct {
	t        *testing.T
	path     string
	typeless bool // refuse _type, as Elasticsearch 8 does

	mu       sync.Mutex
	docs     map[string]esContractDoc // index/_id → document
	requests []*http.Request
	// fail answers the next create of an _id with an item error, once.
	fail map[string]esItemFailure
	// answer, when set, answers the whole request instead.
	answer func(n int) (int, map[string]string, string)
}

type esItemFailure struct {
	status     int
	typ, cause string
}

func startES(t *testing.T, path string) (*esServer, *httptest.Server) {
	es := &esServer{t: t, path: path, docs: map[string]esContractDoc{}, fail: map[string]esItemFailure{}}
	srv := httptest.NewServer(es)
	t.Cleanup(srv.Close)
	return es, srv
}

func (es *esServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t := es.t
	body, _ := io.ReadAll(r.Body)
	es.mu.Lock()
	defer es.mu.Unlock()
	es.requests = append(es.requests, r)
	if es.answer != nil {
		status, headers, resp := es.answer(len(es.requests))
		if status != 0 {
			for k, v := range headers {
				w.Header().Set(k, v)
			}
			w.WriteHeader(status)
			_, _ = io.WriteString(w, resp)
			return
		}
	}
	if r.Method != http.MethodPost || r.URL.Path != es.path {
		t.Errorf("request %s %s, want POST %s", r.Method, r.URL.Path, es.path)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-ndjson" {
		t.Errorf("Content-Type %q, want application/x-ndjson", ct)
	}
	if len(body) == 0 || body[len(body)-1] != '\n' {
		t.Errorf("the bulk body must end with a line feed")
	}
	w.Header().Set("Content-Type", "application/json")
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 16<<20)
	var items []map[string]any
	errorsSeen := false
	for sc.Scan() {
		var a esContractAction
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&a); err != nil || a.Create == nil {
			// Elasticsearch refuses the whole request for a malformed action line.
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"error":{"root_cause":[{"type":"illegal_argument_exception","reason":"Malformed action/metadata line [%d]"}],"type":"illegal_argument_exception","reason":"Malformed action/metadata line [%d]"},"status":400}`, len(items)*2+1, len(items)*2+1)
			t.Errorf("action line %q: %v", sc.Bytes(), err)
			return
		}
		if es.typeless && a.Create.Type != "" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"error":{"root_cause":[{"type":"illegal_argument_exception","reason":"Action/metadata line [%d] contains an unknown parameter [_type]"}],"type":"illegal_argument_exception","reason":"Action/metadata line [%d] contains an unknown parameter [_type]"},"status":400}`, len(items)*2+1, len(items)*2+1)
			return
		}
		if !sc.Scan() {
			t.Errorf("action without a source line")
			return
		}
		var d esContractDoc
		dec = json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&d); err != nil {
			t.Errorf("document %q: %v", sc.Bytes(), err)
		}
		key := a.Create.Index + "/" + a.Create.ID
		item := map[string]any{"_index": a.Create.Index, "_id": a.Create.ID}
		if f, ok := es.fail[a.Create.ID]; ok {
			delete(es.fail, a.Create.ID)
			item["status"] = f.status
			item["error"] = map[string]any{"type": f.typ, "reason": f.cause, "index": a.Create.Index}
			errorsSeen = true
		} else if _, exists := es.docs[key]; exists {
			item["status"] = http.StatusConflict
			item["error"] = map[string]any{
				"type":       "version_conflict_engine_exception",
				"reason":     fmt.Sprintf("[%s]: version conflict, document already exists (current version [1])", a.Create.ID),
				"index_uuid": "aAsFqTI0Tc2W0LCWgPNrOA", "shard": "0", "index": a.Create.Index,
			}
			errorsSeen = true
		} else {
			es.docs[key] = d
			item["_version"] = 1
			item["result"] = "created"
			item["_shards"] = map[string]int{"total": 2, "successful": 1, "failed": 0}
			item["_seq_no"] = len(es.docs) - 1
			item["_primary_term"] = 1
			item["status"] = http.StatusCreated
		}
		items = append(items, map[string]any{"create": item})
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"took": 3, "errors": errorsSeen, "items": items})
}

func (es *esServer) doc(key string) (esContractDoc, bool) {
	es.mu.Lock()
	defer es.mu.Unlock()
	d, ok := es.docs[key]
	return d, ok
}

func (es *esServer) count() int {
	es.mu.Lock()
	defer es.mu.Unlock()
	return len(es.docs)
}

func (es *esServer) lastRequest() *http.Request {
	es.mu.Lock()
	defer es.mu.Unlock()
	return es.requests[len(es.requests)-1]
}

func TestElasticsearchContract(t *testing.T) {
	es, srv := startES(t, "/es/_bulk")
	es.typeless = true
	s := newTestSender(t, esConfig(srv.URL+"/es/", v1alpha1.ElasticsearchDestination{TypelessAPI: ptr.To(true), Index: "kyverno",
		HTTPSettings: v1alpha1.HTTPSettings{Headers: map[string]string{"X-Extra": "1", "Content-Type": "text/plain"}}},
		descriptor.Settings{"apiKey": "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="}))
	if s.MaxBatch() != esMaxBatch {
		t.Errorf("MaxBatch = %d", s.MaxBatch())
	}
	before := time.Now().UTC()
	if err := s.Send(context.Background(), logsBatch()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	r := es.lastRequest()
	if r.Header.Get("Authorization") != "ApiKey VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==" || r.Header.Get("X-Extra") != "1" {
		t.Errorf("headers %v", r.Header)
	}
	d, ok := es.doc("kyverno-2026.08.15/a1")
	if !ok {
		t.Fatalf("no document a1 in the daily index of its time: %v", es.docs)
	}
	if d.Timestamp != "2026-08-15T10:00:00.000000123Z" || d.ID != "a1" || d.Policy != "require-labels" ||
		d.Resource == nil || d.Resource.Name != "nginx" || d.CustomFields["cluster"] != "prod-eu" || d.Report.Name != "rep-1" {
		t.Errorf("document a1 = %+v", d)
	}
	if _, ok := es.doc("kyverno-2026.08.15/a3"); !ok {
		t.Error("no document a3")
	}
	bare, ok := es.doc("kyverno-" + before.Format("2006.01.02") + "/a2")
	if !ok {
		t.Fatalf("the result without time is not in today's index: %v", es.docs)
	}
	assertNear(t, "@timestamp", bare.Timestamp, before, 5*time.Second)

	// The same batch again: every document is there already (409), which is success.
	if err := s.Send(context.Background(), logsBatch()); err != nil {
		t.Fatalf("second Send: %v", err)
	}
	if es.count() != 3 {
		t.Errorf("%d documents after a repeated batch, want 3", es.count())
	}
}

func TestElasticsearchRotationTypeAndAuth(t *testing.T) {
	for _, c := range []struct {
		rotation v1alpha1.IndexRotation
		index    string
	}{
		{"", "policy-herald-2026.08.15"}, {"daily", "policy-herald-2026.08.15"},
		{"monthly", "policy-herald-2026.08"}, {"annually", "policy-herald-2026"}, {"none", "policy-herald"},
	} {
		es, srv := startES(t, "/_bulk")
		s := newTestSender(t, esConfig(srv.URL+"/_bulk", v1alpha1.ElasticsearchDestination{Rotation: c.rotation, Username: "alice"},
			descriptor.Settings{"password": "hunter2pw", "apiKey": "unused"}))
		if err := s.Send(context.Background(), Batch{Report: testReport, Results: []report.Result{fullResult()}}); err != nil {
			t.Fatalf("%s: %v", c.rotation, err)
		}
		if _, ok := es.doc(c.index + "/a1"); !ok {
			t.Errorf("rotation %q: not in %s: %v", c.rotation, c.index, es.docs)
		}
		if got := es.lastRequest().Header.Get("Authorization"); got != "Basic "+base64.StdEncoding.EncodeToString([]byte("alice:hunter2pw")) {
			t.Errorf("basic authentication wins over the apiKey: Authorization %q", got)
		}
	}

	// With typelessAPI false (for Elasticsearch 6) the action line names the type _doc, which
	// Elasticsearch 8 refuses for the whole request: a permanent error that says why.
	es, srv := startES(t, "/_bulk")
	es.typeless = true
	s := newTestSender(t, esConfig(srv.URL, v1alpha1.ElasticsearchDestination{TypelessAPI: ptr.To(false)}, nil))
	err := s.Send(context.Background(), Batch{Report: testReport, Results: []report.Result{fullResult()}})
	var e *Error
	if !errorAs(err, &e) || e.Retryable || !strings.Contains(e.Reason, "unknown parameter [_type]") {
		t.Fatalf("want the refusal of _type, got %#v", err)
	}
	if h := es.lastRequest().Header.Get("Authorization"); h != "" {
		t.Errorf("Authorization %q without credentials", h)
	}
}

// TestElasticsearchPartialFailures: per-item errors of a bulk answer.
func TestElasticsearchPartialFailures(t *testing.T) {
	batch := func(n int) Batch {
		b := Batch{Report: testReport}
		for i := 0; i < n; i++ {
			r := fullResult()
			r.Hash = uint64(0xb0 + i)
			b.Results = append(b.Results, r)
		}
		return b
	}
	t.Run("retryable item", func(t *testing.T) {
		es, srv := startES(t, "/_bulk")
		s := newTestSender(t, esConfig(srv.URL, v1alpha1.ElasticsearchDestination{TypelessAPI: ptr.To(true)}, nil))
		b := batch(5)
		// b0 is already there; b2 is rejected for back-pressure.
		es.docs["policy-herald-2026.08.15/b0"] = esContractDoc{}
		es.fail["b2"] = esItemFailure{http.StatusTooManyRequests, "es_rejected_execution_exception", "rejected execution of coordinating operation"}
		err := s.Send(context.Background(), b)
		var e *Error
		if !errorAs(err, &e) || !e.Retryable || e.Sent != 2 || !strings.Contains(e.Reason, "1 of 5") || !strings.Contains(e.Reason, "es_rejected_execution_exception") {
			t.Fatalf("want retryable with Sent 2, got %#v", err)
		}
		// The pipeline retries the rest: b3 and b4 are there (409), b2 goes in.
		b.Results = b.Results[e.Sent:]
		if err := s.Send(context.Background(), b); err != nil {
			t.Fatalf("retry: %v", err)
		}
		if es.count() != 5 {
			t.Errorf("%d documents, want 5", es.count())
		}
	})
	t.Run("permanent item", func(t *testing.T) {
		es, srv := startES(t, "/_bulk")
		s := newTestSender(t, esConfig(srv.URL, v1alpha1.ElasticsearchDestination{TypelessAPI: ptr.To(true)}, nil))
		es.fail["b1"] = esItemFailure{http.StatusBadRequest, "document_parsing_exception", "[1:42] failed to parse field [resource] of type [keyword]"}
		es.fail["b3"] = esItemFailure{http.StatusServiceUnavailable, "unavailable_shards_exception", "primary shard is not active"}
		err := s.Send(context.Background(), batch(4))
		var e *Error
		if !errorAs(err, &e) || e.Retryable || e.Sent != 1 || !strings.Contains(e.Reason, "2 of 4") || !strings.Contains(e.Reason, "document_parsing_exception") {
			t.Fatalf("want permanent with Sent 1, got %#v", err)
		}
	})
	t.Run("whole request", func(t *testing.T) {
		es, srv := startES(t, "/_bulk")
		s := newTestSender(t, esConfig(withSecrets(srv.URL), v1alpha1.ElasticsearchDestination{}, descriptor.Settings{"apiKey": "SECRETTOKEN"}))
		es.answer = answerWith(http.StatusTooManyRequests, map[string]string{"Retry-After": "3"},
			`{"error":{"type":"es_rejected_execution_exception","reason":"rejected"},"status":429}`)
		err := s.Send(context.Background(), batch(2))
		var e *Error
		if !errorAs(err, &e) || !e.Retryable || e.RetryAfter != 3*time.Second || e.Sent != 0 {
			t.Fatalf("want retryable after 3s, got %#v", err)
		}
		es.answer = answerWith(http.StatusUnauthorized, map[string]string{"WWW-Authenticate": `ApiKey`},
			`{"error":{"root_cause":[{"type":"security_exception","reason":"unable to authenticate with provided credentials and anonymous access is not allowed for this request","additional_unsuccessful_credentials":"API key: api key [SECRETTOKEN] does not exist"}],"type":"security_exception"},"status":401}`)
		err = s.Send(context.Background(), batch(2))
		if !errorAs(err, &e) || e.Retryable || e.StatusCode != http.StatusUnauthorized {
			t.Fatalf("want a permanent 401, got %#v", err)
		}
		assertErrorHidesSecrets(t, err)
		es.answer = answerWith(http.StatusOK, nil, `{"took":1,"errors":false,"items":[]}`)
		if err := s.Send(context.Background(), batch(2)); !IsRetryable(err) || err == nil {
			t.Fatalf("an answer without items for the documents must not count as sent: %v", err)
		}
	})
}

// TestElasticsearchSplitsLargeBatches: a batch over esMaxBody is several bulk requests; a
// failed one reports the documents before it.
func TestElasticsearchSplitsLargeBatches(t *testing.T) {
	b := largeBatch(esMaxBatch, 0x2000, func(int) string { return strings.Repeat("m", 60<<10) })
	es, srv := startES(t, "/_bulk")
	s := newTestSender(t, esConfig(srv.URL, v1alpha1.ElasticsearchDestination{TypelessAPI: ptr.To(true)}, nil))
	if err := s.Send(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if n := len(es.requests); n < 3 {
		t.Errorf("%d bulk requests for %d KB", n, esMaxBatch*60)
	}
	if es.count() != esMaxBatch {
		t.Errorf("%d documents, want %d", es.count(), esMaxBatch)
	}

	es2, srv2 := startES(t, "/_bulk")
	es2.answer = failingAt(2, http.StatusBadGateway, "")
	s2 := newTestSender(t, esConfig(srv2.URL, v1alpha1.ElasticsearchDestination{TypelessAPI: ptr.To(true)}, nil))
	err := s2.Send(context.Background(), b)
	var e *Error
	if !errorAs(err, &e) || !e.Retryable || e.Sent == 0 || e.Sent != es2.count() {
		t.Fatalf("want retryable with Sent = the first request's %d documents, got %#v", es2.count(), err)
	}
}

func TestElasticsearchConfigErrors(t *testing.T) {
	u := "https://es.example.com"
	assertConfigErrors(t, v1alpha1.DestinationElasticsearch, "hunter2pw", map[string]Config{
		"no url":        {},
		"password only": {Settings: descriptor.Settings{"url": u, "password": "hunter2pw"}},
		"username only": {Settings: descriptor.Settings{"url": u, "username": "elastic"}},
		"bad index":     {Settings: descriptor.Settings{"url": u, "index": "Upper"}},
		"bad rotation":  {Settings: descriptor.Settings{"url": u, "rotation": "hourly"}},
		"bad apiKey":    {Settings: descriptor.Settings{"url": u, "apiKey": "hunter2pw\n"}},
	})
}
