package emailjob_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/email"
	"github.com/policyherald/policy-herald/internal/testing/graphtest"
)

const (
	graphTenant = "0c3a5e2f-4d6b-4f1e-9a7c-2b8d1e6f0a93"
	graphClient = "6731de76-14a6-49ae-97bc-6eba6914391e"
	graphSecret = "qWe8Q~graph.Secret-Value_0123456789abcdef"
	graphUser   = "reports@contoso.com"
)

// graphSchedule starts a Graph stand-in with answers, creates the client secret's Secret in ns
// and a schedule that sends through Graph, and returns the server and the endpoints to run with.
func graphSchedule(t *testing.T, ns, name string, answers ...graphtest.Answer) (*graphtest.Server, *email.GraphEndpoints) {
	t.Helper()
	srv := graphtest.Start(t, graphtest.Options{Tenant: graphTenant, ClientID: graphClient, ClientSecret: graphSecret, User: graphUser, Answers: answers})
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-graph"}, StringData: map[string]string{"client-secret": graphSecret}}
	if err := k8s.Create(context.Background(), sec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), sec) })
	schedule(t, ns, name, v1alpha1.EmailReportViolations, "", func(s *v1alpha1.EmailReportSchedule) {
		s.Spec.SMTP = nil
		s.Spec.CC = []string{"Audit <audit@example.com>"}
		s.Spec.BCC = []string{"archive@example.com"}
		s.Spec.Graph = &v1alpha1.GraphSettings{TenantID: graphTenant, ClientID: graphClient, User: graphUser,
			ClientSecretRef: v1alpha1.SecretKeySelector{Name: sec.Name, Key: "client-secret"}}
	})
	return srv, &email.GraphEndpoints{LoginURL: srv.URL, GraphURL: srv.URL, HTTPClient: srv.Client}
}

// A schedule with graph sends the same report through sendMail, with the same outcome line as
// over SMTP.
func TestGraphSendsTheReport(t *testing.T) {
	srv, ep := graphSchedule(t, platformNS, "graph-violations")
	o := runWith(t, ep, "--schedule="+platformNS+"/graph-violations")
	const want = "sent violations report of 12 results to 4 recipients"
	if o.code != 0 || o.termination != want || !strings.Contains(o.stderr, want) {
		t.Fatalf("exit %d, termination %q, stderr %q; want %q", o.code, o.termination, o.stderr, want)
	}
	mails := srv.Mails()
	if len(mails) != 1 {
		t.Fatalf("%d sendMail requests, want 1", len(mails))
	}
	m := mails[0].Message
	if m.Subject != "[Policy Herald] Violations report – prod-eu – 12 results" {
		t.Errorf("subject %q", m.Subject)
	}
	for _, want := range []string{"image of team-a is not from an allowed registry", "cluster-wide: a ClusterReport result", "all namespaces and cluster reports"} {
		if !strings.Contains(m.Body.Content, want) {
			t.Errorf("body lacks %q", want)
		}
	}
	if len(m.ToRecipients) != 2 || len(m.CcRecipients) != 1 || len(m.BccRecipients) != 1 || m.BccRecipients[0].EmailAddress.Address != "archive@example.com" {
		t.Errorf("recipients to %v cc %v bcc %v", m.ToRecipients, m.CcRecipients, m.BccRecipients)
	}
	if h := m.InternetMessageHeaders; len(h) != 1 || h[0].Value != platformNS+"/graph-violations" {
		t.Errorf("headers %+v", h)
	}
}

// Graph's refusal is the run's outcome, with what to do and without the client secret.
func TestGraphAccessDenied(t *testing.T) {
	srv, ep := graphSchedule(t, "team-b", "graph-denied", graphtest.Answer{Status: http.StatusForbidden, Code: "ErrorAccessDenied",
		Message: "Access is denied. Check credentials and try again."})
	o := runWith(t, ep, "--schedule=team-b/graph-denied")
	if o.code != 1 || !strings.Contains(o.termination, "403 (ErrorAccessDenied: Access is denied.") ||
		!strings.Contains(o.termination, "Mail.Send") || len(srv.Mails()) != 1 {
		t.Fatalf("exit %d, termination %q", o.code, o.termination)
	}
	if strings.Contains(o.termination+o.stderr+o.stdout, graphSecret) {
		t.Errorf("the outcome holds the client secret: %q", o.termination)
	}
}

// A missing key of the client secret's Secret is named as for SMTP.
func TestGraphSecretKeyMissing(t *testing.T) {
	_, ep := graphSchedule(t, "team-a", "graph-nokey")
	s := &v1alpha1.EmailReportSchedule{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: "team-a", Name: "graph-nokey"}, s); err != nil {
		t.Fatal(err)
	}
	s.Spec.Graph.ClientSecretRef.Key = "secret"
	if err := k8s.Update(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	o := runWith(t, ep, "--schedule=team-a/graph-nokey")
	if want := `SecretKeyMissing: Secret "graph-nokey-graph" has no value for key(s) secret`; o.code != 1 || o.termination != want {
		t.Fatalf("exit %d, termination %q, want %q", o.code, o.termination, want)
	}
}
