package sender

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/destination/descriptor"
)

// Loki's entry in the conformance suite (conformance_test.go).

// conformanceClock is the fixed time of the send of the log destinations' conformance senders:
// half an hour after fullResult's time, so that Loki keeps that time (it is less than
// lokiMaxAge old) and a result without one gets this.
var conformanceClock = time.Date(2026, 8, 15, 10, 30, 0, 0, time.UTC)

// logsSplitBatch is the split batch of the log destinations: conformanceSplitBatch with every
// message made 30 KB longer, so that maxBatch results are over the body limit of one request
// (Loki 1 MiB for 100, Elasticsearch 5 MiB for 200, Splunk HEC 1 MB for 100).
func logsSplitBatch(maxBatch int) Batch {
	b := conformanceSplitBatch(maxBatch)
	for i := range b.Results {
		b.Results[i].Message += " " + strings.Repeat("x", 30<<10)
	}
	return b
}

func init() {
	conformanceSenders = append(conformanceSenders, conformanceSender{
		typ: v1alpha1.DestinationLoki,
		config: func(base, secret string) Config {
			return Config{
				Destination: &v1alpha1.Destinations{Loki: &v1alpha1.LokiDestination{TenantID: "team-a"}},
				Settings:    descriptor.Settings{"url": base, "username": "loki-user", "password": secret},
			}
		},
		// The push API answers 204 without a body.
		ok: func(int) conformanceAnswer { return conformanceAnswer{status: http.StatusNoContent} },
		// Loki's errors are text (http.Error): "entry for stream ... has timestamp too old",
		// "Ingestion rate limit exceeded ...", with Retry-After from the gateways in front of it.
		fail: conformanceTextError,
		decode: func(t *testing.T, r recorded) []string {
			conformanceJSONPost(t, r)
			if want := "Basic " + base64.StdEncoding.EncodeToString([]byte("loki-user:"+conformanceSecret)); r.Header.Get("Authorization") != want {
				t.Errorf("Authorization %q", r.Header.Get("Authorization"))
			}
			if r.Header.Get("X-Scope-OrgID") != "team-a" {
				t.Errorf("X-Scope-OrgID %q", r.Header.Get("X-Scope-OrgID"))
			}
			if len(r.Body) > lokiMaxBody {
				t.Errorf("push of %d bytes, over %d", len(r.Body), lokiMaxBody)
			}
			// Labels, their names and the order of each stream's entries.
			p := decodeLokiPush(t, r, "/loki/api/v1/push")
			// One title per entry: its stream's policy label. Results of one label set share a
			// stream, so the titles are in stream order (the batch order for results whose
			// policies differ).
			var titles []string
			for _, st := range p.Streams {
				for k, v := range st.Stream {
					if len(v) > lokiMaxLabelValue || len(k) > lokiMaxLabelName || v == "" {
						t.Errorf("label %s of %d bytes", k, len(v))
					}
				}
				if st.Stream["createdBy"] != "policy-herald" || st.Stream["policy"] == "" {
					t.Errorf("stream labels %v", st.Stream)
				}
				for _, v := range st.Values {
					if len(v[1]) > lokiMaxLine {
						t.Errorf("line of %d bytes, over %d", len(v[1]), lokiMaxLine)
					}
					titles = append(titles, st.Stream["policy"])
				}
			}
			return titles
		},
		golden:     []conformanceGolden{{batch: logsBatch, files: []string{"loki-batch.json"}}},
		splitBatch: logsSplitBatch,
		hostile: func(t *testing.T, body []byte, texts []string) {
			// Loki stores the line as it is: the text stays but for control characters.
			if len(body) < 1<<19 && !strings.Contains(string(body), "@everyone @here [click me](https://evil.example/x) <https://evil.example|innocent> <script>") {
				t.Errorf("line lost its text: %s", firstBytes(body))
			}
		},
		prepare: func(s Sender) { s.(*loki).now = func() time.Time { return conformanceClock } },
	})
}
