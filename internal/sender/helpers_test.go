package sender

// Helpers shared by the tests of every destination: a recording endpoint, TLS and proxy set-up,
// golden files, the results the tests send, and checks that errors hide secrets.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/addrguard"
	"github.com/policyherald/policy-herald/internal/report"
)

// ---------------------------------------------------------------------------------------------
// A recording endpoint.
// ---------------------------------------------------------------------------------------------

// recorded is one request a test server received.
type recorded struct {
	Method, RequestURI, Host string
	Path, RawQuery           string
	Header                   http.Header
	Body                     []byte
	At                       time.Time
}

// testHook is an endpoint for the tests: it records every request and answers request n (from
// 1) with answer(n): status, headers and body; 200 without a body when answer is nil.
type testHook struct {
	answer func(n int) (status int, headers map[string]string, body string)
	// notify, when not nil, gets a value after each answer (none when it is full).
	notify chan struct{}

	mu   sync.Mutex
	reqs []recorded
}

func (h *testHook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.reqs = append(h.reqs, recorded{
		Method: r.Method, RequestURI: r.RequestURI, Host: r.Host, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
		Header: r.Header.Clone(), Body: body, At: time.Now(),
	})
	n := len(h.reqs)
	h.mu.Unlock()
	status, headers, respBody := http.StatusOK, map[string]string(nil), ""
	if h.answer != nil {
		status, headers, respBody = h.answer(n)
	}
	for k, v := range headers {
		w.Header().Set(k, v)
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, respBody)
	if h.notify != nil {
		select {
		case h.notify <- struct{}{}:
		default:
		}
	}
}

// requests are the requests received so far.
func (h *testHook) requests() []recorded {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]recorded(nil), h.reqs...)
}

// reset forgets the requests received so far.
func (h *testHook) reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reqs = nil
}

// answerWith is a testHook answer that is the same for every request.
func answerWith(status int, headers map[string]string, body string) func(int) (int, map[string]string, string) {
	return func(int) (int, map[string]string, string) { return status, headers, body }
}

// cannedAnswer is what a test server answers one request with.
type cannedAnswer struct {
	status  int
	headers map[string]string
	body    string
}

// answersInTurn answers request n (from 1) with answers[n-1], and every request after the last
// with the last.
func answersInTurn(answers ...cannedAnswer) func(int) (int, map[string]string, string) {
	return func(n int) (int, map[string]string, string) {
		a := answers[min(n, len(answers))-1]
		return a.status, a.headers, a.body
	}
}

// failingAt is an answer for the test servers of bulk APIs (elasticsearch, splunk) that fails
// request n with status and body, and leaves every other to the server itself (status 0).
func failingAt(n, status int, body string) func(int) (int, map[string]string, string) {
	return func(k int) (int, map[string]string, string) {
		if k == n {
			return status, nil, body
		}
		return 0, nil, ""
	}
}

// startHook serves a new testHook that answers with answer until the test ends.
func startHook(t testing.TB, answer func(n int) (int, map[string]string, string)) (*testHook, *httptest.Server) {
	t.Helper()
	h := &testHook{answer: answer}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return h, srv
}

// newTLSServer serves h over TLS until the test ends, without the handshake errors on stderr
// that the failing TLS tests cause on purpose.
func newTLSServer(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// trustingTLS is a client TLS configuration that trusts the certificate of srv.
func trustingTLS(srv *httptest.Server) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
}

// assertTLSRejected checks that err is a failure to trust the server's certificate: an *Error
// that is not retryable.
func assertTLSRejected(t *testing.T, err error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Retryable || !strings.Contains(e.Reason, "TLS certificate rejected") {
		t.Fatalf("want a rejected certificate, got %#v", err)
	}
}

// useProxy makes proxyURL the HTTP proxy, for every host, of the senders the test builds.
func useProxy(t *testing.T, proxyURL string) {
	t.Setenv("HTTP_PROXY", proxyURL)
	t.Setenv("http_proxy", proxyURL)
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")
}

// assertSendsThroughProxy sets HTTP_PROXY to a test proxy that answers with answer, sends b with
// the sender newSender builds then, and checks that the proxy got the one request, for the full
// URL want.
func assertSendsThroughProxy(t *testing.T, answer func(int) (int, map[string]string, string), b Batch, want string, newSender func() Sender) {
	t.Helper()
	proxy, psrv := startHook(t, answer)
	useProxy(t, psrv.URL)
	if err := newSender().Send(context.Background(), b); err != nil {
		t.Fatalf("Send through the proxy: %v", err)
	}
	if reqs := proxy.requests(); len(reqs) != 1 || reqs[0].RequestURI != want {
		t.Fatalf("proxy saw %+v", reqs)
	}
}

