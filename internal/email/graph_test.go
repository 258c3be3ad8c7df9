package email

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/policyherald/policy-herald/internal/testing/graphtest"
)

const (
	graphTenant = "contoso.onmicrosoft.com"
	graphClient = "6731de76-14a6-49ae-97bc-6eba6914391e"
	graphSecret = "qWe8Q~graph.Secret-Value_0123456789abcdef"
	graphUser   = "reports@contoso.com"
)

// graphFor returns a Graph sender pointed at srv, recording the waits between attempts.
func graphFor(srv *graphtest.Server, waits *[]time.Duration) Graph {
	return Graph{
		TenantID: graphTenant, ClientID: graphClient, ClientSecret: graphSecret, User: graphUser,
		Endpoints: &GraphEndpoints{LoginURL: srv.URL, GraphURL: srv.URL, HTTPClient: srv.Client},
		sleep: func(_ context.Context, d time.Duration) error {
			*waits = append(*waits, d)
			return nil
		},
	}
}

func graphServer(t *testing.T, answers ...graphtest.Answer) *graphtest.Server {
	return graphtest.Start(t, graphtest.Options{Tenant: graphTenant, ClientID: graphClient, ClientSecret: graphSecret, User: graphUser, Answers: answers})
}

// The message goes out as Microsoft documents sendMail: the HTML part as the body, to, cc and
// bcc, the subject, not saved in Sent Items, only x- headers; the token by the client
// credentials grant with the secret as a form field.
func TestGraphSendsTheDocumentedRequest(t *testing.T) {
	srv := graphServer(t)
	msg, rendered := testMessage(t)
	msg.Cc = []string{"Auditors <audit@example.com>"}
	msg.Bcc = []string{"archive@example.com"}
	msg.ExtraHeaders = map[string]string{"X-Policy-Herald-Schedule": "team-a/daily", "Auto-Submitted": "auto-generated"}
	var waits []time.Duration
	if err := graphFor(srv, &waits).Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	tokens := srv.Tokens()
	if len(tokens) != 1 {
		t.Fatalf("%d token requests, want 1", len(tokens))
	}
	if f := tokens[0]; f.Get("client_id") != graphClient || f.Get("client_secret") != graphSecret ||
		f.Get("grant_type") != "client_credentials" || f.Get("scope") != graphtest.Scope {
		t.Errorf("token request form %v", f)
	}
	mails := srv.Mails()
	if len(mails) != 1 {
		t.Fatalf("%d sendMail requests, want 1", len(mails))
	}
	m := mails[0]
	if m.SaveToSentItems == nil || *m.SaveToSentItems {
		t.Errorf("saveToSentItems = %v, want false", m.SaveToSentItems)
	}
	if m.Message.Subject != rendered.Subject {
		t.Errorf("subject %q, want %q", m.Message.Subject, rendered.Subject)
	}
	if m.Message.Body.ContentType != "html" || m.Message.Body.Content != rendered.HTML {
		t.Errorf("body is %s of %d bytes, want the rendered HTML (%d bytes)", m.Message.Body.ContentType, len(m.Message.Body.Content), len(rendered.HTML))
	}
	addrs := func(l []graphtest.Recipient) []string {
		var out []string
		for _, r := range l {
			out = append(out, r.EmailAddress.Name+"|"+r.EmailAddress.Address)
		}
		return out
	}
	if got := strings.Join(addrs(m.Message.ToRecipients), ","); got != "|ops@example.com,Team A|team-a@example.com" {
		t.Errorf("toRecipients %s, from %q", got, msg.To)
	}
	if got := addrs(m.Message.CcRecipients); len(got) != 1 || got[0] != "Auditors|audit@example.com" {
		t.Errorf("ccRecipients %q", got)
	}
	if got := addrs(m.Message.BccRecipients); len(got) != 1 || got[0] != "|archive@example.com" {
		t.Errorf("bccRecipients %q", got)
	}
	if h := m.Message.InternetMessageHeaders; len(h) != 1 || h[0].Name != "X-Policy-Herald-Schedule" || h[0].Value != "team-a/daily" {
		t.Errorf("internetMessageHeaders %+v, want X-Policy-Herald-Schedule only (Graph refuses others)", h)
	}
	if len(waits) != 0 {
		t.Errorf("waited %v without being throttled", waits)
	}
}

