package main

import (
	"archive/tar"
	"bytes"
	"debug/buildinfo"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// operatorBinary builds the operator once for the tests in this package, as `make image` does
// but without -trimpath, so it links the packages `go test ./...` has just compiled instead of
// compiling the whole tree a second time (6 minutes on a cold, loaded 2-core machine). -short
// skips the tests that need it.
func operatorBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the operator binary; skipped with -short")
	}
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "policy-herald-image-test-")
		if err != nil {
			binErr = err
			return
		}
		binDir = dir
		start := time.Now()
		binPath = filepath.Join(dir, "policy-herald")
		binErr = Build(binPath, runtime.GOARCH, false)
		t.Logf("go build of the operator took %s", time.Since(start).Round(time.Millisecond))
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

var (
	binOnce         sync.Once
	binDir, binPath string
	binErr          error

	testCreated = time.Unix(1700000000, 0).UTC()
	testVersion = "v9.9.9-test"
	testRevis   = "0123456789abcdef0123456789abcdef01234567"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func testOptions(bin, out string) options {
	return options{
		binary:   bin,
		arches:   []string{runtime.GOARCH},
		out:      out,
		tag:      "policy-herald:test",
		version:  testVersion,
		revision: testRevis,
		created:  testCreated,
	}
}

// TestImage builds the image of a real binary into an OCI layout, reads it back and checks its
// manifest, config and only layer, and that a second build gives the same digest.
func TestImage(t *testing.T) {
	bin := operatorBinary(t)
	want, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	o := testOptions(bin, filepath.Join(tmp, "layout"))
	o.tarball = filepath.Join(tmp, "image.tar")
	digest, err := run(o)
	if err != nil {
		t.Fatal(err)
	}

	idx, err := layout.ImageIndexFromPath(o.out)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 {
		t.Fatalf("layout index has %d manifests, want 1", len(im.Manifests))
	}
	desc := im.Manifests[0]
	if desc.Digest != digest {
		t.Errorf("layout index names %s, run returned %s", desc.Digest, digest)
	}
	if desc.MediaType != types.OCIManifestSchema1 {
		t.Errorf("manifest media type %s, want %s", desc.MediaType, types.OCIManifestSchema1)
	}
	if got := desc.Annotations[refNameAnnotation]; got != o.tag {
		t.Errorf("%s = %q, want %q", refNameAnnotation, got, o.tag)
	}
	if desc.Platform == nil || desc.Platform.OS != "linux" || desc.Platform.Architecture != runtime.GOARCH {
		t.Errorf("descriptor platform %+v, want linux/%s", desc.Platform, runtime.GOARCH)
	}

	img, err := idx.Image(desc.Digest)
	if err != nil {
		t.Fatal(err)
	}
	// Digests, sizes and diff IDs agree with the blobs, as a registry or runtime checks them.
	if err := validate.Image(img); err != nil {
		t.Errorf("validate: %v", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
		t.Errorf("config platform %s/%s, want linux/%s", cf.OS, cf.Architecture, runtime.GOARCH)
	}
	if !cf.Created.Equal(testCreated) {
		t.Errorf("config created %s, want %s", cf.Created.Time, testCreated)
	}
	c := cf.Config
	if c.User != "65532:65532" {
		t.Errorf("user %q, want 65532:65532", c.User)
	}
	if !reflect.DeepEqual(c.Entrypoint, []string{"/policy-herald"}) || len(c.Cmd) != 0 {
		t.Errorf("entrypoint %q cmd %q, want [/policy-herald] and no cmd", c.Entrypoint, c.Cmd)
	}
	if c.WorkingDir != "/" {
		t.Errorf("working dir %q, want /", c.WorkingDir)
	}
	if len(c.Env) != 0 {
		t.Errorf("env %q, want none (the binary embeds its time zones and fallback CA roots)", c.Env)
	}
	wantLabels := map[string]string{
		"org.opencontainers.image.title":       "policy-herald",
		"org.opencontainers.image.description": Labels("", "")["org.opencontainers.image.description"],
		"org.opencontainers.image.source":      "https://github.com/policyherald/policy-herald",
		"org.opencontainers.image.licenses":    "Apache-2.0",
		"org.opencontainers.image.version":     testVersion,
		"org.opencontainers.image.revision":    testRevis,
	}
	if !reflect.DeepEqual(c.Labels, wantLabels) {
		t.Errorf("labels %v, want %v", c.Labels, wantLabels)
	}
	if wantLabels["org.opencontainers.image.description"] == "" {
		t.Error("no description label")
	}

	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("%d layers, want 1", len(layers))
	}
	if mt, err := layers[0].MediaType(); err != nil || mt != types.OCILayer {
		t.Errorf("layer media type %s (%v), want %s", mt, err, types.OCILayer)
	}
	checkLayer(t, layers[0], want)

	// The same binary and settings give the same bytes: a second build has the same digest, and
	// the layouts' index.json are identical.
	o2 := testOptions(bin, filepath.Join(tmp, "again"))
	digest2, err := run(o2)
	if err != nil {
		t.Fatal(err)
	}
	if digest2 != digest {
		t.Errorf("second build's digest %s, first %s: the image is not reproducible", digest2, digest)
	}
	if a, b := readFile(t, filepath.Join(o.out, "index.json")), readFile(t, filepath.Join(o2.out, "index.json")); !bytes.Equal(a, b) {
		t.Errorf("index.json differs between two builds:\n%s\n%s", a, b)
	}

	// A rebuild into the same layout replaces it rather than adding a second manifest.
	if _, err := run(o2); err != nil {
		t.Fatal(err)
	}
	if idx2, err := layout.ImageIndexFromPath(o2.out); err != nil {
		t.Fatal(err)
	} else if im2, err := idx2.IndexManifest(); err != nil || len(im2.Manifests) != 1 {
		t.Errorf("rebuilt layout: %v manifests (%v), want 1", im2, err)
	}

	// The docker tarball holds the same config (its manifest is docker's own format).
	timg, err := tarball.ImageFromPath(o.tarball, nil)
	if err != nil {
		t.Fatal(err)
	}
	tcfg, err := timg.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	if cfgName, _ := img.ConfigName(); tcfg != cfgName {
		t.Errorf("tarball config %s, layout config %s", tcfg, cfgName)
	}

	size, _ := layers[0].Size()
	t.Logf("image %s: binary %d bytes, compressed layer %d bytes", digest, len(want), size)
}

// checkLayer checks that the layer holds the binary, and nothing else, at /policy-herald:
// executable, read-only, owned by the non-root user, stamped with the fixed time.
func checkLayer(t *testing.T, l v1.Layer, want []byte) {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	var names []string
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, hdr.Name)
		if strings.TrimPrefix(hdr.Name, "/") != "policy-herald" {
			continue
		}
		if hdr.Typeflag != tar.TypeReg {
			t.Errorf("%s: type %c, want a regular file", hdr.Name, hdr.Typeflag)
		}
		if hdr.Mode != 0o555 {
			t.Errorf("%s: mode %o, want 555", hdr.Name, hdr.Mode)
		}
		if hdr.Uid != 65532 || hdr.Gid != 65532 {
			t.Errorf("%s: owner %d:%d, want 65532:65532", hdr.Name, hdr.Uid, hdr.Gid)
		}
		if !hdr.ModTime.Equal(testCreated) {
			t.Errorf("%s: mtime %s, want %s", hdr.Name, hdr.ModTime, testCreated)
		}
		got, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes that are not the binary's %d", hdr.Name, len(got), len(want))
		}
	}
	if !reflect.DeepEqual(names, []string{"policy-herald"}) {
		t.Errorf("layer entries %q, want only policy-herald", names)
	}
}

