package sender

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/destination/descriptor"
	"github.com/policyherald/policy-herald/internal/redact"
	"github.com/policyherald/policy-herald/internal/report"
)

// Secrets with characters that URL escaping changes, so that each echoed form differs.
const (
	echoUser     = "Alice.Ops"
	echoPassword = "Hunter2/pw+X"
	echoPath     = "SecretPath/Seg+Ment"
	echoQuery    = "Secret Query/Val+ue"
	echoHeader   = "Secret Header/Val+ue"
	echoToken    = "Bearer SecretToken/Val+ue"
	echoTelegram = "123456789:SecretBotTokenValue_x-y"
	// slackEchoToken is a Slack bot token (its Web API): letters, digits and dashes.
	slackEchoToken = "xoxb-1234-5678-SecretSlackTokenValue"
)

// echoForms are the ways a destination may echo a value it got: as is, upper and lower case,
// URL-escaped for a query or a path, those escapes with lower-case hex digits, and base64 (see
// base64Echoes).
var echoForms = map[string]func(string) string{
	"as is":               func(s string) string { return s },
	"upper":               strings.ToUpper,
	"lower":               strings.ToLower,
	"query-escaped":       url.QueryEscape,
	"path-escaped":        url.PathEscape,
	"query-escaped lower": func(s string) string { return strings.ToLower(url.QueryEscape(s)) },
	"path-escaped upper":  func(s string) string { return strings.ToUpper(url.PathEscape(s)) },
	"base64":              func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) },
	"base64url unpadded":  func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) },
	"base64 at offset 1":  func(s string) string { return base64.StdEncoding.EncodeToString([]byte("x" + s + "yz")) },
	"base64url at offset 2": func(s string) string {
		return base64.URLEncoding.EncodeToString([]byte("u:" + s))
	},
}

