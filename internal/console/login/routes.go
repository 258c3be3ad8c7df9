package login

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/policyherald/policy-herald/internal/console/access"
	"github.com/policyherald/policy-herald/internal/console/api"
)

// maxFormBytes bounds the token form (a token is a few kilobytes at most).
const maxFormBytes = 64 << 10

// signIn is the sign-in page: the OIDC button and the token form, as configured. With OIDC the
// only way, it starts the flow at once.
func (l *Login) signIn(w http.ResponseWriter, r *http.Request) {
	next := localPath(r.URL.Query().Get("next"))
	if l.oidc != nil && l.opts.Tokens == nil {
		http.Redirect(w, r, "/login/oidc?next="+url.QueryEscape(next), http.StatusFound)
		return
	}
	l.page(w, http.StatusOK, page{Next: next})
}

// beginOIDC starts the authorization code flow: state, nonce and PKCE verifier go into the
// sealed login cookie, the browser to the identity provider.
func (l *Login) beginOIDC(w http.ResponseWriter, r *http.Request) {
	if l.oidc == nil {
		l.page(w, http.StatusNotFound, page{Error: "OIDC login is not configured on this console."})
		return
	}
	f, to, err := l.oidc.begin(r.Context(), localPath(r.URL.Query().Get("next")))
	if err != nil {
		l.opts.Log.Error(err, "starting an OIDC login")
		l.page(w, http.StatusServiceUnavailable, page{Error: "The identity provider cannot be reached; try again in a moment."})
		return
	}
	if err := l.cookies.set(w, l.cookies.flowName(), l.opts.Now().Add(flowTTL), f); err != nil {
		l.page(w, http.StatusInternalServerError, page{Error: "Could not start the login."})
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, to, http.StatusFound)
}

// callback finishes the flow the login cookie started.
func (l *Login) callback(w http.ResponseWriter, r *http.Request) {
	if l.oidc == nil {
		l.page(w, http.StatusNotFound, page{Error: "OIDC login is not configured on this console."})
		return
	}
	var f flow
	ok, err := l.cookies.get(r, l.cookies.flowName(), &f)
	l.cookies.clear(w, l.cookies.flowName())
	q := r.URL.Query()
	switch {
	case !ok || err != nil:
		l.page(w, http.StatusBadRequest, page{Error: "This login did not start here or took too long; sign in again."})
		return
	case q.Get("state") != f.State:
		l.page(w, http.StatusBadRequest, page{Error: "This login's state does not match; sign in again."})
		return
	case q.Get("error") != "":
		l.page(w, http.StatusUnauthorized, page{Error: "The identity provider refused the login: " + q.Get("error") + " " + q.Get("error_description")})
		return
	}
	u, exp, err := l.oidc.finish(r.Context(), f, q.Get("code"))
	var refused errRefused
	if errors.As(err, &refused) {
		l.page(w, http.StatusUnauthorized, page{Error: "Sign-in refused: " + refused.Error()})
		return
	}
	if err != nil {
		l.opts.Log.Error(err, "finishing an OIDC login")
		l.page(w, http.StatusServiceUnavailable, page{Error: "The identity provider cannot be reached; try again in a moment."})
		return
	}
	l.signedIn(w, r, u, "oidc", exp, f.Next)
}

// tokenLogin reviews a pasted Kubernetes token and keeps its user, not the token, in the
// session.
func (l *Login) tokenLogin(w http.ResponseWriter, r *http.Request) {
	if l.opts.Tokens == nil {
		l.page(w, http.StatusNotFound, page{Error: "Token login is not enabled on this console."})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		l.page(w, http.StatusBadRequest, page{Error: "The form could not be read."})
		return
	}
	next := localPath(r.PostForm.Get("next"))
	token := strings.TrimSpace(r.PostForm.Get("token"))
	if token == "" {
		l.page(w, http.StatusBadRequest, page{Next: next, Error: "Paste a Kubernetes token."})
		return
	}
	u, err := l.opts.Tokens.AuthenticateToken(context.WithoutCancel(r.Context()), token)
	switch {
	case errors.Is(err, api.ErrUnauthenticated):
		l.page(w, http.StatusUnauthorized, page{Next: next, Error: "The Kubernetes API server did not accept this token."})
		return
	case err != nil:
		l.opts.Log.Error(err, "reviewing a pasted token")
		l.page(w, http.StatusServiceUnavailable, page{Next: next, Error: "The token could not be checked with the Kubernetes API server; try again."})
		return
	}
	l.signedIn(w, r, u, "token", tokenExpiry(token), next)
}

func (l *Login) signedIn(w http.ResponseWriter, r *http.Request, u access.User, method string, exp time.Time, next string) {
	if err := l.startSession(w, u, method, exp); err != nil {
		l.page(w, http.StatusUnauthorized, page{Error: "Sign-in refused: " + err.Error()})
		return
	}
	l.opts.Log.Info("signed in", "user", u.Name, "groups", len(u.Groups), "method", method)
	redirect(w, r, next)
}

// redirect sends the browser to a local path after a request that set or removed a cookie; no
// cache keeps that answer.
func redirect(w http.ResponseWriter, r *http.Request, to string) {
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// logout ends the session (the identity provider's own session stays).
func (l *Login) logout(w http.ResponseWriter, r *http.Request) {
	l.cookies.clear(w, l.cookies.sessionName())
	redirect(w, r, "/login")
}
