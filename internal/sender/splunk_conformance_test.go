package sender

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/destination/descriptor"
	"github.com/policyherald/policy-herald/internal/report"
)

// Splunk HEC's entry in the conformance suite (conformance_test.go).

// splunkRawEvents are the event objects of a HEC body: JSON objects one after the other, not
// an array.
func splunkRawEvents(t *testing.T, body []byte) []json.RawMessage {
	t.Helper()
	if len(body) == 0 || body[0] != '{' {
		t.Fatalf("the body must be concatenated event objects, not %.20q", body)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var out []json.RawMessage
	for {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("event %d: %v\n%s", len(out), err, firstBytes(body))
		}
		out = append(out, raw)
	}
}

// splunkDecodeEvents checks the events of a HEC body against HEC's event format (decoded
// strictly into its metadata and the ResultDocument) and returns them.
func splunkDecodeEvents(t *testing.T, body []byte) []splunkContractEvent {
	t.Helper()
	var out []splunkContractEvent
	for _, raw := range splunkRawEvents(t, body) {
		var e splunkContractEvent
		conformanceStrict(t, raw, &e)
		if _, err := strconv.ParseFloat(string(e.Time), 64); err != nil {
			t.Errorf("time %q is not epoch seconds", e.Time)
		}
		if e.Source != "policy-herald" || e.SourceType != "_json" || e.Host != "" || e.Index != "" {
			t.Errorf("event metadata %s", firstBytes(raw))
		}
		if e.Event.ID == "" || e.Event.Status == "" {
			t.Errorf("event without id or status: %s", firstBytes(raw))
		}
		out = append(out, e)
	}
	return out
}

// splunkCodes are HEC's error codes of the statuses the suite asks for.
var splunkCodes = map[int]int{
	http.StatusBadRequest: 6, http.StatusUnauthorized: 2, http.StatusForbidden: 4, http.StatusNotFound: 404,
	http.StatusRequestEntityTooLarge: 27, http.StatusInternalServerError: 8, http.StatusServiceUnavailable: 9,
}

func init() {
	conformanceSenders = append(conformanceSenders, conformanceSender{
		typ: v1alpha1.DestinationSplunk,
		config: func(base, secret string) Config {
			return Config{
				Destination: &v1alpha1.Destinations{Splunk: &v1alpha1.SplunkDestination{}},
				Settings:    descriptor.Settings{"url": base, "token": secret},
			}
		},
		ok: func(int) conformanceAnswer {
			return conformanceAnswer{status: http.StatusOK, header: map[string]string{"Content-Type": "application/json; charset=UTF-8"}, body: `{"text":"Success","code":0}`}
		},
		// HEC's errors: {"text":"Invalid token","code":4}, {"text":"Server is busy","code":9}.
		fail: func(status, retryAfter int, text string) conformanceAnswer {
			code, ok := splunkCodes[status]
			if !ok {
				code = 8
			}
			a := conformanceAnswer{status: status, header: map[string]string{"Content-Type": "application/json; charset=UTF-8"},
				body: conformanceJSON(map[string]any{"text": text, "code": code})}
			if retryAfter > 0 {
				a.header["Retry-After"] = fmt.Sprint(retryAfter)
			}
			return a
		},
		decode: func(t *testing.T, r recorded) []string {
			if r.Method != http.MethodPost || r.Path != splunkDefaultPath {
				t.Errorf("request %s %s, want POST %s", r.Method, r.Path, splunkDefaultPath)
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if ua := r.Header.Get("User-Agent"); ua != "policy-herald" {
				t.Errorf("User-Agent %q", ua)
			}
			if r.Header.Get("Authorization") != "Splunk "+conformanceSecret || r.Header.Get(splunkChannelHeader) != "" {
				t.Errorf("Authorization %q, channel %q", r.Header.Get("Authorization"), r.Header.Get(splunkChannelHeader))
			}
			if len(r.Body) > splunkMaxBody {
				t.Errorf("request of %d bytes, over %d", len(r.Body), splunkMaxBody)
			}
			var titles []string
			for _, e := range splunkDecodeEvents(t, r.Body) {
				titles = append(titles, e.Event.Policy)
			}
			return titles
		},
		// One event alone is one JSON document: a golden batch of one result each.
		golden: []conformanceGolden{
			{batch: func() Batch {
				return Batch{Report: testReport, Results: []report.Result{fullResult()}, CustomFields: map[string]string{"cluster": "prod-eu"}}
			}, files: []string{"splunk-full.json"}},
			{batch: func() Batch { return Batch{Report: testReport, Results: []report.Result{bareResult()}} }, files: []string{"splunk-bare.json"}},
		},
		// Every event object of the body.
		texts: func(t *testing.T, r recorded) []string {
			var out []string
			for _, raw := range splunkRawEvents(t, r.Body) {
				out = append(out, jsonStrings(t, raw)...)
			}
			return out
		},
		splitBatch: logsSplitBatch,
		hostile: func(t *testing.T, body []byte, _ []string) {
			// An event for programs: the text stays as it was but for control characters.
			for _, e := range splunkDecodeEvents(t, body) {
				if m := e.Event.Message; len(m) < 1<<19 && !strings.Contains(m, "@everyone @here [click me](https://evil.example/x) <https://evil.example|innocent> <script>") {
					t.Errorf("message %q", m)
				}
			}
		},
		prepare: func(s Sender) { s.(*splunk).now = func() time.Time { return conformanceClock } },
		notApplicable: map[string]string{
			chkTemplate: "HEC indexes the ResultDocument as the event, which has no text to template (descriptor Template false)",
		},
	})
}
