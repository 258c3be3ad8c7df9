package sender

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/addrguard"
	"github.com/policyherald/policy-herald/internal/destination/descriptor"
	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/sender/render"
	"github.com/policyherald/policy-herald/internal/sender/transport"
)

// newGCSTestSender builds a gcs sender writing to the JSON API at base (scheme://host).
func newGCSTestSender(t *testing.T, base string, s descriptor.Settings, tlsCfg *tls.Config, ambient bool) *gcs {
	t.Helper()
	if s["bucket"] == "" {
		s["bucket"] = gcsTestBucket
	}
	g, err := newGCSAt(withSettings(Config{Type: v1alpha1.DestinationGCS, Settings: s, TLS: tlsCfg, Name: "ns/gcs", AmbientCredentials: ambient}), base+"/storage/v1/")
	if err != nil {
		t.Fatalf("newGCSAt: %v", err)
	}
	t.Cleanup(g.Close)
	return g
}

// newGuardedGCS is newGCSTestSender with guard: its hosts checked as New checks them, and its
// connections passing guard. Only a sender that passed the check is returned.
func newGuardedGCS(t *testing.T, base string, s descriptor.Settings, tlsCfg *tls.Config, ambient bool, guard *addrguard.Guard) (*gcs, error) {
	t.Helper()
	if s["bucket"] == "" {
		s["bucket"] = gcsTestBucket
	}
	g, err := newGCSAt(withSettings(Config{Type: v1alpha1.DestinationGCS, Settings: s, TLS: tlsCfg, Name: "ns/gcs", AmbientCredentials: ambient, Guard: guard}), base+"/storage/v1/")
	if err != nil {
		t.Fatalf("newGCSAt: %v", err)
	}
	t.Cleanup(g.Close)
	if err := checkHosts(context.Background(), g, v1alpha1.DestinationGCS, guard); err != nil {
		return nil, err
	}
	return g, nil
}

// gcsBatch is a failing result with everything, a warning without a timestamp, and a result of
// a policy whose name holds a slash, spaces and wildcards.
func gcsBatch() Batch {
	odd := fullResult()
	odd.Hash = 0xfeedbeef
	odd.Policy = "Terminal shell/in container [*?]"
	return Batch{Report: testReport, Results: []report.Result{fullResult(), bareResult(), odd},
		CustomFields: map[string]string{"cluster": "prod-eu"}}
}

var gcsBatchNames = []string{
	"policy-herald/2026-08-15/Terminal_shell_in_container_____-feedbeef.json",
	"policy-herald/2026-08-15/require-labels-a1.json",
	"policy-herald/undated/p2-a2.json",
}

