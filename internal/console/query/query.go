// Package query answers the console's questions about policy results (issue 19): a filtered,
// sorted, grouped page of results ([Engine.Results]), an overview ([Engine.Overview]) and the
// export of a whole selection as CSV or JSON ([Engine.WriteCSV], [Engine.WriteJSON]).
//
// Every answer is computed from the report store's snapshot at the time of the call, reading
// the stored results in place: the engine keeps nothing per result between calls (0 bytes per
// stored result); a call needs 16 bytes per result it selects, for the order, reused by the
// next call. There is no index: one scan of 100,000 results costs a few milliseconds, less
// than keeping an index current would cost memory. A person's
// [Visibility] applies first: a report it does not allow contributes to no row, count, group,
// overview or export.
//
// Order is deterministic: reports are visited in the order of their kind, namespace and name,
// results in their report's order, and every sort breaks ties by that order.
package query

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/policyherald/policy-herald/internal/report"
)

// Visibility says which reports a person may see, by report kind (PolicyReport,
// ClusterPolicyReport, Report, ClusterReport) and namespace ("" for cluster reports). The
// console's access package decides it from Kubernetes RBAC; this package only obeys it.
type Visibility interface {
	Allows(kind, namespace string) bool
}

// Everything sees every report: the operator's own view.
var Everything Visibility = everything{}

type everything struct{}

func (everything) Allows(string, string) bool { return true }

// Source is where the results come from: the report store (*store.Store).
type Source interface {
	// Snapshot returns every report; reports are never modified once stored.
	Snapshot() []*report.Report
	// SourceNames gives every source one name whatever its letter case.
	SourceNames() *report.SourceNames
}

// Engine answers queries over a Source. It keeps no state between calls and is safe for
// concurrent use.
type Engine struct {
	src Source
}

// New returns an engine over src.
func New(src Source) *Engine { return &Engine{src: src} }

// Selection is what a results table shows: which results, in which order, grouped how. An
// export writes the whole selection in the table's order.
type Selection struct {
	Query   Query
	Sort    Sort
	GroupBy GroupBy
}

// snapshot returns the reports in a deterministic order (kind, namespace, name), which is the
// last tie-break of every sort. Sorting a few thousand report pointers costs far less than the
// scan of their results.
func (e *Engine) snapshot() []*report.Report {
	reps := e.src.Snapshot()
	slices.SortFunc(reps, func(a, b *report.Report) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return reps
}

// visit calls fn for every result of reps that v allows and m matches, in order.
func visit(reps []*report.Report, v Visibility, m *matcher, fn func(ri, i int, rep *report.Report, res *report.Result)) {
	for ri, rep := range reps {
		if !v.Allows(rep.Kind, rep.Namespace) || !m.matchReport(rep) {
			continue
		}
		for i := range rep.Results {
			if res := &rep.Results[i]; m.match(rep, res) {
				fn(ri, i, rep, res)
			}
		}
	}
}

// Page is the part of a selection a page shows: Limit rows from Offset. Offset paging (rather
// than a cursor) lets the console show page numbers and open a group at its offset; every page
// costs one scan whatever its depth, and the order is deterministic, so pages of an unchanged
// store tile the selection exactly.
type Page struct {
	Offset int
	Limit  int // 0 means DefaultLimit
}

// Page sizes.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

func (p Page) check() (Page, error) {
	switch {
	case p.Offset < 0:
		return p, fmt.Errorf("page offset %d is negative", p.Offset)
	case p.Limit < 0 || p.Limit > MaxLimit:
		return p, fmt.Errorf("page limit %d is not between 1 and %d", p.Limit, MaxLimit)
	case p.Limit == 0:
		p.Limit = DefaultLimit
	}
	return p, nil
}

// ResultPage is one page of a selection.
type ResultPage struct {
	// Total is the number of results selected, on every page.
	Total  int   `json:"total"`
	Offset int   `json:"offset"`
	Limit  int   `json:"limit"`
	Rows   []Row `json:"rows"`
	// Groups are every group of the selection (not only this page's), in the rows' order,
	// when the selection is grouped.
	Groups []Group `json:"groups,omitempty"`
	// stored are the rows' results in the store, one per row (see Stored).
	stored []Stored
}

// Stored is a row's result as the store holds it, for what a row does not say (which
// destinations deliver it). Never modify it.
type Stored struct {
	Report *report.Report
	Result *report.Result
}

// Stored returns the stored results of the page's rows, in their order.
func (p *ResultPage) Stored() []Stored { return p.stored }

// Results returns page p of sel as v sees it.
func (e *Engine) Results(v Visibility, sel Selection, p Page) (*ResultPage, error) {
	p, err := p.check()
	if err != nil {
		return nil, err
	}
	s, err := e.selectAll(v, sel)
	if err != nil {
		return nil, err
	}
	return s.resultPage(p), nil
}
