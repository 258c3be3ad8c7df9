package api

import (
	"context"
	"net/http"
	"slices"

	"github.com/policyherald/policy-herald/internal/console/access"
	"github.com/policyherald/policy-herald/internal/console/health"
	"github.com/policyherald/policy-herald/internal/console/policies"
	"github.com/policyherald/policy-herald/internal/console/query"
)

// PolicyReader reads what a policy says about itself: *policies.Reader.
type PolicyReader interface {
	Get(ctx context.Context, policy string) (*policies.Info, error)
}

// HealthLister lists the Policy Herald objects a person may get, and which of them deliver
// given results: *health.Lister.
type HealthLister interface {
	List(ctx context.Context, u access.User) (*health.Answer, error)
	DeliveredTo(ctx context.Context, u access.User, items []health.Item) ([][]health.Delivery, []string, error)
}

// policiesAnswer is the policies index.
type policiesAnswer struct {
	Policies []query.PolicySummary `json:"policies"`
	Warnings []string              `json:"warnings,omitempty"`
}

func (h *Handler) policies(w http.ResponseWriter, r *http.Request, _ access.User, s *access.Scope) {
	p := newParams(r.URL.Query())
	q := p.query()
	if err := p.done(); err != nil {
		writeBadRequest(w, err)
		return
	}
	ps, err := h.engine.Policies(s, q)
	if err != nil {
		writeBadRequest(w, engineError(err))
		return
	}
	writeJSON(w, http.StatusOK, policiesAnswer{ps, s.Warnings})
}

// policyAnswer is one policy's page: its results and, when it can be read, its annotations.
type policyAnswer struct {
	*query.PolicyDetail
	// Info is what the policy object says about itself; null when it cannot be read (not a
	// Kyverno policy, not installed, or in a namespace the person may not see).
	Info *policies.Info `json:"info"`
	// DeliveredTo names, by result ID, the targets and channels the person may get that
	// deliver the page's results.
	DeliveredTo map[string][]health.Delivery `json:"deliveredTo"`
	Warnings    []string                     `json:"warnings,omitempty"`
}

func (h *Handler) policy(w http.ResponseWriter, r *http.Request, u access.User, s *access.Scope) {
	p := newParams(r.URL.Query())
	sel, page := p.selection(), p.page()
	if err := p.done(); err != nil {
		writeBadRequest(w, err)
		return
	}
	name := r.PathValue("name")
	d, err := h.engine.Policy(s, name, sel, page)
	if err != nil {
		writeBadRequest(w, engineError(err))
		return
	}
	if d == nil {
		writeError(w, http.StatusNotFound, "you may see no result of this policy", nil)
		return
	}
	a := policyAnswer{PolicyDetail: d, Warnings: s.Warnings}
	a.Info, err = PolicyInfo(r.Context(), h.policyReader, name, s)
	if err != nil {
		h.log.Error(err, "reading a policy's annotations", "policy", name)
		a.Warnings = append(a.Warnings, "could not read the policy's annotations from the Kubernetes API server")
	}
	a.DeliveredTo, a.Warnings = h.deliveredTo(r.Context(), u, d.Results.Stored(), a.Warnings)
	writeJSON(w, http.StatusOK, a)
}

// PolicyInfo returns what policy name's annotations say when s may see them (a namespaced
// policy's only to a person who sees reports of its namespace); nil when reader is nil or
// cannot read it. The policy page (package ui) shows the same.
func PolicyInfo(ctx context.Context, reader PolicyReader, name string, s *access.Scope) (*policies.Info, error) {
	if reader == nil {
		return nil, nil
	}
	info, err := reader.Get(ctx, name)
	if err != nil || info == nil {
		return nil, err
	}
	if info.Namespace != "" && !seesNamespace(s, info.Namespace) {
		return nil, nil
	}
	return info, nil
}

// seesNamespace says whether s sees reports of some kind in namespace.
func seesNamespace(s *access.Scope, namespace string) bool {
	for _, kind := range reportKinds {
		if access.Namespaced(kind) && s.Allows(kind, namespace) {
			return true
		}
	}
	return false
}

// resourceAnswer is one resource's page.
type resourceAnswer struct {
	*query.ResourceDetail
	// DeliveredTo names, by result ID, the targets and channels the person may get that
	// deliver the page's results.
	DeliveredTo map[string][]health.Delivery `json:"deliveredTo"`
	Warnings    []string                     `json:"warnings,omitempty"`
}

func (h *Handler) resource(w http.ResponseWriter, r *http.Request, u access.User, s *access.Scope) {
	p := newParams(r.URL.Query())
	ref := query.ResourceRef{Namespace: r.PathValue("namespace"), Kind: r.PathValue("kind"), Name: r.PathValue("name"), UID: p.one("uid")}
	sel, page := p.selection(), p.page()
	if err := p.done(); err != nil {
		writeBadRequest(w, err)
		return
	}
	d, err := h.engine.Resource(s, ref, sel, page)
	if err != nil {
		writeBadRequest(w, engineError(err))
		return
	}
	if d == nil {
		writeError(w, http.StatusNotFound, "you may see no result about this resource", nil)
		return
	}
	a := resourceAnswer{ResourceDetail: d, Warnings: s.Warnings}
	a.DeliveredTo, a.Warnings = h.deliveredTo(r.Context(), u, d.Stored(), a.Warnings)
	writeJSON(w, http.StatusOK, a)
}

// namespacesAnswer is the namespaces a person sees, with counts.
type namespacesAnswer struct {
	Namespaces []query.NamespaceCounts `json:"namespaces"`
	Warnings   []string                `json:"warnings,omitempty"`
}

func (h *Handler) namespaces(w http.ResponseWriter, r *http.Request, _ access.User, s *access.Scope) {
	p := newParams(r.URL.Query())
	q := p.query()
	if err := p.done(); err != nil {
		writeBadRequest(w, err)
		return
	}
	nss, err := h.engine.Namespaces(s, q)
	if err != nil {
		writeBadRequest(w, engineError(err))
		return
	}
	writeJSON(w, http.StatusOK, namespacesAnswer{nss, s.Warnings})
}

func (h *Handler) health(w http.ResponseWriter, r *http.Request, u access.User) {
	if err := newParams(r.URL.Query()).done(); err != nil {
		writeBadRequest(w, err)
		return
	}
	a, err := ListHealth(r.Context(), h.healthLister, u)
	if err != nil {
		h.log.Error(err, "listing Policy Herald's objects", "user", u.Name)
		writeError(w, http.StatusServiceUnavailable, "could not read Policy Herald's objects; try again", nil)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

// ListHealth returns the Policy Herald objects u may get from lister; with no lister, none and
// a warning saying so. The health page (package ui) shows the same.
func ListHealth(ctx context.Context, lister HealthLister, u access.User) (*health.Answer, error) {
	if lister == nil {
		return &health.Answer{Objects: []health.Object{}, Warnings: []string{"this console does not read Policy Herald's objects"}}, nil
	}
	return lister.List(ctx, u)
}

// deliveredTo is DeliveredTo for an answer: a failure is logged and becomes a warning, so the
// results are still shown.
func (h *Handler) deliveredTo(ctx context.Context, u access.User, stored []query.Stored, warnings []string) (map[string][]health.Delivery, []string) {
	d, w, err := DeliveredTo(ctx, h.healthLister, u, stored)
	if err != nil {
		h.log.Error(err, "telling which targets and channels deliver results", "user", u.Name)
		return map[string][]health.Delivery{}, append(slices.Clip(warnings), "could not tell which targets and channels deliver these results")
	}
	return d, append(slices.Clip(warnings), w...)
}
