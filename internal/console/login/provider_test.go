package login_test

import (
	"context"
	"net/http/httptest"
	"os"
	"slices"
	"sync"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"
)

// provider is zitadel/oidc's example OpenID Provider (its login UI, storage and token
// endpoints), served over TLS on loopback, with two people and a groups claim.
type provider struct {
	srv     *httptest.Server
	issuer  string
	caFile  string
	storage *opStorage
	dir     string
}

// The provider's people: alice is in the provider's group team-a, bob in none.
var people = map[string]struct {
	id     string
	groups []string
}{
	"alice": {"alice-id", []string{"team-a"}},
	"bob":   {"bob-id", nil},
}

const password = "correct horse battery staple"

// startProvider starts a provider. tokensFor, when set, is the client ID its ID tokens are
// issued to (their audience and authorized party) instead of the console's: an identity
// provider whose application for the console has another ID than the console was given.
func startProvider(tokensFor string) (*provider, error) {
	dir, err := os.MkdirTemp("", "oidc-provider")
	if err != nil {
		return nil, err
	}
	ln, err := listen()
	if err != nil {
		return nil, err
	}
	srv := httptest.NewUnstartedServer(nil)
	srv.Listener.Close()
	srv.Listener = ln
	issuer := "https://" + ln.Addr().String()
	st := &opStorage{
		Storage:   storage.NewStorageWithClients(users{}, map[string]*storage.Client{}),
		tokensFor: tokensFor,
		clients:   map[string][]string{},
	}
	srv.Config.Handler = exampleop.SetupServer(issuer, st, nil, false)
	srv.StartTLS()
	p := &provider{srv: srv, issuer: issuer, storage: st, dir: dir}
	if p.caFile, err = writeCA(srv, dir); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

func (p *provider) close() { p.srv.Close(); _ = os.RemoveAll(p.dir) }

// allowRedirect registers uri as a redirect URI of the console's client.
func (p *provider) allowRedirect(uri string) { p.storage.allowRedirect(uri) }

// opStorage is the example's in-memory storage with the console's client, a groups claim in
// ID tokens, and optionally another client ID in its tokens.
type opStorage struct {
	*storage.Storage
	tokensFor string
	mu        sync.Mutex
	clients   map[string][]string // client ID → redirect URIs
}

func (s *opStorage) allowRedirect(uri string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range []string{clientID, publicClientID} {
		s.clients[id] = append(s.clients[id], uri)
	}
}

// GetClientByClientID serves the console's clients: a confidential web client, and a public
// one that authenticates with PKCE alone (the provider refuses it a code exchange without).
func (s *opStorage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	s.mu.Lock()
	uris, ok := s.clients[id]
	uris = slices.Clone(uris)
	s.mu.Unlock()
	if !ok {
		return s.Storage.GetClientByClientID(ctx, id)
	}
	if id == publicClientID {
		return storage.NativeClient(id, uris...), nil
	}
	c := storage.WebClient(id, clientSecret, uris...)
	if s.tokensFor != "" {
		return renamed{c, s.tokensFor}, nil
	}
	return c, nil
}

type renamed struct {
	op.Client
	id string
}

func (r renamed) GetID() string { return r.id }

// AuthorizeClientIDSecret checks the console's secret.
func (s *opStorage) AuthorizeClientIDSecret(ctx context.Context, id, secret string) error {
	if id == clientID && secret == clientSecret {
		return nil
	}
	return oidc.ErrInvalidClient().WithDescription("wrong client secret")
}

// SetUserinfoFromRequest adds the person's groups to the ID token.
func (s *opStorage) SetUserinfoFromRequest(ctx context.Context, info *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	if err := s.Storage.SetUserinfoFromRequest(ctx, info, req, scopes); err != nil {
		return err
	}
	for _, p := range people {
		if p.id == req.GetSubject() && p.groups != nil {
			info.AppendClaims(groupsClaim, p.groups)
		}
	}
	return nil
}

// AuthRequestByCode gives the token endpoint the request as issued to tokensFor.
func (s *opStorage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	r, err := s.Storage.AuthRequestByCode(ctx, code)
	if err != nil || s.tokensFor == "" {
		return r, err
	}
	return issuedTo{r, s.tokensFor}, nil
}

type issuedTo struct {
	op.AuthRequest
	client string
}

func (i issuedTo) GetClientID() string   { return i.client }
func (i issuedTo) GetAudience() []string { return []string{i.client} }

// users is the provider's user store: people, each with password.
type users struct{}

func (users) GetUserByID(id string) *storage.User {
	for name, p := range people {
		if p.id == id {
			return user(name)
		}
	}
	return nil
}

func (users) GetUserByUsername(name string) *storage.User {
	if _, ok := people[name]; !ok {
		return nil
	}
	return user(name)
}

func (users) ExampleClientID() string { return storage.ServiceUserID }

func user(name string) *storage.User {
	return &storage.User{ID: people[name].id, Username: name, Password: password, FirstName: name,
		Email: name + "@example.com", EmailVerified: true, PreferredLanguage: language.English}
}
