package redact

import (
	"net/url"
	"strings"
	"testing"
)

func TestRedactorIgnoresCaseAndEscapes(t *testing.T) {
	r := New(nil, "Tok/en+Value", "AbCdEfGh")
	for _, in := range []string{
		"TOK/EN+VALUE", "tok/en+value", "Tok%2Fen%2BValue", "tok%2fen%2bvalue", "Tok%2Fen+Value", "ABCDEFGH", "abcdefgh",
	} {
		if got := r.Redact("x " + in + " y"); got != "x "+Redacted+" y" {
			t.Errorf("Redact(%q) = %q", in, got)
		}
	}
	// Longest first, so a secret inside a longer one does not leave a piece of the longer.
	r = New(nil, "abcdefgh", "xxabcdefghyy")
	if got := r.Redact("XXABCDEFGHYY"); got != Redacted {
		t.Errorf("got %q", got)
	}
	// Text around the secrets is kept as it was, including its case and non-ASCII text.
	if got := r.Redact("Ünïcode ABCDEFGH Rest"); got != "Ünïcode "+Redacted+" Rest" {
		t.Errorf("got %q", got)
	}
}

// benchURL is a webhook URL with a secret path segment and a query value.
const benchURL = "https://hooks.example.com/services/T000/B000/S3cretConformanceValue_x9_32char?sig=Secret+Query%2FVal%2Bue"

// BenchmarkRedact measures the redaction of a rejected request's body as read for its excerpt
// (8 KiB, what a sender reads of it, echoing the token once) by the redactor of a webhook with a secret path,
// a query value, a header and a token: the cost each failed send pays.
func BenchmarkRedact(b *testing.B) {
	u, _ := url.Parse(benchURL)
	r := New(u, "Secret Header/Val+ue", "Bearer SecretToken/Val+ue")
	body := strings.Repeat("The request was refused by the upstream service. ", (8<<10)/50) + "Bearer SecretToken/Val+ue"
	for b.Loop() {
		_ = r.Redact(body)
	}
	b.ReportMetric(float64(len(r.ascii)+len(r.other)), "forms")
}

// BenchmarkNewRedactor measures building that redactor, which every sender does once when it
// is (re)configured.
func BenchmarkNewRedactor(b *testing.B) {
	u, _ := url.Parse(benchURL)
	for b.Loop() {
		_ = New(u, "Secret Header/Val+ue", "Bearer SecretToken/Val+ue")
	}
}
