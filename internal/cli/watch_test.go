package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/policyherald/policy-herald/internal/testing/syncbuf"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/policyherald/policy-herald/internal/console/consoletest/reportgen"
	"github.com/policyherald/policy-herald/internal/testing/wait"
)

// TestListWatch: --watch prints the listed results, then the results of a report created
// after the list, and of a report changed after it only the new result, never one twice.
func TestListWatch(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncbuf.Buffer
	root := newRoot(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	root.SetArgs([]string{"--kubeconfig", kubeconfigs["admin"], "results", "list", "-n", "team-a", "--policy", "require-labels", "-o", "json", "--watch"})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	lines := func() []string { return strings.Split(strings.TrimSpace(out.String()), "\n") }
	waitFor(t, func() bool { return len(lines()) == 2 }, "the 2 listed results", &out)

	// A new report's results, and a changed report's new result only.
	rep := reportgen.OpenReport("team-a", "fail", "warn")
	rep.Name = "watched"
	if err := world.K8s.Create(ctx, rep); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return len(lines()) == 4 }, "the 2 results of the new report", &out)
	rep.Results = append(rep.Results, reportgen.OpenReport("team-a", "pass", "pass", "error").Results[2])
	if err := world.K8s.Update(ctx, rep); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return len(lines()) == 5 }, "the new result of the changed report", &out)
	time.Sleep(300 * time.Millisecond) // nothing else comes
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ls := lines()
	if len(ls) != 5 || !strings.Contains(ls[4], `"status":"error"`) || !strings.Contains(ls[2], `"reportName":"watched"`) {
		t.Errorf("watch printed\n%s", out.String())
	}
	if err := world.K8s.Delete(context.Background(), rep); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, ok func() bool, what string, out *syncbuf.Buffer) {
	t.Helper()
	if !wait.Until(20*time.Second, ok) {
		t.Fatalf("waiting for %s; printed:\n%s", what, out.String())
	}
}

// TestListWatchTable: with --watch a table prints the listed rows at once, not when 1,000 rows
// have come together (they may never come).
func TestListWatchTable(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncbuf.Buffer
	root := newRoot(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	root.SetArgs([]string{"--kubeconfig", kubeconfigs["admin"], "results", "list", "-n", "team-a", "--policy", "require-labels", "--watch"})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	waitFor(t, func() bool { return strings.Count(out.String(), "\n") == 3 }, "the header and the 2 listed rows", &out)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
