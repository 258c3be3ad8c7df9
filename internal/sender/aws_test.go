package sender

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/addrguard"
	"github.com/policyherald/policy-herald/internal/destination/descriptor"
	"github.com/policyherald/policy-herald/internal/report"
)

// Tests shared by the AWS destinations (s3, kinesis, securityHub): credentials, region, the
// address guard, TLS, the proxy and how errors are classified and redacted.

func init() {
	// The registry tests build every sender from its descriptor's required settings.
	sampleSettings["bucket"] = "policy-results"
	sampleSettings["streamName"] = "policy-results"
	sampleSettings["accountID"] = "123456789012"
}

const (
	awsTestKeyID  = "AKIDPOLICYHERALDTEST"
	awsTestSecret = "SECRETKEYpolicyheraldtest0123456789abcd"
)

// awsTypes are the AWS destinations, each with its required setting.
var awsTypes = []struct {
	typ      v1alpha1.DestinationType
	required descriptor.Settings
}{
	{v1alpha1.DestinationS3, descriptor.Settings{"bucket": "policy-results"}},
	{v1alpha1.DestinationKinesis, descriptor.Settings{"streamName": "policy-results"}},
	{v1alpha1.DestinationSecurityHub, descriptor.Settings{"accountID": "123456789012"}},
}

// awsConfig is a Config of typ with static keys, region eu-west-1 and endpoint (path-style
// for s3).
func awsConfig(typ v1alpha1.DestinationType, required descriptor.Settings, endpoint string) Config {
	s := descriptor.Settings{"accessKeyID": awsTestKeyID, "secretAccessKey": awsTestSecret, "region": "eu-west-1"}
	if endpoint != "" {
		s["endpoint"] = endpoint
	}
	for k, v := range required {
		s[k] = v
	}
	cfg := Config{Type: typ, Settings: s, Name: "platform/aws-target"}
	if typ == v1alpha1.DestinationS3 && endpoint != "" { // loopback test servers: no bucket host names
		cfg.Destination = &v1alpha1.Destinations{S3: &v1alpha1.S3Destination{PathStyle: true}}
	}
	return cfg
}

// isolateAWSEnv keeps the operator's environment and files out of the SDK's default chain.
func isolateAWSEnv(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
		"AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AWS_ENDPOINT_URL"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", dir+"/config")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", dir+"/credentials")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// awsAnswer is an answer of a stand-in AWS endpoint that records the requests it gets.
type awsRecorder struct {
	mu       sync.Mutex
	requests []*http.Request
	answer   func(w http.ResponseWriter, r *http.Request)
}

func (a *awsRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.requests = append(a.requests, r.Clone(context.Background()))
	a.mu.Unlock()
	a.answer(w, r)
}

func (a *awsRecorder) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.requests)
}

func startAWSRecorder(t *testing.T, answer func(w http.ResponseWriter, r *http.Request)) (*awsRecorder, *httptest.Server) {
	t.Helper()
	rec := &awsRecorder{answer: answer}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	return rec, srv
}

