package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/printers"
)

// Results of a doctor check.
const (
	checkOK   = "OK"
	checkWarn = "WARN"
	checkFail = "FAIL"
)

// check is one line of doctor: what was checked, how it went, and for WARN and FAIL what a
// person can do about it.
type check struct {
	Check  string `json:"check"`
	Status string `json:"status"`
	Detail string `json:"detail"`
	Next   string `json:"next,omitempty"`
}

type doctorFlags struct {
	output     string
	operatorNS string
}

func newDoctorCmd(o *Options) *cobra.Command {
	f := &doctorFlags{}
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check a Policy Herald installation and say what to fix",
		Long: `Check a Policy Herald installation from the outside, with your kubeconfig: the operator
Deployment and its leader Lease, the CRDs of Policy Herald and of the report APIs, your own
permissions, the objects that are not Ready, ledgers near their size limit and the console.
One line per check: OK, WARN or FAIL, with a next step for WARN and FAIL. The exit code is 1
when a check FAILs. Objects and ledgers are checked in every namespace, or in -n's only.`,
		Example: `  # the whole installation
  kubectl herald doctor

  # an operator installed in another namespace, as JSON (for a script or CI)
  kubectl herald doctor --operator-namespace herald -o json

  # what you can use in your own namespace
  kubectl herald doctor -n team-a`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.runDoctor(cmd.Context(), f) },
	}
	cmd.Flags().StringVarP(&f.output, "output", "o", outTable, "output format: table|json|yaml")
	cmd.Flags().StringVar(&f.operatorNS, "operator-namespace", "",
		"namespace of the operator (default: "+defaultOperatorNS+", else wherever its Deployment is found)")
	_ = cmd.RegisterFlagCompletionFunc("output", fixedCompletion(outTable, outJSON, outYAML))
	return cmd
}

// errChecksFailed makes the exit code non-zero; the checks themselves are already printed.
var errChecksFailed = errors.New("checks failed")

func (o *Options) runDoctor(ctx context.Context, f *doctorFlags) error {
	if f.output != outTable && f.output != outJSON && f.output != outYAML {
		return fmt.Errorf("doctor prints table, json or yaml")
	}
	cl, err := o.connect()
	if err != nil {
		return err
	}
	d := &doctor{o: o, cl: cl, operatorNS: f.operatorNS, explicitNS: f.operatorNS != "", denied: map[string]bool{}, reports: map[string]map[string]bool{}}
	if o.Flags.Namespace != nil {
		d.ns = *o.Flags.Namespace
	}
	if err := d.run(ctx); err != nil {
		return err
	}
	if err := printChecks(o, f.output, d.checks); err != nil {
		return err
	}
	if n := d.failed(); n > 0 {
		return fmt.Errorf("%w: %d of %d", errChecksFailed, n, len(d.checks))
	}
	return nil
}

// doctor runs the checks against one cluster and collects their lines.
type doctor struct {
	o  *Options
	cl *cluster
	// ns is where objects, ledgers and permissions are checked; "" for every namespace.
	ns string
	// operatorNS is the operator's namespace: the flag's, else where its Deployment is found.
	operatorNS string
	explicitNS bool
	// denied holds "verb resource" the caller may not do, found by the permission check, so
	// later checks skip what they could not read without saying it twice.
	denied map[string]bool
	// reports are the resources each report API serves (none when not installed).
	reports map[string]map[string]bool
	checks  []check
}

// run runs every check in order. Only an unreachable cluster (or refused credentials) stops
// it: everything else becomes a line.
func (d *doctor) run(ctx context.Context) error {
	if _, err := d.cl.served(operatorGV); err != nil {
		return err
	}
	steps := []func(context.Context) error{
		d.checkOperator, d.checkAPIs, d.checkPermissions, d.checkObjects, d.checkLedgers, d.checkConsole,
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (d *doctor) add(name, status, detail, next string) {
	d.checks = append(d.checks, check{Check: name, Status: status, Detail: detail, Next: next})
}

func (d *doctor) failed() (n int) {
	for _, c := range d.checks {
		if c.Status == checkFail {
			n++
		}
	}
	return n
}

// where says which namespaces a check covered.
func (d *doctor) where() string {
	if d.ns == "" {
		return "in every namespace"
	}
	return fmt.Sprintf("in namespace %q", d.ns)
}

func printChecks(o *Options, output string, checks []check) error {
	if output != outTable {
		return printCounts(o.Streams.Out, output, nil, nil, checks)
	}
	tw := printers.GetNewTabWriter(o.Streams.Out)
	fmt.Fprintln(tw, "STATUS\tCHECK\tDETAIL\tNEXT STEP")
	for _, c := range checks {
		fmt.Fprintln(tw, strings.Join([]string{c.Status, c.Check, oneLine(c.Detail), oneLine(c.Next)}, "\t"))
	}
	return tw.Flush()
}
