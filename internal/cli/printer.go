package cli

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/liggitt/tabwriter"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/cli-runtime/pkg/printers"
	"sigs.k8s.io/yaml"

	"github.com/policyherald/policy-herald/internal/console/query"
)

// Output formats (-o).
const (
	outTable = "table"
	outWide  = "wide"
	outJSON  = "json"
	outYAML  = "yaml"
	outCSV   = "csv"
)

var outputs = []string{outTable, outWide, outJSON, outYAML, outCSV}

func checkOutput(o string) error {
	for _, v := range outputs {
		if o == v {
			return nil
		}
	}
	return fmt.Errorf("unknown output format %q: use one of %s", o, strings.Join(outputs, ", "))
}

// rowPrinter prints result rows. Rows are printed in batches (a LIST page): a table aligns the
// rows of a batch, as kubectl aligns the rows of each chunk it lists.
type rowPrinter interface {
	row(query.Row) error
	flush() error            // ends a batch
	close(failed bool) error // ends the output; failed: after an error
}

// newRowPrinter returns the printer of format out. lines is for --watch, where the output never
// ends: one JSON object or YAML document per row instead of one array, and a table printed
// batch by batch.
func newRowPrinter(w, stderr io.Writer, out string, now time.Time, lines bool) rowPrinter {
	switch out {
	case outJSON:
		return &jsonPrinter{w: bufio.NewWriter(w), lines: lines}
	case outYAML:
		return &yamlPrinter{w: bufio.NewWriter(w), lines: lines}
	case outCSV:
		return &csvPrinter{w: csv.NewWriter(w)}
	}
	batch := tableBatch
	if lines {
		batch = 0 // a watch prints each batch as it comes, as kubectl --watch does
	}
	return &tablePrinter{w: printers.GetNewTabWriter(w), wide: out == outWide, now: now, empty: stderr, batch: batch}
}

// tablePrinter prints kubectl's tables: upper-case headers, columns aligned by tabwriter with
// kubectl's settings.
type tablePrinter struct {
	w            *tabwriter.Writer
	wide, header bool
	now          time.Time
	pending      int       // rows written since the last flush
	batch        int       // rows aligned at least before they are printed
	empty        io.Writer // where "No results found." goes
}

// tableBatch is how many rows a table aligns at least before it prints them: small outputs are
// aligned as one table, large ones print their first rows without waiting for the last page.
const tableBatch = 1000

var (
	tableColumns = []string{"NAMESPACE", "KIND", "NAME", "POLICY", "RULE", "RESULT", "SEVERITY"}
	wideColumns  = []string{"MESSAGE", "SOURCE", "REPORT", "AGE"}
)

func (p *tablePrinter) row(r query.Row) error {
	if !p.header {
		p.header = true
		cols := tableColumns
		if p.wide {
			cols = append(cols[:len(cols):len(cols)], wideColumns...)
		}
		if err := p.line(cols); err != nil {
			return err
		}
	}
	cells := []string{r.Namespace, r.Kind, r.Name, r.Policy, r.Rule, r.Status, r.Severity}
	if p.wide {
		cells = append(cells, oneLine(r.Message), r.Source, reportRef(r), age(r.Time, p.now))
	}
	for i, c := range cells {
		cells[i] = orNone(c)
	}
	p.pending++
	return p.line(cells)
}

// line writes one row of cells.
func (p *tablePrinter) line(cells []string) error {
	_, err := fmt.Fprintln(p.w, strings.Join(cells, "\t"))
	return err
}

func (p *tablePrinter) flush() error {
	if p.pending < p.batch {
		return nil
	}
	p.pending = 0
	return p.w.Flush()
}

// close prints what is pending; with no row at all it says so, as kubectl does, on stderr.
func (p *tablePrinter) close(failed bool) error {
	if !p.header && !failed && p.empty != nil {
		fmt.Fprintln(p.empty, "No results found.")
	}
	return p.w.Flush()
}

// oneLine keeps a message on its table row: tabs and line breaks would break the columns.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// reportRef names a result's report as kubectl names objects: kind/name, with its namespace.
func reportRef(r query.Row) string {
	return strings.ToLower(r.ReportKind) + "/" + r.ReportName
}

// age is how long ago t was, as kubectl's AGE column says it; "<unknown>" when the producer gave
// no time.
func age(t, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t))
}

// jsonPrinter prints one JSON array of rows (query.Row, as the console's export), or one object
// per line.
type jsonPrinter struct {
	w          *bufio.Writer
	lines, any bool
}

func (p *jsonPrinter) row(r query.Row) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	sep := ",\n"
	switch {
	case p.lines:
		sep = ""
	case !p.any:
		sep = "[\n"
	}
	p.any = true
	_, _ = p.w.WriteString(sep)
	_, _ = p.w.Write(b)
	if p.lines {
		_ = p.w.WriteByte('\n')
	}
	return nil
}

func (p *jsonPrinter) flush() error { return p.w.Flush() }

func (p *jsonPrinter) close(bool) error {
	switch {
	case p.lines:
	case p.any:
		_, _ = p.w.WriteString("\n]\n")
	default:
		_, _ = p.w.WriteString("[]\n")
	}
	return p.w.Flush()
}

// yamlPrinter prints one YAML sequence of rows, or one document per row.
type yamlPrinter struct {
	w          *bufio.Writer
	lines, any bool
}

func (p *yamlPrinter) row(r query.Row) error {
	var v any = []query.Row{r} // one item of the sequence
	if p.lines {
		v = r
		if p.any {
			_, _ = p.w.WriteString("---\n")
		}
	}
	b, err := yaml.Marshal(v)
	if err != nil {
		return err
	}
	p.any = true
	_, err = p.w.Write(b)
	return err
}

func (p *yamlPrinter) flush() error { return p.w.Flush() }

func (p *yamlPrinter) close(bool) error {
	if !p.any && !p.lines {
		_, _ = p.w.WriteString("[]\n")
	}
	return p.w.Flush()
}

// csvPrinter prints the console's CSV export: the same columns and neutralised cells.
type csvPrinter struct {
	w      *csv.Writer
	header bool
	record []string
}

func (p *csvPrinter) row(r query.Row) error {
	if !p.header {
		p.header = true
		p.record = make([]string, len(query.CSVColumns))
		if err := p.w.Write(query.CSVColumns); err != nil {
			return err
		}
	}
	return p.w.Write(query.CSVRecord(p.record, r))
}

func (p *csvPrinter) flush() error { p.w.Flush(); return p.w.Error() }

func (p *csvPrinter) close(bool) error {
	if !p.header {
		_ = p.w.Write(query.CSVColumns)
		p.header = true
	}
	return p.flush()
}
