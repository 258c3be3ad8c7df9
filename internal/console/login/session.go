package login

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/policyherald/policy-herald/internal/console/access"
	"github.com/policyherald/policy-herald/internal/console/api"
)

// maxCookieBytes is what browsers keep of one cookie (4,096 bytes with its name and
// attributes): a session that does not fit is refused at login, not silently dropped.
const maxCookieBytes = 3800

// session is the signed-in person as a session cookie holds them: who the identity provider or
// the TokenReview said they are, never a token.
type session struct {
	User   string              `json:"u,omitempty"`
	UID    string              `json:"i,omitempty"`
	Groups []string            `json:"g,omitempty"`
	Extra  map[string][]string `json:"x,omitempty"`
	Method string              `json:"m"` // "oidc" or "token"
}

func (s session) user() access.User {
	return access.User{Name: s.User, UID: s.UID, Groups: s.Groups, Extra: s.Extra}
}

// cookies writes and reads the console's two cookies: the session and the login flow's.
type cookies struct {
	seal   *sealer
	secure bool
}

// names: with Secure, the __Host- prefix makes the browser refuse the cookie unless it is
// Secure, host-only and Path=/, so no sibling subdomain can plant one.
func (c cookies) sessionName() string { return c.prefix() + "policy-herald-session" }
func (c cookies) flowName() string    { return c.prefix() + "policy-herald-login" }

func (c cookies) prefix() string {
	if c.secure {
		return "__Host-"
	}
	return ""
}

// set writes the cookie name holding v until exp.
func (c cookies) set(w http.ResponseWriter, name string, exp time.Time, v any) error {
	value, err := c.seal.seal(name, exp, v)
	if err != nil {
		return err
	}
	if len(name)+len(value) > maxCookieBytes {
		return fmt.Errorf("the session is %d bytes, more than a browser keeps in a cookie (too many groups?)", len(value))
	}
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/", Expires: exp, MaxAge: int(time.Until(exp).Seconds()) + 1,
		HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteLaxMode,
	})
	return nil
}

// clear removes the cookie name.
func (c cookies) clear(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteLaxMode})
}

// get reads the cookie name into v. ok is false when the request has none.
func (c cookies) get(r *http.Request, name string, v any) (ok bool, err error) {
	ck, err := r.Cookie(name)
	if err != nil {
		return false, nil
	}
	return true, c.seal.open(name, ck.Value, v)
}

// Authenticate implements api.Authenticator with the session cookie.
func (c cookies) Authenticate(r *http.Request) (access.User, error) {
	var s session
	ok, err := c.get(r, c.sessionName(), &s)
	switch {
	case !ok:
		return access.User{}, fmt.Errorf("%w: no session", ErrNoCredentials)
	case errors.Is(err, errExpired):
		return access.User{}, fmt.Errorf("%w: your session has expired; sign in again", api.ErrUnauthenticated)
	case err != nil:
		return access.User{}, fmt.Errorf("%w: the session cookie is not valid; sign in again", api.ErrUnauthenticated)
	}
	return s.user(), nil
}
