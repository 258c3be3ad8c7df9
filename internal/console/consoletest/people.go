package consoletest

import (
	"context"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ReportReader is the ClusterRole that may read every report kind, as a binding names it.
var ReportReader = rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "report-reader"}

// Subject is the ServiceAccount people/name as a binding's subjects.
func Subject(name string) []rbacv1.Subject {
	return []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: "people", Name: name}}
}

// createPeople creates the ServiceAccounts alice (may read reports in team-a), bob (nothing),
// carol (reports everywhere) and more, the objects given, and a token of each person from the
// TokenRequest API.
func (w *World) createPeople(ctx context.Context, more []string, objects []client.Object) error {
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: ReportReader.Name}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{"wgpolicyk8s.io"}, Resources: []string{"policyreports", "clusterpolicyreports"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{"openreports.io"}, Resources: []string{"reports", "clusterreports"}, Verbs: []string{"get", "list", "watch"}},
	}}
	objs := append([]client.Object{role,
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "alice"}, RoleRef: ReportReader, Subjects: Subject("alice")},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "carol"}, RoleRef: ReportReader, Subjects: Subject("carol")},
	}, objects...)
	people := append([]string{"alice", "bob", "carol"}, more...)
	for _, name := range people {
		objs = append(objs, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "people", Name: name}})
	}
	for _, o := range objs {
		if err := w.K8s.Create(ctx, o); err != nil {
			return err
		}
	}
	for _, name := range people {
		if err := w.createToken(ctx, name); err != nil {
			return err
		}
	}
	return nil
}

// createToken asks the TokenRequest API for an hour's token of people/name.
func (w *World) createToken(ctx context.Context, name string) error {
	tr, err := w.CS.CoreV1().ServiceAccounts("people").CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(3600))}}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	w.Tokens[name] = tr.Status.Token
	return nil
}
