package email

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/policyherald/policy-herald/internal/redact"
	"github.com/policyherald/policy-herald/internal/sender/transport"
)

// Microsoft's endpoints of the global cloud.
const (
	// DefaultLoginURL is Microsoft Entra ID's token service; the token endpoint is
	// <login>/<tenant>/oauth2/v2.0/token.
	DefaultLoginURL = "https://login.microsoftonline.com"
	// DefaultGraphURL is Microsoft Graph.
	DefaultGraphURL = "https://graph.microsoft.com"
	// graphScope asks for the application permissions granted to the app (Mail.Send): the
	// client credentials grant takes only the resource's .default scope.
	graphScope = "https://graph.microsoft.com/.default"
)

// graphAttempts bounds the sendMail calls per message: Graph's throttling (429) and its
// transient 5xx answers are retried, honouring Retry-After, within the Job's deadline.
const graphAttempts = 4

// maxRetryAfter is the longest Retry-After waited for; a longer one ends the run with the wait
// in its message rather than outlast the Job's deadline of 10 minutes.
const maxRetryAfter = 2 * time.Minute

// Graph says how to send through Microsoft Graph: an app registration with the application
// permission Mail.Send sends as User.
type Graph struct {
	TenantID, ClientID string
	ClientSecret       string
	// User is the sending mailbox, by user principal name or object ID.
	User string
	// Endpoints replace Microsoft's; nil in production (no spec field or flag sets them), set
	// by tests to a loopback server.
	Endpoints *GraphEndpoints
	// sleep waits between attempts; nil means a timer. Tests record the waits.
	sleep func(context.Context, time.Duration) error
}

// GraphEndpoints are the addresses and HTTP client a test points Graph at.
type GraphEndpoints struct {
	LoginURL, GraphURL string
	// HTTPClient trusts the test server's certificate.
	HTTPClient *http.Client
}

// The sendMail request, as Microsoft documents it (user-sendmail, message, itemBody, recipient,
// emailAddress, internetMessageHeader).
type (
	graphSendMail struct {
		Message         graphMessage `json:"message"`
		SaveToSentItems bool         `json:"saveToSentItems"`
	}
	graphMessage struct {
		Subject                string           `json:"subject"`
		Body                   graphItemBody    `json:"body"`
		ToRecipients           []graphRecipient `json:"toRecipients,omitempty"`
		CcRecipients           []graphRecipient `json:"ccRecipients,omitempty"`
		BccRecipients          []graphRecipient `json:"bccRecipients,omitempty"`
		InternetMessageHeaders []graphHeader    `json:"internetMessageHeaders,omitempty"`
	}
	graphItemBody struct {
		ContentType string `json:"contentType"`
		Content     string `json:"content"`
	}
	graphRecipient struct {
		EmailAddress graphEmailAddress `json:"emailAddress"`
	}
	graphEmailAddress struct {
		Address string `json:"address"`
		Name    string `json:"name,omitempty"`
	}
	graphHeader struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}
)

// graphRequest maps m to sendMail's JSON. Graph's message has one body, so the HTML part is
// sent and the text part is not: only sendMail's MIME form carries both, and it always saves a
// copy in Sent Items. Graph takes only custom headers named x-…, so the others (Auto-Submitted)
// are left out; From, Date and Message-ID are the mailbox's and Exchange's.
func (m *Message) graphRequest() (*graphSendMail, error) {
	if len(m.To)+len(m.Cc)+len(m.Bcc) == 0 {
		return nil, errors.New("no recipients")
	}
	msg := graphMessage{Subject: m.Subject, Body: graphItemBody{ContentType: "html", Content: m.HTML}}
	for _, l := range []struct {
		field string
		addrs []string
		to    *[]graphRecipient
	}{
		{"to", m.To, &msg.ToRecipients},
		{"cc", m.Cc, &msg.CcRecipients},
		{"bcc", m.Bcc, &msg.BccRecipients},
	} {
		for _, s := range l.addrs {
			a, err := mail.ParseAddress(s)
			if err != nil {
				return nil, fmt.Errorf("%s recipient %q is not an e-mail address: %w", l.field, s, err)
			}
			*l.to = append(*l.to, graphRecipient{EmailAddress: graphEmailAddress{Address: a.Address, Name: a.Name}})
		}
	}
	for k, v := range m.ExtraHeaders {
		if strings.HasPrefix(strings.ToLower(k), "x-") {
			msg.InternetMessageHeaders = append(msg.InternetMessageHeaders, graphHeader{Name: k, Value: v})
		}
	}
	return &graphSendMail{Message: msg, SaveToSentItems: false}, nil
}

// Send sends each message with one sendMail call, after getting a token by the client
// credentials grant. The error says what Graph or Entra ID answered and what to do about it;
// it never holds the client secret.
func (g Graph) Send(ctx context.Context, msgs ...*Message) error {
	reqs := make([][]byte, 0, len(msgs))
	for _, m := range msgs {
		r, err := m.graphRequest()
		if err != nil {
			return err
		}
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		reqs = append(reqs, b)
	}
	if g.TenantID == "" || g.ClientID == "" || g.ClientSecret == "" || g.User == "" {
		return errors.New("graph needs tenantID, clientID, the client secret and user")
	}
	ep := GraphEndpoints{LoginURL: DefaultLoginURL, GraphURL: DefaultGraphURL, HTTPClient: &http.Client{Timeout: DefaultTimeout}}
	if g.Endpoints != nil {
		ep = *g.Endpoints
	}
	cc := clientcredentials.Config{
		ClientID: g.ClientID, ClientSecret: g.ClientSecret,
		TokenURL: strings.TrimRight(ep.LoginURL, "/") + "/" + url.PathEscape(g.TenantID) + "/oauth2/v2.0/token",
		Scopes:   []string{graphScope},
		// Microsoft takes the secret as a form field (client_secret), as it documents.
		AuthStyle: oauth2.AuthStyleInParams,
	}
	// The token request goes through ep.HTTPClient; the one token serves every attempt.
	hc := cc.Client(context.WithValue(ctx, oauth2.HTTPClient, ep.HTTPClient))
	endpoint := strings.TrimRight(ep.GraphURL, "/") + "/v1.0/users/" + url.PathEscape(g.User) + "/sendMail"
	for _, body := range reqs {
		if err := g.sendOne(ctx, hc, endpoint, body); err != nil {
			return g.redact(err)
		}
	}
	return nil
}

