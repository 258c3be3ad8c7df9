package sender

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
)

// What the AWS senders' entries in the conformance suite (s3, kinesis, securityHub) share.

// awsConformanceRegion is the region of the AWS senders of the conformance suite: the SigV4
// scope of every request names it.
const awsConformanceRegion = "eu-west-1"

// awsConformanceCode is the error code an AWS service gives with status, as the suite's fail
// answers send it: throttling for 429, internal errors for 5xx, the client errors otherwise
// (codes the senders take as "later" only where the status says so too).
func awsConformanceCode(status int, codes map[int]string, fallback string) string {
	if c, ok := codes[status]; ok {
		return c
	}
	if status >= 500 {
		return "InternalFailure"
	}
	return fallback
}

// awsCheckSigV4 checks that r is signed with SigV4 by the conformance key for service in
// awsConformanceRegion.
func awsCheckSigV4(t *testing.T, r recorded, service string) {
	t.Helper()
	scope := regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=` + awsTestKeyID + `/\d{8}/` + awsConformanceRegion + `/` + service +
		`/aws4_request, SignedHeaders=[a-z0-9;-]+, Signature=[0-9a-f]{64}$`)
	if a := r.Header.Get("Authorization"); !scope.MatchString(a) {
		t.Errorf("Authorization %q, want SigV4 of %s with the access key", a, service)
	}
	if r.Header.Get("X-Amz-Date") == "" {
		t.Error("no X-Amz-Date")
	}
}

// awsRequest is r as the *http.Request the contract checks of the services' own tests take.
func awsRequest(r recorded) *http.Request {
	req := httptest.NewRequest(r.Method, r.RequestURI, bytes.NewReader(r.Body))
	req.Header = r.Header.Clone()
	req.Host = r.Host
	return req
}
