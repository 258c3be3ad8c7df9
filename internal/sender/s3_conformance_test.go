package sender

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/destination/descriptor"
)

// S3's entry in the conformance suite (conformance_test.go). A Send is one PutObject per result,
// in order (MaxBatch 10): PUT /<bucket>/<key> path-style, the ResultDocument as the object.

// s3ConformanceKey is the object key of a result: <prefix>/<day>/<policy part>-<result ID>.json.
var s3ConformanceKey = regexp.MustCompile(`^/reports/policy-herald/(\d{4}-\d{2}-\d{2}|undated)/([A-Za-z0-9._-]{1,200})-([^/]+)\.json$`)

func init() {
	conformanceSenders = append(conformanceSenders, conformanceSender{
		typ: v1alpha1.DestinationS3,
		config: func(base, secret string) Config {
			return Config{
				Destination: &v1alpha1.Destinations{S3: &v1alpha1.S3Destination{PathStyle: true}},
				Settings: descriptor.Settings{"bucket": "reports", "endpoint": base, "region": awsConformanceRegion,
					"accessKeyID": awsTestKeyID, "secretAccessKey": secret},
			}
		},
		// PutObject answers 200 without a body, the object's ETag (the MD5 of its bytes) in a header.
		okFor: func(_ int, r recorded) conformanceAnswer {
			sum := md5.Sum(r.Body)
			return conformanceAnswer{status: http.StatusOK, header: map[string]string{
				"ETag": `"` + hex.EncodeToString(sum[:]) + `"`, "x-amz-request-id": "0A49CE4060975EAC",
			}}
		},
		// S3's errors: an XML <Error> document, the code by status (SlowDown for 503 and 429).
		fail: func(status, retryAfter int, text string) conformanceAnswer {
			code := awsConformanceCode(status, map[int]string{
				400: "InvalidRequest", 401: "InvalidAccessKeyId", 403: "AccessDenied", 404: "NoSuchBucket",
				408: "RequestTimeout", 413: "EntityTooLarge", 429: "SlowDown", 500: "InternalError", 503: "SlowDown",
			}, "InvalidRequest")
			var msg bytes.Buffer
			_ = xml.EscapeText(&msg, []byte(text))
			a := conformanceAnswer{status: status, header: map[string]string{"Content-Type": "application/xml", "x-amz-request-id": "0A49CE4060975EAC"},
				body: `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<Error><Code>` + code + `</Code><Message>` + msg.String() +
					`</Message><RequestId>0A49CE4060975EAC</RequestId></Error>`}
			if retryAfter > 0 {
				a.header["Retry-After"] = fmt.Sprint(retryAfter)
			}
			return a
		},
		decode: s3ConformanceDecode,
		golden: []conformanceGolden{{batch: awsBatch, files: []string{"s3-full.json", "s3-bare.json"}}},
		hostile: func(t *testing.T, body []byte, _ []string) {
			// An object for programs: the text stays as it was but for control characters.
			if len(body) < 1<<19 && !strings.Contains(string(body), "@everyone @here [click me](https://evil.example/x) <https://evil.example|innocent> <script>") {
				t.Errorf("object lost its text: %s", firstBytes(body))
			}
		},
		notApplicable: map[string]string{
			chkTemplate: "the object is the ResultDocument, which has no text to template (descriptor Template false)",
		},
	})
}

// s3ConformanceDecode checks one request against PutObject (path-style, SigV4, the object's
// headers, the payload hash) and returns the policy of the ResultDocument it writes.
func s3ConformanceDecode(t *testing.T, r recorded) []string {
	t.Helper()
	if r.Method != http.MethodPut {
		t.Errorf("method %s, want PUT", r.Method)
	}
	if q := r.RawQuery; q != "" && q != "x-id=PutObject" {
		t.Errorf("query %q", q)
	}
	m := s3ConformanceKey.FindStringSubmatch(r.Path)
	if m == nil {
		t.Fatalf("PUT %s, want /reports/policy-herald/<day>/<policy>-<id>.json", r.Path)
	}
	if len(r.Path)-len("/reports/") > 1024 {
		t.Errorf("key of %d bytes", len(r.Path)-len("/reports/"))
	}
	awsCheckSigV4(t, r, "s3")
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if n, err := strconv.Atoi(r.Header.Get("Content-Length")); err != nil || n != len(r.Body) {
		t.Errorf("Content-Length %q for %d bytes", r.Header.Get("Content-Length"), len(r.Body))
	}
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "UNSIGNED-PAYLOAD" {
		sum := sha256.Sum256(r.Body)
		if h != hex.EncodeToString(sum[:]) {
			t.Errorf("X-Amz-Content-Sha256 %q is not the body's", h)
		}
	}
	if enc := r.Header.Get("Content-Encoding"); enc != "" {
		t.Errorf("Content-Encoding %q: the object must be the plain document", enc)
	}
	var d ResultDocument
	conformanceStrict(t, r.Body, &d)
	if d.ID == "" || d.Status == "" {
		t.Errorf("document without id or status: %s", firstBytes(r.Body))
	}
	// The key's policy part is the policy's characters a key may hold, the others '_' (the
	// document's policy is without its control characters, which the key has as '_').
	noUnderscore := func(s string) string { return strings.ReplaceAll(s, "_", "") }
	if m[3] != d.ID || noUnderscore(m[2]) != noUnderscore(objectNamePart(d.Policy, s3MaxPolicy)) {
		t.Errorf("key %s for the document of %s (%s)", r.Path, d.ID, d.Policy)
	}
	if day := "undated"; d.Timestamp != "" && m[1] != d.Timestamp[:10] || d.Timestamp == "" && m[1] != day {
		t.Errorf("key %s for a document of %q", r.Path, d.Timestamp)
	}
	return []string{d.Policy}
}