// closedAddr is a local address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// ---------------------------------------------------------------------------------------------
// Senders and what they send.
// ---------------------------------------------------------------------------------------------

// newTestSender builds the sender of cfg, failing the test on an error.
func newTestSender(t testing.TB, cfg Config) Sender {
	t.Helper()
	s, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

// testReport is the report of most test batches.
var testReport = ReportRef{Kind: "PolicyReport", Namespace: "test", Name: "rep-1"}

// fullResult is a failing result with every field set.
func fullResult() report.Result {
	return report.Result{
		Hash:       0xa1,
		Check:      &report.Check{Policy: "require-labels", Rule: "check-app", Category: "Best Practices", Source: "kyverno", Status: v1alpha1.StatusFail, Severity: v1alpha1.SeverityHigh, Scored: true},
		Message:    "label app is required",
		Time:       time.Date(2026, 8, 15, 12, 0, 0, 123, time.FixedZone("CEST", 2*3600)).UnixNano(),
		Resource:   &report.Resource{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "test", Name: "nginx", UID: "5d2c"},
		Properties: map[string]string{"created": "x", "cluster": "from-result"},
	}
}

// bareResult is a warning with only an ID, a policy, a message and a source.
func bareResult() report.Result {
	return report.Result{Hash: 0xa2, Check: &report.Check{Policy: "p2", Source: "trivy", Status: v1alpha1.StatusWarn}, Message: "m2"}
}

// slackDiscordBatch is the batch of the Slack and Discord golden files: a failing result with
// everything, including text that must not turn into a mention or a link; a warning without
// rule or resource; a passing result of a cluster-scoped object.
func slackDiscordBatch() Batch {
	full := fullResult()
	full.Message = "label app is required: <!channel> & <https://evil.example|click>"
	warn := report.Result{
		Hash:    0xa2,
		Check:   &report.Check{Policy: "disallow-latest-tag", Source: "kyverno", Status: v1alpha1.StatusWarn, Severity: v1alpha1.SeverityMedium, Category: "Best Practices"},
		Message: "image tag latest is not allowed",
	}
	pass := report.Result{
		Hash:     0xa3,
		Check:    &report.Check{Policy: "require-ns-owner", Rule: "owner-label", Source: "kyverno", Status: v1alpha1.StatusPass, Severity: v1alpha1.SeverityInfo},
		Message:  "validation rule 'owner-label' passed.",
		Resource: &report.Resource{APIVersion: "v1", Kind: "Namespace", Name: "team-a"},
	}
	return Batch{
		Report:       testReport,
		Results:      []report.Result{full, warn, pass},
		CustomFields: map[string]string{"cluster": "prod-eu", "env": "prod"},
	}
}

// slackDiscordBigBatch is n results of varied size, each named policy-<i>.
func slackDiscordBigBatch(n int) []report.Result {
	out := make([]report.Result, n)
	sevs := []v1alpha1.Severity{"", v1alpha1.SeverityInfo, v1alpha1.SeverityLow, v1alpha1.SeverityMedium, v1alpha1.SeverityHigh, v1alpha1.SeverityCritical}
	for i := range out {
		r := fullResult()
		r.Hash = uint64(0xa0 + i)
		r.Policy = fmt.Sprintf("policy-%d", i)
		r.Severity = sevs[i%len(sevs)]
		switch i % 4 {
		case 1: // long message
			r.Message = strings.Repeat("word & <x> ", 250+i*7)
		case 2: // many properties
			r.Properties = map[string]string{}
			for p := 0; p < 30; p++ {
				r.Properties[fmt.Sprintf("prop-%02d", p)] = strings.Repeat("v", 20+p)
			}
		case 3: // long names
			r.Resource.Name = strings.Repeat("n", 253)
			r.Rule = strings.Repeat("rule-", 60)
		}
		out[i] = r
	}
	return out
}

// assertBigBatchInOrder checks that titles, those of the results of the messages a
// slackDiscordBigBatch of n results went out in, in the order sent ("FAIL · policy-N / ..."),
// are every result once, in order.
func assertBigBatchInOrder(t *testing.T, titles []string, n int) {
	t.Helper()
	var seen []string
	for _, title := range titles {
		seen = append(seen, strings.SplitN(strings.TrimPrefix(title, "FAIL · "), " ", 2)[0])
	}
	assertInOrder(t, seen, n, func(i int) string { return fmt.Sprintf("policy-%d", i) })
}

// assertInOrder checks that got, what the messages of a batch of n results carried in the order
// sent, is want(0) to want(n-1): every result once, in order.
func assertInOrder(t *testing.T, got []string, n int, want func(i int) string) {
	t.Helper()
	var all []string
	for i := range n {
		all = append(all, want(i))
	}
	if !reflect.DeepEqual(got, all) {
		t.Errorf("results delivered %v\n want %v", got, all)
	}
}

// teamsGChatBatch is the batch of the Teams and Google Chat golden files: a failed
// high-severity result with properties, a warning without resource or severity, and a passed
// result.
func teamsGChatBatch() Batch {
	return Batch{
		Report: ReportRef{Kind: "PolicyReport", Namespace: "team-a", Name: "cpol-require-labels"},
		Results: []report.Result{
			{
				Hash:       11736290127436371455,
				Check:      &report.Check{Policy: "require-labels", Rule: "check-app", Category: "Best Practices", Source: "kyverno", Status: v1alpha1.StatusFail, Severity: v1alpha1.SeverityHigh, Scored: true},
				Message:    "validation error: label 'app' is required. rule check-app failed at path /metadata/labels/app/",
				Time:       time.Date(2026, 8, 15, 10, 0, 0, 0, time.UTC).UnixNano(),
				Resource:   &report.Resource{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "team-a", Name: "nginx", UID: "5d2c"},
				Properties: map[string]string{"cluster": "prod-eu", "controls": "CIS 5.7.4"},
			},
			{Hash: 0xa2, Check: &report.Check{Policy: "check-image-tag", Source: "trivy", Status: v1alpha1.StatusWarn}, Message: "images should not use <latest> & friends"},
			{
				Hash:     0xa3,
				Check:    &report.Check{Policy: "disallow-privileged", Rule: "privileged-containers", Category: "Pod Security", Source: "kyverno", Status: v1alpha1.StatusPass, Severity: v1alpha1.SeverityMedium},
				Message:  "validation rule 'privileged-containers' passed.",
				Resource: &report.Resource{APIVersion: "v1", Kind: "Pod", Namespace: "team-a", Name: "nginx-7d9c"},
			},
		},
		CustomFields: map[string]string{"cluster": "prod-eu", "owner": "team-a"},
	}
}

// teamsGChatBigBatch is n results whose messages are size bytes each.
func teamsGChatBigBatch(n, size int) Batch {
	b := Batch{Report: ReportRef{Kind: "ClusterPolicyReport", Name: "cpol-big"}}
	for i := 0; i < n; i++ {
		b.Results = append(b.Results, report.Result{
			Hash:     uint64(0x1d00 + i),
			Check:    &report.Check{Policy: fmt.Sprintf("policy-%02d", i), Rule: "rule", Status: v1alpha1.StatusFail, Severity: v1alpha1.SeverityMedium},
			Message:  fmt.Sprintf("result %02d ", i) + strings.Repeat("x", size),
			Resource: &report.Resource{Kind: "Pod", Namespace: "ns", Name: fmt.Sprintf("pod-%02d", i)},
		})
	}
	return b
}

// largeBatch is n copies of fullResult, each with a hash of its own from hash and message(i) as
// message: the batches of the tests of bodies split at a size limit.
func largeBatch(n int, hash uint64, message func(i int) string) Batch {
	b := Batch{Report: testReport}
	for i := 0; i < n; i++ {
		r := fullResult()
		r.Hash = hash + uint64(i)
		r.Message = message(i)
		b.Results = append(b.Results, r)
	}
	return b
}

// countUTF16 is the length of s in UTF-16 code units, which is never less than its count of code
// points: checking it is the stricter reading of the chat services' "characters". It is counted
// apart from the senders' own utf16Len.
func countUTF16(s string) int { return len(utf16.Encode([]rune(s))) }

// ---------------------------------------------------------------------------------------------
// Golden files.
// ---------------------------------------------------------------------------------------------

// updateGolden rewrites every golden file: `go test ./internal/sender -update`. Each destination
// with golden files has a flag of its own too (-update-teams, ...).
var updateGolden = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// checkGolden compares body, indented, with testdata/golden/name, or rewrites that file when
// -update or update (the destination's own flag) is set.
func checkGolden(t *testing.T, name string, body []byte, update bool) {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, body, "", "  "); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, body)
	}
	buf.WriteByte('\n')
	path := filepath.Join("testdata", "golden", name)
	if update || *updateGolden {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/sender -update to create it)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("body differs from %s (run with -update to accept):\n got: %s\nwant: %s", path, buf.Bytes(), want)
	}
}

