package login_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"

	"github.com/policyherald/policy-herald/internal/console/access"
	"github.com/policyherald/policy-herald/internal/console/api"
	"github.com/policyherald/policy-herald/internal/console/login"
)

// sessionKey is the key every test console seals its cookies with (replicas share one).
var sessionKey = []byte("0123456789abcdef0123456789abcdef-test-key")

// console is the console's login and API served on loopback, as `policy-herald console` mounts
// them, with a clock the test moves.
type console struct {
	url   string
	login *login.Login
	clock *testClock
}

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newConsole serves a console with OIDC against op and token login; change adjusts its
// options, more are appended to its authenticator chain.
func newConsole(t *testing.T, w *world, op *provider, change func(*login.Options), more ...api.Authenticator) *console {
	t.Helper()
	ln, err := listen()
	if err != nil {
		t.Fatal(err)
	}
	c := &console{url: "http://" + ln.Addr().String(), clock: &testClock{t: time.Now()}}
	op.allowRedirect(c.url + "/login/callback")
	trs, err := api.NewTokenReviews(w.Cfg)
	if err != nil {
		t.Fatal(err)
	}
	tokens := api.NewTokenAuthenticator(trs, api.TokenOptions{})
	o := login.Options{
		OIDC: &login.OIDC{
			IssuerURL: op.issuer, ClientID: clientID, ClientSecret: clientSecret,
			Scopes:     []string{"openid", "profile", "email", "groups"},
			Claims:     login.Mapping{IssuerURL: op.issuer, GroupsClaim: groupsClaim, GroupsPrefix: groupsPrefix},
			HTTPClient: tlsClientTrusting(op.srv),
		},
		ExternalURL: c.url, SessionKeys: [][]byte{sessionKey}, Insecure: true, Tokens: tokens, Now: c.clock.Now, Log: logTo(t, w),
	}
	if change != nil {
		change(&o)
	}
	if c.login, err = login.New(o); err != nil {
		t.Fatal(err)
	}
	sars, err := access.NewReviews(w.Cfg)
	if err != nil {
		t.Fatal(err)
	}
	chain := append(login.Chain{c.login.Sessions(), login.Bearer(tokens)}, more...)
	mux := http.NewServeMux()
	c.login.Mount(mux)
	mux.Handle("/", api.New(api.Options{Source: w.Store, Authenticator: chain, Scoper: access.New(sars, access.Options{}), Log: logTo(t, w)}))
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return c
}

// logTo is a logger whose lines, at the test's end, must hold no secret: the client secret,
// the session key, a token.
func logTo(t *testing.T, w *world) logr.Logger {
	var mu sync.Mutex
	var lines []string
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		all := strings.Join(lines, "\n")
		for _, secret := range []string{clientSecret, string(sessionKey), w.Tokens["sam"], proxySecret} {
			if strings.Contains(all, secret) {
				t.Errorf("a secret is in the log:\n%s", all)
			}
		}
	})
	return funcr.New(func(prefix, args string) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, prefix+" "+args)
	}, funcr.Options{})
}

// browser is an HTTP client with cookies, trusting the provider's certificate.
type browser struct{ *http.Client }

func newBrowser(t *testing.T, op *provider) browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := tlsClientTrusting(op.srv)
	c.Jar = jar
	return browser{c}
}

// signIn goes through the OIDC login as name, from the console's /login/oidc?next=next to
// wherever the console sends the browser at the end, and returns that last answer.
func (b browser) signIn(t *testing.T, c *console, op *provider, name, next string) *http.Response {
	t.Helper()
	resp, err := b.Get(c.url + "/login/oidc?next=" + url.QueryEscape(next))
	if err != nil {
		t.Fatal(err)
	}
	body := read(t, resp)
	id := resp.Request.URL.Query().Get("authRequestID")
	if resp.StatusCode != http.StatusOK || id == "" || !strings.HasPrefix(resp.Request.URL.String(), op.issuer+"/login/username") {
		t.Fatalf("the console did not lead to the provider's login form: %d at %s\n%s", resp.StatusCode, resp.Request.URL, body)
	}
	resp, err = b.PostForm(op.issuer+"/login/username", url.Values{"id": {id}, "username": {name}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// get GETs the console's path with the browser's cookies and headers h.
func (b browser) get(t *testing.T, c *console, path string) *http.Response {
	t.Helper()
	resp, err := b.Get(c.url + path)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func decode[T any](t *testing.T, resp *http.Response) T {
	t.Helper()
	body := read(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %d %s", resp.Request.URL, resp.StatusCode, body)
	}
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("%s: %v\n%s", resp.Request.URL, err, body)
	}
	return v
}

func read(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// total is the number of results /api/v1/results says the browser may see.
func (b browser) total(t *testing.T, c *console) int {
	t.Helper()
	return decode[struct {
		Total int `json:"total"`
	}](t, b.get(t, c, "/api/v1/results")).Total
}
