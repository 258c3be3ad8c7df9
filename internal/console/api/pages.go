package api

import (
	"net/url"

	"github.com/policyherald/policy-herald/internal/console/access"
	"github.com/policyherald/policy-herald/internal/console/query"
	"github.com/policyherald/policy-herald/internal/report"
)

// The console's pages (package ui) read the same parameters as the API, so that a page's URL
// and the API's answer for the same query string agree; these are the API's readers for them.

// ReadSelection reads a results table's filters, sort, grouping and page from v as
// /api/v1/results does. own names parameters the caller reads itself; any other unknown
// parameter is an error naming it.
func ReadSelection(v url.Values, own ...string) (query.Selection, query.Page, error) {
	p := newParams(v)
	p.skip(own)
	sel, page := p.selection(), p.page()
	return sel, page, p.done()
}

// ReadQuery reads the filters of v as /api/v1/overview does; own as for ReadSelection.
func ReadQuery(v url.Values, own ...string) (query.Query, error) {
	p := newParams(v)
	p.skip(own)
	q := p.query()
	return q, p.done()
}

// EngineError names the parameters at fault in an error of the query engine.
func EngineError(err error) error { return engineError(err) }

// Holdings returns the namespaces holding reports of each kind in reps, as the Scoper wants
// them (see holdings).
func Holdings(reps []*report.Report) access.Holdings { return holdings(reps) }

// skip marks parameters as read by someone else.
func (p *params) skip(names []string) {
	for _, n := range names {
		p.used[n] = true
	}
}

// ReadNothing refuses any parameter of v but own: a page that takes none (the health page).
func ReadNothing(v url.Values, own ...string) error {
	p := newParams(v)
	p.skip(own)
	return p.done()
}