// ---------------------------------------------------------------------------------------------
// Secrets.
// ---------------------------------------------------------------------------------------------

// secretParts are the pieces of the URL and credentials no error may show.
var secretParts = []string{"alice", "hunter2pw", "services", "SECRETPATH", "SECRETQUERY", "SECRETTOKEN", "SECRETHEADER", "token="}

// withSecrets is base (scheme://host) with user info, a path and a query made of secretParts.
func withSecrets(base string) string {
	scheme, host, _ := strings.Cut(base, "://")
	return scheme + "://alice:hunter2pw@" + host + "/services/SECRETPATH?token=SECRETQUERY"
}

func assertNoSecrets(t *testing.T, what, s string) {
	t.Helper()
	for _, p := range secretParts {
		if strings.Contains(s, p) {
			t.Errorf("%s leaks %q: %s", what, p, s)
		}
	}
}

// assertErrorHidesSecrets checks the text of err, its %+v and what it wraps for secretParts.
func assertErrorHidesSecrets(t *testing.T, err error) {
	t.Helper()
	assertNoSecrets(t, "Error()", err.Error())
	assertNoSecrets(t, "%+v", fmt.Sprintf("%+v", err))
	if u := errors.Unwrap(err); u != nil {
		assertNoSecrets(t, "Unwrap()", u.Error())
	}
}

