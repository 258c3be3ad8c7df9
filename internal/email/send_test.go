package email

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/policyherald/policy-herald/internal/testing/smtptest"
)

const (
	testUser     = "reports@example.com"
	testPassword = "s3cr3t-Pa55w0rd"
)

// parsed is a received message taken apart.
type parsed struct {
	header     mail.Header
	text, html string
	textType   string
	htmlType   string
}

func parse(t *testing.T, data []byte) parsed {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	p := parsed{header: m.Header}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q (%v), want multipart/alternative", m.Header.Get("Content-Type"), err)
	}
	r := multipart.NewReader(m.Body, params["boundary"])
	for {
		part, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var body io.Reader = part
		if strings.EqualFold(part.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
			body = quotedprintable.NewReader(part)
		}
		b, err := io.ReadAll(body)
		if err != nil {
			t.Fatal(err)
		}
		b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
		ct := part.Header.Get("Content-Type")
		switch {
		case strings.HasPrefix(ct, "text/plain"):
			p.text, p.textType = string(b), ct
		case strings.HasPrefix(ct, "text/html"):
			p.html, p.htmlType = string(b), ct
		default:
			t.Errorf("unexpected part %q", ct)
		}
	}
	return p
}

func testMessage(t *testing.T) (*Message, *Rendered) {
	t.Helper()
	r, err := Render(sampleOptions(Violations), itemsOf(sampleReports(t)))
	if err != nil {
		t.Fatal(err)
	}
	return &Message{
		From:    "Policy Herald <reports@example.com>",
		To:      []string{"ops@example.com", "Team A <team-a@example.com>"},
		Cc:      []string{"lead@example.com"},
		Bcc:     []string{"audit@example.com"},
		Subject: r.Subject, HTML: r.HTML, Text: r.Text,
		Date: fixedNow,
	}, r
}

func send(t *testing.T, srv *smtptest.Server, enc Encryption, user, password string, tc *tls.Config) error {
	t.Helper()
	m, _ := testMessage(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return Send(ctx, SMTP{Host: srv.Host, Port: srv.Port, Username: user, Password: password, Encryption: enc, TLS: tc, Timeout: 10 * time.Second}, m)
}

func roots(srv *smtptest.Server) *tls.Config {
	return &tls.Config{RootCAs: srv.Pool, MinVersion: tls.VersionTLS12}
}

// TestSendDelivers sends over STARTTLS and implicit TLS with AUTH, and over a plain
// connection without, and checks everything the server received.
func TestSendDelivers(t *testing.T) {
	cases := []struct {
		name string
		mode smtptest.Mode
		enc  Encryption
		user string
	}{
		{"starttls with AUTH", smtptest.StartTLS, EncryptionStartTLS, testUser},
		{"implicit TLS with AUTH", smtptest.ImplicitTLS, EncryptionTLS, testUser},
		{"no encryption, no AUTH", smtptest.Plain, EncryptionNone, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts := smtptest.Options{Mode: c.mode}
			if c.user != "" {
				opts.Username, opts.Password = testUser, testPassword
			}
			srv := smtptest.Start(t, opts)
			if err := send(t, srv, c.enc, c.user, testPassword, roots(srv)); err != nil {
				t.Fatalf("send: %v", err)
			}
			msgs := srv.Messages()
			if len(msgs) != 1 {
				t.Fatalf("%d messages received, want 1", len(msgs))
			}
			got := msgs[0]
			if got.User != c.user {
				t.Errorf("authenticated as %q, want %q", got.User, c.user)
			}
			if got.TLS != (c.enc != EncryptionNone) {
				t.Errorf("TLS %v", got.TLS)
			}
			checkReceived(t, got)
		})
	}
}

