package ui

import (
	"net/url"

	"github.com/policyherald/policy-herald/internal/console/api"
	"github.com/policyherald/policy-herald/internal/console/health"
	"github.com/policyherald/policy-herald/internal/console/policies"
	"github.com/policyherald/policy-herald/internal/console/query"
	"github.com/policyherald/policy-herald/internal/consolelink"
)

// policiesData is the Policies page: every policy the person sees results of.
type policiesData struct {
	Policies []query.PolicySummary
	Base     url.Values
}

// policiesPage is `/policies`: the policies with their counts, filtered as the overview is.
func (h *Handler) policiesPage(r *request) (*view, error) {
	q, err := api.ReadQuery(r.URL.Query(), "fragment")
	if err != nil {
		return nil, &badRequest{err}
	}
	ps, err := h.engine.Policies(r.scope, q)
	if err != nil {
		return nil, &badRequest{api.EngineError(err)}
	}
	return newView("Policies", &policiesData{Policies: ps, Base: pageValues(r.URL.Query())}), nil
}

// policyData is one policy's page.
type policyData struct {
	D     *query.PolicyDetail // nil when the person sees no result of the policy
	Info  *policies.Info
	Name  string
	Base  url.Values // the page's own parameters, carried by its links
	Pager pager
	// Results links to the policy's results on the Results page (its policy filter is a
	// pattern: a name with * or ? matches more there).
	Results string
	// Delivered names, by result ID, the targets and channels the person may get that
	// deliver the results shown; Warnings say what could not be asked.
	Delivered map[string][]health.Delivery
	Warnings  []string
}

// policyPage is `/policies/{name...}`: one policy's results across namespaces, per rule and
// namespace, with what its annotations say.
func (h *Handler) policyPage(r *request) (*view, error) {
	name := r.PathValue("name")
	sel, pg, err := api.ReadSelection(r.URL.Query(), "fragment")
	if err != nil {
		return nil, &badRequest{err}
	}
	d, err := h.engine.Policy(r.scope, name, sel, pg)
	if err != nil {
		return nil, &badRequest{api.EngineError(err)}
	}
	base := pageValues(r.URL.Query())
	data := &policyData{D: d, Name: name, Base: base}
	if name != "" { // a filter cannot ask for results without a policy
		data.Results = link("/results", url.Values{"policy": {name}})
	}
	if d != nil {
		data.Pager = newPager(PolicyHref(name), base, d.Results)
		data.Delivered, data.Warnings = h.deliveredTo(r, d.Results.Stored())
		data.Info, err = api.PolicyInfo(r.Context(), h.opts.Policies, name, r.scope)
		if err != nil {
			h.opts.Log.Error(err, "reading a policy's annotations", "policy", name)
		}
	}
	title := "Policy " + name
	if data.Info != nil && data.Info.Title != "" {
		title = data.Info.Title
	}
	return newView(title, data), nil
}

// PolicyHref is the address of a policy's page.
func PolicyHref(name string) string { return consolelink.PolicyPath(name) }
