package main

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/policyherald/policy-herald/internal/testing/syncbuf"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	wgpolicyv1alpha2 "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
	"github.com/policyherald/policy-herald/internal/email"
	"github.com/policyherald/policy-herald/internal/report"
)

// TestSMTPSink mails a rendered violations report to the sink, as the e-mail report Job does
// (go-mail, quoted-printable multipart/alternative), and checks the lines it prints.
func TestSMTPSink(t *testing.T) {
	var out syncbuf.Buffer
	addr, stop, err := startSMTPSink("127.0.0.1:0", &out)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	pr := &wgpolicyv1alpha2.PolicyReport{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "kyverno"},
		Results: []wgpolicyv1alpha2.PolicyReportResult{
			{Source: "kyverno", Policy: "require-labels", Rule: "check", Result: "fail", Severity: "high", Message: "label app is required",
				Resources: []corev1.ObjectReference{{APIVersion: "v1", Kind: "Pod", Namespace: "shop", Name: "web"}}},
			{Source: "kyverno", Policy: "disallow-latest-tag", Rule: "check", Result: "warn", Message: "mutable tag"},
		},
	}
	r := report.FromPolicyReport(pr)
	items := []email.Item{{Report: r, Result: &r.Results[0]}, {Report: r, Result: &r.Results[1]}}
	rendered, err := email.Render(email.Options{Type: email.Violations, ClusterName: "Local", Scope: "namespace shop", Now: time.Now()}, items)
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	msg := &email.Message{From: "Security <policy-herald@example.com>", To: []string{"ops@example.com"}, Bcc: []string{"audit@example.com"},
		Subject: rendered.Subject, HTML: rendered.HTML, Text: rendered.Text}
	if err := email.Send(context.Background(), email.SMTP{Host: host, Port: p, Encryption: email.EncryptionNone}, msg); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`mail:     From: "Security" <policy-herald@example.com>  To: ops@example.com, audit@example.com`,
		"mail:     Subject: [Policy Herald] Violations report – Local – 2 results",
		"mail:     Scope: namespace shop; Results: 2 (fail 1, warn 1, error 0)",
	}
	got := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(got) != 4 || strings.Join(got[1:], "\n") != strings.Join(want, "\n") {
		t.Errorf("the sink printed\n%s\nwant after its first line\n%s", out.String(), strings.Join(want, "\n"))
	}
}

func TestSummaryLine(t *testing.T) {
	for text, want := range map[string]string{
		"Policy Herald – Summary report\n=====\nScope:     all namespaces\nResults:   3 (pass 1, fail 2)\n": "Scope: all namespaces; Results: 3 (pass 1, fail 2)",
		"\nHello,\nnot a report\n": "Hello,",
	} {
		if got := summaryLine(text); got != want {
			t.Errorf("summaryLine(%q) = %q, want %q", text, got, want)
		}
	}
}
