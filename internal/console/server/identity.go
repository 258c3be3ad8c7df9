package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"

	"github.com/policyherald/policy-herald/internal/console/api"
	"github.com/policyherald/policy-herald/internal/console/login"
)

// IdentityFlags say how people sign in (package login).
type IdentityFlags struct {
	Dev            bool
	ExternalURL    string
	SessionKeyFile string
	SessionMaxAge  time.Duration
	TokenLogin     bool
	OIDC           OIDCFlags
	Proxy          ProxyFlags
	TLS            TLSFlags
}

// TLSFlags make the console serve HTTPS itself (else plain HTTP behind an ingress): needed for
// the proxy's client certificates.
type TLSFlags struct{ CertFile, KeyFile string }

// OIDCFlags are named and behave as kube-apiserver's --oidc-* flags, so that the names derived
// match the cluster's RoleBindings.
type OIDCFlags struct {
	IssuerURL, ClientID, ClientSecretFile, CAFile string
	Scopes                                        string
	UsernameClaim, UsernamePrefix                 string
	GroupsClaim, GroupsPrefix                     string
}

// ProxyFlags configure the trusted authenticating proxy; it is on with a secret file or a
// client CA file.
type ProxyFlags struct {
	SecretFile, SecretHeader, UserHeader, GroupsHeader, GroupsPrefix string
	ClientCAFile, AllowedNames                                       string
}

func (p ProxyFlags) on() bool { return p.SecretFile != "" || p.ClientCAFile != "" }

func (f *IdentityFlags) bind(fs *flag.FlagSet) {
	fs.BoolVar(&f.Dev, "dev", false, "Serve without login as the kubeconfig's own user (learned with a SelfSubjectReview). "+
		"Only with a loopback --bind-address such as 127.0.0.1:8090; make run uses it.")
	fs.StringVar(&f.ExternalURL, "external-url", "", "The console's URL as browsers reach it (https://console.example.com); "+
		"the OIDC redirect URI is this URL + /login/callback. Required with --oidc-issuer-url.")
	fs.StringVar(&f.SessionKeyFile, "session-key-file", "", "File of keys sealing session cookies, one a line of at least 32 bytes "+
		"(openssl rand -base64 48); the first seals, all open, for rotation. Every replica must read the same. "+
		"Required with OIDC; without it a random key is used (one replica only).")
	fs.DurationVar(&f.SessionMaxAge, "session-max-age", login.DefaultSessionMaxAge, "Longest a session lasts; an OIDC session ends sooner with its ID token.")
	fs.BoolVar(&f.TokenLogin, "token-login", true, "Offer signing in with a pasted Kubernetes token (checked with a TokenReview).")
	o := &f.OIDC
	fs.StringVar(&o.IssuerURL, "oidc-issuer-url", "", "The OpenID Connect issuer's URL; turns OIDC login on.")
	fs.StringVar(&o.ClientID, "oidc-client-id", "", "The console's client ID at the issuer; ID tokens must have it as audience.")
	fs.StringVar(&o.ClientSecretFile, "oidc-client-secret-file", "", "File holding the client secret; none for a public client (PKCE alone).")
	fs.StringVar(&o.CAFile, "oidc-ca-file", "", "PEM file of the authorities the issuer's certificate is verified with, instead of the host's.")
	fs.StringVar(&o.Scopes, "oidc-scopes", "openid,profile,email", "Comma-separated scopes asked for; add groups where the provider needs it for a groups claim (Dex, Okta).")
	fs.StringVar(&o.UsernameClaim, "oidc-username-claim", "sub", "The ID token claim naming the user, as kube-apiserver's flag.")
	fs.StringVar(&o.UsernamePrefix, "oidc-username-prefix", "", "Prefix of user names, as kube-apiserver's flag: when empty, "+
		"claims other than email are prefixed with the issuer URL and #; - for none.")
	fs.StringVar(&o.GroupsClaim, "oidc-groups-claim", "", "The ID token claim listing the user's groups (a string or an array of strings).")
	fs.StringVar(&o.GroupsPrefix, "oidc-groups-prefix", "", "Prefix of every group from the groups claim.")
	p := &f.Proxy
	fs.StringVar(&p.SecretFile, "proxy-secret-file", "", "File holding the shared secret a trusted authenticating proxy sends; turns proxy headers on.")
	fs.StringVar(&p.SecretHeader, "proxy-secret-header", login.DefaultProxySecretHeader, "Header carrying the proxy's shared secret.")
	fs.StringVar(&p.UserHeader, "proxy-user-header", login.DefaultProxyUserHeader, "Header naming the user the proxy authenticated.")
	fs.StringVar(&p.GroupsHeader, "proxy-groups-header", login.DefaultProxyGroupsHeader, "Header listing the user's groups, comma-separated.")
	fs.StringVar(&p.GroupsPrefix, "proxy-groups-prefix", "", "Prefix of every group from the proxy.")
	fs.StringVar(&p.ClientCAFile, "proxy-client-ca-file", "", "PEM file of the authorities of the proxy's client certificate; "+
		"turns proxy headers on for requests with such a certificate. Needs --tls-cert-file.")
	fs.StringVar(&p.AllowedNames, "proxy-allowed-names", "", "Comma-separated common names a proxy's client certificate may have; empty: any the CA signed.")
	fs.StringVar(&f.TLS.CertFile, "tls-cert-file", "", "PEM certificate (with its chain) to serve HTTPS with; read at start.")
	fs.StringVar(&f.TLS.KeyFile, "tls-private-key-file", "", "PEM private key of --tls-cert-file.")
}

