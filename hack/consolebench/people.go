package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/policyherald/policy-herald/internal/console/access"
	"github.com/policyherald/policy-herald/internal/console/api"
)

// A person is a bearer token the harness's Authenticator knows, and what RBAC lets them list:
// every namespace (cluster-wide) or the namespaces named.
type person struct {
	name       string
	everywhere bool
	namespaces map[string]bool
}

// people are the harness's viewers: one who sees everything, one team that sees half.
func people(namespaces int) []person {
	half := map[string]bool{}
	for i := range namespaces / 2 {
		half[fmt.Sprintf("team-%d", i)] = true
	}
	return []person{
		{name: "cluster-viewer", everywhere: true},
		{name: "team-viewer", namespaces: half},
	}
}

// tokens authenticates `Authorization: Bearer <name>` as the person of that name: the
// harness measures the console, not the API server's TokenReviews (cached per token anyway).
type tokens map[string]person

func (t tokens) Authenticate(r *http.Request) (access.User, error) {
	name, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if _, known := t[name]; !ok || !known {
		return access.User{}, fmt.Errorf("%w: unknown token", api.ErrUnauthenticated)
	}
	return access.User{Name: name, Groups: []string{"system:authenticated"}}, nil
}

// rbac answers SubjectAccessReviews as the API server would for the people: the real
// Authorizer asks it and caches its answers, so a page costs what it costs in a cluster
// within the cache's TTL.
type rbac map[string]person

func (p rbac) Create(_ context.Context, sar *authorizationv1.SubjectAccessReview, _ metav1.CreateOptions) (*authorizationv1.SubjectAccessReview, error) {
	who, a := p[sar.Spec.User], sar.Spec.ResourceAttributes
	sar.Status.Allowed = a != nil && a.Verb == "list" && (who.everywhere || who.namespaces[a.Namespace])
	return sar, nil
}
