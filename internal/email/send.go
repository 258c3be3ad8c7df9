package email

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/policyherald/policy-herald/internal/redact"
)

// Encryption says how the SMTP connection is protected.
type Encryption string

// Encryption modes, as EmailReportSchedule.spec.smtp.encryption names them.
const (
	// EncryptionTLS is implicit TLS (SMTPS), by default on port 465.
	EncryptionTLS Encryption = "ssl/tls"
	// EncryptionStartTLS is mandatory STARTTLS, by default on port 587: a server that does not
	// offer STARTTLS is an error, never a plain-text fallback.
	EncryptionStartTLS Encryption = "starttls"
	// EncryptionNone is no TLS at all, by default on port 25.
	EncryptionNone Encryption = "none"
)

// DefaultPort returns the port used when none is set.
func (e Encryption) DefaultPort() int {
	switch e {
	case EncryptionStartTLS:
		return 587
	case EncryptionNone:
		return 25
	}
	return 465
}

// DefaultTimeout bounds connecting and every SMTP command.
const DefaultTimeout = 30 * time.Second

// DefaultDisplayName is the display name of a From address given without one.
const DefaultDisplayName = "Policy Herald"

// SMTP says how to reach the mail server.
type SMTP struct {
	Host string
	// Port; 0 means Encryption.DefaultPort().
	Port int
	// Username to authenticate with (AUTH, mechanism discovered: PLAIN or LOGIN over TLS);
	// empty means no authentication.
	Username string
	Password string
	// Encryption; "" means ssl/tls.
	Encryption Encryption
	// TLS verifies the server (RootCAs, InsecureSkipVerify); nil means the system roots. Its
	// ServerName defaults to Host.
	TLS *tls.Config
	// Timeout; 0 means DefaultTimeout.
	Timeout time.Duration
	// HELO is the name the client greets with; empty means the host name.
	HELO string
}

// Message is one e-mail.
type Message struct {
	// From is the sender, "Name <address>" or a bare address (which gets DefaultDisplayName).
	From         string
	To, Cc, Bcc  []string
	Subject      string
	HTML, Text   string
	Date         time.Time // zero: now
	MessageID    string    // without angle brackets; empty: random, at the From domain
	ExtraHeaders map[string]string
}

// ParseFrom parses a From setting with net/mail. A bare address gets DefaultDisplayName.
func ParseFrom(from string) (*mail.Address, error) {
	a, err := mail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("from %q is not an e-mail address: %w", from, err)
	}
	if a.Name == "" {
		a.Name = DefaultDisplayName
	}
	return a, nil
}

// Build returns the go-mail message: multipart/alternative with text/plain and text/html, both
// UTF-8 and quoted-printable. Bcc recipients are in the envelope only, never in a header.
func (m *Message) Build() (*gomail.Msg, error) {
	msg := gomail.NewMsg(gomail.WithCharset(gomail.CharsetUTF8), gomail.WithEncoding(gomail.EncodingQP), gomail.WithNoDefaultUserAgent())
	from, err := ParseFrom(m.From)
	if err != nil {
		return nil, err
	}
	msg.FromMailAddress(from)
	if len(m.To)+len(m.Cc)+len(m.Bcc) == 0 {
		return nil, errors.New("no recipients")
	}
	for _, l := range []struct {
		field string
		addrs []string
		add   func(*mail.Address)
	}{
		{"to", m.To, msg.AddToMailAddress},
		{"cc", m.Cc, msg.AddCcMailAddress},
		{"bcc", m.Bcc, msg.AddBccMailAddress},
	} {
		for _, s := range l.addrs {
			a, err := mail.ParseAddress(s)
			if err != nil {
				return nil, fmt.Errorf("%s recipient %q is not an e-mail address: %w", l.field, s, err)
			}
			l.add(a)
		}
	}
	msg.Subject(m.Subject)
	date := m.Date
	if date.IsZero() {
		date = time.Now()
	}
	msg.SetDateWithValue(date)
	id := m.MessageID
	if id == "" {
		id = randomID() + "@" + domainOf(from.Address)
	}
	msg.SetMessageIDWithValue(id)
	msg.SetUserAgent("Policy Herald")
	for k, v := range m.ExtraHeaders {
		msg.SetGenHeader(gomail.Header(k), v)
	}
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	return msg, nil
}

// WriteTo writes the complete MIME message (an .eml file), as it would be sent.
func (m *Message) WriteTo(w io.Writer) (int64, error) {
	msg, err := m.Build()
	if err != nil {
		return 0, err
	}
	return msg.WriteTo(w)
}

