package ui

import (
	"net/url"
	"strconv"

	"github.com/policyherald/policy-herald/internal/console/query"
)

// column is a header of the results table; sortable ones link to their sort.
type column struct {
	Label string
	Href  string // "" when the column does not sort
	Sort  string // aria-sort: ascending, descending or "" when not sorted by it
}

// tableColumns are the results table's columns and the sort field of each.
var tableColumns = []struct {
	label string
	field query.SortField
}{
	{"Status", query.SortStatus}, {"Severity", query.SortSeverity}, {"Namespace", query.SortNamespace},
	{"Kind", query.SortKind}, {"Name", query.SortName}, {"Policy", query.SortPolicy}, {"Rule", query.SortRule},
	{"Message", ""}, {"Source", ""}, {"Time", query.SortTime},
}

// columns links each sortable header to its sort: ascending, or descending when the table is
// sorted ascending by it already.
func columns(base url.Values, s query.Sort) []column {
	by := s.By
	if by == "" {
		by = query.SortNamespace
	}
	out := make([]column, len(tableColumns))
	for i, c := range tableColumns {
		out[i].Label = c.label
		if c.field == "" {
			continue
		}
		order := ""
		if c.field == by {
			out[i].Sort = "ascending"
			if s.Desc {
				out[i].Sort = "descending"
			} else {
				order = "desc"
			}
		}
		out[i].Href = link("/results", base, "sort", string(c.field), "order", order)
	}
	return out
}

// form is the filter form's fields, filled from the address.
type form struct {
	Text     []textField
	Statuses []choice
	Severity []choice
	GroupBy  []choice
	Limit    []choice
	Sort     string
	Order    string
}

// textField is a pattern filter; a parameter given more than once shows one input per value.
type textField struct {
	Name, Label, Hint string
	Values            []string
}

// choice is a checkbox or an option.
type choice struct {
	Label, Value string
	Checked      bool
}

var textFields = []textField{
	{Name: "namespace", Label: "Namespace", Hint: "team-*"}, {Name: "kind", Label: "Kind", Hint: "Pod"},
	{Name: "name", Label: "Name"}, {Name: "policy", Label: "Policy"}, {Name: "rule", Label: "Rule"},
	{Name: "category", Label: "Category"}, {Name: "source", Label: "Source", Hint: "kyverno"},
	{Name: "label", Label: "Report labels", Hint: "app=web"}, {Name: "q", Label: "Message contains"},
}

var groupings = []choice{
	{Label: "No grouping", Value: ""}, {Label: "Namespace", Value: "namespace"}, {Label: "Policy", Value: "policy"},
	{Label: "Category", Value: "category"}, {Label: "Source", Value: "source"}, {Label: "Kind", Value: "kind"},
}

var limits = []string{"25", "50", "100", "250"}

func newForm(v url.Values) form {
	f := form{Sort: v.Get("sort"), Order: v.Get("order")}
	for _, t := range textFields {
		t.Values = v[t.Name]
		if len(t.Values) == 0 {
			t.Values = []string{""}
		}
		f.Text = append(f.Text, t)
	}
	f.Statuses = checked(statusItems(query.StatusCounts{}), v["status"])
	f.Severity = checked(severityItems(query.SeverityCounts{}), v["severity"])
	for _, g := range groupings {
		g.Checked = g.Value == v.Get("groupBy")
		f.GroupBy = append(f.GroupBy, g)
	}
	limit := v.Get("limit")
	if limit == "" {
		limit = strconv.Itoa(query.DefaultLimit)
	}
	for _, l := range limits {
		f.Limit = append(f.Limit, choice{Label: l, Value: l, Checked: l == limit})
	}
	return f
}

func checked(items []item, values []string) []choice {
	out := make([]choice, len(items))
	for i, it := range items {
		out[i] = choice{Label: it.Label, Value: it.Value}
		for _, v := range values {
			out[i].Checked = out[i].Checked || v == it.Value
		}
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }
