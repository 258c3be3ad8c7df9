package cli

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"k8s.io/cli-runtime/pkg/printers"
	"sigs.k8s.io/yaml"

	"github.com/policyherald/policy-herald/internal/console/query"
	"github.com/policyherald/policy-herald/internal/report"
)

// countColumns are the count columns of a group or summary row, after its key columns.
var countColumns = []string{"RESULTS", "PASS", "FAIL", "WARN", "ERROR", "SKIP", "NONE"}

func countCells(c report.StatusCounts) []string {
	out := []string{}
	for _, n := range []int{c.Total(), c.Pass, c.Fail, c.Warn, c.Error, c.Skip, c.None} {
		out = append(out, strconv.Itoa(n))
	}
	return out
}

// printGroups reads every report and prints the groups of sel with their counts.
func (o *Options) printGroups(ctx context.Context, r *reader, sel query.Selection, output string) error {
	all, err := r.all(ctx)
	if err != nil {
		return err
	}
	groups, err := query.New(all).Each(query.Everything, sel, func(query.Row) error { return nil })
	if err != nil {
		return err
	}
	if groups == nil {
		groups = []query.Group{}
	}
	type group struct {
		Key      string              `json:"key"`
		Total    int                 `json:"total"`
		Statuses report.StatusCounts `json:"statuses"`
	}
	out := make([]group, len(groups))
	rows := make([][]string, len(groups))
	for i, g := range groups {
		out[i] = group{g.Key, g.Total, g.Statuses}
		rows[i] = append([]string{g.Key}, countCells(g.Statuses)...)
	}
	header := append([]string{strings.ToUpper(string(sel.GroupBy))}, countColumns...)
	return printCounts(o.Streams.Out, output, header, rows, out)
}

// orNone shows a missing key as kubectl shows a missing value.
func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

// printCounts prints a table of counts: rows under header for table, wide and csv (a missing
// value is <none> in a table, empty in CSV), v as JSON or YAML.
func printCounts(w io.Writer, output string, header []string, rows [][]string, v any) error {
	switch output {
	case outJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case outYAML:
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	case outCSV:
		cw := csv.NewWriter(w)
		_ = cw.Write(lower(header))
		_ = cw.WriteAll(rows) // WriteAll flushes
		return cw.Error()
	}
	tw := printers.GetNewTabWriter(w)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		for i := range r {
			r[i] = orNone(r[i])
		}
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

func lower(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = strings.ToLower(v)
	}
	return out
}