// assertStoredBatch checks that stored holds exactly the objects of b under names, each the
// ResultDocument of its result as JSON.
func assertStoredBatch(t *testing.T, stored map[string]gcsStored, b Batch, names []string) {
	t.Helper()
	if got := render.SortedKeys(stored); strings.Join(got, "\n") != strings.Join(names, "\n") {
		t.Fatalf("objects:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(names, "\n"))
	}
	for i := range b.Results {
		r := &b.Results[i]
		var name string
		for _, n := range names {
			if strings.HasSuffix(n, "-"+r.ID()+".json") {
				name = n
			}
		}
		o := stored[name]
		if o.attrs.ContentType != transport.ContentTypeJSON {
			t.Errorf("%s: Content-Type %q", name, o.attrs.ContentType)
		}
		dec := json.NewDecoder(bytes.NewReader(o.body))
		dec.DisallowUnknownFields()
		var doc ResultDocument
		if err := dec.Decode(&doc); err != nil {
			t.Fatalf("%s is not a ResultDocument: %v\n%s", name, err, o.body)
		}
		want, _ := transport.MarshalJSON(NewResultDocument(b.Report, r, b.CustomFields))
		if !bytes.Equal(o.body, want) {
			t.Errorf("%s:\n got %s\nwant %s", name, o.body, want)
		}
		if doc.ID != r.ID() || doc.Policy != r.Policy || doc.Report.Name != b.Report.Name || doc.CustomFields["cluster"] != b.CustomFields["cluster"] {
			t.Errorf("%s: document %+v", name, doc)
		}
	}
}

// TestGCSWritesObjectsToFakeGCSServer delivers to the real fake-gcs-server with a service
// account key whose tokens come from a token endpoint checking the signed grant, and reads the
// objects back with the storage client. A second delivery of the same results (a retry)
// overwrites them.
func TestGCSWritesObjectsToFakeGCSServer(t *testing.T) {
	srv := startFakeGCS(t, fakestorage.Options{})
	tokens, tsrv := startTokenEndpoint(t, false)
	s := newGCSTestSender(t, srv.URL(), descriptor.Settings{"credentials": gcsKeyJSON(t, tokens.url, nil)}, trustingTLS(tsrv), false)
	b := gcsBatch()
	if err := s.Send(context.Background(), b); err != nil {
		t.Fatalf("Send: %v", err)
	}
	stored := readGCS(t, srv.URL(), nil)
	assertStoredBatch(t, stored, b, gcsBatchNames)
	gen := stored[gcsBatchNames[1]].attrs.Generation

	if err := s.Send(context.Background(), b); err != nil {
		t.Fatalf("Send again: %v", err)
	}
	again := readGCS(t, srv.URL(), nil)
	assertStoredBatch(t, again, b, gcsBatchNames)
	if again[gcsBatchNames[1]].attrs.Generation == gen {
		t.Errorf("the object was not written again (generation %d)", gen)
	}
	if n := tokens.requests.Load(); n != 1 {
		t.Errorf("token endpoint got %d requests, want 1 (the token is cached)", n)
	}
}

// TestGCSPrefix: a prefix's slashes are trimmed; "/" writes at the top of the bucket.
func TestGCSPrefix(t *testing.T) {
	srv := startFakeGCS(t, fakestorage.Options{})
	tokens, tsrv := startTokenEndpoint(t, false)
	key := gcsKeyJSON(t, tokens.url, nil)
	b := Batch{Report: testReport, Results: []report.Result{fullResult()}}
	for _, p := range []string{"/audit/k8s/", "/"} {
		s := newGCSTestSender(t, srv.URL(), descriptor.Settings{"credentials": key, "prefix": p}, trustingTLS(tsrv), false)
		if err := s.Send(context.Background(), b); err != nil {
			t.Fatalf("Send with prefix %q: %v", p, err)
		}
	}
	assertStoredBatch(t, readGCS(t, srv.URL(), nil), Batch{Report: testReport, Results: []report.Result{fullResult(), fullResult()}},
		[]string{"2026-08-15/require-labels-a1.json", "audit/k8s/2026-08-15/require-labels-a1.json"})
}

// TestGCSOperatorIdentity: without credentials, a platform-namespace object writes with the
// operator's Application Default Credentials (here a key file named by
// GOOGLE_APPLICATION_CREDENTIALS); a tenant's object is refused.
func TestGCSOperatorIdentity(t *testing.T) {
	srv := startFakeGCS(t, fakestorage.Options{})
	tokens, _ := startTokenEndpoint(t, true) // the operator's own file: its token_uri is trusted
	file := filepath.Join(t.TempDir(), "adc.json")
	if err := os.WriteFile(file, []byte(gcsKeyJSON(t, tokens.url, nil)), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", file)

	_, err := newGCSAt(withSettings(Config{Type: v1alpha1.DestinationGCS, Settings: descriptor.Settings{"bucket": gcsTestBucket}}), srv.URL()+"/storage/v1/")
	if err == nil || err.Error() != gcsNoAmbient {
		t.Fatalf("a tenant without credentials: got %v", err)
	}
	if _, err := New(context.Background(), Config{Type: v1alpha1.DestinationGCS, Settings: descriptor.Settings{"bucket": gcsTestBucket}}); err == nil || err.Error() != gcsNoAmbient {
		t.Fatalf("New for a tenant without credentials: got %v", err)
	}
	if tokens.requests.Load() != 0 {
		t.Fatal("the refused tenant fetched a token")
	}

	s := newGCSTestSender(t, srv.URL(), descriptor.Settings{}, nil, true)
	b := Batch{Report: testReport, Results: []report.Result{fullResult()}}
	if err := s.Send(context.Background(), b); err != nil {
		t.Fatalf("Send with the operator's identity: %v", err)
	}
	assertStoredBatch(t, readGCS(t, srv.URL(), nil), b, []string{"policy-herald/2026-08-15/require-labels-a1.json"})
	if tokens.requests.Load() != 1 {
		t.Errorf("token endpoint got %d requests", tokens.requests.Load())
	}
}

// TestGCSTLS: the endpoint's certificate is checked against cfg.TLS.
func TestGCSTLS(t *testing.T) {
	certFile, keyFile, cert := writeLoopbackCert(t)
	srv := startFakeGCS(t, fakestorage.Options{Scheme: "https", CertificateLocation: certFile, PrivateKeyLocation: keyFile})
	tokens, tsrv := startTokenEndpoint(t, false)
	key := gcsKeyJSON(t, tokens.url, nil)
	b := Batch{Report: testReport, Results: []report.Result{fullResult()}}

	trustToken := trustingTLS(tsrv)
	err := newGCSTestSender(t, srv.URL(), descriptor.Settings{"credentials": key}, trustToken, false).Send(context.Background(), b)
	assertTLSRejected(t, err)
	assertGCSErrorHidesSecrets(t, err)

	trustBoth := trustingTLS(tsrv)
	trustBoth.RootCAs.AddCert(cert)
	if err := newGCSTestSender(t, srv.URL(), descriptor.Settings{"credentials": key}, trustBoth, false).Send(context.Background(), b); err != nil {
		t.Fatalf("Send over TLS: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	assertStoredBatch(t, readGCS(t, srv.URL(), &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}), b,
		[]string{"policy-herald/2026-08-15/require-labels-a1.json"})
}

// TestGCSProxyFromEnvironment: uploads go through HTTP_PROXY (here to fake-gcs-server).
func TestGCSProxyFromEnvironment(t *testing.T) {
	srv := startFakeGCS(t, fakestorage.Options{})
	target, _ := url.Parse(srv.URL())
	var mu sync.Mutex
	var seen []string
	proxy := newTLSless(t, &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		mu.Lock()
		seen = append(seen, r.In.Method+" "+r.In.RequestURI)
		mu.Unlock()
		r.SetURL(target)
	}})
	useProxy(t, proxy)
	tokens, tsrv := startTokenEndpoint(t, false) // loopback: never proxied
	s := newGCSTestSender(t, "http://gcs.invalid", descriptor.Settings{"credentials": gcsKeyJSON(t, tokens.url, nil)}, trustingTLS(tsrv), false)
	b := Batch{Report: testReport, Results: []report.Result{fullResult()}}
	if err := s.Send(context.Background(), b); err != nil {
		t.Fatalf("Send through the proxy: %v", err)
	}
	assertStoredBatch(t, readGCS(t, srv.URL(), nil), b, []string{"policy-herald/2026-08-15/require-labels-a1.json"})
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || !strings.HasPrefix(seen[0], "POST http://gcs.invalid/upload/storage/v1/b/"+gcsTestBucket+"/o?") {
		t.Errorf("proxy saw %q", seen)
	}
}

// newTLSless serves h over plain HTTP until the test ends and returns its URL.
func newTLSless(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestGCSIgnoresEmulatorHost: STORAGE_EMULATOR_HOST, the operator's process environment, does
// not redirect a destination.
func TestGCSIgnoresEmulatorHost(t *testing.T) {
	srv := startFakeGCS(t, fakestorage.Options{})
	emulator, esrv := startHook(t, nil)
	t.Setenv("STORAGE_EMULATOR_HOST", strings.TrimPrefix(esrv.URL, "http://"))
	tokens, tsrv := startTokenEndpoint(t, false)
	s := newGCSTestSender(t, srv.URL(), descriptor.Settings{"credentials": gcsKeyJSON(t, tokens.url, nil)}, trustingTLS(tsrv), false)
	b := Batch{Report: testReport, Results: []report.Result{fullResult()}}
	if err := s.Send(context.Background(), b); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if n := len(emulator.requests()); n != 0 {
		t.Errorf("STORAGE_EMULATOR_HOST got %d requests", n)
	}
	assertStoredBatch(t, readGCS(t, srv.URL(), nil), b, []string{"policy-herald/2026-08-15/require-labels-a1.json"})
}

// startGCSContract serves a gcsContract on loopback and returns it with a sender writing to it.
func startGCSContract(t *testing.T, answer func(n int) (int, map[string]string, string)) (*gcsContract, *gcs) {
	t.Helper()
	c := &gcsContract{t: t, answer: answer}
	base := newTLSless(t, c)
	tokens, tsrv := startTokenEndpoint(t, false)
	s := newGCSTestSender(t, base, descriptor.Settings{"credentials": gcsKeyJSON(t, tokens.url, nil)}, trustingTLS(tsrv), false)
	return c, s
}

// TestGCSUploadContract: each result is one multipart upload with the object's metadata and the
// document, authorised with the access token.
func TestGCSUploadContract(t *testing.T) {
	c, s := startGCSContract(t, nil)
	b := gcsBatch()
	if err := s.Send(context.Background(), b); err != nil {
		t.Fatalf("Send: %v", err)
	}
	ups := c.received()
	if len(ups) != 3 {
		t.Fatalf("%d uploads", len(ups))
	}
	want := []string{gcsBatchNames[1], gcsBatchNames[2], gcsBatchNames[0]} // in batch order
	for i, u := range ups {
		doc, _ := transport.MarshalJSON(NewResultDocument(b.Report, &b.Results[i], b.CustomFields))
		if u.Name != want[i] || u.Auth != "Bearer "+gcsTestToken || !bytes.Equal(u.Media, doc) || u.Metadata.Bucket != gcsTestBucket {
			t.Errorf("upload %d: name %q auth %q bucket %q media %s", i, u.Name, u.Auth, u.Metadata.Bucket, u.Media)
		}
	}
}

func TestGCSErrorClassification(t *testing.T) {
	cases := []struct {
		status     int
		headers    map[string]string
		retryable  bool
		retryAfter time.Duration
		reason     string
	}{
		{503, nil, true, 0, "503 Service Unavailable"},
		{500, nil, true, 0, "500 Internal Server Error"},
		{502, nil, true, 0, "502 Bad Gateway"},
		{408, nil, true, 0, "408 Request Timeout"},
		{429, map[string]string{"Retry-After": "7"}, true, 7 * time.Second, "429 Too Many Requests"},
		{400, nil, false, 0, "400 Bad Request"},
		{401, nil, false, 0, "401 Unauthorized"},
		{403, nil, false, 0, "403 Forbidden: " + gcsTestEmail + " does not have storage.objects.create access"},
		{404, nil, false, 0, "404 Not Found: The specified bucket does not exist."},
	}
	for _, tc := range cases {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			msg := map[int]string{
				403: gcsTestEmail + " does not have storage.objects.create access to the Google Cloud Storage object. (key " + gcsTestKeyID + ", token " + gcsTestToken + ")",
				404: "The specified bucket does not exist.",
			}[tc.status]
			if msg == "" {
				msg = http.StatusText(tc.status)
			}
			c, s := startGCSContract(t, answerWith(tc.status, tc.headers, gcsErrorBody(tc.status, "x", msg)))
			err := s.Send(context.Background(), Batch{Report: testReport, Results: []report.Result{fullResult()}})
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("want an *Error, got %#v", err)
			}
			host := s.ep.Host
			if e.Retryable != tc.retryable || e.RetryAfter != tc.retryAfter || e.StatusCode != tc.status || e.Sent != 0 ||
				!strings.HasPrefix(e.Reason, "POST to "+host+": "+tc.reason) {
				t.Errorf("got %+v", e)
			}
			assertGCSErrorHidesSecrets(t, err)
			if len(c.received()) != 1 {
				t.Errorf("%d uploads: the sender must not retry by itself", len(c.received()))
			}
		})
	}
}

