// Package api serves the console's versioned JSON API (issue 19) under /api/v1/: the results a
// person may see as Kubernetes RBAC decides it (package access), queried with package query
// over the report store's snapshot. Every request is authenticated (Authenticator), its
// person's Scope decided, and only then is the store read, with the Scope as the Visibility.
package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/go-logr/logr"

	"github.com/policyherald/policy-herald/internal/console/access"
	"github.com/policyherald/policy-herald/internal/console/query"
)

// Scoper decides what a person may see: *access.Authorizer.
type Scoper interface {
	Scope(ctx context.Context, u access.User, held access.Holdings) (*access.Scope, error)
}

// Options are what a Handler serves with.
type Options struct {
	Source        query.Source // the report store
	Authenticator Authenticator
	Scoper        Scoper
	// Policies reads policies' annotations for the policy page; nil shows none.
	Policies PolicyReader
	// Health lists Policy Herald's objects for the health page; nil lists none.
	Health HealthLister
	Log    logr.Logger
}

// Handler serves the API. It is safe for concurrent use.
type Handler struct {
	src    query.Source
	engine *query.Engine
	authn  Authenticator
	scoper Scoper
	log    logr.Logger
	mux    *http.ServeMux

	policyReader PolicyReader
	healthLister HealthLister
}

// New returns the API's handler; mount it at / (its routes start with /api/v1/, any other
// path is a JSON 404).
func New(o Options) *Handler {
	h := &Handler{src: o.Source, engine: query.New(o.Source), authn: o.Authenticator, scoper: o.Scoper, log: o.Log, mux: http.NewServeMux(),
		policyReader: o.Policies, healthLister: o.Health}
	for _, rt := range h.routes() {
		h.mux.HandleFunc(rt.pattern, rt.handler)
	}
	h.mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "no such API endpoint", nil)
	})
	return h
}

// route is one endpoint: its ServeMux pattern and handler.
type route struct {
	pattern string
	handler http.HandlerFunc
}

// routes are every endpoint the API serves; the OpenAPI document describes exactly these.
func (h *Handler) routes() []route {
	return []route{
		{"/api/v1/results", h.withScope(h.results)},
		{"/api/v1/results/export", h.withScope(h.export)},
		{"/api/v1/overview", h.withScope(h.overview)},
		{"/api/v1/access", h.withScope(h.access)},
		{"/api/v1/policies", h.withScope(h.policies)},
		{"/api/v1/policies/{name...}", h.withScope(h.policy)},
		{"/api/v1/namespaces", h.withScope(h.namespaces)},
		{"/api/v1/namespaces/{namespace}/resources/{kind}/{name}", h.withScope(h.resource)},
		{"/api/v1/resources/{kind}/{name}", h.withScope(h.resource)},
		{"/api/v1/health", h.withUser(h.health)},
		{"/api/v1/openapi.yaml", h.withUser(h.openAPI)},
	}
}

// ServeHTTP sets the headers every answer carries, then routes.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	h.mux.ServeHTTP(w, r)
}

// scoped is a handler for an authenticated person and what they may see.
type scoped func(w http.ResponseWriter, r *http.Request, u access.User, s *access.Scope)

// authenticated is a handler for an authenticated person.
type authenticated func(w http.ResponseWriter, r *http.Request, u access.User)

// withScope authenticates the request and decides its person's Scope.
func (h *Handler) withScope(next scoped) http.HandlerFunc {
	return h.withUser(func(w http.ResponseWriter, r *http.Request, u access.User) {
		s, err := h.scoper.Scope(r.Context(), u, holdings(h.src.Snapshot()))
		if err != nil {
			h.log.Error(err, "deciding what a user may see", "user", u.Name)
			writeError(w, http.StatusInternalServerError, "could not decide what you may see", nil)
			return
		}
		next(w, r, u, s)
	})
}

// withUser authenticates the request. Every endpoint only reads; the method is checked here so
// that a refusal is JSON like every other answer.
func (h *Handler) withUser(next authenticated) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, "only GET is served", nil)
			return
		}
		u, err := h.authn.Authenticate(r)
		switch {
		case errors.Is(err, ErrUnauthenticated):
			w.Header().Set("WWW-Authenticate", `Bearer realm="policy-herald"`)
			writeError(w, http.StatusUnauthorized, err.Error(), nil)
			return
		case err != nil:
			h.log.Error(err, "authenticating a request", "path", r.URL.Path)
			writeError(w, http.StatusServiceUnavailable, "could not check your credentials with the Kubernetes API server; try again", nil)
			return
		}
		next(w, r, u)
	}
}
