package login

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/sync/singleflight"

	"github.com/policyherald/policy-herald/internal/console/access"
)

// OIDC is the console's OpenID Connect client.
type OIDC struct {
	IssuerURL    string
	ClientID     string
	ClientSecret string // "" for a public client: PKCE alone then
	Scopes       []string
	Claims       Mapping
	// HTTPClient reaches the identity provider (its CA from --oidc-ca-file); nil is a client
	// with the host's authorities and providerTimeout.
	HTTPClient *http.Client
}

// flowTTL bounds a login's round trip through the identity provider; providerTimeout one
// request to it (discovery, keys, code exchange), so a hanging provider holds no login forever.
const (
	flowTTL         = 10 * time.Minute
	providerTimeout = 30 * time.Second
)

// flow is what the login cookie keeps between /login/oidc and /login/callback.
type flow struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Next     string `json:"t"`
}

// provider is the identity provider as discovered: its endpoints and ID token verifier.
type provider struct {
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
}

// oidcClient discovers the provider on first use (so a console starts while its identity
// provider is down) and again after a failure; concurrent logins share one discovery.
type oidcClient struct {
	cfg      OIDC
	redirect string
	now      func() time.Time
	mu       sync.Mutex // guards p only, never held across discovery
	p        *provider
	flights  singleflight.Group
}

func (c *oidcClient) ctx(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, c.cfg.HTTPClient)
}

func (c *oidcClient) provider(ctx context.Context) (*provider, error) {
	c.mu.Lock()
	p := c.p
	c.mu.Unlock()
	if p != nil {
		return p, nil
	}
	v, err, _ := c.flights.Do("discover", func() (any, error) {
		// Not the request's cancellation: other logins wait for this discovery too.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), providerTimeout)
		defer cancel()
		p, err := oidc.NewProvider(c.ctx(dctx), c.cfg.IssuerURL)
		if err != nil {
			return nil, fmt.Errorf("discovering the OIDC provider %s: %w", c.cfg.IssuerURL, err)
		}
		pr := &provider{
			oauth: oauth2.Config{ClientID: c.cfg.ClientID, ClientSecret: c.cfg.ClientSecret, Endpoint: p.Endpoint(),
				RedirectURL: c.redirect, Scopes: c.cfg.Scopes},
			verifier: p.Verifier(&oidc.Config{ClientID: c.cfg.ClientID, Now: c.now}),
		}
		c.mu.Lock()
		c.p = pr
		c.mu.Unlock()
		return pr, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*provider), nil
}

// begin returns a new flow and the identity provider's URL to send the browser to.
func (c *oidcClient) begin(ctx context.Context, next string) (flow, string, error) {
	p, err := c.provider(ctx)
	if err != nil {
		return flow{}, "", err
	}
	f := flow{State: random(), Nonce: random(), Verifier: oauth2.GenerateVerifier(), Next: next}
	return f, p.oauth.AuthCodeURL(f.State, oidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier)), nil
}

// errRefused is an answer of the identity provider the console does not accept (wrong audience,
// nonce, claims): the person sees why, with a 401.
type errRefused struct{ err error }

func (e errRefused) Error() string { return e.err.Error() }
func (e errRefused) Unwrap() error { return e.err }

// finish exchanges the code of a callback for an ID token, verifies it (signature, issuer,
// audience = client ID, expiry, nonce) and returns its user and expiry.
func (c *oidcClient) finish(ctx context.Context, f flow, code string) (access.User, time.Time, error) {
	p, err := c.provider(ctx)
	if err != nil {
		return access.User{}, time.Time{}, err
	}
	tok, err := p.oauth.Exchange(c.ctx(ctx), code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500 {
			return access.User{}, time.Time{}, errRefused{fmt.Errorf("the identity provider refused the login: %s", re.ErrorCode)}
		}
		return access.User{}, time.Time{}, fmt.Errorf("exchanging the authorization code: %w", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return access.User{}, time.Time{}, errRefused{errors.New("the identity provider sent no ID token (is the openid scope in --oidc-scopes?)")}
	}
	id, err := p.verifier.Verify(c.ctx(ctx), raw)
	if err != nil {
		return access.User{}, time.Time{}, errRefused{fmt.Errorf("the ID token was refused: %w", err)}
	}
	if id.Nonce != f.Nonce {
		return access.User{}, time.Time{}, errRefused{errors.New("the ID token's nonce is not this login's")}
	}
	var claims map[string]json.RawMessage
	if err := id.Claims(&claims); err != nil {
		return access.User{}, time.Time{}, errRefused{err}
	}
	u, err := c.cfg.Claims.User(claims)
	if err != nil {
		return access.User{}, time.Time{}, errRefused{err}
	}
	return u, id.Expiry, nil
}

// random is 32 random bytes, base64url.
func random() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