// TestGCSErrorOfAnotherServer: a refusal that is not the JSON API's error document (a proxy's
// page) is quoted as it is, redacted.
func TestGCSErrorOfAnotherServer(t *testing.T) {
	_, s := startGCSContract(t, func(int) (int, map[string]string, string) {
		return http.StatusForbidden, nil, "<html><body>Blocked by the egress proxy (token " + gcsTestToken + ")</body></html>"
	})
	err := s.Send(context.Background(), Batch{Report: testReport, Results: []report.Result{fullResult()}})
	var e *Error
	want := "POST to " + s.ep.Host + ": 403 Forbidden: <html><body>Blocked by the egress proxy (token [redacted])</body></html>"
	if !errors.As(err, &e) || e.Retryable || e.Reason != want {
		t.Fatalf("got %#v, want %q", err, want)
	}
	assertGCSErrorHidesSecrets(t, err)
}

// TestGCSPartialFailure: a failure after some objects were written says how many.
func TestGCSPartialFailure(t *testing.T) {
	c, s := startGCSContract(t, func(n int) (int, map[string]string, string) {
		if n == 3 {
			return 503, nil, gcsErrorBody(503, "backendError", "Backend Error")
		}
		return 200, nil, ""
	})
	b := gcsBatch()
	b.Results = append(b.Results, fullResult())
	b.Results[3].Hash = 0xb4
	err := s.Send(context.Background(), b)
	var e *Error
	if !errors.As(err, &e) || !e.Retryable || e.Sent != 2 || !strings.HasSuffix(e.Reason, "(object 3 of 4)") {
		t.Fatalf("got %#v", err)
	}
	if n := len(c.received()); n != 3 {
		t.Errorf("%d uploads, want 3 (none after the failure)", n)
	}
}

