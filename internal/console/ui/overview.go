package ui

import (
	"net/url"
	"strconv"

	"github.com/policyherald/policy-herald/internal/console/api"
	"github.com/policyherald/policy-herald/internal/console/query"
)

// overviewData is the overview's widgets: the Overview page's, and a namespace's.
type overviewData struct {
	O *query.Overview
	// Base are the filters the widgets count, carried by every link to the results.
	Base url.Values
	// Namespace is the namespace of a namespace page, "" on the overview.
	Namespace string
	// Visible is false on a namespace page the person may see no report of.
	Visible bool
}

// Total is the number of results counted.
func (d *overviewData) Total() int { return d.O.Severities.Total() }

// Share is n's part of the largest count of a list, as a bar's width.
func (d *overviewData) Share(n, largest int) string {
	if largest == 0 {
		return "0"
	}
	return strconv.Itoa(n * barWidth / largest)
}

// overviewPage is `/`: the overview of everything the person may see, filtered by the API's
// overview parameters when the address has some.
func (h *Handler) overviewPage(r *request) (*view, error) {
	q, err := api.ReadQuery(r.params, "fragment")
	if err != nil {
		return nil, &badRequest{err}
	}
	d, err := h.overview(r, q, pageValues(r.params))
	if err != nil {
		return nil, err
	}
	return newView("Overview", d), nil
}

// overview counts q's results as r's person sees them: one engine call for every widget.
func (h *Handler) overview(r *request, q query.Query, base url.Values) (*overviewData, error) {
	o, err := h.engine.Overview(r.scope, q, 0)
	if err != nil {
		return nil, &badRequest{api.EngineError(err)}
	}
	return &overviewData{O: o, Base: base, Visible: true}, nil
}

// pageValues are the parameters of a page's address that its links carry on.
func pageValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		if k != "fragment" && k != "offset" {
			out[k] = vs
		}
	}
	return out
}