func checkReceived(t *testing.T, got smtptest.Message) {
	t.Helper()
	_, r := testMessage(t)
	if got.From != "reports@example.com" {
		t.Errorf("MAIL FROM %q", got.From)
	}
	wantRcpt := []string{"ops@example.com", "team-a@example.com", "lead@example.com", "audit@example.com"}
	rcpt := slices.Clone(got.To)
	slices.Sort(rcpt)
	slices.Sort(wantRcpt)
	if !slices.Equal(rcpt, wantRcpt) {
		t.Errorf("RCPT TO %v, want %v", got.To, wantRcpt)
	}
	p := parse(t, got.Data)
	h := p.header
	from, err := h.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Name != "Policy Herald" || from[0].Address != "reports@example.com" {
		t.Errorf("From %q (%v)", h.Get("From"), err)
	}
	to, err := h.AddressList("To")
	if err != nil || len(to) != 2 || to[1].Name != "Team A" {
		t.Errorf("To %q (%v)", h.Get("To"), err)
	}
	if cc, err := h.AddressList("Cc"); err != nil || len(cc) != 1 || cc[0].Address != "lead@example.com" {
		t.Errorf("Cc %q (%v)", h.Get("Cc"), err)
	}
	if h.Get("Bcc") != "" || bytes.Contains(got.Data, []byte("audit@example.com")) {
		t.Errorf("the Bcc recipient is visible in the message")
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	if err != nil || subject != r.Subject || subject != "[Policy Herald] Violations report – prod-eu – 11 results" {
		t.Errorf("Subject %q (%v)", subject, err)
	}
	if d, err := h.Date(); err != nil || !d.Equal(fixedNow) {
		t.Errorf("Date %q (%v)", h.Get("Date"), err)
	}
	if id := h.Get("Message-Id"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@example.com>") {
		t.Errorf("Message-ID %q", id)
	}
	if v := h.Get("Mime-Version"); v != "1.0" {
		t.Errorf("MIME-Version %q", v)
	}
	for name, ct := range map[string]string{"text": p.textType, "html": p.htmlType} {
		mt, params, err := mime.ParseMediaType(ct)
		if err != nil || !strings.EqualFold(params["charset"], "utf-8") {
			t.Errorf("%s part: Content-Type %q (%s), want charset utf-8", name, ct, mt)
		}
	}
	if p.html != r.HTML {
		t.Errorf("the HTML part differs from the rendered HTML")
	}
	if p.text != r.Text {
		t.Errorf("the text part differs from the rendered text")
	}
	// The numbers of the report, in both parts.
	for _, want := range []string{"Results:   11 (fail 6, warn 4, error 1)", "Namespace team-a (fail 2, warn 1, error 1)", "kyverno (7 violations)"} {
		if !strings.Contains(p.text, want) {
			t.Errorf("text part lacks %q", want)
		}
	}
	for _, want := range []string{">6</div><div style=\"font-size:12px;color:#374151;\">fail", ">4</div><div style=\"font-size:12px;color:#374151;\">warn", "11 violations", "Pod nginx-7d9c", "restrict-image-registries"} {
		if !strings.Contains(p.html, want) {
			t.Errorf("HTML part lacks %q", want)
		}
	}
}

func TestSendWrongPassword(t *testing.T) {
	for _, c := range []struct {
		mode smtptest.Mode
		enc  Encryption
	}{{smtptest.StartTLS, EncryptionStartTLS}, {smtptest.ImplicitTLS, EncryptionTLS}} {
		t.Run(string(c.enc), func(t *testing.T) {
			srv := smtptest.Start(t, smtptest.Options{Mode: c.mode, Username: testUser, Password: testPassword})
			wrong := "wrong-" + testPassword
			err := send(t, srv, c.enc, testUser, wrong, roots(srv))
			if err == nil {
				t.Fatal("sent with a wrong password")
			}
			t.Logf("error: %v", err)
			if !strings.Contains(err.Error(), "refused the credentials of user \"reports@example.com\"") {
				t.Errorf("unclear error: %v", err)
			}
			if strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), testPassword) {
				t.Errorf("the error holds the password: %v", err)
			}
			if srv.AuthFailures() != 1 || len(srv.Messages()) != 0 {
				t.Errorf("auth failures %d, messages %d", srv.AuthFailures(), len(srv.Messages()))
			}
		})
	}
}

func TestSendStartTLSNotOffered(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Mode: smtptest.Plain})
	err := send(t, srv, EncryptionStartTLS, testUser, testPassword, roots(srv))
	if err == nil || !strings.Contains(err.Error(), "does not offer STARTTLS, which encryption starttls requires") {
		t.Fatalf("error %v, want STARTTLS not offered", err)
	}
	if strings.Contains(err.Error(), testPassword) || len(srv.Messages()) != 0 {
		t.Errorf("error %v; %d messages", err, len(srv.Messages()))
	}
}

