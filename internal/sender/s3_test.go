package sender

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/destination/descriptor"
	"github.com/policyherald/policy-herald/internal/report"
)

// The S3 tests write to a real S3 implementation, gofakes3 (MIT) with its in-memory backend,
// served on loopback in the test process, and read every object back with the SDK. A wrapper
// in front records the requests (and fails some on purpose).

type fakeS3 struct {
	srv    *httptest.Server
	client *awss3.Client
	rec    *awsRecorder
	// fail, when it returns a status for a request, answers it with that status instead.
	fail atomic.Pointer[func(n int, r *http.Request) int]
}

func startFakeS3(t *testing.T, bucket string) *fakeS3 {
	t.Helper()
	f := &fakeS3{}
	backend := gofakes3.New(s3mem.New()).Server()
	n := 0
	f.rec = &awsRecorder{answer: func(w http.ResponseWriter, r *http.Request) {
		n++
		if fail := f.fail.Load(); fail != nil {
			if code := (*fail)(n, r); code != 0 {
				w.Header().Set("Content-Type", "application/xml")
				w.WriteHeader(code)
				_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`)
				return
			}
		}
		backend.ServeHTTP(w, r)
	}}
	f.srv = httptest.NewServer(f.rec)
	t.Cleanup(f.srv.Close)
	f.client = awss3.New(awss3.Options{
		Region: "eu-west-1", BaseEndpoint: aws.String(f.srv.URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("reader", "reader-secret", ""),
	})
	if bucket != "" {
		if _, err := f.client.CreateBucket(context.Background(), &awss3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
			t.Fatalf("CreateBucket: %v", err)
		}
	}
	f.rec.requests = nil
	return f
}

func (f *fakeS3) keys(t *testing.T, bucket string) []string {
	t.Helper()
	out, err := f.client.ListObjectsV2(context.Background(), &awss3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatalf("ListObjectsV2: %v", err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	sort.Strings(keys)
	return keys
}

func s3Config(endpoint string, d *v1alpha1.S3Destination) Config {
	cfg := awsConfig(v1alpha1.DestinationS3, descriptor.Settings{"bucket": "reports"}, endpoint)
	if d == nil {
		d = &v1alpha1.S3Destination{}
	}
	d.PathStyle = true
	cfg.Destination = &v1alpha1.Destinations{S3: d}
	return cfg
}

// TestS3WritesOneObjectPerResult: each result is the object <prefix>/<day>/<policy>-<id>.json
// holding its ResultDocument, application/json; sending again overwrites the same keys.
func TestS3WritesOneObjectPerResult(t *testing.T) {
	isolateAWSEnv(t)
	f := startFakeS3(t, "reports")
	b := awsBatch()
	b.Results[1].Check = &report.Check{Policy: "disallow latest/tag", Source: "trivy", Status: v1alpha1.StatusWarn}
	s := newTestSender(t, s3Config(f.srv.URL, &v1alpha1.S3Destination{Prefix: "/audit/prod/"}))
	if err := s.Send(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	sent := f.rec.requests
	want := []string{
		"audit/prod/2026-08-15/require-labels-a1.json", // 12:00 CEST is 10:00 UTC
		"audit/prod/undated/disallow_latest_tag-a2.json",
	}
	if got := f.keys(t, "reports"); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("keys %v, want %v", got, want)
	}
	for i, key := range want {
		out, err := f.client.GetObject(context.Background(), &awss3.GetObjectInput{Bucket: aws.String("reports"), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if ct := aws.ToString(out.ContentType); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", key, ct)
		}
		var got ResultDocument
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("%s: %v: %s", key, err, body)
		}
		wantDoc := NewResultDocument(b.Report, &b.Results[i], b.CustomFields)
		wj, _ := json.Marshal(wantDoc)
		gj, _ := json.Marshal(got)
		if !bytes.Equal(wj, gj) {
			t.Errorf("%s:\n got %s\nwant %s", key, gj, wj)
		}
	}
	if len(sent) != 2 {
		t.Fatalf("%d requests", len(sent))
	}
	for i, r := range sent {
		if r.Method != http.MethodPut || r.URL.Path != "/reports/"+want[i] {
			t.Errorf("request %d: %s %s", i, r.Method, r.URL.Path)
		}
		auth := r.Header.Get("Authorization")
		if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential="+awsTestKeyID+"/") || !strings.Contains(auth, "/eu-west-1/s3/aws4_request") {
			t.Errorf("Authorization %q", auth)
		}
		if r.Header.Get("X-Amz-Server-Side-Encryption") != "" {
			t.Errorf("encryption header without serverSideEncryption")
		}
	}
	// A retry writes the same objects again, not new ones.
	if err := s.Send(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if got := f.keys(t, "reports"); len(got) != 2 {
		t.Fatalf("after a retry: %v", got)
	}
}

func TestS3DefaultPrefix(t *testing.T) {
	isolateAWSEnv(t)
	f := startFakeS3(t, "reports")
	b := Batch{Report: testReport, Results: []report.Result{fullResult()}}
	if err := newTestSender(t, s3Config(f.srv.URL, nil)).Send(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if got := f.keys(t, "reports"); len(got) != 1 || got[0] != "policy-herald/2026-08-15/require-labels-a1.json" {
		t.Fatalf("keys %v", got)
	}
}

// TestS3Encryption: serverSideEncryption, kmsKeyID and bucketKeyEnabled go out as S3's headers
// and are stored with the object.
func TestS3Encryption(t *testing.T) {
	isolateAWSEnv(t)
	f := startFakeS3(t, "reports")
	d := &v1alpha1.S3Destination{ServerSideEncryption: "aws:kms", KMSKeyID: "arn:aws:kms:eu-west-1:123456789012:key/1234abcd", BucketKeyEnabled: true}
	b := Batch{Report: testReport, Results: []report.Result{fullResult()}}
	if err := newTestSender(t, s3Config(f.srv.URL, d)).Send(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if len(f.rec.requests) != 1 {
		t.Fatalf("%d requests", len(f.rec.requests))
	}
	h := f.rec.requests[0].Header
	if h.Get("X-Amz-Server-Side-Encryption") != "aws:kms" || h.Get("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id") != d.KMSKeyID ||
		h.Get("X-Amz-Server-Side-Encryption-Bucket-Key-Enabled") != "true" {
		t.Fatalf("headers %v", h)
	}
	out, err := f.client.HeadObject(context.Background(), &awss3.HeadObjectInput{Bucket: aws.String("reports"), Key: aws.String("policy-herald/2026-08-15/require-labels-a1.json")})
	if err != nil {
		t.Fatal(err)
	}
	if out.ServerSideEncryption != s3types.ServerSideEncryptionAwsKms || aws.ToString(out.SSEKMSKeyId) != d.KMSKeyID || !aws.ToBool(out.BucketKeyEnabled) {
		t.Fatalf("stored: %v %v %v", out.ServerSideEncryption, aws.ToString(out.SSEKMSKeyId), aws.ToBool(out.BucketKeyEnabled))
	}

	// AES256 alone.
	f.rec.requests = nil
	if err := newTestSender(t, s3Config(f.srv.URL, &v1alpha1.S3Destination{ServerSideEncryption: "AES256"})).Send(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if h := f.rec.requests[0].Header; h.Get("X-Amz-Server-Side-Encryption") != "AES256" || h.Get("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id") != "" {
		t.Fatalf("headers %v", h)
	}
}

// TestS3Failures: a missing bucket is refused for good; a throttled second object counts the
// first as sent and is retryable.
func TestS3Failures(t *testing.T) {
	isolateAWSEnv(t)
	f := startFakeS3(t, "reports")
	cfg := s3Config(f.srv.URL, nil)
	cfg.Settings["bucket"] = "missing-bucket"
	e := asError(t, newTestSender(t, cfg).Send(context.Background(), awsBatch()))
	if e.Retryable || e.StatusCode != http.StatusNotFound || e.Sent != 0 || !strings.Contains(e.Reason, "NoSuchBucket") {
		t.Fatalf("missing bucket: %#v", e)
	}
	if strings.Contains(e.Reason, "require-labels") || strings.Contains(e.Reason, "missing-bucket/") {
		t.Errorf("the reason shows the object key: %q", e.Reason)
	}

	fail := func(_ int, r *http.Request) int {
		if strings.Contains(r.URL.Path, "/p2-a2.json") { // the second result
			return http.StatusServiceUnavailable
		}
		return 0
	}
	f.fail.Store(&fail)
	e = asError(t, newTestSender(t, s3Config(f.srv.URL, nil)).Send(context.Background(), awsBatch()))
	if !e.Retryable || e.Sent != 1 || e.StatusCode != http.StatusServiceUnavailable || !strings.Contains(e.Reason, "SlowDown") {
		t.Fatalf("throttled: %#v", e)
	}
	if got := f.keys(t, "reports"); len(got) != 1 {
		t.Fatalf("keys %v", got)
	}
}

func TestS3ConfigErrors(t *testing.T) {
	isolateAWSEnv(t)
	with := func(d *v1alpha1.S3Destination) Config { return s3Config("https://s3.example.com", d) }
	longPrefix := with(&v1alpha1.S3Destination{Prefix: strings.Repeat("p", s3MaxPrefix+1)})
	noBucket := with(nil)
	delete(noBucket.Settings, "bucket")
	assertConfigErrors(t, v1alpha1.DestinationS3, awsTestSecret, map[string]Config{
		"kms key without aws:kms":    with(&v1alpha1.S3Destination{KMSKeyID: "k"}),
		"bucket key without aws:kms": with(&v1alpha1.S3Destination{ServerSideEncryption: "AES256", BucketKeyEnabled: true}),
		"unknown encryption":         with(&v1alpha1.S3Destination{ServerSideEncryption: "rot13"}),
		"prefix too long":            longPrefix,
		"no bucket":                  noBucket,
	})
}

func TestS3KeyPart(t *testing.T) {
	for in, want := range map[string]string{
		"require-labels": "require-labels", "a b/c": "a_b_c", "": "_", "ünï": "_n_",
		strings.Repeat("x", 300): strings.Repeat("x", s3MaxPolicy),
	} {
		if got := objectNamePart(in, s3MaxPolicy); got != want {
			t.Errorf("objectNamePart(%q) = %q, want %q", in, got, want)
		}
	}
}