// identity is how the console authenticates: the login routes and the chain.
type identity struct {
	login *login.Login
	chain login.Chain
}

// newIdentity builds the chain: session cookie, bearer token, proxy (when configured), dev user
// (when on).
func newIdentity(ctx context.Context, cfg *rest.Config, f Flags, tokens *api.TokenAuthenticator, log logr.Logger) (*identity, error) {
	id := f.Identity
	opts := login.Options{ExternalURL: id.ExternalURL, SessionMaxAge: id.SessionMaxAge, Insecure: id.Dev, Log: log}
	if id.TokenLogin {
		opts.Tokens = tokens
	}
	if id.Dev && opts.ExternalURL == "" {
		opts.ExternalURL = "http://" + f.BindAddress
	}
	var err error
	if id.SessionKeyFile != "" {
		if opts.SessionKeys, err = readKeys(id.SessionKeyFile); err != nil {
			return nil, err
		}
	}
	if opts.OIDC, err = id.OIDC.options(); err != nil {
		return nil, err
	}
	l, err := login.New(opts)
	if err != nil {
		return nil, err
	}
	chain := login.Chain{l.Sessions(), login.Bearer(tokens)}
	if id.Proxy.on() {
		p, err := id.Proxy.proxy()
		if err != nil {
			return nil, err
		}
		chain = append(chain, p)
	}
	if id.Dev {
		u, err := login.DevUser(ctx, cfg)
		if err != nil {
			return nil, err
		}
		log.Info("development mode: every request without credentials is the kubeconfig's user", "user", u.Name, "groups", u.Groups)
		chain = append(chain, login.Dev{User: u})
	}
	return &identity{login: l, chain: chain}, nil
}

// check refuses flags that cannot work together, before anything starts.
func (id IdentityFlags) check(bindAddress string) error {
	if id.Dev {
		if err := login.CheckLoopback(bindAddress); err != nil {
			return err
		}
	}
	if (id.OIDC.IssuerURL == "") != (id.OIDC.ClientID == "") {
		return errors.New("--oidc-issuer-url and --oidc-client-id go together")
	}
	if (id.TLS.CertFile == "") != (id.TLS.KeyFile == "") {
		return errors.New("--tls-cert-file and --tls-private-key-file go together")
	}
	if id.Proxy.ClientCAFile != "" && id.TLS.CertFile == "" {
		return errors.New("--proxy-client-ca-file needs the console to serve TLS (--tls-cert-file, --tls-private-key-file)")
	}
	return nil
}

