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

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
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
