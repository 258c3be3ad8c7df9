package sender

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/destination/descriptor"
)

// Kinesis's entry in the conformance suite (conformance_test.go). A Send is one PutRecords call
// (more when its records exceed the request's 5 MiB), one record per result: its
// ResultDocument as the record's data, base64 in the JSON body.

// kinesisConformanceStream is the stream of the conformance sender.
const kinesisConformanceStream = "policy-results"

// kinesisSplitBatch is the split batch of kinesis: conformanceSplitBatch with every message
// made 60 KB longer, so that MaxBatch (100) records are over the 5 MiB of one request.
func kinesisSplitBatch(maxBatch int) Batch {
	b := conformanceSplitBatch(maxBatch)
	for i := range b.Results {
		b.Results[i].Message += " " + strings.Repeat("x", 60<<10)
	}
	return b
}

// kinesisConformanceRecords are the records of a PutRecords request, their data decoded.
func kinesisConformanceRecords(t *testing.T, r recorded) (kinesisPutRecords, [][]byte) {
	t.Helper()
	var in kinesisPutRecords
	conformanceStrict(t, r.Body, &in)
	data := make([][]byte, len(in.Records))
	for i, rec := range in.Records {
		d, err := base64.StdEncoding.DecodeString(rec.Data)
		if err != nil {
			t.Fatalf("record %d: data is not base64: %v", i, err)
		}
		data[i] = d
	}
	return in, data
}

func init() {
	conformanceSenders = append(conformanceSenders, conformanceSender{
		typ: v1alpha1.DestinationKinesis,
		config: func(base, secret string) Config {
			return Config{
				Destination: &v1alpha1.Destinations{Kinesis: &v1alpha1.KinesisDestination{}},
				Settings: descriptor.Settings{"streamName": kinesisConformanceStream, "endpoint": base, "region": awsConformanceRegion,
					"accessKeyID": awsTestKeyID, "secretAccessKey": secret},
			}
		},
		// PutRecords answers a record (sequence number and shard) per record of the request.
		okFor: func(n int, r recorded) conformanceAnswer {
			var in struct{ Records []json.RawMessage }
			_ = json.Unmarshal(r.Body, &in)
			type rec struct{ SequenceNumber, ShardId string }
			out := struct {
				FailedRecordCount int
				Records           []rec
				EncryptionType    string
			}{Records: []rec{}, EncryptionType: "NONE"}
			for i := range in.Records {
				out.Records = append(out.Records, rec{SequenceNumber: fmt.Sprintf("49546986683135544286507457936321625675700192471156785%03d%03d", n, i), ShardId: "shardId-000000000000"})
			}
			return conformanceAnswer{status: http.StatusOK, header: map[string]string{"Content-Type": "application/x-amz-json-1.1"}, body: conformanceJSON(out)}
		},
		// The awsJson1.1 errors: {"__type": code, "message": ...}, the code in X-Amzn-Errortype too.
		fail: func(status, retryAfter int, text string) conformanceAnswer {
			code := awsConformanceCode(status, map[int]string{
				400: "ValidationException", 403: "AccessDeniedException", 404: "ResourceNotFoundException",
				408: "RequestTimeoutException", 413: "ValidationException", 429: "ThrottlingException",
			}, "ValidationException")
			a := conformanceAnswer{status: status, header: map[string]string{"Content-Type": "application/x-amz-json-1.1",
				"X-Amzn-Errortype": code, "X-Amzn-Requestid": "c9e8f1a2-0000-4000-8000-000000000001"},
				body: conformanceJSON(map[string]string{"__type": code, "message": text})}
			if retryAfter > 0 {
				a.header["Retry-After"] = fmt.Sprint(retryAfter)
			}
			return a
		},
		decode: func(t *testing.T, r recorded) []string {
			t.Helper()
			kinesisContract(t, awsRequest(r)) // POST /, X-Amz-Target, the JSON 1.1 type, signed, records
			awsCheckSigV4(t, r, "kinesis")
			if len(r.Body) > kinesisMaxRequest*4/3+64<<10 {
				t.Errorf("request of %d bytes", len(r.Body))
			}
			in, data := kinesisConformanceRecords(t, r)
			if in.StreamName != kinesisConformanceStream || in.StreamARN != "" {
				t.Errorf("stream %q %q", in.StreamName, in.StreamARN)
			}
			size := 0
			titles := make([]string, len(data))
			for i, d := range data {
				n := len(d) + len(in.Records[i].PartitionKey)
				if n > kinesisMaxRecord {
					t.Errorf("record %d of %d bytes, over %d", i, n, kinesisMaxRecord)
				}
				size += n
				var doc ResultDocument
				conformanceStrict(t, d, &doc)
				if doc.ID == "" || doc.Status == "" {
					t.Errorf("record %d: document without id or status", i)
				}
				titles[i] = doc.Policy
			}
			if size > kinesisMaxRequest {
				t.Errorf("request of %d bytes of records, over %d", size, kinesisMaxRequest)
			}
			return titles
		},
		// The texts are those of the records' documents, and their partition keys.
		texts: func(t *testing.T, r recorded) []string {
			in, data := kinesisConformanceRecords(t, r)
			var out []string
			for i, d := range data {
				out = append(out, in.Records[i].PartitionKey)
				out = append(out, jsonStrings(t, d)...)
			}
			return out
		},
		golden:     []conformanceGolden{{batch: awsBatch, files: []string{"kinesis-batch.json"}}},
		splitBatch: kinesisSplitBatch,
		hostile: func(t *testing.T, body []byte, texts []string) {
			// A record for programs: the text stays as it was but for control characters.
			if !strings.Contains(strings.Join(texts, "\n"), "@everyone @here [click me](https://evil.example/x) <https://evil.example|innocent> <script>") {
				t.Errorf("record lost its text: %s", firstBytes(body))
			}
		},
		notApplicable: map[string]string{
			chkTemplate: "the record is the ResultDocument, which has no text to template (descriptor Template false)",
		},
	})
}
