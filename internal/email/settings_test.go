package email

import (
	"strings"
	"testing"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/secrets"
)

func TestSettingsSecretWins(t *testing.T) {
	spec := v1alpha1.SMTPSettings{Host: "inline.example.com", Port: 25, From: "inline@example.com", Encryption: "none"}
	values := secrets.Values{"host": "smtp.example.com", "port": "587", "from": "Reports <r@example.com>",
		"encryption": "starttls", "username": "u", "password": "p"}
	smtp, from, err := Settings(spec, values, "smtp")
	if err != nil {
		t.Fatal(err)
	}
	want := SMTP{Host: "smtp.example.com", Port: 587, Username: "u", Password: "p", Encryption: EncryptionStartTLS}
	if smtp.Host != want.Host || smtp.Port != want.Port || smtp.Username != want.Username || smtp.Password != want.Password ||
		smtp.Encryption != want.Encryption || from != "Reports <r@example.com>" {
		t.Errorf("settings %+v from %q", smtp, from)
	}
	if smtp, _, _ := Settings(v1alpha1.SMTPSettings{Host: "h", From: "a@example.com"}, nil, ""); smtp.Encryption != EncryptionTLS {
		t.Errorf("default encryption %q, want ssl/tls", smtp.Encryption)
	}
}

func TestSettingsRefusals(t *testing.T) {
	base := v1alpha1.SMTPSettings{Host: "h", From: "a@example.com"}
	for name, c := range map[string]struct {
		spec   v1alpha1.SMTPSettings
		values secrets.Values
		secret string
		want   string
	}{
		"no host":           {v1alpha1.SMTPSettings{From: "a@example.com"}, nil, "", "smtp.host is not set"},
		"bad from":          {v1alpha1.SMTPSettings{Host: "h", From: "nobody"}, nil, "", `smtp.from "nobody"`},
		"bad port":          {base, secrets.Values{"port": "x"}, "s", "is not a port number"},
		"bad encryption":    {base, secrets.Values{"encryption": "tls13"}, "s", "must be ssl/tls, starttls or none"},
		"user without ref":  {v1alpha1.SMTPSettings{Host: "h", From: "a@example.com", Username: "u"}, nil, "", "no smtp.secretRef"},
		"user, no password": {v1alpha1.SMTPSettings{Host: "h", From: "a@example.com", Username: "u"}, secrets.Values{}, "s", "password"},
	} {
		if _, _, err := Settings(c.spec, c.values, c.secret); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}

func TestGraphSettings(t *testing.T) {
	spec := v1alpha1.GraphSettings{TenantID: "t", ClientID: "c", User: "u@example.com",
		ClientSecretRef: v1alpha1.SecretKeySelector{Name: "graph", Key: "client-secret"}}
	g, err := GraphSettings(spec, secrets.Values{"client-secret": "s"})
	if err != nil || g.TenantID != "t" || g.ClientID != "c" || g.ClientSecret != "s" || g.User != "u@example.com" || g.Endpoints != nil {
		t.Errorf("GraphSettings = %+v, %v", g, err)
	}
	if _, err := GraphSettings(spec, secrets.Values{"password": "s"}); err == nil ||
		!strings.Contains(err.Error(), `Secret "graph" has no value for key(s) client-secret`) {
		t.Errorf("without the key: %v", err)
	}
}