// echoServer answers every request with a 400 whose body echoes, in form, each credential the
// request carried: the path, the query values, the configured header, the Authorization header,
// its credential alone and, for basic authentication, user, password and their base64.
func echoServer(t *testing.T, form func(string) string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var vals []string
		vals = append(vals, r.URL.Path)
		for _, vs := range r.URL.Query() {
			vals = append(vals, vs...)
		}
		vals = append(vals, r.Header.Get("X-Api-Key"))
		if auth := r.Header.Get("Authorization"); auth != "" {
			_, cred, _ := strings.Cut(auth, " ")
			vals = append(vals, auth, cred)
		}
		if u, p, ok := r.BasicAuth(); ok {
			vals = append(vals, u, p)
		}
		w.WriteHeader(http.StatusBadRequest)
		for _, v := range vals {
			fmt.Fprintf(w, "%s;", form(v))
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// assertNoEchoedSecret fails when text holds any of secrets in any echo form, compared
// without regard to case.
func assertNoEchoedSecret(t *testing.T, text string, secrets ...string) {
	t.Helper()
	low := strings.ToLower(text)
	for _, s := range secrets {
		for name, form := range echoForms {
			if v := strings.ToLower(form(s)); strings.Contains(low, v) {
				t.Errorf("the error shows %q (%s of %q): %s", v, name, s, text)
			}
		}
	}
	for _, s := range secrets {
		if leak := base64Leak(text, s); leak != "" {
			t.Errorf("the error shows %q of the base64 of %q: %s", leak, s, text)
		}
	}
	if !strings.Contains(text, redact.Redacted) {
		t.Errorf("want the echo in the error, redacted: %s", text)
	}
}

// TestErrorsRedactEchoesInAnyForm: a destination that echoes a credential changed in case or
// URL-escaped must not get it into the error, which ends up in status and logs.
func TestErrorsRedactEchoesInAnyForm(t *testing.T) {
	basic := base64.StdEncoding.EncodeToString([]byte(echoUser + ":" + echoPassword))
	withCreds := func(srv *httptest.Server, userInfo bool) string {
		u, _ := url.Parse(srv.URL)
		if userInfo {
			u.User = url.UserPassword(echoUser, echoPassword)
		}
		u.Path = "/hooks/" + echoPath
		u.RawQuery = url.Values{"sig": {echoQuery}}.Encode()
		return u.String()
	}
	headers := v1alpha1.HTTPSettings{Headers: map[string]string{"X-Api-Key": echoHeader}}
	for formName, form := range echoForms {
		srv := echoServer(t, form)
		t.Run(formName, func(t *testing.T) {
			for _, d := range httpDestinations {
				t.Run(string(d.typ), func(t *testing.T) {
					settings := descriptor.Settings{"url": withCreds(srv, false), "token": echoToken}
					if d.typ == v1alpha1.DestinationSlack {
						delete(settings, "token") // a token is Slack's Web API: see "slack web API" below
					}
					s := newTestSender(t, Config{Type: d.typ, Destination: d.dest(headers), Settings: settings})
					err := s.Send(context.Background(), Batch{Report: testReport, Results: []report.Result{bareResult()}})
					if err == nil {
						t.Fatal("want an error")
					}
					// The path segment "hooks" is too short to be taken for a secret.
					assertNoEchoedSecret(t, err.Error(), echoPath, "SecretPath", echoQuery, echoHeader, echoToken, "SecretToken/Val+ue")
				})
			}
			t.Run("slack web API", func(t *testing.T) {
				s := newTestSender(t, Config{Type: v1alpha1.DestinationSlack,
					Destination: &v1alpha1.Destinations{Slack: &v1alpha1.SlackDestination{HTTPSettings: headers, Channel: "C1"}},
					Settings:    descriptor.Settings{"token": slackEchoToken}, apiEndpoint: srv.URL + "/api/"})
				err := s.Send(context.Background(), Batch{Report: testReport, Results: []report.Result{bareResult()}})
				if err == nil {
					t.Fatal("want an error")
				}
				assertNoEchoedSecret(t, err.Error(), echoHeader, slackEchoToken)
			})
			t.Run("webhook basic auth", func(t *testing.T) {
				s := newWebhookSender(t, withCreds(srv, true), nil, nil, nil)
				err := s.Send(context.Background(), Batch{Report: testReport, Results: []report.Result{bareResult()}})
				if err == nil {
					t.Fatal("want an error")
				}
				assertNoEchoedSecret(t, err.Error(), echoUser, echoPassword, basic, echoPath, echoQuery)
			})
			t.Run("telegram", func(t *testing.T) {
				s := newTelegramSender(t, srv.URL, descriptor.Settings{"token": echoTelegram}, nil, nil, "")
				err := s.Send(context.Background(), Batch{Report: testReport, Results: []report.Result{bareResult()}})
				if err == nil {
					t.Fatal("want an error")
				}
				assertNoEchoedSecret(t, err.Error(), echoTelegram)
			})
		})
	}
}

// The base64 forms of a secret a destination may echo: an HTTP Basic credential, a token it
// encoded, a blob it logged. Within a longer blob the secret starts at any byte offset, and
// only the characters that encode its bytes alone are the same whatever surrounds it.

var base64Alphabets = map[string]*base64.Encoding{"base64": base64.StdEncoding, "base64url": base64.URLEncoding}

// base64Echoes are the echoes of secret a destination may send back, by name: encoded alone,
// padded or not, and inside a longer blob at offsets 1 and 2 (as in "u:secret").
func base64Echoes(secret string) map[string]string {
	out := map[string]string{}
	for name, enc := range base64Alphabets {
		out[name] = enc.EncodeToString([]byte(secret))
		out[name+" unpadded"] = enc.WithPadding(base64.NoPadding).EncodeToString([]byte(secret))
		out[name+" at offset 1"] = enc.EncodeToString([]byte("x" + secret + "yz"))
		out[name+" at offset 2"] = enc.EncodeToString([]byte("u:" + secret))
	}
	return out
}

// base64Cores are, for each alphabet and each offset of secret in a longer blob, the characters
// of the blob that encode secret's bytes alone: those where the blob with 0x00 around secret
// and the blob with 0xff around it agree.
func base64Cores(secret string) []string {
	var out []string
	for _, enc := range base64Alphabets {
		for k := 0; k < 3; k++ {
			fill := func(b byte) string {
				return enc.EncodeToString([]byte(strings.Repeat(string([]byte{b}), k) + secret + string([]byte{b, b, b})))
			}
			a, b := fill(0x00), fill(0xff)
			start := 0
			for start < len(a) && a[start] != b[start] {
				start++
			}
			end := start
			for end < len(a) && a[end] == b[end] {
				end++
			}
			out = append(out, a[start:end])
		}
	}
	return out
}

// base64Leak is a run of 8 characters (or a whole shorter core) of secret's base64 cores that
// text holds, "" when none: 8 characters are 6 bytes of the secret.
func base64Leak(text, secret string) string {
	for _, core := range base64Cores(secret) {
		n := min(8, len(core))
		for i := 0; i+n <= len(core); i++ {
			if strings.Contains(text, core[i:i+n]) {
				return core[i : i+n]
			}
		}
	}
	return ""
}

// TestRedactorBase64Forms: every base64 form of a secret is redacted, alone or at any offset
// in a longer blob, and so is that of a user:password pair; text around it is kept.
func TestRedactorBase64Forms(t *testing.T) {
	const user, password, token = "Alice.Ops", "Hunter2/pw+X?", "tok_8f9a0b1c2d3e4f5a6b7c"
	r := redact.New(nil, "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+password)), token)
	pair := user + ":" + password
	for _, secret := range []string{password, token, pair} {
		for name, echo := range base64Echoes(secret) {
			got := r.Redact("before " + echo + " after")
			if leak := base64Leak(got, secret); leak != "" || !strings.HasPrefix(got, "before ") || !strings.HasSuffix(got, " after") {
				t.Errorf("%s of %q: %q shows %q", name, secret, got, leak)
			}
		}
	}
	// Short values (a query's "v=1") are not worth mangling text for: "MQ" stays.
	r = redact.New(nil, "1")
	if got := r.Redact("MQ== MQ"); got != "MQ== MQ" {
		t.Errorf("got %q", got)
	}
}
