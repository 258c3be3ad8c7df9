package sender

// Helpers of the GCS tests: service account keys, an OAuth token endpoint that checks the
// JWT-bearer grant as Google's does, the real fake-gcs-server run in-process, a reader of what
// it stored, and a loopback server holding uploads to the JSON API's contract.

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"github.com/policyherald/policy-herald/internal/sender/transport"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	raw "google.golang.org/api/storage/v1"
)

func init() {
	// TestDescriptorsRequireWhatSendersNeed builds every sender from its required settings.
	sampleSettings["bucket"] = gcsTestBucket
}

const (
	gcsTestBucket = "policy-herald-results"
	gcsTestEmail  = "herald@ph-test.iam.gserviceaccount.com"
	gcsTestKeyID  = "SECRETKEYID5f1c0a9e7d3b"
	// gcsTestToken is the access token the test token endpoint issues.
	gcsTestToken = "ya29.SECRETACCESSTOKEN-gcs-test"
	gcsScope     = "https://www.googleapis.com/auth/devstorage.read_write"
)

var (
	gcsKeyOnce sync.Once
	gcsRSAKey  *rsa.PrivateKey
)

// gcsPrivateKey is one RSA key for every test (generating one takes a while).
func gcsPrivateKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	gcsKeyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		gcsRSAKey = k
	})
	return gcsRSAKey
}

// gcsKeyPEM is the PKCS #8 PEM of the test key, as Google writes it in keys.
func gcsKeyPEM(t testing.TB) string {
	der, err := x509.MarshalPKCS8PrivateKey(gcsPrivateKey(t))
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// gcsKeyJSON is a service account key JSON, with the fields Google's keys have, whose token
// requests go to tokenURI. edit may change fields before it is encoded.
func gcsKeyJSON(t testing.TB, tokenURI string, edit func(map[string]any)) string {
	t.Helper()
	k := map[string]any{
		"type":                        "service_account",
		"project_id":                  "ph-test",
		"private_key_id":              gcsTestKeyID,
		"private_key":                 gcsKeyPEM(t),
		"client_email":                gcsTestEmail,
		"client_id":                   "104589273659813675832",
		"auth_uri":                    "https://accounts.google.com/o/oauth2/auth",
		"token_uri":                   tokenURI,
		"auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
		"client_x509_cert_url":        "https://www.googleapis.com/robot/v1/metadata/x509/herald%40ph-test.iam.gserviceaccount.com",
		"universe_domain":             "googleapis.com",
	}
	if edit != nil {
		edit(k)
	}
	b, err := json.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// gcsKeySecrets are the pieces of the key and token no error may show.
func gcsKeySecrets(t testing.TB) []string {
	pk := gcsKeyPEM(t)
	lines := strings.Split(strings.TrimSpace(pk), "\n")
	return []string{gcsTestKeyID, lines[1], lines[len(lines)/2], gcsTestToken, "SECRETACCESSTOKEN", "uploadType", "/upload/", "/b/" + gcsTestBucket}
}

func assertGCSErrorHidesSecrets(t *testing.T, err error) {
	t.Helper()
	texts := []string{err.Error(), fmt.Sprintf("%+v", err)}
	if u := errors.Unwrap(err); u != nil {
		texts = append(texts, u.Error())
	}
	for _, s := range texts {
		for _, sec := range gcsKeySecrets(t) {
			if strings.Contains(s, sec) {
				t.Errorf("error leaks %q: %s", sec, s)
			}
		}
	}
}

// ---------------------------------------------------------------------------------------------
// The OAuth 2.0 token endpoint of service account keys (JWT-bearer grant, RFC 7523).
// ---------------------------------------------------------------------------------------------

type tokenEndpoint struct {
	t   testing.TB
	url string
	// fail, when set, answers instead of issuing a token.
	fail func() (status int, body string)
	// keyID is the kid the grant must have and accessToken the token issued: gcsTestKeyID and
	// gcsTestToken when empty.
	keyID, accessToken string
	requests           atomic.Int32
}

// ServeHTTP checks the grant as Google's endpoint does: a form POST with grant_type
// urn:ietf:params:oauth:grant-type:jwt-bearer and an assertion that is an RS256 JWT signed by the
// key, whose kid is the key's ID, iss the service account, aud the token URI and scope the
// requested scopes, valid for at most an hour.
func (e *tokenEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.requests.Add(1)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	bad := func(format string, args ...any) {
		e.t.Errorf("token request: "+format, args...)
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":"invalid_request","error_description":"bad request"}`)
	}
	if r.Method != http.MethodPost || r.URL.Path != "/token" {
		bad("%s %s", r.Method, r.URL.Path)
		return
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/x-www-form-urlencoded" {
		bad("Content-Type %q", r.Header.Get("Content-Type"))
		return
	}
	if err := r.ParseForm(); err != nil {
		bad("form: %v", err)
		return
	}
	if g := r.PostForm.Get("grant_type"); g != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		bad("grant_type %q", g)
		return
	}
	parts := strings.Split(r.PostForm.Get("assertion"), ".")
	if len(parts) != 3 {
		bad("assertion is not a JWS: %d parts", len(parts))
		return
	}
	var hdr struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
		Kid string `json:"kid"`
	}
	var claims struct {
		Iss   string `json:"iss"`
		Scope string `json:"scope"`
		Aud   string `json:"aud"`
		Exp   int64  `json:"exp"`
		Iat   int64  `json:"iat"`
	}
	if err := decodeJWTPart(parts[0], &hdr); err != nil {
		bad("header: %v", err)
		return
	}
	if err := decodeJWTPart(parts[1], &claims); err != nil {
		bad("claims: %v", err)
		return
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		bad("signature: %v", err)
		return
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(&gcsPrivateKey(e.t).PublicKey, crypto.SHA256, sum[:], sig); err != nil {
		bad("signature does not verify: %v", err)
		return
	}
	keyID, token := e.keyID, e.accessToken
	if keyID == "" {
		keyID = gcsTestKeyID
	}
	if token == "" {
		token = gcsTestToken
	}
	if hdr.Alg != "RS256" || hdr.Typ != "JWT" || hdr.Kid != keyID {
		bad("header %+v", hdr)
		return
	}
	if claims.Iss != gcsTestEmail || claims.Aud != e.url || claims.Scope != gcsScope ||
		claims.Exp-claims.Iat > 3600 || claims.Exp <= time.Now().Unix() {
		bad("claims %+v", claims)
		return
	}
	if e.fail != nil {
		status, body := e.fail()
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
		return
	}
	_, _ = fmt.Fprintf(w, `{"access_token":%q,"expires_in":3599,"token_type":"Bearer"}`, token)
}

func decodeJWTPart(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// startTokenEndpoint serves a token endpoint over TLS (keys from a Secret must name an https
// token_uri) or, with plain, over HTTP. Its URL is .url (…/token).
func startTokenEndpoint(t *testing.T, plain bool) (*tokenEndpoint, *httptest.Server) {
	t.Helper()
	e := &tokenEndpoint{t: t}
	var srv *httptest.Server
	if plain {
		srv = httptest.NewServer(e)
		t.Cleanup(srv.Close)
	} else {
		srv = newTLSServer(t, e)
	}
	e.url = srv.URL + "/token"
	return e, srv
}

// ---------------------------------------------------------------------------------------------
// The real fake-gcs-server, in-process.
// ---------------------------------------------------------------------------------------------

// startFakeGCS runs fake-gcs-server on 127.0.0.1 (a free port) with the test bucket, until the
// test ends. opts.Scheme defaults to http.
func startFakeGCS(t *testing.T, opts fakestorage.Options) *fakestorage.Server {
	t.Helper()
	if opts.Scheme == "" {
		opts.Scheme = "http"
	}
	opts.Host = "127.0.0.1"
	srv, err := fakestorage.NewServerWithOptions(opts)
	if err != nil {
		t.Fatalf("starting fake-gcs-server: %v", err)
	}
	t.Cleanup(srv.Stop)
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: gcsTestBucket})
	return srv
}

