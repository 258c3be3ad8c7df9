package ui

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/policyherald/policy-herald/internal/console/access"
	"github.com/policyherald/policy-herald/internal/console/api"
)

// request is a page request of an authenticated person, with what they may see.
type request struct {
	*http.Request
	user  access.User
	scope *access.Scope
	// params are the address's parameters without empty values: an empty field of a form
	// sent as GET is no filter.
	params url.Values
}

// nonEmpty returns v without its empty values.
func nonEmpty(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		for _, x := range vs {
			if x != "" {
				out[k] = append(out[k], x)
			}
		}
	}
	return out
}

// view is what the layout renders: the page's title and data, and the person's situation.
type view struct {
	Title string
	Data  any
	// Set by the handler:
	Nav      []navLink
	User     string
	SignOut  bool // the person signed in with a session, which they may end
	Warnings []string
	Empty    bool   // the person may see no report at all
	Reason   string // why, when Empty
	Error    string // a bad request's message, shown instead of the content
	Events   string // the live updates' stream, "" for none
	Assets   string // the assets' version, for their addresses
}

func newView(title string, data any) *view { return &view{Title: title, Data: data} }

// badRequest is a page's refusal of its parameters: a 400 showing the message.
type badRequest struct{ err error }

func (b *badRequest) Error() string { return b.err.Error() }

// pageFunc builds a page's view.
type pageFunc func(r *request) (*view, error)

// page registers a page at pattern rendered with the template file name.
func (h *Handler) page(pattern, name string, fn pageFunc) {
	h.pages[pattern] = true
	h.mux.HandleFunc(pattern, h.withScope(func(w http.ResponseWriter, r *request) {
		v, err := fn(r)
		var bad *badRequest
		status := http.StatusOK
		switch {
		case errors.As(err, &bad):
			// The page's form, when it returned one, stays to correct the parameters.
			if status = http.StatusBadRequest; v == nil {
				v = newView("Bad request", nil)
			}
			v.Error = bad.Error()
		case err != nil:
			h.opts.Log.Error(err, "rendering a page", "path", r.URL.Path)
			plainPage(w, http.StatusInternalServerError, "Something went wrong", "The console could not build this page; its log says why.")
			return
		}
		h.decorate(v, r)
		h.render(w, status, name, r.params.Get("fragment"), v)
	}))
}

// decorate fills in the person's part of a view.
func (h *Handler) decorate(v *view, r *request) {
	v.Nav = h.nav(r.URL.Path)
	v.User = r.user.Name
	v.SignOut = h.opts.SignedIn(r.Request)
	v.Warnings = r.scope.Warnings
	v.Empty, v.Reason = r.scope.Empty(), r.scope.Reason()
	v.Events = h.opts.Events
	v.Assets = assetVersion
}

// withScope authenticates a page request and decides its person's Scope, as the API does.
func (h *Handler) withScope(next func(http.ResponseWriter, *request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, err := h.opts.Authenticator.Authenticate(r)
		switch {
		case errors.Is(err, api.ErrUnauthenticated):
			h.opts.SignIn(w, r)
			return
		case err != nil:
			h.opts.Log.Error(err, "authenticating a request", "path", r.URL.Path)
			plainPage(w, http.StatusServiceUnavailable, "Try again", "The console could not check your credentials with the Kubernetes API server.")
			return
		}
		s, err := h.opts.Scoper.Scope(r.Context(), u, api.Holdings(h.opts.Source.Snapshot()))
		if err != nil {
			h.opts.Log.Error(err, "deciding what a user may see", "user", u.Name)
			plainPage(w, http.StatusInternalServerError, "Something went wrong", "The console could not decide what you may see.")
			return
		}
		next(w, &request{Request: r, user: u, scope: s, params: nonEmpty(r.URL.Query())})
	}
}

// unauthenticated is the default SignIn until the login exists: a 401 page.
func unauthenticated(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="policy-herald"`)
	plainPage(w, http.StatusUnauthorized, "Sign in",
		"Send a Kubernetes token the API server accepts as \"Authorization: Bearer <token>\".")
}

func (h *Handler) notFound(w http.ResponseWriter, _ *http.Request) {
	plainPage(w, http.StatusNotFound, "Not found", "There is no page at this address.")
}
