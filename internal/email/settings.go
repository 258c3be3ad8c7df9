package email

import (
	"fmt"
	"strconv"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/secrets"
)

// Settings merges an EmailReportSchedule's inline SMTP settings with the values of its Secret
// (a key in the Secret wins; the password is read from the Secret only) and checks them: the
// one rule set of the controller, which validates a schedule, and of the email-report Job,
// which sends it. TLS is the caller's (it reads a Secret of its own). secretName is "" without
// a secretRef. A missing password is the secrets package's SecretKeyMissing problem.
func Settings(spec v1alpha1.SMTPSettings, values secrets.Values, secretName string) (smtp SMTP, from string, err error) {
	smtp.Host = values.Get("host", spec.Host)
	if smtp.Host == "" {
		return SMTP{}, "", fmt.Errorf("smtp.host is not set inline nor under key 'host' of Secret %q", secretName)
	}
	from = values.Get("from", spec.From)
	if _, err := ParseFrom(from); err != nil {
		return SMTP{}, "", fmt.Errorf("smtp.from %q is not an e-mail address", from)
	}
	smtp.Port = int(spec.Port)
	if p, ok := values["port"]; ok && p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return SMTP{}, "", fmt.Errorf("key 'port' of Secret %q is not a port number", secretName)
		}
		smtp.Port = n
	}
	smtp.Encryption = Encryption(values.Get("encryption", string(spec.Encryption)))
	switch smtp.Encryption {
	case "":
		smtp.Encryption = EncryptionTLS
	case EncryptionTLS, EncryptionStartTLS, EncryptionNone:
	default:
		return SMTP{}, "", fmt.Errorf("smtp encryption %q must be ssl/tls, starttls or none", smtp.Encryption)
	}
	smtp.Username = values.Get("username", spec.Username)
	if smtp.Username != "" {
		if secretName == "" {
			return SMTP{}, "", fmt.Errorf("smtp.username is set but there is no smtp.secretRef for the password")
		}
		if err := secrets.RequireKeys(values, secretName, "password"); err != nil {
			return SMTP{}, "", err
		}
		smtp.Password = values["password"]
	}
	return smtp, from, nil
}

// GraphSettings returns the Graph sender of an EmailReportSchedule's graph settings, with the
// client secret from values, the Secret named by clientSecretRef: the rule set of the
// controller and of the Job, as Settings is for SMTP. A missing key is the secrets package's
// SecretKeyMissing problem.
func GraphSettings(spec v1alpha1.GraphSettings, values secrets.Values) (Graph, error) {
	ref := spec.ClientSecretRef
	if err := secrets.RequireKeys(values, ref.Name, ref.Key); err != nil {
		return Graph{}, err
	}
	return Graph{TenantID: spec.TenantID, ClientID: spec.ClientID, ClientSecret: values[ref.Key], User: spec.User}, nil
}
