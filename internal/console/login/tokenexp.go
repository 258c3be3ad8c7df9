package login

import (
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// tokenExpiry is when a pasted token stops being valid, read from its exp claim when it is a
// JWT (ServiceAccount and OIDC tokens are), else zero. Only for a token the API server has
// just accepted: its signature was checked there, so reading the claim unverified is sound.
// A session never outlives the token it came from.
func tokenExpiry(token string) time.Time {
	t, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{
		jose.RS256, jose.RS384, jose.RS512, jose.ES256, jose.ES384, jose.ES512, jose.PS256, jose.PS384, jose.PS512, jose.EdDSA,
	})
	if err != nil {
		return time.Time{}
	}
	var c jwt.Claims
	if err := t.UnsafeClaimsWithoutVerification(&c); err != nil || c.Expiry == nil {
		return time.Time{}
	}
	return c.Expiry.Time()
}
