package sender

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/destination/descriptor"
	"github.com/policyherald/policy-herald/internal/report"
)

// ---------------------------------------------------------------------------------------------
// VictoriaLogs, the real receiver of the Loki, Elasticsearch and Splunk HEC tests.
// ---------------------------------------------------------------------------------------------

// victoriaLogs is a VictoriaLogs server run for one test.
type victoriaLogs struct {
	base      string // http://127.0.0.1:PORT
	user, pwd string // its -httpAuth credentials, empty when it has none
}

// startVictoriaLogs runs VictoriaLogs on a free loopback port until the test ends, with basic
// authentication when user is set.
func startVictoriaLogs(t *testing.T, user, pwd string) *victoriaLogs {
	t.Helper()
	port := loopbackPort(t)
	args := []string{"-httpListenAddr=127.0.0.1:" + port, "-storageDataPath=" + t.TempDir(), "-retentionPeriod=100y"}
	if user != "" {
		args = append(args, "-httpAuth.username="+user, "-httpAuth.password="+pwd)
	}
	base := "http://127.0.0.1:" + port
	startServer(t, base+"/health", serverPath(t, "victoria-logs"), args...)
	return &victoriaLogs{base: base, user: user, pwd: pwd}
}

func (v *victoriaLogs) do(t *testing.T, method, path string, form url.Values, headers map[string]string) []byte {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, v.base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if v.user != "" {
		req.SetBasicAuth(v.user, v.pwd)
	}
	for k, val := range headers {
		req.Header.Set(k, val)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, data)
	}
	return data
}

// query flushes what was ingested and returns the rows of the LogsQL query q, sorted by _msg,
// once there are want of them (at most 5 s); headers go with the query (AccountID picks the
// tenant).
func (v *victoriaLogs) query(t *testing.T, q string, want int, headers map[string]string) []map[string]string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		v.do(t, http.MethodGet, "/internal/force_flush", nil, nil)
		data := v.do(t, http.MethodPost, "/select/logsql/query", url.Values{"query": {q}}, headers)
		var rows []map[string]string
		for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			var row map[string]string
			if err := json.Unmarshal(line, &row); err != nil {
				t.Fatalf("query answer line %q: %v", line, err)
			}
			rows = append(rows, row)
		}
		if len(rows) >= want || time.Now().After(deadline) {
			if len(rows) != want {
				t.Fatalf("query %q: %d rows, want %d: %v", q, len(rows), want, rows)
			}
			sort.Slice(rows, func(i, j int) bool { return rows[i]["_msg"] < rows[j]["_msg"] })
			return rows
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// assertFields checks that row has every field of want with its value.
func assertFields(t *testing.T, row map[string]string, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got, ok := row[k]; !ok || got != v {
			t.Errorf("field %s = %q (present %v), want %q; row %v", k, got, ok, v, row)
		}
	}
}

// assertNear checks that the RFC 3339 time s is within d of at.
func assertNear(t *testing.T, what, s string, at time.Time, d time.Duration) {
	t.Helper()
	got, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("%s %q: %v", what, s, err)
	}
	if diff := got.Sub(at); diff < -d || diff > d {
		t.Errorf("%s = %s, want within %s of %s", what, got, d, at)
	}
}

// logsBatch is the batch of the log destinations' tests: a full result, a bare one, a second
// result with the full one's labels, and custom fields whose names Loki would refuse.
func logsBatch() Batch {
	full := fullResult()
	same := fullResult()
	same.Hash, same.Message = 0xa3, "label app is still required"
	same.Time += int64(time.Second)
	return Batch{
		Report:       testReport,
		Results:      []report.Result{full, bareResult(), same},
		CustomFields: map[string]string{"cluster": "prod-eu", "team.name": "a/b", "9lives": "x"},
	}
}

// ---------------------------------------------------------------------------------------------
// Loki against VictoriaLogs.
// ---------------------------------------------------------------------------------------------

func lokiConfig(url string, inline v1alpha1.LokiDestination, settings descriptor.Settings) Config {
	inline.URL = url
	return Config{Type: v1alpha1.DestinationLoki, Name: "ns/loki", Settings: settings,
		Destination: &v1alpha1.Destinations{Loki: &inline}}
}

