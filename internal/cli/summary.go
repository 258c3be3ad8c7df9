package cli

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/console/query"
	"github.com/policyherald/policy-herald/internal/report"
)

type summaryFlags struct {
	readFlags
	output  string
	cluster bool
}

func newSummaryCmd(o *Options) *cobra.Command {
	f := &summaryFlags{}
	cmd := &cobra.Command{
		Use:   "summary",
		Short: "Count results by status and source, per namespace or for the cluster",
		Long: `Count the results you may read by status, per namespace and source (a cluster-scoped
result's namespace is <none>), or per source for everything read with --cluster. The filters
of results list apply.`,
		Example: `  # counts per namespace and source in the whole cluster
  kubectl herald results summary -A

  # one line per source for the cluster, failing results of high severity only
  kubectl herald results summary -A --cluster --severity high --result fail`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.runSummary(cmd.Context(), f) },
	}
	f.add(cmd)
	cmd.Flags().StringVarP(&f.output, "output", "o", outTable, "output format: "+strings.Join(outputs, "|"))
	cmd.Flags().BoolVar(&f.cluster, "cluster", false, "one count per source for everything read, not per namespace")
	_ = cmd.RegisterFlagCompletionFunc("output", fixedCompletion(outputs...))
	return cmd
}

// summaryRow is the counts of one namespace (unless --cluster) and source.
type summaryRow struct {
	Namespace string              `json:"namespace,omitempty"`
	Source    string              `json:"source"`
	Total     int                 `json:"total"`
	Statuses  report.StatusCounts `json:"statuses"`
}

func (o *Options) runSummary(ctx context.Context, f *summaryFlags) error {
	if err := checkOutput(f.output); err != nil {
		return err
	}
	sel := query.Selection{Query: f.query()}
	if _, err := query.New(&source{names: report.NewSourceNames()}).Each(query.Everything, sel, nil); err != nil {
		return err
	}
	r, err := o.newReader(&f.readFlags)
	if err != nil {
		return err
	}
	all, err := r.all(ctx)
	if err != nil {
		return err
	}
	rows, err := summarize(all, sel, f.cluster)
	if err != nil {
		return err
	}
	return printSummary(o, f, rows)
}

// summarize counts the selected results per namespace (unless cluster) and source, in one
// scan; rows carry the engine's source names, so sources are named as everywhere else.
func summarize(all *source, sel query.Selection, cluster bool) ([]summaryRow, error) {
	type key struct{ ns, source string }
	counts := map[key]*report.StatusCounts{}
	_, err := query.New(all).Each(query.Everything, sel, func(r query.Row) error {
		k := key{source: r.Source}
		if !cluster {
			k.ns = r.Namespace
		}
		c := counts[k]
		if c == nil {
			c = &report.StatusCounts{}
			counts[k] = c
		}
		c.Add(v1alpha1.ResultStatus(r.Status))
		return nil
	})
	rows := make([]summaryRow, 0, len(counts))
	for k, c := range counts {
		rows = append(rows, summaryRow{Namespace: k.ns, Source: k.source, Total: c.Total(), Statuses: *c})
	}
	slices.SortFunc(rows, func(a, b summaryRow) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Source, b.Source))
	})
	return rows, err
}

func printSummary(o *Options, f *summaryFlags, rows []summaryRow) error {
	var header []string
	if !f.cluster {
		header = append(header, "NAMESPACE")
	}
	header = append(header, "SOURCE")
	header = append(header, countColumns...)
	cells := make([][]string, len(rows))
	for i, r := range rows {
		if !f.cluster {
			cells[i] = append(cells[i], r.Namespace)
		}
		cells[i] = append(cells[i], r.Source)
		cells[i] = append(cells[i], countCells(r.Statuses)...)
	}
	return printCounts(o.Streams.Out, f.output, header, cells, rows)
}
