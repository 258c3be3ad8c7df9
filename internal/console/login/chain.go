package login

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/policyherald/policy-herald/internal/console/access"
	"github.com/policyherald/policy-herald/internal/console/api"
)

// ErrNoCredentials is what an authenticator of a Chain says when the request carries none of
// its kind of credentials: the chain asks the next one. It wraps api.ErrUnauthenticated.
var ErrNoCredentials = fmt.Errorf("%w: no credentials", api.ErrUnauthenticated)

// Chain asks its authenticators in order. The first to name a user wins; an inability to check
// (not ErrUnauthenticated) ends the chain as that error (a 503). When none names a user, the
// answer is ErrUnauthenticated with the reasons of those whose credentials were there but
// refused, or "no credentials" when the request had none.
type Chain []api.Authenticator

// Authenticate implements api.Authenticator.
func (c Chain) Authenticate(r *http.Request) (access.User, error) {
	var refused []string
	for _, a := range c {
		u, err := a.Authenticate(r)
		switch {
		case err == nil:
			return u, nil
		case !errors.Is(err, api.ErrUnauthenticated):
			return access.User{}, err
		case !errors.Is(err, ErrNoCredentials):
			refused = append(refused, strings.TrimPrefix(err.Error(), api.ErrUnauthenticated.Error()+": "))
		}
	}
	if len(refused) == 0 {
		return access.User{}, fmt.Errorf("%w: sign in, or send a Kubernetes token as Authorization: Bearer", ErrNoCredentials)
	}
	return access.User{}, fmt.Errorf("%w: %s", api.ErrUnauthenticated, strings.Join(refused, "; "))
}

// Bearer is a, the API's TokenAuthenticator, asked only for requests that carry an
// Authorization header, so the chain can tell "no token" from "a token refused".
func Bearer(a api.Authenticator) api.Authenticator {
	return api.AuthenticatorFunc(func(r *http.Request) (access.User, error) {
		if r.Header.Get("Authorization") == "" {
			return access.User{}, fmt.Errorf("%w: no bearer token", ErrNoCredentials)
		}
		return a.Authenticate(r)
	})
}