// TestGCSNetworkErrors: no answer is retryable; a server that is gone, too.
func TestGCSNetworkErrors(t *testing.T) {
	tokens, tsrv := startTokenEndpoint(t, false)
	s := newGCSTestSender(t, "http://"+closedAddr(t), descriptor.Settings{"credentials": gcsKeyJSON(t, tokens.url, nil)}, trustingTLS(tsrv), false)
	err := s.Send(context.Background(), Batch{Report: testReport, Results: []report.Result{fullResult()}})
	var e *Error
	if !errors.As(err, &e) || !e.Retryable || e.StatusCode != 0 || !strings.Contains(e.Reason, "connection refused") {
		t.Fatalf("got %#v", err)
	}
	assertGCSErrorHidesSecrets(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = s.Send(ctx, Batch{Report: testReport, Results: []report.Result{fullResult()}})
	if !errors.As(err, &e) || !e.Retryable || !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled: got %#v", err)
	}
}

// TestGCSTokenErrors: the token endpoint refusing the key is permanent, its outage is not.
func TestGCSTokenErrors(t *testing.T) {
	for _, tc := range []struct {
		status    int
		body      string
		retryable bool
		reason    string
	}{
		{400, `{"error":"invalid_grant","error_description":"Invalid JWT Signature."}`, false, "400 Bad Request: invalid_grant: Invalid JWT Signature."},
		{503, `{"error":"internal_failure"}`, true, "503 Service Unavailable"},
	} {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			c := &gcsContract{t: t}
			base := newTLSless(t, c)
			tokens, tsrv := startTokenEndpoint(t, false)
			tokens.fail = func() (int, string) { return tc.status, tc.body }
			s := newGCSTestSender(t, base, descriptor.Settings{"credentials": gcsKeyJSON(t, tokens.url, nil)}, trustingTLS(tsrv), false)
			err := s.Send(context.Background(), Batch{Report: testReport, Results: []report.Result{fullResult()}})
			var e *Error
			host := strings.TrimPrefix(tsrv.URL, "https://")
			if !errors.As(err, &e) || e.Retryable != tc.retryable || e.Reason != "fetching an access token: POST to "+host+": "+tc.reason {
				t.Fatalf("got %#v", err)
			}
			assertGCSErrorHidesSecrets(t, err)
			if len(c.received()) != 0 {
				t.Error("uploaded without a token")
			}
		})
	}
}