func TestLokiRealServer(t *testing.T) {
	vl := startVictoriaLogs(t, "loki-user", "hunter2pw")
	// VictoriaLogs reads X-Scope-OrgID as its numeric account ID, queried back with AccountID.
	s := newTestSender(t, lokiConfig(vl.base+"/insert", v1alpha1.LokiDestination{TenantID: "42", Username: "loki-user"},
		descriptor.Settings{"password": "hunter2pw"}))
	b := logsBatch()
	before := time.Now()
	if err := s.Send(context.Background(), b); err != nil {
		t.Fatalf("Send: %v", err)
	}
	tenant := map[string]string{"AccountID": "42"}
	rows := vl.query(t, `{createdBy="policy-herald"}`, 3, tenant)
	full := map[string]string{
		"createdBy": "policy-herald", "status": "fail", "policy": "require-labels", "rule": "check-app",
		"severity": "high", "category": "Best Practices", "source": "kyverno", "apiVersion": "apps/v1",
		"kind": "Deployment", "name": "nginx", "namespace": "test",
		"cluster": "prod-eu", "team_name": "a/b", "_9lives": "x",
	}
	assertFields(t, rows[0], map[string]string{"_msg": "[HIGH] label app is required"})
	assertFields(t, rows[0], full)
	assertFields(t, rows[1], map[string]string{"_msg": "[HIGH] label app is still required"})
	assertFields(t, rows[1], full)
	if rows[0]["_stream"] != rows[1]["_stream"] {
		t.Errorf("results with the same labels are in streams %s and %s", rows[0]["_stream"], rows[1]["_stream"])
	}
	assertFields(t, rows[2], map[string]string{"_msg": "[WARN] m2", "status": "warn", "policy": "p2", "source": "trivy", "cluster": "prod-eu"})
	for _, k := range []string{"rule", "severity", "kind", "name", "namespace"} {
		if _, ok := rows[2][k]; ok {
			t.Errorf("bare result has label %s: %v", k, rows[2])
		}
	}
	// The full result's time (2026-08-15) is more than lokiMaxAge old: the entries carry the
	// time of the send.
	for _, r := range rows {
		assertNear(t, "_time", r["_time"], before, 10*time.Second)
	}
	// The tenant header routed the lines: the default tenant has none.
	if rows := vl.query(t, `{createdBy="policy-herald"}`, 0, nil); len(rows) != 0 {
		t.Errorf("default tenant has %d rows", len(rows))
	}

	t.Run("recent time and template", func(t *testing.T) {
		cfg := lokiConfig(vl.base+"/insert", v1alpha1.LokiDestination{Path: "/loki/api/v1/push", TenantID: "43"},
			descriptor.Settings{"username": "loki-user", "password": "hunter2pw"})
		cfg.MessageTemplate = "{{ .Policy }} on {{ .Resource.Kind }}/{{ .Resource.Name }}: {{ .Message }}"
		s := newTestSender(t, cfg)
		r := fullResult()
		at := time.Now().Add(-10 * time.Minute).Truncate(time.Microsecond)
		r.Time = at.UnixNano()
		if err := s.Send(context.Background(), Batch{Report: testReport, Results: []report.Result{r}}); err != nil {
			t.Fatalf("Send: %v", err)
		}
		rows := vl.query(t, `*`, 1, map[string]string{"AccountID": "43"})
		assertFields(t, rows[0], map[string]string{"_msg": "require-labels on Deployment/nginx: label app is required", "policy": "require-labels"})
		got, err := time.Parse(time.RFC3339Nano, rows[0]["_time"])
		if err != nil || !got.Equal(at) {
			t.Errorf("_time = %s (%v), want the result's time %s", rows[0]["_time"], err, at.UTC())
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		s := newTestSender(t, lokiConfig(vl.base+"/insert", v1alpha1.LokiDestination{Username: "loki-user"},
			descriptor.Settings{"password": "SECRETTOKEN"}))
		err := s.Send(context.Background(), b)
		var e *Error
		if !errorAs(err, &e) || e.Retryable || e.StatusCode != http.StatusUnauthorized {
			t.Fatalf("want a permanent 401, got %#v", err)
		}
		assertErrorHidesSecrets(t, err)
	})
}

// errorAs is errors.As for *Error.
func errorAs(err error, e **Error) bool {
	return errors.As(err, e)
}

// ---------------------------------------------------------------------------------------------
// Loki against a contract server.
// ---------------------------------------------------------------------------------------------

// lokiPushContract is the JSON push body of Loki's API (pkg/push and the HTTP API docs):
// streams of labels and [ "<unix nanos>", "<line>" ] values, decoded strictly.
type lokiPushContract struct {
	Streams []struct {
		Stream map[string]string `json:"stream"`
		Values [][]string        `json:"values"`
	} `json:"streams"`
}

// decodeLokiPush checks one push request against Loki's contract and returns its body.
func decodeLokiPush(t *testing.T, r recorded, path string) lokiPushContract {
	t.Helper()
	if r.Method != http.MethodPost || r.Path != path {
		t.Errorf("request %s %s, want POST %s", r.Method, r.Path, path)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json (anything else is read as protobuf)", ct)
	}
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	dec.DisallowUnknownFields()
	var p lokiPushContract
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("push body: %v\n%s", err, r.Body)
	}
	for _, s := range p.Streams {
		if len(s.Stream) == 0 || len(s.Stream) > lokiMaxLabels {
			t.Errorf("stream with %d labels", len(s.Stream))
		}
		for k := range s.Stream {
			if lokiLabelName(k) != k || strings.HasPrefix(k, "__") {
				t.Errorf("label name %q is not valid for Loki", k)
			}
		}
		last := int64(0)
		for _, v := range s.Values {
			if len(v) != 2 {
				t.Fatalf("value %v is not [ts, line]", v)
			}
			ts, err := strconv.ParseInt(v[0], 10, 64)
			if err != nil {
				t.Fatalf("timestamp %q is not unix nanoseconds: %v", v[0], err)
			}
			if ts < last {
				t.Errorf("entries out of order in a stream: %d after %d", ts, last)
			}
			last = ts
		}
	}
	return p
}