// sendOne posts one sendMail request, retrying throttling and server errors.
func (g Graph) sendOne(ctx context.Context, hc *http.Client, endpoint string, body []byte) error {
	for attempt := 1; ; attempt++ {
		wait, err := g.post(ctx, hc, endpoint, body)
		var retry *retryable
		if !errors.As(err, &retry) {
			return err
		}
		if attempt == graphAttempts {
			return fmt.Errorf("%w (gave up after %d attempts)", err, attempt)
		}
		if wait == 0 {
			wait = time.Duration(1<<(attempt-1)) * time.Second
		}
		if wait > maxRetryAfter {
			return fmt.Errorf("%w (Retry-After %s is longer than a run waits; the next run will try again)", err, wait)
		}
		sleep := g.sleep
		if sleep == nil {
			sleep = sleepCtx
		}
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// retryable marks an answer worth another attempt.
type retryable struct{ error }

func (r *retryable) Unwrap() error { return r.error }

// post makes one attempt; it returns Retry-After (0 when absent) with a retryable error.
func (g Graph) post(ctx context.Context, hc *http.Client, endpoint string, body []byte) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			return g.tokenError(re)
		}
		return 0, &retryable{fmt.Errorf("calling Microsoft Graph sendMail: %w", err)}
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode/100 == 2 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		return 0, nil
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<10))
	return transport.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()), g.graphError(resp.StatusCode, raw)
}

// graphError explains an error answer of sendMail ({"error":{"code":…,"message":…}}).
func (g Graph) graphError(status int, raw []byte) error {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	what := strings.TrimSpace(string(raw))
	if json.Unmarshal(raw, &e) == nil && e.Error.Code != "" {
		what = e.Error.Code + ": " + e.Error.Message
	}
	answer := fmt.Sprintf("Microsoft Graph answered sendMail as user %q with %d (%s)", g.User, status, what)
	switch {
	case status == http.StatusUnauthorized:
		return &authError{fmt.Errorf("%s: the access token of application %s was refused; grant the app registration the Microsoft Graph "+
			"application permission Mail.Send with admin consent (a token without it is not accepted)", answer, g.ClientID)}
	case status == http.StatusForbidden:
		return &authError{fmt.Errorf("%s: application %s may not send as this user; grant it the application permission Mail.Send "+
			"with admin consent, and check that no Exchange application access policy or RBAC for Applications scope leaves this "+
			"mailbox out", answer, g.ClientID)}
	case status == http.StatusNotFound:
		return fmt.Errorf("%s: check graph.user: it must be the user principal name or object ID of a user with an Exchange Online mailbox", answer)
	case status == http.StatusRequestEntityTooLarge:
		return fmt.Errorf("%s: the report is larger than Graph's 4 MB request limit; narrow spec.filter", answer)
	case status == http.StatusTooManyRequests:
		return &retryable{fmt.Errorf("%s: throttled", answer)}
	case status >= 500:
		return &retryable{fmt.Errorf("%s: a server error", answer)}
	}
	return fmt.Errorf("%s", answer)
}

// tokenError explains a refusal of the token endpoint (OAuth2's error and
// error_description, which Entra ID fills with an AADSTS code).
func (g Graph) tokenError(re *oauth2.RetrieveError) (time.Duration, error) {
	status := 0
	if re.Response != nil {
		status = re.Response.StatusCode
	}
	what := strings.TrimSpace(re.ErrorCode + ": " + re.ErrorDescription)
	if re.ErrorCode == "" {
		what = strings.TrimSpace(string(re.Body))
	}
	answer := fmt.Sprintf("Microsoft Entra ID refused a token to application %s in tenant %q with %d (%s)", g.ClientID, g.TenantID, status, what)
	switch {
	case re.ErrorCode == "invalid_client":
		return 0, &authError{fmt.Errorf("%s: check the client secret in the Secret of graph.clientSecretRef (it may have expired) "+
			"and graph.clientID", answer)}
	case re.ErrorCode == "unauthorized_client":
		return 0, &authError{fmt.Errorf("%s: check graph.clientID and graph.tenantID: the application must be registered in that tenant", answer)}
	case status == http.StatusTooManyRequests || status >= 500:
		return transport.ParseRetryAfter(re.Response.Header.Get("Retry-After"), time.Now()), &retryable{fmt.Errorf("%s: try again later", answer)}
	case strings.Contains(re.ErrorDescription, "AADSTS90002"):
		return 0, fmt.Errorf("%s: check graph.tenantID", answer)
	}
	return 0, &authError{errors.New(answer)}
}

// authError marks a refusal of the credentials or permissions.
type authError struct{ error }

func (a *authError) Unwrap() error { return a.error }

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// redact returns err as an *Error with the client secret removed in every form.
func (g Graph) redact(err error) error {
	var auth *authError
	msg := err.Error()
	if g.ClientSecret != "" {
		msg = redact.New(nil, g.ClientSecret).Redact(msg)
	}
	return &Error{msg: msg, Auth: errors.As(err, &auth)}
}