func TestGCSConfigErrors(t *testing.T) {
	const marker = "SECRETKEYMATERIAL"
	key := func(edit func(map[string]any)) string {
		return gcsKeyJSON(t, "https://oauth2.googleapis.com/token", func(m map[string]any) {
			m["private_key_id"] = marker
			edit(m)
		})
	}
	good := key(func(map[string]any) {})
	cfg := func(s descriptor.Settings) Config {
		if _, ok := s["bucket"]; !ok {
			s["bucket"] = gcsTestBucket
		}
		return Config{Settings: s}
	}
	assertConfigErrors(t, v1alpha1.DestinationGCS, marker, map[string]Config{
		"no bucket":             cfg(descriptor.Settings{"bucket": "", "credentials": good}),
		"bad bucket":            cfg(descriptor.Settings{"bucket": "Results_Of/x", "credentials": good}),
		"bucket too long":       cfg(descriptor.Settings{"bucket": strings.Repeat("a", 64), "credentials": good}),
		"prefix with a newline": cfg(descriptor.Settings{"prefix": "a\nb", "credentials": good}),
		"prefix too long":       cfg(descriptor.Settings{"prefix": strings.Repeat("p", 513), "credentials": good}),
		"acme prefix":           cfg(descriptor.Settings{"prefix": ".well-known/acme-challenge/x", "credentials": good}),
		"not JSON":              cfg(descriptor.Settings{"credentials": "{" + marker}),
		"a PEM key only":        cfg(descriptor.Settings{"credentials": gcsKeyPEM(t) + marker}),
		"authorized_user": cfg(descriptor.Settings{"credentials": `{"type":"authorized_user","client_id":"x","client_secret":"` +
			marker + `","refresh_token":"` + marker + `"}`}),
		"external_account": cfg(descriptor.Settings{"credentials": key(func(m map[string]any) {
			m["type"] = "external_account"
			m["credential_source"] = map[string]any{"file": "/var/run/secrets/kubernetes.io/serviceaccount/token"}
		})}),
		"no private key": cfg(descriptor.Settings{"credentials": key(func(m map[string]any) { delete(m, "private_key") })}),
		"bad private key": cfg(descriptor.Settings{"credentials": key(func(m map[string]any) {
			m["private_key"] = "-----BEGIN PRIVATE KEY-----\n" + marker + "\n-----END PRIVATE KEY-----\n"
		})}),
		"no client email":  cfg(descriptor.Settings{"credentials": key(func(m map[string]any) { delete(m, "client_email") })}),
		"http token_uri":   cfg(descriptor.Settings{"credentials": key(func(m map[string]any) { m["token_uri"] = "http://oauth2.googleapis.com/token" })}),
		"other universe":   cfg(descriptor.Settings{"credentials": key(func(m map[string]any) { m["universe_domain"] = "example.com" })}),
		"too large":        cfg(descriptor.Settings{"credentials": key(func(m map[string]any) { m["x"] = strings.Repeat(marker, 8000) })}),
		"tenant, no creds": cfg(descriptor.Settings{}),
	})
	_, err := New(context.Background(), Config{Type: v1alpha1.DestinationGCS, Settings: descriptor.Settings{"bucket": gcsTestBucket,
		"credentials": gcsKeyJSON(t, "https://oauth2.googleapis.com/token", func(m map[string]any) { m["type"] = "user" })}})
	if err == nil {
		t.Fatal("want an error")
	}
	assertGCSErrorHidesSecrets(t, err)
}

