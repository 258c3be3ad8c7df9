package sender

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	raw "google.golang.org/api/storage/v1"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/destination/descriptor"
	"github.com/policyherald/policy-herald/internal/sender/transport"
)

// The gcs sender's entry in the conformance suite. A Send writes one object per result (MaxBatch
// 10), each one multipart upload, POST /upload/storage/v1/b/<bucket>/o?uploadType=multipart,
// whose multipart/related body is the object's metadata (JSON) and the media, the
// ResultDocument. The sender has no endpoint setting: config names the loopback server in
// Config.apiEndpoint, as newGCSAt does for gcs_test.go. Its credential is a service account key
// (the Secret value is its private_key_id) whose access tokens come from a token endpoint over
// TLS checking the signed grant (tokenEndpoint of gcs_helpers_test.go), shared by the checks:
// the token requests do not reach the loopback server, and the token it issues is the Secret
// value too, so an error echoing the access token must hide it. decode replays each upload
// through the JSON API contract server (gcsContract) and returns the document's policy.
func init() {
	conformanceSenders = append(conformanceSenders, conformanceSender{
		typ:    v1alpha1.DestinationGCS,
		config: gcsConformanceConfig,
		// The object resource of the upload, as the JSON API answers it.
		okFor: func(n int, r recorded) conformanceAnswer {
			meta, media, err := gcsConformanceParts(r.Body)
			if err != nil {
				return gcsConformanceFail(http.StatusBadRequest, 0, "Invalid multipart request")
			}
			obj := raw.Object{
				Kind: "storage#object", Id: gcsTestBucket + "/" + meta.Name + "/1733000000000000", Name: meta.Name, Bucket: gcsTestBucket,
				Generation: 1733000000000000, Metageneration: 1, ContentType: meta.ContentType, Size: uint64(len(media)),
				Crc32c: meta.Crc32c, StorageClass: "STANDARD", TimeCreated: "2026-09-01T08:00:00.000Z", Updated: "2026-09-01T08:00:00.000Z",
				SelfLink:  "https://www.googleapis.com/storage/v1/b/" + gcsTestBucket + "/o/" + url.PathEscape(meta.Name),
				MediaLink: "https://storage.googleapis.com/download/storage/v1/b/" + gcsTestBucket + "/o/" + url.PathEscape(meta.Name) + "?alt=media",
			}
			return conformanceAnswer{status: http.StatusOK, header: map[string]string{"Content-Type": "application/json; charset=UTF-8"}, body: conformanceJSON(&obj)}
		},
		fail:    gcsConformanceFail,
		decode:  gcsConformanceDecode,
		texts:   gcsConformanceTexts,
		hostile: gcsConformanceHostile,
		notApplicable: map[string]string{
			chkGolden: "the body is multipart/related (the object's metadata, then the document) with a boundary drawn at random: " +
				"not a JSON document; the media is the ResultDocument that webhook-full.json pins, and TestGCSUploadContract checks each " +
				"upload's media byte for byte and its name, decode here the metadata and the document",
			chkTemplate: "gcs writes the ResultDocument, which has no text to template (descriptor Template false)",
		},
	})
}

// gcsConformanceConfig writes to the JSON API at base with a service account key whose
// private_key_id is secret; its token_uri is the shared token endpoint, on the host of base
// ("localhost" in the ssrf check, whose guard must refuse the token request as well).
func gcsConformanceConfig(base, secret string) Config {
	tokens := gcsConformanceTokens()
	tokenURI := tokens.url
	if u, err := url.Parse(base); err == nil && u.Hostname() == "localhost" {
		tokenURI = strings.Replace(tokenURI, "127.0.0.1", "localhost", 1)
	}
	key := gcsKeyJSON(gcsConformanceTB, tokenURI, func(m map[string]any) { m["private_key_id"] = secret })
	return Config{
		Destination: &v1alpha1.Destinations{GCS: &v1alpha1.GCSDestination{Bucket: gcsTestBucket}},
		Settings:    descriptor.Settings{"credentials": key},
		TLS:         tokens.tls,
		apiEndpoint: base + "/storage/v1/",
	}
}

