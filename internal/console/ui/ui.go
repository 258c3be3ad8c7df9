// Package ui serves the console's web pages (issue 19): server-rendered HTML from the templates
// and assets embedded in the binary (no CDN, no remote fonts: it works air-gapped), with a little
// JavaScript that only enhances them (live updates). Every number on a page is computed by the
// query engine (package query) through the person's Scope (package access), the same
// Visibility the JSON API (package api) uses, so a page, the API and `kubectl get` agree.
//
// Each page is a bookmarkable URL: its query string carries its filters, in the API's
// parameters (api.ReadSelection, api.ReadQuery), so plain links and GET forms give back and
// forward for free.
//
// # How to add a page
//
//  1. Write templates/NAME.html defining "content" (the part live updates replace; it is
//     also what `?fragment=content` returns) and, if the page has a form, "controls" (kept
//     while the content is refreshed). Both are executed with a *view; the page's own data is
//     view.Data.
//  2. Write the page's function, func(*request) (*view, error), in its own file: read the
//     parameters with the api readers (pass "fragment" as theirs), ask the engine through
//     r.scope, and return newView(title, data). A *badRequest error is shown as a 400 page
//     naming the parameter at fault, with the page's "controls" when it also returned a view
//     whose Data they can render; any other error is a 500 without details (logged).
//  3. Register it in routes with h.page(pattern, "NAME.html", fn). A navigation entry of
//     navigation is shown once a page is registered at exactly its address ("GET /health" for
//     "/health"); add one there if the page needs it.
package ui

import (
	"net/http"

	"github.com/go-logr/logr"

	"github.com/policyherald/policy-herald/internal/console/api"
	"github.com/policyherald/policy-herald/internal/console/query"
)

// Options are what a Handler serves with: the same as the API's.
type Options struct {
	Source        query.Source
	Authenticator api.Authenticator
	Scoper        api.Scoper
	// Policies and Health read what the policy and health pages show, as the API reads them;
	// nil shows no policy annotations and no object.
	Policies api.PolicyReader
	Health   api.HealthLister
	Log      logr.Logger
	// Events is the address of the live updates' event stream the pages subscribe to; ""
	// for none.
	Events string
	// SignIn answers a page request without valid credentials; nil shows a 401 page saying
	// how to authenticate. The login (package login) sets it to its redirect.
	SignIn http.HandlerFunc
	// SignedIn says whether a request's person came through a sign-in session, which the
	// header's Sign out button ends (package login's Login.SignedIn); nil: never.
	SignedIn func(*http.Request) bool
}

// Handler serves the pages and their assets. It is safe for concurrent use.
type Handler struct {
	opts   Options
	engine *query.Engine
	mux    *http.ServeMux
	pages  map[string]bool // registered patterns, for the navigation
	tmpl   *templates
}

// New returns the pages' handler; mount it at / (the API's /api/ goes to package api).
func New(o Options) *Handler {
	if o.SignIn == nil {
		o.SignIn = unauthenticated
	}
	if o.SignedIn == nil {
		o.SignedIn = func(*http.Request) bool { return false }
	}
	h := &Handler{opts: o, engine: query.New(o.Source), mux: http.NewServeMux(), pages: map[string]bool{}, tmpl: mustParse()}
	h.routes()
	return h
}

// routes registers every page: the place to add one.
func (h *Handler) routes() {
	h.mux.Handle("GET /static/", staticHandler())
	h.page("GET /{$}", "overview.html", h.overviewPage)
	h.page("GET /results", "results.html", h.resultsPage)
	h.page("GET /namespaces/{namespace}", "namespace.html", h.namespacePage)
	h.page("GET /policies", "policies.html", h.policiesPage)
	h.page("GET /policies/{name...}", "policy.html", h.policyPage)
	h.page("GET /namespaces/{namespace}/resources/{kind}/{name}", "resource.html", h.resourcePage)
	h.page("GET /resources/{kind}/{name}", "resource.html", h.resourcePage)
	h.page("GET /health", "health.html", h.healthPage)
	h.mux.HandleFunc("/", h.notFound)
}

// ServeHTTP routes a request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// navItem is an entry of the navigation bar.
type navItem struct {
	Label, Href string
}

// navigation is the navigation bar, in order; an entry shows once its page is registered.
var navigation = []navItem{
	{"Overview", "/"}, {"Results", "/results"}, {"Policies", "/policies"},
	{"Resources", "/resources"}, {"Health", "/health"},
}

// nav returns the entries whose pages exist, the current one marked.
func (h *Handler) nav(current string) []navLink {
	var out []navLink
	for _, n := range navigation {
		pattern := "GET " + n.Href
		if n.Href == "/" {
			pattern = "GET /{$}"
		}
		if h.pages[pattern] {
			out = append(out, navLink{navItem: n, Current: n.Href == current})
		}
	}
	return out
}

type navLink struct {
	navItem
	Current bool
}