// awsErrorAnswer answers like an AWS JSON service refusing a request: the error type in
// X-Amzn-Errortype and __type, the message in the body.
func awsErrorAnswer(status int, code, message string, headers map[string]string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		for k, v := range headers {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("X-Amzn-Errortype", code)
		w.Header().Set("X-Amzn-Requestid", "req-1")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"__type":"` + code + `","message":"` + message + `"}`))
	}
}

func awsBatch() Batch {
	return Batch{Report: testReport, Results: []report.Result{fullResult(), bareResult()}, CustomFields: map[string]string{"cluster": "prod-eu"}}
}

func asError(t *testing.T, err error) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("want an *Error, got %T %v", err, err)
	}
	return e
}

// TestAWSWithoutKeysOutsideThePlatform: a destination without keys that may not use the
// operator's identity is built (its required settings are there) but refused by New with a Guard,
// which the controllers call, and by every Send, without a request; the environment's keys,
// which the default chain would pick up, are never used.
func TestAWSWithoutKeysOutsideThePlatform(t *testing.T) {
	for _, at := range awsTypes {
		t.Run(string(at.typ), func(t *testing.T) {
			isolateAWSEnv(t)
			t.Setenv("AWS_ACCESS_KEY_ID", "AKIDOPERATORIDENTITY")
			t.Setenv("AWS_SECRET_ACCESS_KEY", "operator-secret")
			rec, srv := startAWSRecorder(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
			cfg := awsConfig(at.typ, at.required, srv.URL)
			delete(cfg.Settings, "accessKeyID")
			delete(cfg.Settings, "secretAccessKey")
			cfg.Name = "team-a/channel"

			s := newTestSender(t, cfg)
			err := s.Send(context.Background(), awsBatch())
			e := asError(t, err)
			if e.Retryable || !strings.Contains(e.Reason, "needs accessKeyID and secretAccessKey in its Secret: only objects in the platform namespace may use the operator's own AWS identity") {
				t.Fatalf("Send: %#v", e)
			}
			if r, ok := s.(Resolver); ok {
				if err := r.Resolve(context.Background(), awsBatch()); err == nil || IsRetryable(err) {
					t.Fatalf("Resolve: %v", err)
				}
			}
			_, err = newGuarded(context.Background(), cfg, addrguard.New(nil))
			if err == nil || !strings.Contains(err.Error(), string(at.typ)+" destination needs accessKeyID") {
				t.Fatalf("newGuarded: %v", err)
			}
			if n := rec.count(); n != 0 {
				t.Fatalf("%d requests went out", n)
			}
		})
	}
}

// TestAWSAmbientCredentials: an object of the platform namespace without keys uses the SDK's
// default chain, here the environment's keys.
func TestAWSAmbientCredentials(t *testing.T) {
	isolateAWSEnv(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDOPERATORIDENTITY")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "operator-secret")
	t.Setenv("AWS_REGION", "eu-central-1")
	rec, srv := startAWSRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_, _ = w.Write([]byte(`{"FailedRecordCount":0,"Records":[{"SequenceNumber":"1","ShardId":"shardId-000000000000"},{"SequenceNumber":"2","ShardId":"shardId-000000000000"}]}`))
	})
	cfg := awsConfig(v1alpha1.DestinationKinesis, descriptor.Settings{"streamName": "s"}, srv.URL)
	delete(cfg.Settings, "accessKeyID")
	delete(cfg.Settings, "secretAccessKey")
	delete(cfg.Settings, "region")
	cfg.AmbientCredentials = true
	s, err := newGuarded(context.Background(), cfg, loopbackAllowed())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), awsBatch()); err != nil {
		t.Fatal(err)
	}
	if rec.count() != 1 {
		t.Fatalf("%d requests", rec.count())
	}
	auth := rec.requests[0].Header.Get("Authorization")
	if !strings.Contains(auth, "Credential=AKIDOPERATORIDENTITY/") || !strings.Contains(auth, "/eu-central-1/kinesis/aws4_request") {
		t.Fatalf("Authorization %q: want the environment's key and region", auth)
	}
}

// loopbackAllowed is a guard that refuses link-local addresses only, so tests reach their
// loopback servers through a guarded client.
func loopbackAllowed() *addrguard.Guard {
	return addrguard.New([]netip.Prefix{netip.MustParsePrefix("169.254.0.0/16")})
}

func TestAWSConfigErrors(t *testing.T) {
	isolateAWSEnv(t)
	for _, at := range awsTypes {
		t.Run(string(at.typ), func(t *testing.T) {
			oneKey := awsConfig(at.typ, at.required, "")
			delete(oneKey.Settings, "secretAccessKey")
			noRegion := awsConfig(at.typ, at.required, "")
			delete(noRegion.Settings, "region")
			badEndpoint := awsConfig(at.typ, at.required, "ftp://x.example")
			queryEndpoint := awsConfig(at.typ, at.required, "https://x.example/?k="+awsTestSecret)
			ambientNoRegion := awsConfig(at.typ, at.required, "")
			delete(ambientNoRegion.Settings, "region")
			delete(ambientNoRegion.Settings, "accessKeyID")
			delete(ambientNoRegion.Settings, "secretAccessKey")
			ambientNoRegion.AmbientCredentials = true
			assertConfigErrors(t, at.typ, awsTestSecret, map[string]Config{
				"ambient without a region": ambientNoRegion,
				"one key only":             oneKey,
				"no region":                noRegion,
				"endpoint not http":        badEndpoint,
				"endpoint with query":      queryEndpoint,
			})
		})
	}
	// With an endpoint and no region, the signing region is us-east-1.
	rec, srv := startAWSRecorder(t, awsErrorAnswer(http.StatusBadRequest, "ResourceNotFoundException", "Stream s not found", nil))
	cfg := awsConfig(v1alpha1.DestinationKinesis, descriptor.Settings{"streamName": "s"}, srv.URL)
	delete(cfg.Settings, "region")
	_ = newTestSender(t, cfg).Send(context.Background(), awsBatch())
	if rec.count() != 1 || !strings.Contains(rec.requests[0].Header.Get("Authorization"), "/us-east-1/kinesis/aws4_request") {
		t.Fatalf("want one request signed for us-east-1")
	}
}

// TestAWSErrors: throttling and 5xx are retryable (with Retry-After), access denied and
// validation are not; the reason names the host, the status and the service's code, never the
// keys, even when the service echoes them.
func TestAWSErrors(t *testing.T) {
	cases := []struct {
		name       string
		status     int
		code       string
		headers    map[string]string
		retryable  bool
		retryAfter time.Duration
	}{
		{"throttled 429", http.StatusTooManyRequests, "TooManyRequestsException", map[string]string{"Retry-After": "7"}, true, 7 * time.Second},
		{"throughput 400", http.StatusBadRequest, "ProvisionedThroughputExceededException", nil, true, 0},
		{"unavailable", http.StatusServiceUnavailable, "ServiceUnavailable", nil, true, 0},
		{"internal", http.StatusInternalServerError, "InternalFailure", nil, true, 0},
		{"access denied", http.StatusForbidden, "AccessDeniedException", nil, false, 0},
		{"validation", http.StatusBadRequest, "ValidationException", nil, false, 0},
		{"not found", http.StatusBadRequest, "ResourceNotFoundException", nil, false, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec, srv := startAWSRecorder(t, awsErrorAnswer(c.status, c.code, "key "+awsTestKeyID+" secret "+awsTestSecret+" refused", c.headers))
			s := newTestSender(t, awsConfig(v1alpha1.DestinationKinesis, descriptor.Settings{"streamName": "s"}, srv.URL))
			e := asError(t, s.Send(context.Background(), awsBatch()))
			if rec.count() != 1 {
				t.Errorf("%d requests: the SDK must not retry under the pipeline", rec.count())
			}
			if e.Retryable != c.retryable || e.RetryAfter != c.retryAfter || e.StatusCode != c.status || e.Sent != 0 {
				t.Fatalf("got %#v", e)
			}
			host := strings.TrimPrefix(srv.URL, "http://")
			if !strings.Contains(e.Reason, "POST to "+host+": ") || !strings.Contains(e.Reason, c.code) {
				t.Errorf("reason %q should name the host and %s", e.Reason, c.code)
			}
			for _, secret := range []string{awsTestKeyID, awsTestSecret} {
				if strings.Contains(e.Reason, secret) || strings.Contains(fmt2(e), secret) {
					t.Errorf("reason leaks a key: %q", e.Reason)
				}
			}
		})
	}
}

func fmt2(err error) string {
	if u := errors.Unwrap(err); u != nil {
		return err.Error() + " / " + u.Error()
	}
	return err.Error()
}

// TestAWSNetwork: a refused connection is retryable; a redirect is not followed; the guard
// refuses a blocked endpoint when the sender is built, and a name that resolves to a blocked
// address when it dials; the HTTP proxy is used; TLS trusts the configured CA only.
func TestAWSNetwork(t *testing.T) {
	isolateAWSEnv(t)
	kin := descriptor.Settings{"streamName": "s"}
	// okAnswer accepts any of the three: S3 wants a 2xx, Kinesis one record per record sent,
	// Security Hub's answer without failures decodes from that too.
	okAnswer := func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Records []json.RawMessage }
		_ = json.NewDecoder(r.Body).Decode(&in)
		kinesisAnswer(w, len(in.Records), nil)
	}

	t.Run("connection refused", func(t *testing.T) {
		s := newTestSender(t, awsConfig(v1alpha1.DestinationKinesis, kin, "http://"+closedAddr(t)))
		e := asError(t, s.Send(context.Background(), awsBatch()))
		if !e.Retryable || e.StatusCode != 0 {
			t.Fatalf("got %#v", e)
		}
	})
	t.Run("redirect not followed", func(t *testing.T) {
		target, tsrv := startAWSRecorder(t, okAnswer)
		_, srv := startAWSRecorder(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, tsrv.URL+"/", http.StatusTemporaryRedirect)
		})
		e := asError(t, newTestSender(t, awsConfig(v1alpha1.DestinationKinesis, kin, srv.URL)).Send(context.Background(), awsBatch()))
		if e.Retryable || target.count() != 0 {
			t.Fatalf("got %#v, %d requests at the redirect target", e, target.count())
		}
	})
	t.Run("guard at build", func(t *testing.T) {
		for _, at := range awsTypes {
			_, err := newGuarded(context.Background(), awsConfig(at.typ, at.required, "http://127.0.0.1:9"), addrguard.New(addrguard.MustParseCIDRs(addrguard.DefaultBlockedCIDRs)))
			var na *addrguard.NotAllowedError
			if !errors.As(err, &na) {
				t.Errorf("%s: want addrguard.NotAllowedError, got %v", at.typ, err)
			}
		}
	})
	t.Run("guard at dial", func(t *testing.T) {
		rec, srv := startAWSRecorder(t, okAnswer)
		port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
		for _, at := range awsTypes {
			g := addrguard.New(addrguard.MustParseCIDRs(addrguard.DefaultBlockedCIDRs))
			g = g.WithLookup(func(context.Context, string) ([]netip.Addr, error) { // the name passes the check...
				return []netip.Addr{netip.MustParseAddr("203.0.113.7")}, nil
			})
			s, err := newGuarded(context.Background(), awsConfig(at.typ, at.required, "http://localhost:"+port), g)
			if err != nil {
				t.Fatal(err)
			}
			e := asError(t, s.Send(context.Background(), awsBatch())) // ...and resolves to loopback
			if e.Retryable || !strings.Contains(e.Reason, "is not allowed") {
				t.Errorf("%s: got %#v", at.typ, e)
			}
		}
		if rec.count() != 0 {
			t.Fatalf("%d requests got through", rec.count())
		}
	})
	t.Run("proxy", func(t *testing.T) {
		proxy, psrv := startAWSRecorder(t, okAnswer)
		useProxy(t, psrv.URL)
		for i, at := range awsTypes {
			s := newTestSender(t, awsConfig(at.typ, at.required, "http://aws.internal.example"))
			if err := s.Send(context.Background(), Batch{Report: testReport, Results: []report.Result{fullResult()}}); err != nil {
				t.Fatalf("%s: %v", at.typ, err)
			}
			if proxy.count() != i+1 || proxy.requests[i].Host != "aws.internal.example" {
				t.Fatalf("%s: the proxy got %d requests", at.typ, proxy.count())
			}
		}
	})
	t.Run("tls", func(t *testing.T) {
		rec := &awsRecorder{answer: okAnswer}
		srv := newTLSServer(t, rec)
		for i, at := range awsTypes {
			cfg := awsConfig(at.typ, at.required, srv.URL)
			assertTLSRejected(t, newTestSender(t, cfg).Send(context.Background(), awsBatch()))
			cfg.TLS = trustingTLS(srv)
			if err := newTestSender(t, cfg).Send(context.Background(), Batch{Report: testReport, Results: []report.Result{fullResult()}}); err != nil {
				t.Fatalf("%s: %v", at.typ, err)
			}
			if rec.count() != i+1 {
				t.Fatalf("%s: %d requests", at.typ, rec.count())
			}
		}
	})
}
