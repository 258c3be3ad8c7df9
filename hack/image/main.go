// Command image builds an OCI image of the Policy Herald operator without a container engine or a
// registry (make image): the static binary in one layer on an empty base, run as the non-root user
// 65532:65532, written as an OCI image layout directory (and, with -tarball, as a tar that
// `docker load` reads). With several architectures (-arch amd64,arm64) the layout holds an image
// index with one manifest per platform.
//
// The image is reproducible: the layer's timestamps and the config's creation time are
// SOURCE_DATE_EPOCH (the Unix epoch when unset), so the same binaries give the same digest.
//
// Usage:
//
//	bin/hack/image -out dist/image -tag policy-herald:dev [-arch amd64,arm64] [-version v1.2.3]
//	bin/hack/image -binary bin/policy-herald -arch amd64 -tarball dist/image.tar
//
// Run from the repository root. hack/ is a module of its own, so build it with
// `go build -C hack -o ../bin/hack/ ./image` (the make targets do).
package main

import (
	"archive/tar"
	"bytes"
	"debug/buildinfo"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const (
	// operatorPkg is the package the image runs; built in the operator's own module (see Build).
	operatorPkg = "github.com/policyherald/policy-herald"
	// binaryPath is where the binary is in the image, and the entrypoint.
	binaryPath = "/policy-herald"
	// nonRoot is distroless' nonroot user and group; numeric, so the kubelet can enforce
	// runAsNonRoot without an /etc/passwd.
	nonRoot = 65532
	// refNameAnnotation names an image in an OCI layout's index.json.
	refNameAnnotation = "org.opencontainers.image.ref.name"
)

// options are the command's settings.
type options struct {
	binary  string   // a built binary; empty builds one per architecture
	arches  []string // GOARCH values, one image each
	out     string   // the OCI layout directory, replaced
	tag     string   // the reference name recorded in the layout (and the tarball)
	version string   // org.opencontainers.image.version
	tarball string   // optional docker-loadable tar (one architecture)
	created time.Time
	// revision is org.opencontainers.image.revision; empty omits the label.
	revision string
}

func main() {
	var o options
	var arch string
	flag.StringVar(&o.binary, "binary", "", "a built linux binary of the operator (static, CGO_ENABLED=0); empty builds it for each -arch")
	flag.StringVar(&arch, "arch", "amd64", "GOARCH of the image; a comma list (amd64,arm64) writes an image index with one manifest per platform")
	flag.StringVar(&o.out, "out", "dist/image", "OCI image layout directory to write (replaced when it is one)")
	flag.StringVar(&o.tag, "tag", "policy-herald:dev", "image reference, recorded as "+refNameAnnotation+" in the layout's index")
	flag.StringVar(&o.version, "version", "dev", "org.opencontainers.image.version label")
	flag.StringVar(&o.tarball, "tarball", "", "also write a docker-loadable tar of the image here (needs a single -arch)")
	flag.Parse()

	for _, a := range strings.Split(arch, ",") {
		if a = strings.TrimSpace(a); a != "" {
			o.arches = append(o.arches, a)
		}
	}
	var err error
	if o.created, err = sourceDateEpoch(); err != nil {
		fatal(err)
	}
	o.revision = gitRevision()
	digest, err := run(o)
	if err != nil {
		fatal(err)
	}
	fmt.Printf("%s: %s %s (linux/%s)\n", o.out, o.tag, digest, strings.Join(o.arches, ", linux/"))
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "image:", err)
	os.Exit(1)
}

