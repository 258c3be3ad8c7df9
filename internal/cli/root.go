// Package cli is kubectl-herald (issue 20): Policy Herald's kubectl plugin. It reads the cluster
// with the person's kubeconfig, so RBAC applies as for kubectl, and answers from the same code as
// the operator and the console: reports are converted by package report and queried by the
// console's query engine.
package cli

import (
	"io"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// Options are what every command shares: the kubeconfig flags, the streams and the clock.
type Options struct {
	Flags   *genericclioptions.ConfigFlags
	Streams genericiooptions.IOStreams
	// Now is the clock AGE columns are computed from (tests fix it).
	Now func() time.Time
	// PageSize is how many reports one LIST page holds.
	PageSize int64
}

// DefaultPageSize keeps one page of large reports well under the memory budget (issue 20:
// under 200 MiB for 100,000 results) while keeping the number of round trips small.
const DefaultPageSize = 100

// NewRoot returns the kubectl-herald command reading and writing streams.
func NewRoot(streams genericiooptions.IOStreams) *cobra.Command { return newRoot(streams) }

// newRoot is NewRoot with options changed by set (tests fix the clock and the page size).
func newRoot(streams genericiooptions.IOStreams, set ...func(*Options)) *cobra.Command {
	o := &Options{
		Flags:    genericclioptions.NewConfigFlags(true),
		Streams:  streams,
		Now:      time.Now,
		PageSize: DefaultPageSize,
	}
	for _, f := range set {
		f(o)
	}
	// controller-runtime's client logs through its global logger, which would otherwise print a
	// stack trace saying it was never set; what matters reaches the person as an error.
	ctrllog.SetLogger(logr.Discard())
	root := &cobra.Command{
		Use:   "kubectl-herald",
		Short: "Policy results, delivery health and test messages of Policy Herald",
		Long: `kubectl herald reads policy reports (wgpolicyk8s.io and openreports.io, whichever are
installed) and Policy Herald's objects with your kubeconfig, so what you see is what your RBAC allows.`,
		Example: `  kubectl herald results list -A --result fail
  kubectl herald results summary -A
  kubectl herald status -A
  kubectl herald test platform-webhook -n policy-herald-system
  source <(kubectl herald completion bash)`,
		Annotations:   map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl herald"},
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	o.Flags.AddFlags(root.PersistentFlags())
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	root.AddCommand(newResultsCmd(o), newStatusCmd(o), newTestCmd(o))
	root.AddCommand(newDoctorCmd(o))
	return root
}

// stderr is where warnings go.
func (o *Options) stderr() io.Writer { return o.Streams.ErrOut }