// gcsConformanceFail is the JSON API's error document; 429 with Retry-After.
func gcsConformanceFail(status, retryAfter int, text string) conformanceAnswer {
	reason := map[int]string{
		http.StatusBadRequest: "invalid", http.StatusUnauthorized: "required", http.StatusForbidden: "forbidden",
		http.StatusNotFound: "notFound", http.StatusRequestTimeout: "transport.RequestTimeout", http.StatusRequestEntityTooLarge: "uploadTooLarge",
		http.StatusTooManyRequests: "rateLimitExceeded", http.StatusServiceUnavailable: "backendError",
	}[status]
	if reason == "" {
		reason = "backendError"
	}
	a := conformanceAnswer{status: status, header: map[string]string{"Content-Type": "application/json; charset=UTF-8"}, body: gcsErrorBody(status, reason, text)}
	if retryAfter > 0 {
		a.header["Retry-After"] = fmt.Sprint(retryAfter)
	}
	return a
}

// gcsConformanceName is the name of an object: <prefix>/<YYYY-MM-DD or undated>/<policy>-<ID>.json.
var gcsConformanceName = regexp.MustCompile(`^` + gcsDefaultPrefix + `/([0-9]{4}-[0-9]{2}-[0-9]{2}|undated)/([A-Za-z0-9._-]{1,200})-([0-9a-f]+)\.json$`)

// gcsConformanceDecode checks one upload against the JSON API (the contract server of
// gcs_helpers_test.go: path, query, multipart/related, metadata strictly an Object, CRC32C),
// its authorization and the name and document the sender writes; it returns the document's
// policy.
func gcsConformanceDecode(t *testing.T, r recorded) []string {
	t.Helper()
	if errs := gcsConformanceGrantErrors(); len(errs) > 0 {
		t.Errorf("the token endpoint refused grants: %s", strings.Join(errs, "; "))
	}
	contract := &gcsContract{t: t}
	req := httptest.NewRequest(r.Method, r.RequestURI, bytes.NewReader(r.Body))
	req.Header = r.Header.Clone()
	w := httptest.NewRecorder()
	contract.ServeHTTP(w, req)
	ups := contract.received()
	if w.Code != http.StatusOK || len(ups) != 1 {
		t.Fatalf("the JSON API would refuse the upload (%d): %s", w.Code, firstBytes(r.Body))
	}
	up := ups[0]
	if up.Auth != "Bearer "+conformanceSecret {
		t.Errorf("Authorization %q, want the access token of the key", up.Auth)
	}
	if ua := r.Header.Get("User-Agent"); ua != transport.UserAgent {
		t.Errorf("User-Agent %q, want Policy Herald's", ua)
	}
	// The metadata: the name, the bucket, the type and the checksum, nothing else.
	var fields map[string]json.RawMessage
	meta, _, err := gcsConformancePartsRaw(r.Body)
	if err != nil || json.Unmarshal(meta, &fields) != nil {
		t.Fatalf("metadata: %v", err)
	}
	for k := range fields {
		if k != "name" && k != "bucket" && k != "contentType" && k != "crc32c" {
			t.Errorf("metadata field %s: %s", k, meta)
		}
	}
	if up.Metadata.Bucket != gcsTestBucket {
		t.Errorf("metadata bucket %q", up.Metadata.Bucket)
	}
	name := up.Name
	m := gcsConformanceName.FindStringSubmatch(name)
	if m == nil || len(name) > 1024 || !utf8.ValidString(name) {
		t.Fatalf("object name %q, want %s/<date>/<policy>-<id>.json within 1024 bytes", name, gcsDefaultPrefix)
	}
	var doc ResultDocument
	conformanceStrict(t, up.Media, &doc)
	if doc.ID != m[3] || doc.Status == "" || doc.Policy == "" {
		t.Errorf("object %s holds the document of %q (policy %q, status %q)", name, doc.ID, doc.Policy, doc.Status)
	}
	day := "undated"
	if len(doc.Timestamp) >= 10 {
		day = doc.Timestamp[:10]
	}
	// The name's policy is made of the result's own (control characters, which the document
	// drops, become '_' there), so only the day is compared.
	if m[1] != day {
		t.Errorf("object %s for a document of %s", name, doc.Timestamp)
	}
	return []string{doc.Policy}
}