// Bytes returns the complete MIME message.
func (m *Message) Bytes() ([]byte, error) {
	var b bytes.Buffer
	if _, err := m.WriteTo(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 && i+1 < len(addr) {
		return addr[i+1:]
	}
	return "policyherald.local"
}

// client returns the go-mail client for s.
func (s SMTP) client() (*gomail.Client, error) {
	if s.Host == "" {
		return nil, errors.New("no SMTP host")
	}
	enc := s.Encryption
	if enc == "" {
		enc = EncryptionTLS
	}
	port := s.Port
	if port == 0 {
		port = enc.DefaultPort()
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	var tc *tls.Config
	if s.TLS != nil {
		tc = s.TLS.Clone()
	} else {
		tc = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if tc.ServerName == "" {
		tc.ServerName = s.Host
	}
	opts := []gomail.Option{gomail.WithPort(port), gomail.WithTimeout(timeout), gomail.WithTLSConfig(tc)}
	switch enc {
	case EncryptionTLS:
		opts = append(opts, gomail.WithSSL())
	case EncryptionStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case EncryptionNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		return nil, fmt.Errorf("unknown encryption %q: want ssl/tls, starttls or none", enc)
	}
	if s.HELO != "" {
		opts = append(opts, gomail.WithHELO(s.HELO))
	}
	if s.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(s.Username), gomail.WithPassword(s.Password))
	}
	return gomail.NewClient(s.Host, opts...)
}

// Send sends the messages over one connection. The error names the server and what failed;
// it never holds the password.
func Send(ctx context.Context, s SMTP, msgs ...*Message) error {
	built := make([]*gomail.Msg, 0, len(msgs))
	for _, m := range msgs {
		b, err := m.Build()
		if err != nil {
			return err
		}
		built = append(built, b)
	}
	c, err := s.client()
	if err != nil {
		return s.redact(err)
	}
	if err := c.DialAndSendWithContext(ctx, built...); err != nil {
		return s.redact(s.explain(err))
	}
	return nil
}

// explain adds what a person can do about the errors go-mail words tersely.
func (s SMTP) explain(err error) error {
	addr := fmt.Sprintf("%s:%d", s.Host, s.portOrDefault())
	switch {
	case errors.Is(err, gomail.ErrNoSupportedAuthDiscovered):
		if s.Encryption == EncryptionNone {
			return fmt.Errorf("SMTP server %s: AUTH refused without TLS: the server offers no mechanism that keeps the password safe on an unencrypted connection; use encryption starttls or ssl/tls", addr)
		}
		return fmt.Errorf("SMTP server %s offers no supported AUTH mechanism: %w", addr, err)
	case strings.Contains(err.Error(), "does not support STARTTLS"):
		return fmt.Errorf("SMTP server %s does not offer STARTTLS, which encryption starttls requires", addr)
	case strings.Contains(err.Error(), "does not support SMTP AUTH"):
		return fmt.Errorf("SMTP server %s does not offer AUTH, but a username is set", addr)
	case strings.Contains(err.Error(), "SMTP AUTH failed"):
		return fmt.Errorf("SMTP server %s refused the credentials of user %q: %w", addr, s.Username, err)
	}
	return fmt.Errorf("sending via SMTP server %s: %w", addr, err)
}

func (s SMTP) portOrDefault() int {
	if s.Port != 0 {
		return s.Port
	}
	enc := s.Encryption
	if enc == "" {
		enc = EncryptionTLS
	}
	return enc.DefaultPort()
}

// redact returns err with every form of the password that could appear in it replaced: as it
// is, in any case, escaped, and base64-encoded alone or inside an AUTH PLAIN or LOGIN exchange
// (the same redactor as the destinations'). The result does not wrap err, so no caller can
// reach the original text.
func (s SMTP) redact(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if s.Password != "" {
		msg = redact.New(nil, s.Password, "\x00"+s.Username+"\x00"+s.Password).Redact(msg)
	}
	return &Error{msg: msg, Auth: errors.Is(err, gomail.ErrNoSupportedAuthDiscovered) || strings.Contains(msg, "AUTH")}
}

// Error is a sending error, with the password removed.
type Error struct {
	msg string
	// Auth says that authentication failed or was not possible.
	Auth bool
}

func (e *Error) Error() string { return e.msg }

// randomID returns 128 random bits as hex, for a Message-ID.
func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
