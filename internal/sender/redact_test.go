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
	"github.com/policyherald/policy-herald/internal/destination"
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
)

// echoForms are the ways a destination may echo a value it got: as is, upper and lower case,
// URL-escaped for a query or a path, and those escapes with lower-case hex digits.
var echoForms = map[string]func(string) string{
	"as is":               func(s string) string { return s },
	"upper":               strings.ToUpper,
	"lower":               strings.ToLower,
	"query-escaped":       url.QueryEscape,
	"path-escaped":        url.PathEscape,
	"query-escaped lower": func(s string) string { return strings.ToLower(url.QueryEscape(s)) },
	"path-escaped upper":  func(s string) string { return strings.ToUpper(url.PathEscape(s)) },
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
	if !strings.Contains(text, redacted) {
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
					s := newTestSender(t, Config{Type: d.typ, Destination: d.dest(headers),
						Settings: destination.Settings{"url": withCreds(srv, false), "token": echoToken}})
					err := s.Send(context.Background(), Batch{Report: testReport, Results: []report.Result{bareResult()}})
					if err == nil {
						t.Fatal("want an error")
					}
					// The path segment "hooks" is too short to be taken for a secret.
					assertNoEchoedSecret(t, err.Error(), echoPath, "SecretPath", echoQuery, echoHeader, echoToken, "SecretToken/Val+ue")
				})
			}
			t.Run("webhook basic auth", func(t *testing.T) {
				s := newWebhookSender(t, withCreds(srv, true), nil, nil, nil)
				err := s.Send(context.Background(), Batch{Report: testReport, Results: []report.Result{bareResult()}})
				if err == nil {
					t.Fatal("want an error")
				}
				assertNoEchoedSecret(t, err.Error(), echoUser, echoPassword, basic, echoPath, echoQuery)
			})
			t.Run("telegram", func(t *testing.T) {
				s := newTelegramSender(t, srv.URL, destination.Settings{"token": echoTelegram}, nil, nil, "")
				err := s.Send(context.Background(), Batch{Report: testReport, Results: []report.Result{bareResult()}})
				if err == nil {
					t.Fatal("want an error")
				}
				assertNoEchoedSecret(t, err.Error(), echoTelegram)
			})
		})
	}
}

func TestRedactorIgnoresCaseAndEscapes(t *testing.T) {
	r := newRedactor(nil, "Tok/en+Value", "AbCdEfGh")
	for _, in := range []string{
		"TOK/EN+VALUE", "tok/en+value", "Tok%2Fen%2BValue", "tok%2fen%2bvalue", "Tok%2Fen+Value", "ABCDEFGH", "abcdefgh",
	} {
		if got := r.redact("x " + in + " y"); got != "x "+redacted+" y" {
			t.Errorf("redact(%q) = %q", in, got)
		}
	}
	// Longest first, so a secret inside a longer one does not leave a piece of the longer.
	r = newRedactor(nil, "abcdefgh", "xxabcdefghyy")
	if got := r.redact("XXABCDEFGHYY"); got != redacted {
		t.Errorf("got %q", got)
	}
	// Text around the secrets is kept as it was, including its case and non-ASCII text.
	if got := r.redact("Ünïcode ABCDEFGH Rest"); got != "Ünïcode "+redacted+" Rest" {
		t.Errorf("got %q", got)
	}
}