func TestGCSBuildsFromTheBlock(t *testing.T) {
	key := gcsKeyJSON(t, "https://oauth2.googleapis.com/token", nil)
	s, err := New(context.Background(), Config{Type: v1alpha1.DestinationGCS, Destination: &v1alpha1.Destinations{GCS: &v1alpha1.GCSDestination{Bucket: "from-the-block", Prefix: "p/"}},
		Settings: descriptor.Settings{"credentials": key}, MessageTemplate: "{{ .Policy "})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	g := s.(*gcs)
	defer g.Close()
	if g.bucket != "from-the-block" || g.prefix != "p" || g.MaxBatch() != gcsMaxBatch || g.ep.Raw != gcsEndpoint {
		t.Errorf("got bucket %q prefix %q max %d endpoint %q", g.bucket, g.prefix, g.MaxBatch(), g.ep.Raw)
	}
	// The JSON API's upload URL, as Google documents it for objects.insert.
	if want := "https://storage.googleapis.com/upload/storage/v1/b/from-the-block/o?alt=json&uploadType=multipart"; g.upload != want {
		t.Errorf("upload URL %q, want %q", g.upload, want)
	}
}

func TestGCSObjectNames(t *testing.T) {
	g := &gcs{prefix: "policy-herald"}
	r := fullResult()
	if n := g.objectName(&r); n != "policy-herald/2026-08-15/require-labels-a1.json" {
		t.Errorf("name %q", n)
	}
	// The date is UTC: 23:30 in New York on the 14th is the 15th.
	r.Time = time.Date(2026, 8, 14, 23, 30, 0, 0, time.FixedZone("EDT", -4*3600)).UnixNano()
	if n := g.objectName(&r); n != "policy-herald/2026-08-15/require-labels-a1.json" {
		t.Errorf("name %q", n)
	}
	for in, want := range map[string]string{
		"":                       "_",
		"../etc/passwd":          ".._etc_passwd",
		"KSV001":                 "KSV001",
		"naïve policy#1\r\n":     "na_ve_policy_1__",
		strings.Repeat("x", 300): strings.Repeat("x", gcsMaxPolicy),
	} {
		if got := objectNamePart(in, gcsMaxPolicy); got != want {
			t.Errorf("objectNamePart(%q) = %q, want %q", in, got, want)
		}
	}
	// The longest name stays within the 1024 bytes GCS allows.
	long := &gcs{prefix: strings.Repeat("p", gcsMaxPrefix)}
	r.Policy, r.Hash = strings.Repeat("é", 300), ^uint64(0)
	if n := long.objectName(&r); len(n) > 1024 {
		t.Errorf("name of %d bytes", len(n))
	}
}