// gcsConformanceTexts are every string of the metadata and of the document of one upload.
func gcsConformanceTexts(t *testing.T, r recorded) []string {
	t.Helper()
	meta, media, err := gcsConformancePartsRaw(r.Body)
	if err != nil {
		t.Fatalf("multipart body: %v", err)
	}
	return append(jsonStrings(t, meta), jsonStrings(t, media)...)
}

// gcsConformanceHostile checks an upload of the hostile batch: the name made of safe characters
// only, the document JSON for programs, its text as it was but for control characters.
func gcsConformanceHostile(t *testing.T, body []byte, _ []string) {
	meta, media, err := gcsConformanceParts(body)
	if err != nil {
		t.Fatal(err)
	}
	if !gcsConformanceName.MatchString(meta.Name) || len(meta.Name) > 1024 {
		t.Errorf("object name %q", meta.Name)
	}
	var d ResultDocument
	if err := json.Unmarshal(media, &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Message) < 1<<19 && !strings.Contains(d.Message, "@everyone @here [click me](https://evil.example/x) <https://evil.example|innocent> <script>") {
		t.Errorf("message %q", d.Message)
	}
}

// gcsConformancePartsRaw splits a multipart/related upload body into its metadata and media
// parts. The boundary is the body's first line, as Content-Type is not at hand (hostile).
func gcsConformancePartsRaw(body []byte) (meta, media []byte, err error) {
	first, _, ok := bytes.Cut(body, []byte("\r\n"))
	if !ok || !bytes.HasPrefix(first, []byte("--")) {
		return nil, nil, errors.New("not a multipart body")
	}
	mr := multipart.NewReader(bytes.NewReader(body), string(first[2:]))
	var parts [][]byte
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		b, err := io.ReadAll(p)
		if err != nil {
			return nil, nil, err
		}
		parts = append(parts, b)
	}
	if len(parts) != 2 {
		return nil, nil, fmt.Errorf("%d parts, want 2", len(parts))
	}
	return parts[0], parts[1], nil
}

// gcsConformanceParts is the metadata of an upload, decoded, and its media.
func gcsConformanceParts(body []byte) (*raw.Object, []byte, error) {
	meta, media, err := gcsConformancePartsRaw(body)
	if err != nil {
		return nil, nil, err
	}
	var o raw.Object
	if err := json.Unmarshal(meta, &o); err != nil {
		return nil, nil, err
	}
	return &o, media, nil
}

// ---------------------------------------------------------------------------------------------
// The token endpoint of the conformance checks: one for the test binary, as config has no test.
// ---------------------------------------------------------------------------------------------

// gcsGrantTB stands for a test where gcs_helpers_test.go's helpers want one: errors of the token
// endpoint are kept for decode to report (a refused grant fails the Send anyway).
type gcsGrantTB struct {
	testing.TB // nil: only Helper, Errorf and Fatal are called
	mu         sync.Mutex
	errs       []string
}

func (*gcsGrantTB) Helper() {}

func (g *gcsGrantTB) Errorf(format string, args ...any) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.errs = append(g.errs, fmt.Sprintf(format, args...))
}

func (g *gcsGrantTB) Fatal(args ...any) { panic(fmt.Sprint(args...)) }

var gcsConformanceTB = &gcsGrantTB{}

func gcsConformanceGrantErrors() []string {
	gcsConformanceTB.mu.Lock()
	defer gcsConformanceTB.mu.Unlock()
	return append([]string(nil), gcsConformanceTB.errs...)
}

// gcsTokens is the shared token endpoint and a client TLS configuration trusting it.
type gcsTokens struct {
	url string
	tls *tls.Config
}

var gcsConformanceTokens = sync.OnceValue(func() gcsTokens {
	e := &tokenEndpoint{t: gcsConformanceTB, keyID: conformanceSecret, accessToken: conformanceSecret}
	srv := httptest.NewUnstartedServer(e)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS() // for the test binary's life
	e.url = srv.URL + "/token"
	return gcsTokens{url: e.url, tls: trustingTLS(srv)}
})