// Throttling and server errors are retried, as often as graphAttempts allows, waiting as long as
// Retry-After says (or backing off without it); the token is fetched once.
func TestGraphRetriesThrottlingAndServerErrors(t *testing.T) {
	throttled := graphtest.Answer{Status: http.StatusTooManyRequests, Code: "ApplicationThrottled",
		Message: "Application is over its MailboxConcurrency limit.", RetryAfter: "7"}
	unavailable := graphtest.Answer{Status: http.StatusServiceUnavailable, Code: "ServiceUnavailable", Message: "Service Unavailable"}
	srv := graphServer(t, throttled, unavailable)
	msg, _ := testMessage(t)
	var waits []time.Duration
	if err := graphFor(srv, &waits).Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	if len(srv.Mails()) != 3 || len(srv.Tokens()) != 1 {
		t.Errorf("%d sendMail and %d token requests, want 3 and 1", len(srv.Mails()), len(srv.Tokens()))
	}
	if len(waits) != 2 || waits[0] != 7*time.Second || waits[1] != 2*time.Second {
		t.Errorf("waited %v, want [7s 2s]: Retry-After, then backing off", waits)
	}

	// Throttled every time: the run gives up after graphAttempts, and says so.
	srv = graphServer(t, throttled, throttled, throttled, throttled, throttled)
	waits = nil
	err := graphFor(srv, &waits).Send(context.Background(), msg)
	if err == nil || !strings.Contains(err.Error(), "429") || !strings.Contains(err.Error(), "ApplicationThrottled") ||
		!strings.Contains(err.Error(), "gave up after 4 attempts") || len(srv.Mails()) != graphAttempts {
		t.Errorf("throttled throughout: %d attempts, %v", len(srv.Mails()), err)
	}

	// A Retry-After longer than a run waits ends it at once.
	srv = graphServer(t, graphtest.Answer{Status: http.StatusTooManyRequests, Code: "ApplicationThrottled", Message: "Too many", RetryAfter: "3600"})
	waits = nil
	err = graphFor(srv, &waits).Send(context.Background(), msg)
	if err == nil || !strings.Contains(err.Error(), "Retry-After 1h0m0s") || len(waits) != 0 || len(srv.Mails()) != 1 {
		t.Errorf("Retry-After of an hour: waited %v, %v", waits, err)
	}
}

// Every refusal is explained in words a person can act on, and is not retried; the client
// secret never appears.
func TestGraphErrorsSayWhatToDo(t *testing.T) {
	msg, _ := testMessage(t)
	for name, c := range map[string]struct {
		answer graphtest.Answer
		change func(*Graph)
		want   []string
		auth   bool
	}{
		"401": {answer: graphtest.Answer{Status: 401, Code: "InvalidAuthenticationToken", Message: "Access token validation failure."},
			want: []string{"401", "InvalidAuthenticationToken", "Mail.Send", "admin consent"}, auth: true},
		"403 ErrorAccessDenied": {answer: graphtest.Answer{Status: 403, Code: "ErrorAccessDenied", Message: "Access is denied. Check credentials and try again."},
			want: []string{"403", "ErrorAccessDenied", "Access is denied", graphClient, "may not send as this user", "application access policy"}, auth: true},
		"unknown user": {change: func(g *Graph) { g.User = "nobody@contoso.com" },
			want: []string{"404", "ErrorInvalidUser", "check graph.user"}},
		"400": {answer: graphtest.Answer{Status: 400, Code: "ErrorInvalidRecipients", Message: "At least one recipient isn't valid."},
			want: []string{"400", "ErrorInvalidRecipients"}},
		"wrong secret": {change: func(g *Graph) { g.ClientSecret = graphSecret + "-old" },
			want: []string{"invalid_client", "AADSTS7000215", "graph.clientSecretRef", "expired"}, auth: true},
		"unknown app": {change: func(g *Graph) { g.ClientID = "00000000-0000-0000-0000-000000000000" },
			want: []string{"unauthorized_client", "AADSTS700016", "check graph.clientID"}, auth: true},
		"unknown tenant": {change: func(g *Graph) { g.TenantID = "fabrikam.onmicrosoft.com" },
			want: []string{"AADSTS90002", "check graph.tenantID"}},
	} {
		t.Run(name, func(t *testing.T) {
			var answers []graphtest.Answer
			if c.answer.Status != 0 {
				answers = append(answers, c.answer)
			}
			srv := graphServer(t, answers...)
			var waits []time.Duration
			g := graphFor(srv, &waits)
			if c.change != nil {
				c.change(&g)
			}
			err := g.Send(context.Background(), msg)
			if err == nil {
				t.Fatal("sent")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), graphSecret) {
				t.Errorf("error holds the client secret: %q", err)
			}
			if e, ok := err.(*Error); !ok || e.Auth != c.auth {
				t.Errorf("error %T %+v: want *Error with Auth %v", err, err, c.auth)
			}
			if len(waits) != 0 || len(srv.Mails()) > 1 {
				t.Errorf("retried a refusal: waited %v, %d requests", waits, len(srv.Mails()))
			}
		})
	}
}

// A server that echoes the secret does not get it into the error.
func TestGraphErrorsAreRedacted(t *testing.T) {
	srv := graphServer(t, graphtest.Answer{Status: 400, Code: "ErrorInvalidRequest", Message: "bad request from " + graphSecret})
	msg, _ := testMessage(t)
	var waits []time.Duration
	err := graphFor(srv, &waits).Send(context.Background(), msg)
	if err == nil || strings.Contains(err.Error(), graphSecret) || !strings.Contains(err.Error(), "[redacted]") {
		t.Errorf("error %v", err)
	}
}
