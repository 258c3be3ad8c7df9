// Package graphtest runs a stand-in for Microsoft Entra ID's token endpoint and Microsoft
// Graph's sendMail on loopback (TLS, httptest) for tests. It holds every request to Microsoft's
// published contract: the client credentials grant's form fields
// (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow) and
// the sendMail body, decoded strictly into the documented resources
// (https://learn.microsoft.com/graph/api/user-sendmail, resources/message, itemBody, recipient,
// emailAddress, internetMessageHeader; only the fields Policy Herald sends are declared, so any
// other is a contract violation too). It answers with Microsoft's own error bodies.
package graphtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
)

// Scope is the only scope the client credentials grant takes for Graph.
const Scope = "https://graph.microsoft.com/.default"

// SendMail is the documented sendMail request body.
type SendMail struct {
	Message         Message `json:"message"`
	SaveToSentItems *bool   `json:"saveToSentItems"`
}

// Message holds the message resource's fields that Policy Herald sets.
type Message struct {
	Subject                string                  `json:"subject"`
	Body                   *ItemBody               `json:"body"`
	ToRecipients           []Recipient             `json:"toRecipients"`
	CcRecipients           []Recipient             `json:"ccRecipients"`
	BccRecipients          []Recipient             `json:"bccRecipients"`
	InternetMessageHeaders []InternetMessageHeader `json:"internetMessageHeaders"`
}

// ItemBody is the message's one body.
type ItemBody struct {
	ContentType string `json:"contentType"` // text or html
	Content     string `json:"content"`
}

// Recipient is one recipient.
type Recipient struct {
	EmailAddress EmailAddress `json:"emailAddress"`
}

// EmailAddress is a recipient's address and name.
type EmailAddress struct {
	Address string `json:"address"`
	Name    string `json:"name"`
}

// InternetMessageHeader is a custom header; Graph takes only x- headers.
type InternetMessageHeader struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Answer is a scripted error answer to one sendMail request.
type Answer struct {
	Status     int
	Code       string // Graph's error code, e.g. ErrorAccessDenied
	Message    string
	RetryAfter string // the Retry-After header, if any
}

// Options configure the server.
type Options struct {
	Tenant, ClientID, ClientSecret string
	// User is the only mailbox sendMail is called for (its path segment).
	User string
	// Answers are given to the first sendMail requests, in order; then 202 Accepted.
	Answers []Answer
}

// Server is a running stand-in.
type Server struct {
	// URL is both the login and the Graph address.
	URL    string
	Client *http.Client

	t    testing.TB
	opts Options

	mu       sync.Mutex
	tokens   []url.Values
	mails    []SendMail
	attempts int
}

const accessToken = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.graphtest.token"

// Start starts a server that stops at the end of the test.
func Start(t testing.TB, opts Options) *Server {
	s := &Server{t: t, opts: opts}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", s.token)
	mux.HandleFunc("POST /v1.0/users/{user}/sendMail", s.sendMail)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("graphtest: unexpected request %s %s", r.Method, r.URL.Path)
		http.NotFound(w, r)
	})
	srv := httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)
	s.URL, s.Client = srv.URL, srv.Client()
	return s
}

// Tokens returns the token requests' forms.
func (s *Server) Tokens() []url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.tokens)
}

// Mails returns every sendMail body that kept to the contract, answered or refused.
func (s *Server) Mails() []SendMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.mails)
}

