package ui

import (
	"github.com/policyherald/policy-herald/internal/console/access"
	"github.com/policyherald/policy-herald/internal/console/api"
)

// namespacePage is `/namespaces/{namespace}`: a team's page, the overview's widgets limited to
// one namespace. A namespace the person may not see shows no result, as one without reports.
func (h *Handler) namespacePage(r *request) (*view, error) {
	ns := r.PathValue("namespace")
	v := r.params
	q, err := api.ReadQuery(v, "fragment")
	if err != nil {
		return nil, &badRequest{err}
	}
	q.Namespaces = []string{ns}
	base := pageValues(v)
	base.Set("namespace", ns)
	d, err := h.overview(r, q, base)
	if err != nil {
		return nil, err
	}
	d.Namespace = ns
	d.Visible = mayList(r.scope, ns)
	return newView("Namespace "+ns, d), nil
}

// mayList says whether the person may see any namespaced report kind in ns.
func mayList(s *access.Scope, ns string) bool {
	for _, kind := range access.ReportKinds() {
		if access.Namespaced(kind) && s.Allows(kind, ns) {
			return true
		}
	}
	return false
}