// assertConfigErrors builds a sender of type typ from each of cases, and checks that each is
// refused with an error that names the destination and does not show secret.
func assertConfigErrors(t *testing.T, typ v1alpha1.DestinationType, secret string, cases map[string]Config) {
	t.Helper()
	for name, cfg := range cases {
		t.Run(name, func(t *testing.T) {
			cfg.Type = typ
			_, err := New(context.Background(), cfg)
			if err == nil {
				t.Fatal("want an error")
			}
			if !strings.Contains(err.Error(), string(typ)) {
				t.Errorf("error should name the destination: %v", err)
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("error leaks the secret: %v", err)
			}
		})
	}
}

// sendMessages sends b with s and returns the requests that Send made: an error, or fewer than
// least or more than most requests, is fatal.
func sendMessages(t *testing.T, hook *testHook, s Sender, b Batch, least, most int) []recorded {
	t.Helper()
	before := len(hook.requests())
	if err := s.Send(context.Background(), b); err != nil {
		t.Fatalf("Send: %v", err)
	}
	reqs := hook.requests()[before:]
	if len(reqs) < least || len(reqs) > most {
		t.Fatalf("%d requests for a batch of %d results, want %d to %d", len(reqs), len(b.Results), least, most)
	}
	return reqs
}

// sendOneMessage sends b with s and returns the one request it made (see sendMessages).
func sendOneMessage(t *testing.T, hook *testHook, s Sender, b Batch) recorded {
	t.Helper()
	return sendMessages(t, hook, s, b, 1, 1)[0]
}

// assertTemplateFailed checks err, from a Send whose messageTemplate failed on a result: a
// permanent *Error that names the messageTemplate, with Sent the results before that one.
func assertTemplateFailed(t *testing.T, err error, sent int) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Retryable || e.Sent != sent || !strings.Contains(e.Reason, "messageTemplate") {
		t.Fatalf("got %#v", err)
	}
}

// assertStoppedAtSecondMessage checks err, from a Send whose 2nd message got status: the sender
// stopped there, with a retryable *Error whose Sent is the number of results of the 1st message
// (firstResults counts them in its body), whose reason says which message failed and does not
// show secret.
func assertStoppedAtSecondMessage(t *testing.T, hook *testHook, err error, status int, secret string, firstResults func(body []byte) int) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got %T %v", err, err)
	}
	reqs := hook.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want the sender to stop at the failed 2nd message", len(reqs))
	}
	first := firstResults(reqs[0].Body)
	if e.Sent != first || e.Sent == 0 || !e.Retryable || e.StatusCode != status {
		t.Fatalf("got %+v, want Sent=%d", e, first)
	}
	if !strings.Contains(e.Reason, "(message 2 of ") || strings.Contains(e.Reason, secret) {
		t.Errorf("reason %q", e.Reason)
	}
}

// newGuarded builds the sender of cfg with g as its guard (nil: unrestricted).
func newGuarded(ctx context.Context, cfg Config, g *addrguard.Guard) (Sender, error) {
	cfg.Guard = g
	return New(ctx, cfg)
}
