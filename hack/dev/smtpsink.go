package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/policyherald/policy-herald/internal/textcut"
)

// smtpSinkAddr is where the sample EmailReportSchedule (config/samples) mails: plain SMTP, no
// authentication, as a local test server such as MailHog would take it.
const smtpSinkAddr = "127.0.0.1:2525"

// startSMTPSink accepts every message on addr and prints what a mail client's inbox would show:
// sender, recipients, subject and the report's summary line. It returns the address it listens
// on.
func startSMTPSink(addr string, out io.Writer) (bound string, stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("starting the SMTP sink: %w", err)
	}
	s := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &sinkSession{out: out}, nil
	}))
	s.Domain = "localhost"
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	s.MaxMessageBytes = 10 << 20
	go func() { _ = s.Serve(ln) }()
	fmt.Fprintf(out, "SMTP sink listening on %s (plain SMTP; prints every mail it gets)\n", ln.Addr())
	return ln.Addr().String(), func() { _ = s.Close() }, nil
}

type sinkSession struct {
	out  io.Writer
	from string
	to   []string
}

func (s *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}

func (s *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *sinkSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	fmt.Fprint(s.out, describeMail(s.from, s.to, data))
	return nil
}

func (s *sinkSession) Reset() { s.from, s.to = "", nil }

func (s *sinkSession) Logout() error { return nil }

// describeMail is the lines the sink prints for a message: envelope sender and recipients, the
// From and Subject headers, and the summary of the text part.
func describeMail(from string, to []string, data []byte) string {
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return fmt.Sprintf("mail:     from %s to %s: unreadable message (%v)\n", from, strings.Join(to, ", "), err)
	}
	dec := new(mime.WordDecoder)
	subject, err := dec.DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		subject = m.Header.Get("Subject")
	}
	header, _ := dec.DecodeHeader(m.Header.Get("From"))
	var b strings.Builder
	fmt.Fprintf(&b, "mail:     From: %s  To: %s\n", header, strings.Join(to, ", "))
	fmt.Fprintf(&b, "mail:     Subject: %s\n", subject)
	text, err := textPart(m)
	if err != nil {
		fmt.Fprintf(&b, "mail:     (no text part: %v)\n", err)
		return b.String()
	}
	fmt.Fprintf(&b, "mail:     %s\n", summaryLine(text))
	return b.String()
}

// summaryLine is the scope and the result counts of a report's text, or its first line.
func summaryLine(text string) string {
	var parts []string
	for _, line := range strings.Split(text, "\n") {
		for _, key := range []string{"Scope:", "Results:"} {
			if v, ok := strings.CutPrefix(line, key); ok {
				parts = append(parts, key+" "+strings.TrimSpace(v))
			}
		}
	}
	if len(parts) == 0 {
		first, _, _ := strings.Cut(strings.TrimSpace(text), "\n")
		return textcut.Cut(first, 120)
	}
	return strings.Join(parts, "; ")
}

// textPart finds the text/plain part of a message (itself, or a part of a multipart, nested or
// not) and decodes its transfer encoding.
func textPart(m *mail.Message) (string, error) {
	return findText(m.Header.Get("Content-Type"), m.Header.Get("Content-Transfer-Encoding"), m.Body)
}

func findText(contentType, encoding string, body io.Reader) (string, error) {
	mediaType, params, err := mime.ParseMediaType(or(contentType, "text/plain"))
	if err != nil {
		return "", err
	}
	if mediaType == "text/plain" {
		return decodeBody(body, encoding)
	}
	if !strings.HasPrefix(mediaType, "multipart/") {
		return "", fmt.Errorf("a %s part", mediaType)
	}
	mr := multipart.NewReader(body, params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			return "", errors.New("no text/plain part")
		}
		if err != nil {
			return "", err
		}
		if text, err := findText(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p); err == nil {
			return text, nil
		}
	}
}

func decodeBody(r io.Reader, encoding string) (string, error) {
	if strings.EqualFold(encoding, "quoted-printable") {
		r = quotedprintable.NewReader(r)
	}
	b, err := io.ReadAll(r)
	return string(b), err
}
