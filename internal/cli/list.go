package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/policyherald/policy-herald/internal/console/query"
	"github.com/policyherald/policy-herald/internal/report"
)

type listFlags struct {
	readFlags
	output, sort, groupBy string
	watch                 bool
}

func newListCmd(o *Options) *cobra.Command {
	f := &listFlags{}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List policy results",
		Long: `List the results of the policy reports you may read, in the namespace (-n, else the
kubeconfig's) or in every namespace with the cluster reports (-A).

Filters of one flag are ORed (repeat the flag), different flags ANDed. Without --sort or
--group-by, rows stream as the reports are listed, page by page, kind by kind (ClusterPolicyReport,
ClusterReport, PolicyReport, Report), each page sorted by namespace; --sort reads every report
first. --group-by prints one row per group with its counts by status.`,
		Example: `  # failing results of the restricted Pod Security Standards in argo-cd
  kubectl herald results list --category 'Pod Security Standards (Restricted)' --result fail -n argo-cd

  # critical and high results of Trivy everywhere, most severe first, with messages
  kubectl herald results list -A --source trivy --severity critical --severity high --sort=-severity -o wide

  # results per policy in the cluster, as CSV
  kubectl herald results list -A --group-by policy -o csv

  # results of pods named web-*, then new ones as they appear
  kubectl herald results list --kind Pod --name 'web-*' --watch`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.runList(cmd.Context(), f) },
	}
	f.add(cmd)
	fs := cmd.Flags()
	fs.StringVarP(&f.output, "output", "o", outTable, "output format: "+strings.Join(outputs, "|"))
	fs.StringVar(&f.sort, "sort", "", "sort by namespace, policy, rule, severity, status, kind, name or time; a leading - sorts descending")
	fs.StringVar(&f.groupBy, "group-by", "", "count results per namespace, policy, category, source or kind")
	fs.BoolVarP(&f.watch, "watch", "w", false, "after listing, print new results as they appear")
	_ = cmd.RegisterFlagCompletionFunc("output", fixedCompletion(outputs...))
	_ = cmd.RegisterFlagCompletionFunc("group-by", fixedCompletion("namespace", "policy", "category", "source", "kind"))
	_ = cmd.RegisterFlagCompletionFunc("result", fixedCompletion("pass", "fail", "warn", "error", "skip", "none"))
	_ = cmd.RegisterFlagCompletionFunc("severity", fixedCompletion("critical", "high", "medium", "low", "info", "none"))
	return cmd
}

func fixedCompletion(values ...string) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return values, cobra.ShellCompDirectiveNoFileComp
	}
}

// selection is the engine's selection of the flags, checked before the cluster is asked.
func (f *listFlags) selection() (query.Selection, error) {
	sel := query.Selection{Query: f.query(), GroupBy: query.GroupBy(f.groupBy)}
	by, desc := strings.CutPrefix(f.sort, "-")
	sel.Sort = query.Sort{By: query.SortField(by), Desc: desc}
	if f.groupBy == string(query.GroupRule) {
		return sel, fmt.Errorf("--group-by: unknown grouping %q", f.groupBy)
	}
	if err := checkOutput(f.output); err != nil {
		return sel, err
	}
	if f.watch && f.groupBy != "" {
		return sel, fmt.Errorf("--watch prints results: it does not go with --group-by")
	}
	_, err := query.New(&source{names: report.NewSourceNames()}).Each(query.Everything, sel, nil)
	return sel, err
}

func (o *Options) runList(ctx context.Context, f *listFlags) error {
	sel, err := f.selection()
	if err != nil {
		return err
	}
	r, err := o.newReader(&f.readFlags)
	if err != nil {
		return err
	}
	if sel.GroupBy != query.NoGroup {
		return o.printGroups(ctx, r, sel, f.output)
	}
	p := newRowPrinter(o.Streams.Out, o.Streams.ErrOut, f.output, o.Now(), f.watch)
	var seen map[string]bool // the results printed, for --watch only
	if f.watch {
		seen = map[string]bool{}
	}
	printRow := func(row query.Row) error {
		if seen != nil {
			seen[row.ID] = true
		}
		return p.row(row)
	}
	if sel.Sort.By == "" {
		err = r.pages(ctx, func(s *source) error { return printSource(s, sel, printRow, p) })
	} else {
		var all *source
		if all, err = r.all(ctx); err == nil {
			err = printSource(all, sel, printRow, p)
		}
	}
	if err == nil && f.watch {
		err = r.watch(ctx, sel, seen, printRow, p)
	}
	return joinClose(err, p)
}

// printSource prints the rows of sel in s as one batch.
func printSource(s *source, sel query.Selection, row func(query.Row) error, p rowPrinter) error {
	if _, err := query.New(s).Each(query.Everything, sel, row); err != nil {
		return err
	}
	return p.flush()
}

// joinClose ends the output, even after an error (rows printed stay readable).
func joinClose(err error, p rowPrinter) error {
	if cerr := p.close(err != nil); err == nil {
		err = cerr
	}
	return err
}