// TestBinaryHasFallbackRoots checks that the operator links golang.org/x/crypto/x509roots/fallback,
// so HTTPS destinations verify on the empty base, which has no /etc/ssl/certs.
func TestBinaryHasFallbackRoots(t *testing.T) {
	info, err := buildinfo.ReadFile(operatorBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range info.Deps {
		if d.Path == "golang.org/x/crypto/x509roots/fallback" {
			return
		}
	}
	t.Error("the operator binary does not link golang.org/x/crypto/x509roots/fallback (main.go's blank import)")
}

// TestBinaryLeavesOutTheStorageClient checks that the operator does not link Google's storage
// client, nor what only it pulled in (gRPC's xDS with envoy's and cncf's protos, the
// OpenTelemetry metrics SDK and its Google exporter): the gcs sender makes its one upload over
// the JSON API with its own HTTP client, and the client cost 18.7 MB of the stripped binary.
func TestBinaryLeavesOutTheStorageClient(t *testing.T) {
	info, err := buildinfo.ReadFile(operatorBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	unwanted := map[string]bool{
		"cloud.google.com/go/storage":                                                true,
		"github.com/envoyproxy/go-control-plane/envoy":                               true,
		"github.com/cncf/xds/go":                                                     true,
		"go.opentelemetry.io/otel/sdk/metric":                                        true,
		"github.com/GoogleCloudPlatform/opentelemetry-operations-go/exporter/metric": true,
	}
	for _, d := range info.Deps {
		if unwanted[d.Path] {
			t.Errorf("the operator binary links %s", d.Path)
		}
	}
}

// TestRefusesWrongBinary checks that a binary for another architecture is not put in the image.
func TestRefusesWrongBinary(t *testing.T) {
	bin := operatorBinary(t)
	o := testOptions(bin, filepath.Join(t.TempDir(), "layout"))
	o.arches = []string{"s390x"}
	if _, err := run(o); err == nil || !strings.Contains(err.Error(), "not linux/s390x") {
		t.Errorf("run with a linux/%s binary for -arch s390x: %v, want an error", runtime.GOARCH, err)
	}
	if _, err := os.Stat(o.out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("layout written despite the error: %v", err)
	}
}

// TestIndex checks the image index of several platforms (with one binary, so no second build).
func TestIndex(t *testing.T) {
	bin := operatorBinary(t)
	o := testOptions(bin, "")
	var images []v1.Image
	platforms := []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}
	for _, p := range platforms {
		img, err := Image(bin, p, o)
		if err != nil {
			t.Fatal(err)
		}
		images = append(images, img)
	}
	// Validated as read back from disk: in memory, mutate's manifests have empty maps where the
	// parsed JSON has none, which validate reports.
	dir := t.TempDir()
	if _, err := layout.Write(dir, Index(images, platforms)); err != nil {
		t.Fatal(err)
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(idx); err != nil {
		t.Errorf("validate: %v", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if im.MediaType != types.OCIImageIndex || len(im.Manifests) != 2 {
		t.Fatalf("index %s with %d manifests, want %s with 2", im.MediaType, len(im.Manifests), types.OCIImageIndex)
	}
	for i, d := range im.Manifests {
		if d.Platform == nil || !d.Platform.Equals(platforms[i]) {
			t.Errorf("manifest %d platform %+v, want %+v", i, d.Platform, platforms[i])
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.Architecture != platforms[i].Architecture {
			t.Errorf("manifest %d config architecture %s, want %s", i, cf.Architecture, platforms[i].Architecture)
		}
	}
	if im.Manifests[0].Digest == im.Manifests[1].Digest {
		t.Error("both platforms have the same manifest")
	}
}

// TestResetLayoutRefusesOtherDirs checks that -out never deletes a directory that is not a layout.
func TestResetLayoutRefusesOtherDirs(t *testing.T) {
	dir := t.TempDir()
	keep := filepath.Join(dir, "keep.txt")
	if err := os.WriteFile(keep, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := resetLayout(dir); err == nil {
		t.Error("resetLayout emptied a directory that is not an OCI layout")
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("file gone: %v", err)
	}
}

func TestSourceDateEpoch(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "")
	if got, err := sourceDateEpoch(); err != nil || !got.Equal(time.Unix(0, 0)) {
		t.Errorf("unset: %s %v, want the epoch", got, err)
	}
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	if got, err := sourceDateEpoch(); err != nil || !got.Equal(testCreated) {
		t.Errorf("1700000000: %s %v, want %s", got, err, testCreated)
	}
	t.Setenv("SOURCE_DATE_EPOCH", "yesterday")
	if _, err := sourceDateEpoch(); err == nil {
		t.Error("SOURCE_DATE_EPOCH=yesterday: no error")
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