// token is the client credentials grant of the v2.0 token endpoint.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		s.t.Errorf("graphtest: token request Content-Type %q, want application/x-www-form-urlencoded", ct)
	}
	if err := r.ParseForm(); err != nil {
		s.t.Errorf("graphtest: token request: %v", err)
	}
	form := r.PostForm
	s.mu.Lock()
	s.tokens = append(s.tokens, form)
	s.mu.Unlock()
	for k := range form {
		if !slices.Contains([]string{"client_id", "client_secret", "scope", "grant_type"}, k) {
			s.t.Errorf("graphtest: token request has field %q, not in the client credentials grant", k)
		}
	}
	if g := form.Get("grant_type"); g != "client_credentials" {
		s.t.Errorf("graphtest: grant_type %q, want client_credentials", g)
	}
	if sc := form.Get("scope"); sc != Scope {
		s.t.Errorf("graphtest: scope %q, want %s", sc, Scope)
	}
	switch {
	case r.PathValue("tenant") != s.opts.Tenant:
		writeJSON(w, http.StatusBadRequest, map[string]any{
			"error":             "invalid_request",
			"error_description": fmt.Sprintf("AADSTS90002: Tenant '%s' not found. Check to make sure you have the correct tenant ID.", r.PathValue("tenant")),
			"error_codes":       []int{90002},
		})
	case form.Get("client_id") != s.opts.ClientID:
		writeJSON(w, http.StatusBadRequest, map[string]any{
			"error": "unauthorized_client",
			"error_description": fmt.Sprintf("AADSTS700016: Application with identifier '%s' was not found in the directory '%s'.",
				form.Get("client_id"), s.opts.Tenant),
			"error_codes": []int{700016},
		})
	case form.Get("client_secret") != s.opts.ClientSecret:
		writeJSON(w, http.StatusUnauthorized, map[string]any{
			"error": "invalid_client",
			"error_description": fmt.Sprintf("AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request "+
				"is the client secret value, not the client secret ID, for a secret added to app '%s'.", s.opts.ClientID),
			"error_codes": []int{7000215},
		})
	default:
		writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": accessToken})
	}
}

// sendMail checks the body against the contract and gives the next scripted answer.
func (s *Server) sendMail(w http.ResponseWriter, r *http.Request) {
	if a := r.Header.Get("Authorization"); a != "Bearer "+accessToken {
		writeJSON(w, http.StatusUnauthorized, graphError("InvalidAuthenticationToken", "Access token is empty."))
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		s.t.Errorf("graphtest: sendMail Content-Type %q, want application/json", ct)
	}
	if u := r.PathValue("user"); u != s.opts.User {
		writeJSON(w, http.StatusNotFound, graphError("ErrorInvalidUser", fmt.Sprintf("The requested user '%s' is invalid.", u)))
		return
	}
	var m SendMail
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		s.t.Errorf("graphtest: sendMail body is not the documented request: %v", err)
		writeJSON(w, http.StatusBadRequest, graphError("RequestBodyRead", err.Error()))
		return
	}
	if dec.More() {
		s.t.Errorf("graphtest: sendMail body has data after the JSON object")
	}
	s.check(m)
	s.mu.Lock()
	s.mails = append(s.mails, m)
	n := s.attempts
	s.attempts++
	s.mu.Unlock()
	if n < len(s.opts.Answers) {
		a := s.opts.Answers[n]
		if a.RetryAfter != "" {
			w.Header().Set("Retry-After", a.RetryAfter)
		}
		writeJSON(w, a.Status, graphError(a.Code, a.Message))
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// check holds a decoded body to the rules the documentation states in words.
func (s *Server) check(m SendMail) {
	if m.SaveToSentItems == nil {
		s.t.Errorf("graphtest: saveToSentItems is not set")
	}
	if m.Message.Body == nil || !slices.Contains([]string{"text", "html"}, strings.ToLower(m.Message.Body.ContentType)) {
		s.t.Errorf("graphtest: message.body %+v: want contentType text or html", m.Message.Body)
	}
	if len(m.Message.ToRecipients)+len(m.Message.CcRecipients)+len(m.Message.BccRecipients) == 0 {
		s.t.Errorf("graphtest: the message has no recipients")
	}
	for _, l := range [][]Recipient{m.Message.ToRecipients, m.Message.CcRecipients, m.Message.BccRecipients} {
		for _, r := range l {
			if !strings.Contains(r.EmailAddress.Address, "@") {
				s.t.Errorf("graphtest: recipient %+v has no address", r)
			}
		}
	}
	for _, h := range m.Message.InternetMessageHeaders {
		if !strings.HasPrefix(strings.ToLower(h.Name), "x-") {
			s.t.Errorf("graphtest: header %q: Graph takes only custom headers named x-…", h.Name)
		}
	}
}

// graphError is Graph's error body.
func graphError(code, msg string) map[string]any {
	return map[string]any{"error": map[string]any{
		"code": code, "message": msg,
		"innerError": map[string]any{"date": "2026-12-08T01:00:00", "request-id": "5e0b6a3c-0000-4000-8000-000000000000"},
	}}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var b bytes.Buffer
	_ = json.NewEncoder(&b).Encode(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}
