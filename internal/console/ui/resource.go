package ui

import (
	"net/url"

	"github.com/policyherald/policy-herald/internal/console/api"
	"github.com/policyherald/policy-herald/internal/console/health"
	"github.com/policyherald/policy-herald/internal/console/query"
	"github.com/policyherald/policy-herald/internal/consolelink"
	"github.com/policyherald/policy-herald/internal/report"
)

// resourceData is one resource's page.
type resourceData struct {
	D     *query.ResourceDetail // nil when the person sees no result about it
	Ref   query.ResourceRef
	Base  url.Values
	Pager pager
	// Delivered names, by result ID, the targets and channels the person may get that
	// deliver the results shown; Warnings say what could not be asked.
	Delivered map[string][]health.Delivery
	Warnings  []string
}

// resourcePage is `/namespaces/{namespace}/resources/{kind}/{name}` and, for a cluster-scoped
// resource, `/resources/{kind}/{name}`: every result about the resource, from every report.
func (h *Handler) resourcePage(r *request) (*view, error) {
	ref := query.ResourceRef{Namespace: r.PathValue("namespace"), Kind: r.PathValue("kind"), Name: r.PathValue("name"), UID: r.URL.Query().Get("uid")}
	sel, pg, err := api.ReadSelection(r.URL.Query(), "fragment", "uid")
	if err != nil {
		return nil, &badRequest{err}
	}
	d, err := h.engine.Resource(r.scope, ref, sel, pg)
	if err != nil {
		return nil, &badRequest{api.EngineError(err)}
	}
	base := pageValues(r.URL.Query())
	data := &resourceData{D: d, Ref: ref, Base: base}
	if d != nil {
		data.Pager = newPager(ResourceHref(ref.Namespace, ref.Kind, ref.Name), base, &query.ResultPage{Total: d.Total, Offset: d.Offset, Limit: d.Limit, Rows: make([]query.Row, len(d.Rows))})
		data.Delivered, data.Warnings = h.deliveredTo(r, d.Stored())
	}
	title := ref.Kind + " " + ref.Name
	if ref.Namespace != "" {
		title = ref.Kind + " " + ref.Namespace + "/" + ref.Name
	}
	return newView(title, data), nil
}

// ResourceHref is the address of a resource's page; "" when kind or name is unknown.
func ResourceHref(namespace, kind, name string) string {
	return consolelink.ResourcePath(namespace, kind, name)
}

// rowResource is the address of the page of the resource a row is about: the one it names,
// else its report's owner.
func rowResource(row query.Row) string {
	if row.Kind != "" {
		return ResourceHref(row.Namespace, row.Kind, row.Name)
	}
	return ownerResource(row.Owner)
}

// ownerResource is the address of an owner's page; "" for none.
func ownerResource(o *report.Resource) string {
	if o == nil {
		return ""
	}
	return ResourceHref(o.Namespace, o.Kind, o.Name)
}

// deliveredTo is api.DeliveredTo for a page: a failure is logged and shown as a warning, so
// the results are still shown.
func (h *Handler) deliveredTo(r *request, stored []query.Stored) (map[string][]health.Delivery, []string) {
	d, warnings, err := api.DeliveredTo(r.Context(), h.opts.Health, r.user, stored)
	if err != nil {
		h.opts.Log.Error(err, "telling which targets and channels deliver results", "path", r.URL.Path)
		return nil, []string{"could not tell which targets and channels deliver these results"}
	}
	return d, warnings
}
