package query

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"io"
	"strings"
	"time"
)

// CSVColumns are the columns of a CSV export, in order: the header row. Values are a Row's;
// time is RFC 3339 in UTC ("" when the producer gave none) and properties a JSON object (""
// when none), so each result is one line of fixed columns whatever its properties. A value
// that starts with =, +, -, @, a tab or a carriage return gets a leading single quote (see
// cell), so a spreadsheet shows it as text instead of running it as a formula.
var CSVColumns = []string{
	"id", "namespace", "kind", "name", "apiVersion", "policy", "rule", "status", "severity",
	"category", "source", "message", "time", "reportKind", "reportNamespace", "reportName", "properties",
}

// WriteCSV writes every result of sel that v sees, in the selection's order, as CSV with a
// header row (CSVColumns). Rows are written as they are made: the memory it needs is 16 bytes
// per selected result (the order), not the output.
func (e *Engine) WriteCSV(w io.Writer, v Visibility, sel Selection) error {
	s, err := e.selectAll(v, sel)
	if err != nil {
		return err
	}
	defer s.release()
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVColumns); err != nil {
		return err
	}
	record := make([]string, len(CSVColumns))
	for _, r := range s.all() {
		if err := cw.Write(csvRecord(record, s.row(r))); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// csvRecord fills record with row's values in the order of CSVColumns.
func csvRecord(record []string, row Row) []string {
	var when, props string
	if !row.Time.IsZero() {
		when = row.Time.Format(time.RFC3339Nano)
	}
	if len(row.Properties) > 0 {
		b, _ := json.Marshal(row.Properties) // a map of strings always marshals
		props = string(b)
	}
	copy(record, []string{
		row.ID, row.Namespace, row.Kind, row.Name, row.APIVersion, row.Policy, row.Rule, row.Status,
		row.Severity, row.Category, row.Source, row.Message, when, row.ReportKind,
		row.ReportNamespace, row.ReportName, props,
	})
	for i, v := range record {
		record[i] = cell(v)
	}
	return record
}

// cell neutralises a value a spreadsheet would run as a formula (CSV injection) the way OWASP
// advises: a leading single quote makes it text. Report authors control nearly every field,
// so every cell goes through here; the time and the properties' JSON never start so.
func cell(v string) string {
	if v != "" && strings.IndexByte("=+-@\t\r", v[0]) >= 0 {
		return "'" + v
	}
	return v
}

// WriteJSON writes every result of sel that v sees, in the selection's order, as one JSON
// array of Rows (the rows of a results page). Like WriteCSV it writes rows as it makes them.
func (e *Engine) WriteJSON(w io.Writer, v Visibility, sel Selection) error {
	s, err := e.selectAll(v, sel)
	if err != nil {
		return err
	}
	defer s.release()
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	sep := "[\n"
	for _, r := range s.all() {
		if _, err := bw.WriteString(sep); err != nil {
			return err
		}
		if err := enc.Encode(s.row(r)); err != nil {
			return err
		}
		sep = ","
	}
	if sep == "[\n" {
		_, _ = bw.WriteString(sep) // an empty selection is an empty array
	}
	if _, err := bw.WriteString("]\n"); err != nil {
		return err
	}
	return bw.Flush()
}
