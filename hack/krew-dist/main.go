// Command krew-dist packs the cross-compiled kubectl-herald binaries of make kubectl-herald-dist
// into the archives krew installs (tar.gz; zip for Windows), writes each archive's sha256 next
// to it, and writes dist/herald.yaml: hack/krew/herald.yaml with the release's version and the
// archives' sha256.
package main

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

func main() {
	version := flag.String("version", "v0.1.0", "the release's version, as its Git tag (v1.2.3)")
	dist := flag.String("dist", "dist", "where the binaries are (kubectl-herald/OS_ARCH/) and the archives go")
	manifest := flag.String("manifest", "hack/krew/herald.yaml", "the krew manifest to fill in")
	flag.Parse()
	if err := run(*version, *dist, *manifest); err != nil {
		log.Fatal(err)
	}
}

func run(version, dist, manifest string) error {
	b, err := os.ReadFile(manifest)
	if err != nil {
		return err
	}
	// The template's version is replaced everywhere: spec.version and the release URLs.
	var m map[string]any
	if err := yaml.Unmarshal([]byte(strings.ReplaceAll(string(b), "v0.1.0", version)), &m); err != nil {
		return err
	}
	spec := m["spec"].(map[string]any)
	for _, p := range spec["platforms"].([]any) {
		p := p.(map[string]any)
		labels := p["selector"].(map[string]any)["matchLabels"].(map[string]any)
		sum, err := pack(dist, labels["os"].(string), labels["arch"].(string), p["bin"].(string), p["uri"].(string))
		if err != nil {
			return err
		}
		p["sha256"] = sum
	}
	out, err := yaml.Marshal(m)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dist, "herald.yaml"), out, 0o644)
}

// pack archives the binary of os/arch as the file the manifest's uri names, writes its sha256
// in name.sha256 (as sha256sum prints it), and returns it.
func pack(dist, goos, arch, bin, uri string) (string, error) {
	src := filepath.Join(dist, "kubectl-herald", goos+"_"+arch, bin)
	name := uri[strings.LastIndex(uri, "/")+1:]
	path := filepath.Join(dist, name)
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	w := io.MultiWriter(f, h)
	if strings.HasSuffix(name, ".zip") {
		err = zipFile(w, src, bin)
	} else {
		err = tarGz(w, src, bin)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	return sum, os.WriteFile(path+".sha256", []byte(sum+"  "+name+"\n"), 0o644)
}

// epoch is every archive entry's time, so the same binary always gives the same archive.
var epoch = time.Unix(0, 0).UTC()

func tarGz(w io.Writer, src, name string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	hdr := &tar.Header{Name: name, Mode: 0o755, Size: int64(len(data)), ModTime: epoch, Typeflag: tar.TypeReg}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if _, err := tw.Write(data); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

func zipFile(w io.Writer, src, name string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(w)
	fw, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: epoch})
	if err != nil {
		return err
	}
	if _, err := fw.Write(data); err != nil {
		return err
	}
	return zw.Close()
}
