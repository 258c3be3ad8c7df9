package login

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-logr/logr"

	"github.com/policyherald/policy-herald/internal/console/access"
	"github.com/policyherald/policy-herald/internal/console/api"
)

// TokenChecker reviews a Kubernetes token: *api.TokenAuthenticator.
type TokenChecker interface {
	AuthenticateToken(ctx context.Context, token string) (access.User, error)
}

// DefaultSessionMaxAge bounds a session (an OIDC session ends sooner with its ID token).
const DefaultSessionMaxAge = 8 * time.Hour

// Options are what a Login serves with.
type Options struct {
	OIDC *OIDC // nil: no OIDC login
	// ExternalURL is the console's URL as browsers reach it: the OIDC redirect URI is
	// ExternalURL + "/login/callback". Required with OIDC.
	ExternalURL string
	// SessionKeys seal the cookies, the first sealing, every one opening (for a rotation);
	// every replica needs the same. None is a random key, which only a single replica may use
	// (keys are required with OIDC).
	SessionKeys [][]byte
	// SessionMaxAge bounds every session (default 8h).
	SessionMaxAge time.Duration
	// Insecure drops the cookies' Secure attribute: only for loopback development over http.
	Insecure bool
	Tokens   TokenChecker // nil: no token login
	Log      logr.Logger
	Now      func() time.Time // for tests
}

// Login serves the sign-in routes and authenticates their session cookies.
type Login struct {
	opts    Options
	cookies cookies
	oidc    *oidcClient
	csrf    *http.CrossOriginProtection
	mux     *http.ServeMux
}

// New returns the login of o.
func New(o Options) (*Login, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.SessionMaxAge <= 0 {
		o.SessionMaxAge = DefaultSessionMaxAge
	}
	keys := o.SessionKeys
	if len(keys) == 0 {
		if o.OIDC != nil {
			return nil, errors.New("OIDC login needs a session key (--session-key-file) that every replica shares")
		}
		key := make([]byte, MinKeyBytes)
		_, _ = rand.Read(key)
		keys = [][]byte{key}
	}
	seal, err := newSealer(keys, o.Now)
	if err != nil {
		return nil, err
	}
	l := &Login{opts: o, cookies: cookies{seal: seal, secure: !o.Insecure}, csrf: http.NewCrossOriginProtection(), mux: http.NewServeMux()}
	if o.OIDC != nil {
		if err := l.setupOIDC(); err != nil {
			return nil, err
		}
	}
	l.csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		l.page(w, http.StatusForbidden, page{Error: "This request came from another site and was refused."})
	}))
	l.routes()
	return l, nil
}

func (l *Login) setupOIDC() error {
	u, err := url.Parse(l.opts.ExternalURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("OIDC login needs the console's URL (--external-url), an absolute http(s) URL: got %q", l.opts.ExternalURL)
	}
	redirect := strings.TrimSuffix(u.String(), "/") + "/login/callback"
	cfg := *l.opts.OIDC
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: providerTimeout}
	}
	l.oidc = &oidcClient{cfg: cfg, redirect: redirect, now: l.opts.Now}
	return nil
}

func (l *Login) routes() {
	l.mux.HandleFunc("GET /login", l.signIn)
	l.mux.HandleFunc("GET /login/oidc", l.beginOIDC)
	l.mux.HandleFunc("GET /login/callback", l.callback)
	l.mux.Handle("POST /login/token", l.csrf.Handler(http.HandlerFunc(l.tokenLogin)))
	l.mux.Handle("POST /logout", l.csrf.Handler(http.HandlerFunc(l.logout)))
}

// ServeHTTP serves /login, /login/... and /logout.
func (l *Login) ServeHTTP(w http.ResponseWriter, r *http.Request) { l.mux.ServeHTTP(w, r) }

// Mount routes the login's paths of mux to it. They are served before the report store has
// synced: signing in needs no reports.
func (l *Login) Mount(mux *http.ServeMux) {
	for _, p := range []string{"/login", "/login/", "/logout"} {
		mux.Handle(p, l)
	}
}

// Sessions authenticates the session cookie (the first link of a Chain).
func (l *Login) Sessions() api.Authenticator { return l.cookies }

// SignedIn says whether r carries a valid session: the person signed in here (OIDC or token
// login) and may sign out. Bearer, proxy and development identities have nothing to end. The
// session is the first link of the console's chain, so a request it authenticates is this
// one's person.
func (l *Login) SignedIn(r *http.Request) bool {
	_, err := l.cookies.Authenticate(r)
	return err == nil
}

// Available says whether a browser can sign in (OIDC or token login is on).
func (l *Login) Available() bool { return l.oidc != nil || l.opts.Tokens != nil }

// LoginURL is the sign-in page that returns to next (a local path) afterwards.
func (l *Login) LoginURL(next string) string {
	return "/login?next=" + url.QueryEscape(localPath(next))
}

// startSession sets the session cookie of u until exp (at most SessionMaxAge from now).
func (l *Login) startSession(w http.ResponseWriter, u access.User, method string, exp time.Time) error {
	if limit := l.opts.Now().Add(l.opts.SessionMaxAge); exp.IsZero() || exp.After(limit) {
		exp = limit
	}
	s := session{User: u.Name, UID: u.UID, Groups: u.Groups, Extra: u.Extra, Method: method}
	return l.cookies.set(w, l.cookies.sessionName(), exp, s)
}
