package ui

import (
	"net/url"

	"github.com/policyherald/policy-herald/internal/console/api"
	"github.com/policyherald/policy-herald/internal/console/query"
)

// resultsData is the Results page: the page of results, its groups and the links around it.
type resultsData struct {
	Page    *query.ResultPage
	Sel     query.Selection
	Base    url.Values // the selection's parameters, carried by every link
	Form    form
	Columns []column
	Rows    []rowView
	Pager   pager
	CSV     string
	JSON    string
}

// rowView is a row, with the group it opens when it is the first of its group on the page.
type rowView struct {
	query.Row
	Group *query.Group
}

// resultsPage is `/results`: the table with the API's filters, sort, grouping and paging.
func (h *Handler) resultsPage(r *request) (*view, error) {
	v := r.params
	// A refused parameter shows the form filled in as sent, to correct it.
	refused := newView("Results", &resultsData{Form: newForm(v)})
	sel, pg, err := api.ReadSelection(v, "fragment")
	if err != nil {
		return refused, &badRequest{err}
	}
	res, err := h.engine.Results(r.scope, sel, pg)
	if err != nil {
		return refused, &badRequest{api.EngineError(err)}
	}
	base := pageValues(v)
	d := &resultsData{
		Page: res, Sel: sel, Base: base, Form: newForm(v),
		Columns: columns(base, sel.Sort), Rows: rowViews(res, sel.GroupBy),
		Pager: newPager("/results", base, res),
		CSV:   exportLink(base, "csv"), JSON: exportLink(base, "json"),
	}
	return newView("Results", d), nil
}

// exportLink is the API's export of the selection (the export takes no page).
func exportLink(base url.Values, format string) string {
	return link("/api/v1/results/export", base, "limit", "", "format", format)
}

// rowViews marks where each group starts on the page.
func rowViews(res *query.ResultPage, by query.GroupBy) []rowView {
	out := make([]rowView, len(res.Rows))
	g := 0
	for i := range res.Rows {
		out[i].Row = res.Rows[i]
		if by == query.NoGroup {
			continue
		}
		pos := res.Offset + i
		for g+1 < len(res.Groups) && res.Groups[g+1].Offset <= pos {
			g++
		}
		if g < len(res.Groups) && (i == 0 || res.Groups[g].Offset == pos) {
			out[i].Group = &res.Groups[g]
		}
	}
	return out
}

// pager is the links between pages.
type pager struct {
	From, To, Total         int
	First, Prev, Next, Last string // "" where there is no such page
}

// newPager links the pages of res at path.
func newPager(path string, base url.Values, res *query.ResultPage) pager {
	p := pager{From: min(res.Offset+1, res.Total), To: min(res.Offset+len(res.Rows), res.Total), Total: res.Total}
	at := func(offset int) string {
		if offset == 0 {
			return link(path, base)
		}
		return link(path, base, "offset", itoa(offset))
	}
	if res.Offset > 0 {
		p.First, p.Prev = at(0), at(max(0, res.Offset-res.Limit))
	}
	if next := res.Offset + res.Limit; next < res.Total {
		last := (res.Total - 1) / res.Limit * res.Limit
		p.Next, p.Last = at(next), at(last)
	}
	return p
}