// gcsStored is one object as a storage client reads it back.
type gcsStored struct {
	attrs *storage.ObjectAttrs
	body  []byte
}

// readGCS lists every object of the test bucket on the server at base (scheme://host) with the
// storage client and reads each back, by name.
func readGCS(t *testing.T, base string, tlsCfg *tls.Config) map[string]gcsStored {
	t.Helper()
	ctx := context.Background()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsCfg
	tr.Proxy = nil
	c, err := storage.NewClient(ctx, option.WithEndpoint(base+"/storage/v1/"), option.WithoutAuthentication(),
		option.WithHTTPClient(&http.Client{Transport: tr}), storage.WithJSONReads(), storage.WithDisabledClientMetrics())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	out := map[string]gcsStored{}
	it := c.Bucket(gcsTestBucket).Objects(ctx, nil)
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			t.Fatalf("listing the bucket: %v", err)
		}
		r, err := c.Bucket(gcsTestBucket).Object(a.Name).NewReader(ctx)
		if err != nil {
			t.Fatalf("reading %s: %v", a.Name, err)
		}
		body, err := io.ReadAll(r)
		_ = r.Close()
		if err != nil {
			t.Fatalf("reading %s: %v", a.Name, err)
		}
		out[a.Name] = gcsStored{attrs: a, body: body}
	}
	return out
}

// ---------------------------------------------------------------------------------------------
// A loopback server holding uploads to the JSON API's contract.
// ---------------------------------------------------------------------------------------------