func TestLokiContract(t *testing.T) {
	hook, srv := startHook(t, answerWith(http.StatusNoContent, nil, ""))
	cfg := lokiConfig(srv.URL+"/gateway/", v1alpha1.LokiDestination{Path: "/custom/push", TenantID: "team-a", Username: "alice",
		HTTPSettings: v1alpha1.HTTPSettings{Headers: map[string]string{"X-Extra": "1", "X-Scope-OrgID": "other"}}},
		descriptor.Settings{"password": "hunter2pw"})
	s := newTestSender(t, cfg)
	if s.MaxBatch() != lokiMaxBatch {
		t.Errorf("MaxBatch = %d", s.MaxBatch())
	}
	now := time.Now()
	b := logsBatch()
	recent := now.Add(-30 * time.Minute).UnixNano()
	b.Results[2].Time = recent
	b.Results[0].Time = recent + int64(time.Minute) // later than the third: sorted in the stream
	for i := 0; i < 20; i++ {
		b.CustomFields[fmt.Sprintf("extra%02d", i)] = "v"
	}
	b.CustomFields["__reserved"] = "r"
	b.CustomFields["status"] = "pass" // cannot override the result's own label
	if err := s.Send(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	reqs := hook.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d pushes, want 1", len(reqs))
	}
	r := reqs[0]
	if got := r.Header.Get("Authorization"); got != "Basic "+base64.StdEncoding.EncodeToString([]byte("alice:hunter2pw")) {
		t.Errorf("Authorization %q", got)
	}
	if r.Header.Get("X-Scope-OrgID") != "team-a" || r.Header.Get("X-Extra") != "1" {
		t.Errorf("headers %v", r.Header)
	}
	p := decodeLokiPush(t, r, "/gateway/custom/push")
	if len(p.Streams) != 2 {
		t.Fatalf("%d streams, want 2 (the full results share one): %s", len(p.Streams), r.Body)
	}
	st := p.Streams[0]
	if len(st.Values) != 2 || st.Values[0][1] != "[HIGH] label app is still required" || st.Values[1][1] != "[HIGH] label app is required" {
		t.Errorf("first stream's values %v", st.Values)
	}
	if st.Values[0][0] != strconv.FormatInt(recent, 10) {
		t.Errorf("recent result's timestamp %s, want its own time", st.Values[0][0])
	}
	if len(st.Stream) != lokiMaxLabels || st.Stream["status"] != "fail" || st.Stream["_9lives"] != "x" || st.Stream["_reserved"] != "r" || st.Stream["cluster"] != "prod-eu" {
		t.Errorf("labels %v", st.Stream)
	}
	if _, ok := st.Stream["extra19"]; ok {
		t.Errorf("labels past the limit were sent: %v", st.Stream)
	}
	if p.Streams[1].Values[0][1] != "[WARN] m2" {
		t.Errorf("bare line %q", p.Streams[1].Values[0][1])
	}
	ts, _ := strconv.ParseInt(p.Streams[1].Values[0][0], 10, 64)
	if d := time.Unix(0, ts).Sub(now); d < 0 || d > 5*time.Second {
		t.Errorf("a result without time has timestamp %s, want the send's %s", time.Unix(0, ts), now)
	}
}

