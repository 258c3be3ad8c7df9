// Package secrets reads the Secrets that Policy Herald objects reference. Secrets are always
// read from the referring object's own namespace, and their values never leave this package in
// an error message.
package secrets

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/conditions"
)

// Values are the decoded keys of a Secret.
type Values map[string]string

// Get returns the value of key, or fallback when the Secret does not have the key. This is the
// "a key in the Secret wins over the inline field" rule in one place.
func (v Values) Get(key, fallback string) string {
	if s, ok := v[key]; ok && s != "" {
		return s
	}
	return fallback
}

// Read returns the values of the Secret name in namespace. A missing Secret is a stalled
// problem (a person must create it); other errors are returned as they are.
func Read(ctx context.Context, r client.Reader, namespace, name string) (Values, error) {
	var s corev1.Secret
	if err := r.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &s); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, conditions.Stalled(v1alpha1.ReasonSecretNotFound,
				fmt.Sprintf("Secret %q not found in namespace %q", name, namespace))
		}
		return nil, fmt.Errorf("reading Secret %s/%s: %w", namespace, name, err)
	}
	v := make(Values, len(s.Data)+len(s.StringData))
	for k, b := range s.Data {
		v[k] = string(b)
	}
	for k, s := range s.StringData {
		v[k] = s
	}
	return v, nil
}

// RequireKeys returns a stalled problem naming the keys that the Secret lacks.
func RequireKeys(v Values, secretName string, keys ...string) error {
	var missing []string
	for _, k := range keys {
		if v[k] == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	sort.Strings(missing)
	return conditions.Stalled(v1alpha1.ReasonSecretKeyMissing,
		fmt.Sprintf("Secret %q has no value for key(s) %s", secretName, strings.Join(missing, ", ")))
}