func (o OIDCFlags) options() (*login.OIDC, error) {
	if o.IssuerURL == "" {
		return nil, nil
	}
	out := &login.OIDC{IssuerURL: o.IssuerURL, ClientID: o.ClientID, Claims: login.Mapping{
		IssuerURL: o.IssuerURL, UsernameClaim: o.UsernameClaim, UsernamePrefix: o.UsernamePrefix,
		GroupsClaim: o.GroupsClaim, GroupsPrefix: o.GroupsPrefix,
	}}
	for s := range strings.SplitSeq(o.Scopes, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out.Scopes = append(out.Scopes, s)
		}
	}
	var err error
	if o.ClientSecretFile != "" {
		if out.ClientSecret, err = readSecretString(o.ClientSecretFile, "--oidc-client-secret-file"); err != nil {
			return nil, err
		}
	}
	if o.CAFile != "" {
		if out.HTTPClient, err = clientTrusting(o.CAFile); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (p ProxyFlags) proxy() (login.Proxy, error) {
	out := login.Proxy{SecretHeader: p.SecretHeader, UserHeader: p.UserHeader, GroupsHeader: p.GroupsHeader, GroupsPrefix: p.GroupsPrefix}
	var err error
	if p.SecretFile != "" {
		if out.Secret, err = readSecret(p.SecretFile, "--proxy-secret-file"); err != nil {
			return login.Proxy{}, err
		}
	}
	if p.ClientCAFile != "" {
		if out.ClientCAs, err = readPool(p.ClientCAFile, "--proxy-client-ca-file"); err != nil {
			return login.Proxy{}, err
		}
	}
	for n := range strings.SplitSeq(p.AllowedNames, ",") {
		if n = strings.TrimSpace(n); n != "" {
			out.ClientNames = append(out.ClientNames, n)
		}
	}
	return out, nil
}

// serverTLS is the console's TLS configuration, nil for plain HTTP: its certificate, and the
// proxy's authorities for client certificates (verified when given, never required: browsers
// come without).
func (id IdentityFlags) serverTLS() (*tls.Config, error) {
	if id.TLS.CertFile == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(id.TLS.CertFile, id.TLS.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert-file, --tls-private-key-file: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if id.Proxy.ClientCAFile != "" {
		if cfg.ClientCAs, err = readPool(id.Proxy.ClientCAFile, "--proxy-client-ca-file"); err != nil {
			return nil, err
		}
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return cfg, nil
}

// readSecret reads a secret file without its surrounding white space (a Secret created from a
// file often ends with a newline). Its content is never in an error.
func readSecret(path, flagName string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flagName, err)
	}
	b = []byte(strings.TrimSpace(string(b)))
	if len(b) == 0 {
		return nil, fmt.Errorf("%s: %s is empty", flagName, path)
	}
	return b, nil
}

// readKeys reads the session keys, one a line: the first seals new sessions, the others still
// open the sessions they sealed (put a new key first to rotate, drop the old one a
// --session-max-age later).
func readKeys(path string) ([][]byte, error) {
	b, err := readSecret(path, "--session-key-file")
	if err != nil {
		return nil, err
	}
	var keys [][]byte
	for line := range strings.Lines(string(b)) {
		if line = strings.TrimSpace(line); line != "" {
			keys = append(keys, []byte(line))
		}
	}
	return keys, nil
}

func readSecretString(path, flagName string) (string, error) {
	b, err := readSecret(path, flagName)
	return string(b), err
}

// readPool reads a PEM file of authorities.
func readPool(path, flagName string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flagName, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: %s holds no PEM certificate", flagName, path)
	}
	return pool, nil
}

// clientTrusting is an HTTP client that trusts only the authorities of the PEM file.
func clientTrusting(caFile string) (*http.Client, error) {
	pool, err := readPool(caFile, "--oidc-ca-file")
	if err != nil {
		return nil, err
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: t, Timeout: 30 * time.Second}, nil
}
