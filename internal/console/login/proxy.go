package login

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/policyherald/policy-herald/internal/console/access"
	"github.com/policyherald/policy-herald/internal/console/api"
)

// Proxy authenticates requests from a trusted authenticating proxy (oauth2-proxy and the like)
// by the user and groups headers it sets, and only when the request proves it came from the
// proxy: it carries the proxy's shared secret, or came over TLS with a client certificate of the
// proxy's authorities (and, when names are given, one of those names). Anyone else who sends
// those headers is ignored, as if they were not there.
type Proxy struct {
	Secret       []byte // compared in constant time; nil: no secret accepted
	SecretHeader string // default X-Policy-Herald-Proxy-Secret
	// ClientCAs verify the proxy's client certificate (the console must serve TLS); nil: no
	// certificate accepted. ClientNames, when not empty, are the common names allowed.
	ClientCAs    *x509.CertPool
	ClientNames  []string
	UserHeader   string // default X-Forwarded-User
	GroupsHeader string // default X-Forwarded-Groups: comma-separated, or repeated
	GroupsPrefix string
}

// Proxy header defaults (oauth2-proxy's names for the user and groups).
const (
	DefaultProxySecretHeader = "X-Policy-Herald-Proxy-Secret"
	DefaultProxyUserHeader   = "X-Forwarded-User"
	DefaultProxyGroupsHeader = "X-Forwarded-Groups"
)

func (p Proxy) withDefaults() Proxy {
	if p.SecretHeader == "" {
		p.SecretHeader = DefaultProxySecretHeader
	}
	if p.UserHeader == "" {
		p.UserHeader = DefaultProxyUserHeader
	}
	if p.GroupsHeader == "" {
		p.GroupsHeader = DefaultProxyGroupsHeader
	}
	return p
}

// Authenticate implements api.Authenticator.
func (p Proxy) Authenticate(r *http.Request) (access.User, error) {
	p = p.withDefaults()
	if !p.proven(r) {
		return access.User{}, fmt.Errorf("%w: no proxy secret", ErrNoCredentials)
	}
	name := strings.TrimSpace(r.Header.Get(p.UserHeader))
	if name == "" {
		// A proven request without a user (the proxy let someone through unauthenticated) is
		// refused, not passed down the chain.
		return access.User{}, fmt.Errorf("%w: the authenticating proxy named no user in %s", api.ErrUnauthenticated, p.UserHeader)
	}
	return access.User{Name: name, Groups: append(p.groups(r), authenticatedGroup)}, nil
}

// proven says whether the request came from the proxy.
func (p Proxy) proven(r *http.Request) bool { return p.hasSecret(r) || p.hasCertificate(r) }

// hasSecret says whether the request carries the shared secret. Both sides are hashed first, so
// the comparison's time says nothing about the secret's length either.
func (p Proxy) hasSecret(r *http.Request) bool {
	got := r.Header.Get(p.SecretHeader)
	if got == "" || len(p.Secret) == 0 {
		return false
	}
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256(p.Secret)
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

func (p Proxy) groups(r *http.Request) []string {
	var out []string
	for _, v := range r.Header.Values(p.GroupsHeader) {
		for g := range strings.SplitSeq(v, ",") {
			if g = strings.TrimSpace(g); g != "" {
				out = append(out, p.GroupsPrefix+g)
			}
		}
	}
	return out
}

// hasCertificate says whether the request came with a client certificate that ClientCAs verify
// for client authentication (the TLS handshake proved the proxy holds its key), with an
// allowed name.
func (p Proxy) hasCertificate(r *http.Request) bool {
	if p.ClientCAs == nil || r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return false
	}
	certs := r.TLS.PeerCertificates
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{Roots: p.ClientCAs, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	return err == nil && (len(p.ClientNames) == 0 || slices.Contains(p.ClientNames, certs[0].Subject.CommonName))
}