// gcsUpload is one upload the contract server accepted.
type gcsUpload struct {
	Name     string
	Metadata raw.Object
	Media    []byte
	Auth     string
}

// gcsContract serves POST /upload/storage/v1/b/<bucket>/o?uploadType=multipart as Cloud
// Storage does: the body is multipart/related, an application/json part with the object's
// metadata (decoded strictly into the API's Object) and the media part; the answer is the
// object resource, or what answer returns for upload n (from 1).
type gcsContract struct {
	t      *testing.T
	answer func(n int) (status int, headers map[string]string, body string)

	mu      sync.Mutex
	n       int
	uploads []gcsUpload
}

func (c *gcsContract) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.n++
	n := c.n
	c.mu.Unlock()
	fail := func(format string, args ...any) {
		c.t.Errorf("upload %d: "+format, append([]any{n}, args...)...)
		gcsErrorAnswer(w, http.StatusBadRequest, "invalid", "Invalid request")
	}
	if r.Method != http.MethodPost || r.URL.Path != "/upload/storage/v1/b/"+gcsTestBucket+"/o" {
		fail("%s %s", r.Method, r.URL.Path)
		return
	}
	q := r.URL.Query()
	if q.Get("uploadType") != "multipart" || q.Get("alt") != "json" {
		fail("query %v", q)
		return
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/related" || params["boundary"] == "" {
		fail("Content-Type %q", r.Header.Get("Content-Type"))
		return
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	var up gcsUpload
	up.Auth = r.Header.Get("Authorization")
	for i := 0; ; i++ {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			if i != 2 {
				fail("%d parts, want 2", i)
				return
			}
			break
		}
		if err != nil {
			fail("multipart: %v", err)
			return
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		switch i {
		case 0:
			dec := json.NewDecoder(p)
			dec.DisallowUnknownFields()
			if ct != "application/json" || dec.Decode(&up.Metadata) != nil {
				fail("metadata part %q is not an Object", ct)
				return
			}
		case 1:
			if ct != transport.ContentTypeJSON {
				fail("media part Content-Type %q", ct)
				return
			}
			up.Media, _ = io.ReadAll(p)
		default:
			fail("more than 2 parts")
			return
		}
	}
	up.Name = up.Metadata.Name
	if q.Get("name") != "" && q.Get("name") != up.Name {
		fail("name %q in the query, %q in the metadata", q.Get("name"), up.Name)
		return
	}
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], crc32.Checksum(up.Media, crc32.MakeTable(crc32.Castagnoli)))
	if up.Metadata.Crc32c != base64.StdEncoding.EncodeToString(sum[:]) || up.Metadata.ContentType != transport.ContentTypeJSON || up.Name == "" {
		fail("metadata %+v", up.Metadata)
		return
	}
	c.mu.Lock()
	c.uploads = append(c.uploads, up)
	c.mu.Unlock()
	if c.answer != nil {
		if status, headers, body := c.answer(n); status != http.StatusOK {
			for k, v := range headers {
				w.Header().Set(k, v)
			}
			w.Header().Set("Content-Type", "application/json; charset=UTF-8")
			w.WriteHeader(status)
			_, _ = io.WriteString(w, body)
			return
		}
	}
	obj := raw.Object{
		Kind: "storage#object", Id: gcsTestBucket + "/" + up.Name + "/1733000000000000", Name: up.Name, Bucket: gcsTestBucket,
		Generation: 1733000000000000, Metageneration: 1, ContentType: transport.ContentTypeJSON, Size: uint64(len(up.Media)),
		Crc32c: up.Metadata.Crc32c, StorageClass: "STANDARD", TimeCreated: time.Now().UTC().Format(time.RFC3339Nano),
		Updated: time.Now().UTC().Format(time.RFC3339Nano),
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_ = json.NewEncoder(w).Encode(&obj)
}

func (c *gcsContract) received() []gcsUpload {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]gcsUpload(nil), c.uploads...)
}

// gcsErrorBody is the JSON API's error document.
func gcsErrorBody(code int, reason, message string) string {
	b, _ := json.Marshal(map[string]any{"error": map[string]any{
		"code": code, "message": message,
		"errors": []map[string]string{{"message": message, "domain": "global", "reason": reason}},
	}})
	return string(b)
}

func gcsErrorAnswer(w http.ResponseWriter, code int, reason, message string) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, gcsErrorBody(code, reason, message))
}

// ---------------------------------------------------------------------------------------------
// Certificates.
// ---------------------------------------------------------------------------------------------

// writeLoopbackCert writes a self-signed certificate for 127.0.0.1 and its key to PEM files and
// returns their paths and the certificate.
func writeLoopbackCert(t *testing.T) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "fake-gcs-server"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ = x509.ParseCertificate(der)
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, cert
}
