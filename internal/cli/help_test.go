package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// TestHelpHasExamples: every command of ours explains itself with examples, and its help is
// printed as `kubectl herald ...`.
func TestHelpHasExamples(t *testing.T) {
	root := NewRoot(genericiooptions.NewTestIOStreamsDiscard())
	root.InitDefaultCompletionCmd()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Example == "" && c.Name() != "help" && !strings.HasPrefix(c.CommandPath(), "kubectl herald completion") {
			t.Errorf("%q has no example", c.CommandPath())
		}
		var out bytes.Buffer
		c.SetOut(&out)
		if err := c.Help(); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), "kubectl herald") {
			t.Errorf("%q: help does not say kubectl herald:\n%s", c.CommandPath(), out.String())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// TestCompletion: the shells' completion scripts, and completion of flag values.
func TestCompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		out, _, err := herald(t, context.Background(), "admin", "completion", shell)
		if err != nil || !strings.Contains(out, "kubectl-herald") {
			t.Errorf("completion %s: %v\n%.200s", shell, err, out)
		}
	}
	out, _, err := herald(t, context.Background(), "admin", "__complete", "results", "list", "--result", "")
	if err != nil || !strings.Contains(out, "fail\n") || !strings.Contains(out, "skip\n") {
		t.Errorf("completing --result: %v\n%s", err, out)
	}
}
