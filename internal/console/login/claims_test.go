package login_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/policyherald/policy-herald/internal/console/login"
)

// TestMappingIsKubeAPIServers checks the rules of kube-apiserver's --oidc-* flags that the
// provider test (sub, no prefix flag) does not reach.
func TestMappingIsKubeAPIServers(t *testing.T) {
	const iss = "https://idp.example"
	claims := `{"sub":"u1","email":"a@example.com","email_verified":true,"groups":["dev","ops"],"role":"admin"}`
	for _, tc := range []struct {
		name   string
		m      login.Mapping
		claims string
		user   string
		groups []string
		err    string
	}{
		{"sub gets the issuer prefix", login.Mapping{}, claims, iss + "#u1", nil, ""},
		{"email gets no prefix", login.Mapping{UsernameClaim: "email"}, claims, "a@example.com", nil, ""},
		{"a prefix flag wins", login.Mapping{UsernameClaim: "email", UsernamePrefix: "oidc:"}, claims, "oidc:a@example.com", nil, ""},
		{"- means no prefix", login.Mapping{UsernamePrefix: "-"}, claims, "u1", nil, ""},
		{"groups with their prefix", login.Mapping{GroupsClaim: "groups", GroupsPrefix: "g:"}, claims, iss + "#u1", []string{"g:dev", "g:ops"}, ""},
		{"a string groups claim", login.Mapping{GroupsClaim: "role"}, claims, iss + "#u1", []string{"admin"}, ""},
		{"an absent groups claim", login.Mapping{GroupsClaim: "teams"}, claims, iss + "#u1", nil, ""},
		{"an unverified email", login.Mapping{UsernameClaim: "email"}, `{"email":"a@example.com","email_verified":false}`, "", nil, "not verified"},
		{"no username claim", login.Mapping{UsernameClaim: "preferred_username"}, claims, "", nil, "no \"preferred_username\" claim"},
		{"a groups claim of numbers", login.Mapping{GroupsClaim: "groups"}, `{"sub":"u1","groups":[1,2]}`, "", nil, "neither a string nor an array"},
	} {
		tc.m.IssuerURL = iss
		var raw map[string]json.RawMessage
		if err := json.Unmarshal([]byte(tc.claims), &raw); err != nil {
			t.Fatal(err)
		}
		u, err := tc.m.User(raw)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want an error saying %q", tc.name, err, tc.err)
			}
			continue
		}
		want := append(tc.groups, "system:authenticated")
		if err != nil || u.Name != tc.user || !slices.Equal(u.Groups, want) {
			t.Errorf("%s: %q %q %v, want %q %q", tc.name, u.Name, u.Groups, err, tc.user, want)
		}
	}
}
