package login

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/policyherald/policy-herald/internal/console/access"
)

// Mapping derives a Kubernetes user from ID token claims as kube-apiserver's --oidc-* flags do
// (k8s.io/kubernetes pkg/kubeapiserver/options/authentication.go and k8s.io/apiserver's oidc
// authenticator), so the console's SubjectAccessReviews ask about the names RoleBindings use.
type Mapping struct {
	IssuerURL      string
	UsernameClaim  string // "" means "sub", kube-apiserver's default
	UsernamePrefix string // "" means the issuer URL + "#" unless the claim is "email"; "-" means none
	GroupsClaim    string // "" means no groups from the token
	GroupsPrefix   string
}

// authenticatedGroup is the group kube-apiserver adds to every authenticated user; RBAC rules
// for all signed-in people bind it.
const authenticatedGroup = "system:authenticated"

func (m Mapping) usernameClaim() string {
	if m.UsernameClaim == "" {
		return "sub"
	}
	return m.UsernameClaim
}

// usernamePrefix is kube-apiserver's rule: no flag prefixes every claim but email with the
// issuer URL and "#" (kubernetes/kubernetes#31380), "-" prefixes nothing.
func (m Mapping) usernamePrefix() string {
	switch {
	case m.UsernamePrefix == "-":
		return ""
	case m.UsernamePrefix == "" && m.usernameClaim() != "email":
		return m.IssuerURL + "#"
	default:
		return m.UsernamePrefix
	}
}

// User returns the user the claims name.
func (m Mapping) User(claims map[string]json.RawMessage) (access.User, error) {
	name, err := m.username(claims)
	if err != nil {
		return access.User{}, err
	}
	groups, err := m.groups(claims)
	if err != nil {
		return access.User{}, err
	}
	return access.User{Name: name, Groups: append(groups, authenticatedGroup)}, nil
}

func (m Mapping) username(claims map[string]json.RawMessage) (string, error) {
	claim := m.usernameClaim()
	var name string
	raw, ok := claims[claim]
	if !ok {
		return "", fmt.Errorf("the ID token has no %q claim (--oidc-username-claim)", claim)
	}
	if err := json.Unmarshal(raw, &name); err != nil || name == "" {
		return "", fmt.Errorf("the ID token's %q claim is not a non-empty string", claim)
	}
	if claim == "email" {
		// As kube-apiserver: an email_verified claim that is there must be true.
		if v, ok := claims["email_verified"]; ok {
			var verified bool
			if err := json.Unmarshal(v, &verified); err != nil {
				return "", errors.New("the ID token's email_verified claim is not a boolean")
			}
			if !verified {
				return "", errors.New("the identity provider has not verified your e-mail address")
			}
		}
	}
	return m.usernamePrefix() + name, nil
}

// groups reads the groups claim, a string or an array of strings as kube-apiserver accepts it.
func (m Mapping) groups(claims map[string]json.RawMessage) ([]string, error) {
	raw, ok := claims[m.GroupsClaim]
	if m.GroupsClaim == "" || !ok {
		return nil, nil
	}
	var groups []string
	if err := json.Unmarshal(raw, &groups); err != nil {
		var one string
		if err := json.Unmarshal(raw, &one); err != nil {
			return nil, fmt.Errorf("the ID token's %q claim is neither a string nor an array of strings", m.GroupsClaim)
		}
		groups = []string{one}
	}
	for i, g := range groups {
		groups[i] = m.GroupsPrefix + g
	}
	return groups, nil
}