// run builds (or takes) the binaries, makes the images and writes the layout; it returns the
// digest the layout's index names: the image's, or the image index's with several architectures.
func run(o options) (v1.Hash, error) {
	if len(o.arches) == 0 {
		return v1.Hash{}, errors.New("-arch: no architecture")
	}
	if o.binary != "" && len(o.arches) != 1 {
		return v1.Hash{}, errors.New("-binary is built for one architecture: give a single -arch")
	}
	if o.tarball != "" && len(o.arches) != 1 {
		return v1.Hash{}, errors.New("-tarball holds one image: give a single -arch")
	}
	if _, err := name.ParseReference(o.tag); err != nil {
		return v1.Hash{}, fmt.Errorf("-tag: %w", err)
	}

	var images []v1.Image
	var platforms []v1.Platform
	for _, arch := range o.arches {
		bin := o.binary
		if bin == "" {
			dir, err := os.MkdirTemp("", "policy-herald-image-")
			if err != nil {
				return v1.Hash{}, err
			}
			defer func() { _ = os.RemoveAll(dir) }() // a leftover temporary dir harms nothing
			bin = filepath.Join(dir, "policy-herald")
			if err := Build(bin, arch, true); err != nil {
				return v1.Hash{}, err
			}
		}
		platform, revision, err := checkBinary(bin, arch)
		if err != nil {
			return v1.Hash{}, err
		}
		opts := o
		if revision != "" {
			opts.revision = revision
		}
		img, err := Image(bin, platform, opts)
		if err != nil {
			return v1.Hash{}, fmt.Errorf("image for %s: %w", arch, err)
		}
		images = append(images, img)
		platforms = append(platforms, platform)
	}

	if err := resetLayout(o.out); err != nil {
		return v1.Hash{}, err
	}
	p, err := layout.Write(o.out, empty.Index)
	if err != nil {
		return v1.Hash{}, err
	}
	ref := layout.WithAnnotations(map[string]string{refNameAnnotation: o.tag})
	var digest v1.Hash
	if len(images) == 1 {
		if err := p.AppendImage(images[0], ref, layout.WithPlatform(platforms[0])); err != nil {
			return v1.Hash{}, err
		}
		digest, err = images[0].Digest()
	} else {
		idx := Index(images, platforms)
		if err := p.AppendIndex(idx, ref); err != nil {
			return v1.Hash{}, err
		}
		digest, err = idx.Digest()
	}
	if err != nil {
		return v1.Hash{}, err
	}

	if o.tarball != "" {
		tag, err := name.NewTag(o.tag)
		if err != nil {
			return v1.Hash{}, fmt.Errorf("-tarball needs -tag to be a tag: %w", err)
		}
		if err := os.MkdirAll(filepath.Dir(o.tarball), 0o755); err != nil {
			return v1.Hash{}, err
		}
		if err := tarball.WriteToFile(o.tarball, tag, images[0]); err != nil {
			return v1.Hash{}, err
		}
	}
	return digest, nil
}

// Build builds the operator for linux/arch into out as the Dockerfile does: static (no cgo) and
// without symbol tables; with trimPath also without local paths, as a published image must be.
// -trimpath compiles every package anew (it has a cache of its own), so tests leave it out and
// share the compiled packages of the test run (make test runs with CGO_ENABLED=0, like this).
//
// It builds in the operator's module directory, with the operator's go.mod: hack/'s module
// replaces the operator by ../ but selects its own versions and lists only the modules hack/
// needs, and the image must hold the binary the operator's go.mod pins.
func Build(out, arch string, trimPath bool) error {
	dir, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", operatorPkg).Output()
	if err != nil {
		return fmt.Errorf("finding the operator's module: %w", err)
	}
	if out, err = filepath.Abs(out); err != nil {
		return err
	}
	args := []string{"build", "-ldflags", "-s -w", "-o", out, "."}
	if trimPath {
		args = append([]string{"build", "-trimpath"}, args[1:]...)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = strings.TrimSpace(string(dir))
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build for linux/%s: %w", arch, err)
	}
	return nil
}