func TestLokiPathDefaults(t *testing.T) {
	for url, want := range map[string]string{
		"/":                         "/loki/api/v1/push",
		"/loki":                     "/loki/loki/api/v1/push",
		"/loki/api/v1/push":         "/loki/api/v1/push",
		"/tenant/api/prom/push":     "/tenant/api/prom/push",
		"/insert/loki/api/v1/push/": "/insert/loki/api/v1/push/",
	} {
		hook, srv := startHook(t, answerWith(http.StatusNoContent, nil, ""))
		s := newTestSender(t, lokiConfig(srv.URL+url, v1alpha1.LokiDestination{}, nil))
		if err := s.Send(context.Background(), Batch{Results: []report.Result{bareResult()}}); err != nil {
			t.Fatal(err)
		}
		decodeLokiPush(t, hook.requests()[0], want)
		if h := hook.requests()[0].Header; h.Get("Authorization") != "" || h.Get("X-Scope-OrgID") != "" {
			t.Errorf("unasked auth or tenant: %v", h)
		}
	}
}

// TestLokiSplitsLargeBatches: 100 results of 60 KB lines are several pushes, each under the
// body limit, together every result once; a failed push reports the results before it.
func TestLokiSplitsLargeBatches(t *testing.T) {
	b := largeBatch(lokiMaxBatch, 0x1000, func(i int) string { return fmt.Sprintf("%03d ", i) + strings.Repeat("x", 60<<10) })
	hook, srv := startHook(t, answerWith(http.StatusNoContent, nil, ""))
	s := newTestSender(t, lokiConfig(srv.URL, v1alpha1.LokiDestination{}, nil))
	if err := s.Send(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	reqs := hook.requests()
	if len(reqs) < 6 {
		t.Fatalf("%d pushes for %d KB", len(reqs), lokiMaxBatch*60)
	}
	seen := map[string]int{}
	for _, r := range reqs {
		if len(r.Body) > lokiMaxBody {
			t.Errorf("push of %d bytes", len(r.Body))
		}
		for _, st := range decodeLokiPush(t, r, "/loki/api/v1/push").Streams {
			for _, v := range st.Values {
				if len(v[1]) > lokiMaxLine {
					t.Errorf("line of %d bytes", len(v[1]))
				}
				seen[v[1][len("[HIGH] "):len("[HIGH] ")+3]]++
			}
		}
	}
	if len(seen) != lokiMaxBatch {
		t.Errorf("%d distinct results delivered, want %d", len(seen), lokiMaxBatch)
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("result %s delivered %d times", k, n)
		}
	}

	// The second push fails: Sent is what the first carried.
	first := 0
	for _, st := range decodeLokiPush(t, reqs[0], "/loki/api/v1/push").Streams {
		first += len(st.Values)
	}
	hook2, srv2 := startHook(t, func(n int) (int, map[string]string, string) {
		if n == 2 {
			return http.StatusServiceUnavailable, nil, ""
		}
		return http.StatusNoContent, nil, ""
	})
	s2 := newTestSender(t, lokiConfig(srv2.URL, v1alpha1.LokiDestination{}, nil))
	err := s2.Send(context.Background(), b)
	var e *Error
	if !errorAs(err, &e) || !e.Retryable || e.Sent != first {
		t.Fatalf("want a retryable error with Sent %d, got %#v", first, err)
	}
	if len(hook2.requests()) != 2 {
		t.Errorf("%d pushes after a failure, want 2", len(hook2.requests()))
	}
}

