// Package tlsconfig builds the crypto/tls configuration of a destination from its TLSConfig.
package tlsconfig

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/conditions"
	"github.com/policyherald/policy-herald/internal/secrets"
)

// Config is a TLS client configuration with the CA bundle it was built from.
type Config struct {
	*tls.Config
	// CA is the PEM CA bundle from the Secret, if any; a change of it needs a new client.
	CA string
}

// Build returns the TLS client configuration for spec, reading the CA bundle from the Secret in
// namespace. A nil spec gives the system defaults.
func Build(ctx context.Context, r client.Reader, namespace string, spec *v1alpha1.TLSConfig) (*Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if spec == nil {
		return &Config{Config: cfg}, nil
	}
	cfg.InsecureSkipVerify = spec.InsecureSkipVerify //nolint:gosec // the owner asked for it explicitly
	if spec.CASecretRef == nil {
		return &Config{Config: cfg}, nil
	}
	ref := spec.CASecretRef
	values, err := secrets.Read(ctx, r, namespace, ref.Name)
	if err != nil {
		return nil, err
	}
	if err := secrets.RequireKeys(values, ref.Name, ref.Key); err != nil {
		return nil, err
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM([]byte(values[ref.Key])) {
		return nil, conditions.Stalled(v1alpha1.ReasonInvalidCertificate,
			fmt.Sprintf("key %q of Secret %q holds no PEM certificate", ref.Key, ref.Name))
	}
	cfg.RootCAs = pool
	return &Config{Config: cfg, CA: values[ref.Key]}, nil
}
