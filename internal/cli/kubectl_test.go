package cli

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestThroughKubectl builds the binary and runs it as a person would: `kubectl herald ...`
// through the real kubectl, which finds the plugin on PATH.
func TestThroughKubectl(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatal("kubectl is not on PATH: ", err)
	}
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "kubectl-herald"), "../../cmd/kubectl-herald")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building: %v\n%s", err, out)
	}
	args := []string{"results", "list", "-A", "--result", "fail"}
	cmd := exec.Command(kubectl, append([]string{"herald", "--kubeconfig", kubeconfigs["admin"]}, args...)...)
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	got, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl herald: %v\n%s", err, got)
	}
	want, stderr, err := herald(t, context.Background(), "admin", args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if string(got) != want || !strings.HasPrefix(want, "NAMESPACE ") {
		t.Errorf("kubectl herald printed\n%s\nwant\n%s", got, want)
	}

	// An error goes to stderr with kubectl's "error: " and a non-zero exit.
	cmd = exec.Command(kubectl, "herald", "--kubeconfig", kubeconfigs["alice"], "results", "list", "-n", "team-b")
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.HasPrefix(string(out), "error: no permission to list") {
		t.Errorf("alice in team-b: %v\n%s", err, out)
	}
}
