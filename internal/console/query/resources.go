package query

import (
	"cmp"
	"errors"

	"github.com/policyherald/policy-herald/internal/report"
)

// ResourceRef names one resource for its page.
type ResourceRef struct {
	Namespace string // "" for a cluster-scoped resource
	Kind      string
	Name      string
	// UID, when set, leaves out results that name another UID (a deleted and re-created
	// resource of the same name); results that name none still match.
	UID string
}

func (r ResourceRef) check() error {
	if r.Kind == "" || r.Name == "" {
		return errors.New("resource: kind and name are required")
	}
	return nil
}

// ResourceDetail is every result about one resource that a person sees: the resource page.
type ResourceDetail struct {
	// Resource is the resource as its results name it (apiVersion and UID of the first that
	// gives them).
	Resource report.Resource `json:"resource"`
	// Statuses counts the results selected (every page's).
	Statuses StatusCounts `json:"statuses"`
	// Owners are the objects that the reports holding these results name as their owner, when
	// other than the resource itself, each once.
	Owners []report.Resource `json:"owners"`
	Total  int               `json:"total"`
	Offset int               `json:"offset"`
	Limit  int               `json:"limit"`
	Rows   []ResourceRow     `json:"rows"`
	stored []Stored          // per row, see Stored
}

// Stored returns the stored results of the rows, in their order.
func (d *ResourceDetail) Stored() []Stored { return d.stored }

// ResourceRow is a result of the resource page.
type ResourceRow struct {
	Row
	// PolicyException is, for a Kyverno result that fails, warns or errs, a PolicyException
	// manifest (YAML) that would exempt this resource from this rule: shown to copy, never
	// applied. A passing or skipped result needs none.
	PolicyException string `json:"policyException,omitempty"`
}

// about returns the resource a result is about, with its namespace: the one it names, else
// its report's owner (the Trivy adapter names it only there).
func about(rep *report.Report, res *report.Result) (*report.Resource, string) {
	r := res.Resource
	if r == nil {
		r = rep.Owner
	}
	if r == nil {
		return nil, ""
	}
	if r.Namespace != "" {
		return r, r.Namespace
	}
	return r, rep.Namespace
}

// is says whether r, in namespace ns, is the resource ref names.
func (ref ResourceRef) is(r *report.Resource, ns string) bool {
	return r != nil && r.Kind == ref.Kind && r.Name == ref.Name && ns == ref.Namespace &&
		(ref.UID == "" || r.UID == "" || r.UID == ref.UID)
}

// Resource returns page p of the results about the resource ref names that v sees, in sel's
// order (sel's query narrows them further); nil when v sees none.
func (e *Engine) Resource(v Visibility, ref ResourceRef, sel Selection, p Page) (*ResourceDetail, error) {
	if err := ref.check(); err != nil {
		return nil, err
	}
	p, err := p.check()
	if err != nil {
		return nil, err
	}
	d := &ResourceDetail{Owners: []report.Resource{}, Rows: []ResourceRow{}}
	only := func(rep *report.Report, res *report.Result) bool {
		r, ns := about(rep, res)
		if !ref.is(r, ns) {
			return false
		}
		d.add(rep, res, r, ns)
		return true
	}
	s, err := e.selectWhere(v, sel, only)
	if err != nil {
		return nil, err
	}
	page := s.resultPage(p)
	if page.Total == 0 {
		return nil, nil
	}
	d.Total, d.Offset, d.Limit, d.stored = page.Total, page.Offset, page.Limit, page.stored
	for _, row := range page.Rows {
		d.Rows = append(d.Rows, ResourceRow{Row: row, PolicyException: PolicyException(row)})
	}
	return d, nil
}

// add counts res, a result about r in namespace ns held by rep.
func (d *ResourceDetail) add(rep *report.Report, res *report.Result, r *report.Resource, ns string) {
	d.Statuses.Add(res.Status)
	if d.Resource.Kind == "" {
		d.Resource = report.Resource{Kind: r.Kind, Name: r.Name, Namespace: ns}
	}
	d.Resource.APIVersion = cmp.Or(d.Resource.APIVersion, r.APIVersion)
	d.Resource.UID = cmp.Or(d.Resource.UID, r.UID)
	if o := rep.Owner; o != nil && o != r && (o.Kind != r.Kind || o.Name != r.Name) {
		owner := *o
		owner.Namespace = rep.Namespace
		for _, known := range d.Owners {
			if known == owner {
				return
			}
		}
		d.Owners = append(d.Owners, owner)
	}
}
