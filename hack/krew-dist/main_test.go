package main

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// krewValidate runs krew's own manifest validation (sigs.k8s.io/krew's validate-krew-manifest,
// the check of krew-index: ValidatePlugin, every platform used, none overlapping), without
// installing from the release URLs. Its package is internal to krew, so it runs as krew ships it.
func krewValidate(t *testing.T, manifest string) (string, error) {
	t.Helper()
	cmd := exec.Command("go", "run", "sigs.k8s.io/krew/cmd/validate-krew-manifest@v0.4.3", "-manifest", manifest, "-skip-install")
	cmd.Dir = t.TempDir() // outside this module: krew builds with its own go.mod
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestManifests: the template and the manifest made from it pass krew's validation; the made
// one names the version and the sha256 of the archives it made.
func TestManifests(t *testing.T) {
	if out, err := krewValidate(t, mustAbs(t, "../krew/herald.yaml")); err != nil {
		t.Fatalf("hack/krew/herald.yaml: %v\n%s", err, out)
	}
	dist := t.TempDir()
	for _, p := range []string{"linux_amd64", "linux_arm64", "darwin_amd64", "darwin_arm64", "windows_amd64", "windows_arm64"} {
		bin := "kubectl-herald"
		if strings.HasPrefix(p, "windows") {
			bin += ".exe"
		}
		dir := filepath.Join(dist, "kubectl-herald", p)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, bin), []byte("binary of "+p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := run("v1.2.3", dist, "../krew/herald.yaml"); err != nil {
		t.Fatal(err)
	}
	made := filepath.Join(dist, "herald.yaml")
	if out, err := krewValidate(t, made); err != nil {
		t.Fatalf("the manifest made: %v\n%s", err, out)
	}
	var m struct {
		Spec struct {
			Version   string
			Platforms []struct{ URI, Sha256 string }
		}
	}
	b, _ := os.ReadFile(made)
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m.Spec.Version != "v1.2.3" || len(m.Spec.Platforms) != 6 {
		t.Fatalf("made %s", b)
	}
	for _, p := range m.Spec.Platforms {
		archive, err := os.ReadFile(filepath.Join(dist, filepath.Base(p.URI)))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(archive)
		if hex.EncodeToString(sum[:]) != p.Sha256 || !strings.Contains(p.URI, "/v1.2.3/") {
			t.Errorf("%s: sha256 %s, uri %s", filepath.Base(p.URI), p.Sha256, p.URI)
		}
	}

	// And the validation does reject: a manifest whose file is not named after its plugin.
	other := filepath.Join(t.TempDir(), "other.yaml")
	if err := os.WriteFile(other, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := krewValidate(t, other); err == nil {
		t.Errorf("krew accepted herald as other.yaml:\n%s", out)
	}
}

func mustAbs(t *testing.T, p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