func TestSendNoAuthWithoutTLS(t *testing.T) {
	// The server offers AUTH only after TLS: with encryption none and a username the password
	// is never sent.
	srv := smtptest.Start(t, smtptest.Options{Mode: smtptest.Plain, Username: testUser, Password: testPassword})
	err := send(t, srv, EncryptionNone, testUser, testPassword, nil)
	if err == nil || strings.Contains(err.Error(), testPassword) {
		t.Fatalf("error %v", err)
	}
	t.Logf("error: %v", err)
}

func TestSendVerifiesTheServer(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Mode: smtptest.ImplicitTLS, Username: testUser, Password: testPassword})
	// The system roots do not know the throwaway CA.
	err := send(t, srv, EncryptionTLS, testUser, testPassword, nil)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("error %v, want a certificate error", err)
	}
	if err := send(t, srv, EncryptionTLS, testUser, testPassword, &tls.Config{InsecureSkipVerify: true}); err != nil { //nolint:gosec // what the test is about
		t.Fatalf("insecureSkipVerify: %v", err)
	}
	if len(srv.Messages()) != 1 {
		t.Errorf("%d messages", len(srv.Messages()))
	}
}

func TestSendConnectionRefused(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Mode: smtptest.Plain})
	err := Send(context.Background(), SMTP{Host: "127.0.0.1", Port: 1, Encryption: EncryptionNone, Timeout: 2 * time.Second}, &Message{From: "a@example.com", To: []string{"b@example.com"}})
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("error %v", err)
	}
	_ = srv
}

func TestRedact(t *testing.T) {
	s := SMTP{Username: "u", Password: "p@ss"}
	err := s.redact(io.ErrUnexpectedEOF)
	if err.Error() != io.ErrUnexpectedEOF.Error() {
		t.Errorf("%v", err)
	}
	for _, leak := range []string{"p@ss", "cEBzcw==", "AHUAcEBzcw=="} {
		if got := s.redact(&Error{msg: "server said " + leak}).Error(); strings.Contains(got, leak) {
			t.Errorf("redact kept %q: %s", leak, got)
		}
	}
}

// TestRedactEveryForm: an SMTP server may echo the password in any form a destination may
// (defect 8 of issue 18): in another case, URL-escaped, URL-safe or unpadded base64, or inside
// a longer AUTH blob. The e-mail path redacts with the senders' redactor, not a copy of its own.
func TestRedactEveryForm(t *testing.T) {
	const password = "Hunter2/pw+X?long"
	s := SMTP{Username: "reports@example.com", Password: password}
	for name, leak := range map[string]string{
		"upper":              strings.ToUpper(password),
		"query-escaped":      url.QueryEscape(password),
		"base64url unpadded": base64.RawURLEncoding.EncodeToString([]byte(password)),
	} {
		if got := s.redact(&Error{msg: "server said " + leak}).Error(); got != "server said [redacted]" {
			t.Errorf("%s: redact gave %q", name, got)
		}
	}
	// Inside a longer blob only the characters that encode the password's bytes alone are known.
	blob := base64.StdEncoding.EncodeToString([]byte("x" + password + "yz"))
	if got := s.redact(&Error{msg: "server said " + blob}).Error(); strings.Contains(got, blob[4:len(blob)-4]) || !strings.Contains(got, "[redacted]") {
		t.Errorf("blob: redact gave %q", got)
	}
}

func TestDefaultsAndFrom(t *testing.T) {
	if EncryptionTLS.DefaultPort() != 465 || EncryptionStartTLS.DefaultPort() != 587 || EncryptionNone.DefaultPort() != 25 || Encryption("").DefaultPort() != 465 {
		t.Error("default ports")
	}
	a, err := ParseFrom("reports@example.com")
	if err != nil || a.String() != `"Policy Herald" <reports@example.com>` {
		t.Errorf("%v %v", a, err)
	}
	a, err = ParseFrom("Security Team <sec@example.com>")
	if err != nil || a.Name != "Security Team" {
		t.Errorf("%v %v", a, err)
	}
	if _, err := ParseFrom("not an address"); err == nil {
		t.Error("accepted a bad From")
	}
	if _, err := (&Message{From: "a@example.com"}).Bytes(); err == nil {
		t.Error("built a message without recipients")
	}
}