// TestGCSGuard: the endpoint's and the token endpoint's hosts are checked when the sender is
// built, and every connection when it is made.
func TestGCSGuard(t *testing.T) {
	guard := addrguard.New(addrguard.MustParseCIDRs(addrguard.DefaultBlockedCIDRs))
	guard = guard.WithLookup(func(context.Context, string) ([]netip.Addr, error) { return nil, errors.New("no such host") })
	srv := startFakeGCS(t, fakestorage.Options{})
	tokens, tsrv := startTokenEndpoint(t, false)
	key := gcsKeyJSON(t, tokens.url, nil)
	var na *addrguard.NotAllowedError

	// The endpoint on loopback.
	if _, err := newGuardedGCS(t, srv.URL(), descriptor.Settings{"credentials": key}, trustingTLS(tsrv), false, guard); !errors.As(err, &na) || na.Addr != netip.MustParseAddr("127.0.0.1") {
		t.Fatalf("loopback endpoint: got %v", err)
	}
	// The token endpoint on loopback.
	if _, err := newGuardedGCS(t, "https://gcs.invalid", descriptor.Settings{"credentials": key}, trustingTLS(tsrv), false, guard); !errors.As(err, &na) {
		t.Fatalf("loopback token endpoint: got %v", err)
	}
	// A name that passes the check but whose connection goes to a refused address (here the
	// proxy): refused when dialled, permanently, and nothing is written.
	useProxy(t, newTLSless(t, http.NotFoundHandler()))
	op, err := newGuardedGCS(t, "http://gcs.invalid", descriptor.Settings{}, nil, true, guard)
	if err != nil {
		t.Fatalf("newGuardedGCS: %v", err)
	}
	file := filepath.Join(t.TempDir(), "adc.json")
	plainTokens, _ := startTokenEndpoint(t, true)
	if err := os.WriteFile(file, []byte(gcsKeyJSON(t, plainTokens.url, nil)), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", file)
	err = op.Send(context.Background(), Batch{Report: testReport, Results: []report.Result{fullResult()}})
	var e *Error
	if !errors.As(err, &e) || e.Retryable || !strings.Contains(e.Reason, "the address 127.0.0.1 is not allowed") {
		t.Fatalf("dial to a refused address: got %#v", err)
	}
	if n := len(readGCS(t, srv.URL(), nil)); n != 0 {
		t.Errorf("%d objects written", n)
	}

	// New guards a gcs destination (it says where it connects).
	guard = guard.WithLookup(func(context.Context, string) ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr("142.250.185.187")}, nil
	})
	gs, err := newGuarded(context.Background(), Config{Type: v1alpha1.DestinationGCS,
		Settings: descriptor.Settings{"bucket": gcsTestBucket, "credentials": gcsKeyJSON(t, "https://oauth2.googleapis.com/token", nil)}}, guard)
	if err != nil {
		t.Fatalf("newGuarded: %v", err)
	}
	gs.(*gcs).Close()
}