// checkBinary makes sure bin is a static Go binary for linux/arch, which is all an empty base can
// run, and returns its platform and the commit it was built from when it records one.
func checkBinary(bin, arch string) (platform v1.Platform, revision string, err error) {
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		return v1.Platform{}, "", fmt.Errorf("%s: not a Go binary: %w", bin, err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if settings["GOOS"] != "linux" || settings["GOARCH"] != arch {
		return v1.Platform{}, "", fmt.Errorf("%s is built for %s/%s, not linux/%s", bin, settings["GOOS"], settings["GOARCH"], arch)
	}
	if settings["CGO_ENABLED"] != "0" {
		return v1.Platform{}, "", fmt.Errorf("%s is not built with CGO_ENABLED=0: it may need a libc the empty base does not have", bin)
	}
	platform = v1.Platform{OS: "linux", Architecture: arch}
	if arch == "arm" && settings["GOARM"] != "" {
		platform.Variant = "v" + strings.TrimSuffix(strings.TrimSuffix(settings["GOARM"], ",softfloat"), ",hardfloat")
	}
	return platform, settings["vcs.revision"], nil
}

// Image makes the image of the binary at bin for platform: one layer with the binary, owned by the
// non-root user, on an empty base.
func Image(bin string, platform v1.Platform, o options) (v1.Image, error) {
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	layerTar, err := layerTar(data, o.created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}

	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer: layer,
		History: v1.History{
			Created:   v1.Time{Time: o.created},
			CreatedBy: "hack/image: " + binaryPath,
			Comment:   "the static operator binary",
		},
	})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS = platform.OS
	cf.Architecture = platform.Architecture
	cf.Variant = platform.Variant
	cf.Created = v1.Time{Time: o.created}
	cf.Config = v1.Config{
		User:       fmt.Sprintf("%d:%d", nonRoot, nonRoot),
		Entrypoint: []string{binaryPath},
		WorkingDir: "/",
		Labels:     Labels(o.version, o.revision),
	}
	return mutate.ConfigFile(img, cf)
}

// Labels are the image's OCI annotations as config labels; revision is left out when empty.
func Labels(version, revision string) map[string]string {
	l := map[string]string{
		"org.opencontainers.image.title":       "policy-herald",
		"org.opencontainers.image.description": "Kubernetes operator that notifies platform teams of policy engine findings (PolicyReports)",
		"org.opencontainers.image.source":      "https://" + operatorPkg,
		"org.opencontainers.image.licenses":    "Apache-2.0",
		"org.opencontainers.image.version":     version,
	}
	if revision != "" {
		l["org.opencontainers.image.revision"] = revision
	}
	return l
}

// Index is the image index of one image per platform.
func Index(images []v1.Image, platforms []v1.Platform) v1.ImageIndex {
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for i, img := range images {
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &platforms[i]},
		})
	}
	return idx
}

// layerTar is the layer's uncompressed tar: only the binary. The operator writes no file (the
// Deployment's root filesystem is read-only, and the metrics server's self-signed certificate is
// kept in memory), so the image needs no /tmp or home directory.
func layerTar(binary []byte, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     strings.TrimPrefix(binaryPath, "/"),
		Mode:     0o555,
		Uid:      nonRoot,
		Gid:      nonRoot,
		Size:     int64(len(binary)),
		ModTime:  mtime,
		Format:   tar.FormatUSTAR,
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, err
	}
	if _, err := tw.Write(binary); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// resetLayout empties dir for a new layout: it must not exist, be empty, or be an OCI layout
// already, so a mistyped -out does not delete anything else.
func resetLayout(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return err
	case len(entries) == 0:
	default:
		if _, err := os.Stat(filepath.Join(dir, "oci-layout")); err != nil {
			return fmt.Errorf("-out %s is neither empty nor an OCI image layout: not replacing it", dir)
		}
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
	}
	return os.MkdirAll(dir, 0o755)
}

// sourceDateEpoch is the time the image says it was made: SOURCE_DATE_EPOCH, or the Unix epoch.
func sourceDateEpoch() (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil || sec < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: not a number of seconds", s)
	}
	return time.Unix(sec, 0).UTC(), nil
}

// gitRevision is the commit checked out where the command runs, or empty outside a git work tree:
// the revision label when the binary records no vcs.revision (builds with -buildvcs=false).
func gitRevision() string {
	out, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}