// TestLokiRefusals: Loki's 400 for an entry too old is permanent, with its text and without
// secrets; 429 with Retry-After is retryable after that delay.
func TestLokiRefusals(t *testing.T) {
	tooOld := `entry for stream '{policy="require-labels"}' has timestamp too old: 2026-08-15T10:00:00Z, oldest acceptable timestamp is: 2026-11-24T16:00:00Z`
	_, srv := startHook(t, answerWith(http.StatusBadRequest, map[string]string{"Content-Type": "text/plain; charset=utf-8"}, tooOld+" SECRETTOKEN"))
	s := newTestSender(t, lokiConfig(withSecrets(srv.URL), v1alpha1.LokiDestination{Username: "alice"}, descriptor.Settings{"password": "SECRETTOKEN"}))
	err := s.Send(context.Background(), logsBatch())
	var e *Error
	if !errorAs(err, &e) || e.Retryable || !strings.Contains(e.Reason, "timestamp too old") {
		t.Fatalf("want a permanent refusal naming the cause, got %#v", err)
	}
	assertErrorHidesSecrets(t, err)

	_, srv = startHook(t, answerWith(http.StatusTooManyRequests, map[string]string{"Retry-After": "7"}, "Ingestion rate limit exceeded"))
	s = newTestSender(t, lokiConfig(srv.URL, v1alpha1.LokiDestination{}, nil))
	err = s.Send(context.Background(), logsBatch())
	if !errorAs(err, &e) || !e.Retryable || e.RetryAfter != 7*time.Second {
		t.Fatalf("want retryable after 7s, got %#v", err)
	}
}

func TestLokiConfigErrors(t *testing.T) {
	assertConfigErrors(t, v1alpha1.DestinationLoki, "hunter2pw", map[string]Config{
		"no url":             {Destination: &v1alpha1.Destinations{Loki: &v1alpha1.LokiDestination{}}},
		"password only":      {Settings: descriptor.Settings{"url": "https://loki.example.com", "password": "hunter2pw"}},
		"username only":      {Settings: descriptor.Settings{"url": "https://loki.example.com", "username": "alice"}},
		"colon in username":  {Settings: descriptor.Settings{"url": "https://loki.example.com", "username": "a:b", "password": "hunter2pw"}},
		"bad tenant":         {Settings: descriptor.Settings{"url": "https://loki.example.com", "tenantID": "a\nb"}},
		"relative path":      {Settings: descriptor.Settings{"url": "https://loki.example.com", "path": "push"}},
		"broken template":    {Settings: descriptor.Settings{"url": "https://loki.example.com"}, MessageTemplate: "{{ .Nope "},
		"bad header":         {Destination: &v1alpha1.Destinations{Loki: &v1alpha1.LokiDestination{HTTPSettings: v1alpha1.HTTPSettings{URL: "https://loki.example.com", Headers: map[string]string{"X": "hunter2pw\n"}}}}},
		"not an http scheme": {Settings: descriptor.Settings{"url": "ftp://loki.example.com"}},
	})
}

func TestLokiLabelName(t *testing.T) {
	for in, want := range map[string]string{
		"cluster": "cluster", "team.name": "team_name", "9lives": "_9lives", "__name__": "_name__",
		"a-b/c": "a_b_c", "": "", "...": "", "ünï": "_n_",
	} {
		if got := lokiLabelName(in); got != want {
			t.Errorf("lokiLabelName(%q) = %q, want %q", in, got, want)
		}
	}
}
