package sender

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/destination/descriptor"
)

// Elasticsearch's entry in the conformance suite (conformance_test.go).

// esPair is one action and document of a bulk body.
type esPair struct {
	action esContractAction
	doc    esContractDoc
}

// esLines are the lines of an NDJSON body, without the final line feed it must end in.
func esLines(t *testing.T, body []byte) [][]byte {
	t.Helper()
	if len(body) == 0 || body[len(body)-1] != '\n' {
		t.Fatalf("the bulk body must end with a line feed: %s", firstBytes(body))
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 16<<20)
	var lines [][]byte
	for sc.Scan() {
		lines = append(lines, append([]byte(nil), sc.Bytes()...))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

var esIndexRE = regexp.MustCompile(`^policy-herald-\d{4}\.\d{2}\.\d{2}$`)

// esDecodeBulk checks a bulk body against the bulk API's contract as the sender uses it
// (typeless create actions, each followed by its document, both decoded strictly) and returns
// its pairs.
func esDecodeBulk(t *testing.T, body []byte) []esPair {
	t.Helper()
	lines := esLines(t, body)
	if len(lines)%2 != 0 {
		t.Fatalf("%d lines: an action without its document", len(lines))
	}
	var out []esPair
	for i := 0; i < len(lines); i += 2 {
		var p esPair
		conformanceStrict(t, lines[i], &p.action)
		conformanceStrict(t, lines[i+1], &p.doc)
		a := p.action.Create
		if a == nil || a.Type != "" || a.ID == "" || !esIndexRE.MatchString(a.Index) {
			t.Errorf("action line %s: want a typeless create with _id into policy-herald-YYYY.MM.DD", lines[i])
		}
		ts, err := time.Parse(time.RFC3339Nano, p.doc.Timestamp)
		if err != nil {
			t.Errorf("@timestamp %q: %v", p.doc.Timestamp, err)
		} else if a != nil && a.Index != "policy-herald-"+ts.UTC().Format("2006.01.02") {
			t.Errorf("document of %s in index %s", p.doc.Timestamp, a.Index)
		}
		if a != nil && p.doc.ID != a.ID || p.doc.Status == "" {
			t.Errorf("document %s: id or status", firstBytes(lines[i+1]))
		}
		out = append(out, p)
	}
	return out
}

func init() {
	conformanceSenders = append(conformanceSenders, conformanceSender{
		typ: v1alpha1.DestinationElasticsearch,
		config: func(base, secret string) Config {
			return Config{
				Destination: &v1alpha1.Destinations{Elasticsearch: &v1alpha1.ElasticsearchDestination{}}, // typeless by default,
				Settings:    descriptor.Settings{"url": base, "apiKey": secret},
			}
		},
		// The bulk answer has an item per action, in order: what Elasticsearch 8 answers to a
		// create that succeeds.
		okFor: func(_ int, r recorded) conformanceAnswer {
			var items []map[string]any
			for i, line := range bytes.Split(bytes.TrimSuffix(r.Body, []byte("\n")), []byte("\n")) {
				var a esContractAction
				if i%2 != 0 || json.Unmarshal(line, &a) != nil || a.Create == nil {
					continue
				}
				items = append(items, map[string]any{"create": map[string]any{
					"_index": a.Create.Index, "_id": a.Create.ID, "_version": 1, "result": "created",
					"_shards": map[string]int{"total": 2, "successful": 1, "failed": 0},
					"_seq_no": len(items), "_primary_term": 1, "status": http.StatusCreated,
				}})
			}
			return conformanceAnswer{status: http.StatusOK, header: map[string]string{"Content-Type": "application/json"},
				body: conformanceJSON(map[string]any{"took": 3, "errors": false, "items": items})}
		},
		// A refused request: {"error":{"root_cause":[...],"type":...,"reason":...},"status":...}.
		fail: func(status, retryAfter int, text string) conformanceAnswer {
			typ := map[int]string{
				http.StatusBadRequest: "illegal_argument_exception", http.StatusUnauthorized: "security_exception",
				http.StatusForbidden: "security_exception", http.StatusNotFound: "index_not_found_exception",
				http.StatusRequestEntityTooLarge: "content_too_long_exception", http.StatusTooManyRequests: "es_rejected_execution_exception",
			}[status]
			if typ == "" {
				typ = "unavailable_shards_exception"
			}
			cause := map[string]any{"type": typ, "reason": text}
			a := conformanceAnswer{status: status, header: map[string]string{"Content-Type": "application/json"},
				body: conformanceJSON(map[string]any{"error": map[string]any{"root_cause": []any{cause}, "type": typ, "reason": text}, "status": status})}
			if retryAfter > 0 {
				a.header["Retry-After"] = fmt.Sprint(retryAfter)
			}
			return a
		},
		decode: func(t *testing.T, r recorded) []string {
			if r.Method != http.MethodPost || r.Path != "/_bulk" {
				t.Errorf("request %s %s, want POST /_bulk", r.Method, r.Path)
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/x-ndjson" {
				t.Errorf("Content-Type %q, want application/x-ndjson", ct)
			}
			if ua := r.Header.Get("User-Agent"); ua != "policy-herald" {
				t.Errorf("User-Agent %q", ua)
			}
			if r.Header.Get("Authorization") != "ApiKey "+conformanceSecret {
				t.Errorf("Authorization %q", r.Header.Get("Authorization"))
			}
			if len(r.Body) > esMaxBody {
				t.Errorf("bulk body of %d bytes, over %d", len(r.Body), esMaxBody)
			}
			var titles []string
			for _, p := range esDecodeBulk(t, r.Body) {
				titles = append(titles, p.doc.Policy)
			}
			return titles
		},
		// Every line of the NDJSON body.
		texts: func(t *testing.T, r recorded) []string {
			var out []string
			for _, line := range esLines(t, r.Body) {
				out = append(out, jsonStrings(t, line)...)
			}
			return out
		},
		splitBatch: logsSplitBatch,
		hostile: func(t *testing.T, body []byte, _ []string) {
			// A document for programs: the text stays as it was but for control characters, and
			// no line feed of the text breaks the NDJSON (esDecodeBulk read every pair).
			pairs := esDecodeBulk(t, body)
			if n := bytes.Count(body, []byte("\n")); n != 2*len(pairs) {
				t.Errorf("%d line feeds for %d documents", n, len(pairs))
			}
			for _, p := range pairs {
				if m := p.doc.Message; len(m) < 1<<19 && !strings.Contains(m, "@everyone @here [click me](https://evil.example/x) <https://evil.example|innocent> <script>") {
					t.Errorf("message %q", m)
				}
			}
		},
		notApplicable: map[string]string{
			chkGolden:   "the bulk body is NDJSON (action and document lines), not one JSON document; elasticsearch_test.go checks it line by line",
			chkTemplate: "Elasticsearch indexes the ResultDocument, which has no text to template (descriptor Template false)",
		},
	})
}