// TestGCSAmbientBuildsFromRequiredSettings: a platform-namespace object builds from its
// required settings alone (the operator's identity is looked up at the first write, not while
// a reconciler waits), ignores messageTemplate, and cannot do without a bucket.
func TestGCSAmbientBuildsFromRequiredSettings(t *testing.T) {
	d := descriptorOf(t, v1alpha1.DestinationGCS)
	s := descriptor.Settings{}
	for _, k := range d.Required {
		s[k] = sampleSettings[k]
	}
	start := time.Now()
	g, err := New(context.Background(), Config{Type: v1alpha1.DestinationGCS, Settings: s, AmbientCredentials: true, MessageTemplate: "{{ .Policy "})
	if err != nil {
		t.Fatalf("New with %v: %v", d.Required, err)
	}
	g.(*gcs).Close()
	if time.Since(start) > time.Second {
		t.Errorf("New took %s", time.Since(start))
	}
	if d.Template {
		t.Error("gcs writes documents: it renders no messageTemplate")
	}
	for _, k := range d.Required {
		less := descriptor.Settings{}
		for kk, v := range s {
			if kk != k {
				less[kk] = v
			}
		}
		if _, err := New(context.Background(), Config{Type: v1alpha1.DestinationGCS, Settings: less, AmbientCredentials: true}); err == nil {
			t.Errorf("builds without %s", k)
		}
	}
}
