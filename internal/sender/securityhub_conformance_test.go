package sender

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/destination/descriptor"
)

// Security Hub's entry in the conformance suite (conformance_test.go). A Send is one
// BatchImportFindings request (POST /findings/import) of one ASFF finding per result, at most
// MaxBatch 100, the findings' limit of the API.

// securityHubConformanceNow is the clock of the securityHub sender in the conformance suite:
// UpdatedAt (and CreatedAt of a result without a time) come from it, so the golden files do
// not change with the time of the run.
var securityHubConformanceNow = time.Date(2026, 9, 1, 8, 0, 0, 0, time.UTC)

const securityHubConformanceAccount = "123456789012"

// securityHubConformanceFindings is the body of a BatchImportFindings request, decoded strictly.
func securityHubConformanceFindings(t *testing.T, body []byte) []asffFinding {
	t.Helper()
	var in struct{ Findings []asffFinding }
	conformanceStrict(t, body, &in)
	return in.Findings
}

func init() {
	conformanceSenders = append(conformanceSenders, conformanceSender{
		typ: v1alpha1.DestinationSecurityHub,
		config: func(base, secret string) Config {
			return Config{
				Destination: &v1alpha1.Destinations{SecurityHub: &v1alpha1.SecurityHubDestination{}},
				Settings: descriptor.Settings{"accountID": securityHubConformanceAccount, "endpoint": base, "region": awsConformanceRegion,
					"accessKeyID": awsTestKeyID, "secretAccessKey": secret},
			}
		},
		// BatchImportFindings answers the counts, every finding imported.
		okFor: func(_ int, r recorded) conformanceAnswer {
			var in struct{ Findings []json.RawMessage }
			_ = json.Unmarshal(r.Body, &in)
			return conformanceAnswer{status: http.StatusOK, header: map[string]string{"Content-Type": "application/json"},
				body: conformanceJSON(map[string]any{"FailedCount": 0, "SuccessCount": len(in.Findings), "FailedFindings": []any{}})}
		},
		// The restJson1 errors: {"Message": ...}, the code in X-Amzn-ErrorType.
		fail: func(status, retryAfter int, text string) conformanceAnswer {
			code := awsConformanceCode(status, map[int]string{
				400: "InvalidInputException", 401: "InvalidAccessException", 403: "AccessDeniedException",
				404: "ResourceNotFoundException", 429: "LimitExceededException", 500: "InternalException",
			}, "InvalidInputException")
			a := conformanceAnswer{status: status, header: map[string]string{"Content-Type": "application/json",
				"X-Amzn-ErrorType": code + ":http://internal.amazon.com/coral/com.amazonaws.securityhub/", "X-Amzn-RequestId": "0b7c0c5e-0000-4000-8000-000000000001"},
				body: conformanceJSON(map[string]string{"Message": text})}
			if retryAfter > 0 {
				a.header["Retry-After"] = fmt.Sprint(retryAfter)
			}
			return a
		},
		decode: func(t *testing.T, r recorded) []string {
			t.Helper()
			if r.Method != http.MethodPost || r.Path != "/findings/import" || r.RawQuery != "" {
				t.Errorf("%s %s?%s, want POST /findings/import", r.Method, r.Path, r.RawQuery)
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			awsCheckSigV4(t, r, "securityhub")
			findings := securityHubConformanceFindings(t, r.Body)
			if len(findings) == 0 || len(findings) > securityHubMaxBatch {
				t.Fatalf("%d findings, want 1 to %d", len(findings), securityHubMaxBatch)
			}
			// The ASFF checks of the service's own tests: required fields, formats, limits.
			stub := &securityHubStub{t: t, region: awsConformanceRegion, account: securityHubConformanceAccount}
			titles := make([]string, len(findings))
			ids := map[string]bool{}
			for i, f := range findings {
				stub.check(f)
				if ids[f.Id] {
					t.Errorf("finding %d: Id %s twice in one import", i, f.Id)
				}
				ids[f.Id] = true
				if !strings.HasPrefix(f.Id, "team-a/conformance/") {
					t.Errorf("finding %d: Id %q, want <namespace>/<name>/<result ID>", i, f.Id)
				}
				if f.UpdatedAt != securityHubConformanceNow.Format(time.RFC3339) || f.CreatedAt > f.UpdatedAt || f.RecordState != "ACTIVE" {
					t.Errorf("finding %d: CreatedAt %s UpdatedAt %s RecordState %s", i, f.CreatedAt, f.UpdatedAt, f.RecordState)
				}
				if f.ProductFields["ProviderName"] == "" {
					t.Errorf("finding %d: ProductFields %v", i, f.ProductFields)
				}
				titles[i] = f.Title // "<policy>: <rule> on <resource>"
			}
			return titles
		},
		golden: []conformanceGolden{{batch: awsBatch, files: []string{"securityhub-batch.json"}}},
		// The SDK writes ProductFields and Details.Other, maps, in Go's random order.
		goldenBody: conformanceSortedKeys,
		hostile: func(t *testing.T, body []byte, _ []string) {
			for i, f := range securityHubConformanceFindings(t, body) {
				if strings.ContainsAny(f.Title, "\r\n") {
					t.Errorf("finding %d: title on several lines: %q", i, f.Title)
				}
				if n := utf8.RuneCountInString(f.Description); n > asffMaxDescription {
					t.Errorf("finding %d: description of %d characters", i, n)
				}
			}
			if len(body) > 240<<10 {
				t.Errorf("import of %d bytes", len(body))
			}
		},
		prepare: func(s Sender) {
			switch h := s.(type) {
			case *securityHub:
				h.now = func() time.Time { return securityHubConformanceNow }
			case *securityHubResolver:
				h.now = func() time.Time { return securityHubConformanceNow }
			}
		},
		notApplicable: map[string]string{
			chkSplit: "a Send is one BatchImportFindings request: MaxBatch is the API's 100 findings, each bounded by ASFF's " +
				"limits (title, description, maps), so a batch is never too large for one request",
			chkPartial: "a Send is one request: the import fails or not, or Security Hub names the findings it refused " +
				"(FailedFindings, tested in securityhub_test.go), there is no 2nd request to fail",
			chkTemplate: "Description is the result's message: Security Hub findings are not rendered from messageTemplate (descriptor Template false)",
		},
	})
}
