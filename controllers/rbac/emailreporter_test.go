package rbac_test

import (
	"context"
	"slices"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	openreportsv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	authorizationv1 "k8s.io/api/authorization/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	wgpolicyv1alpha2 "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
	"github.com/policyherald/policy-herald/internal/emailjob"
	"github.com/policyherald/policy-herald/internal/scheme"
)

// TestRBACEmailReporterReadsOnlyWhatItsJobNeeds impersonates the ServiceAccount the e-mail
// report Jobs run as, as config/default installs it: it can do what `policy-herald
// email-report` needs (get its schedule and that schedule's Secrets, list every report kind,
// get the report CRDs) and nothing else: no listing or watching Secrets, no write anywhere.
func TestRBACEmailReporterReadsOnlyWhatItsJobNeeds(t *testing.T) {
	g := NewWithT(t)
	g.SetDefaultEventuallyTimeout(20 * time.Second)
	g.SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	ctx := context.Background()
	admin, k8s := startAPIServer(t, true)

	objs := installRBAC(t)
	// The rendered account is bound to its one ClusterRole, and nothing else is.
	var roles []string
	for _, o := range objs {
		g.Expect(k8s.Create(ctx, o)).To(Succeed(), "applying %s %s/%s", o.GetKind(), o.GetNamespace(), o.GetName())
		if o.GetKind() != "ClusterRoleBinding" && o.GetKind() != "RoleBinding" {
			continue
		}
		var b rbacv1.RoleBinding
		g.Expect(fromUnstructured(o, &b)).To(Succeed())
		for _, s := range b.Subjects {
			if s.Kind == rbacv1.ServiceAccountKind && s.Name == emailjob.ServiceAccount {
				g.Expect(s.Namespace).To(Equal(operatorNamespace))
				g.Expect(b.Subjects).To(HaveLen(1), "%s binds the email reporter with other subjects", o.GetName())
				roles = append(roles, o.GetKind()+"/"+b.RoleRef.Kind+"/"+b.RoleRef.Name)
			}
		}
	}
	g.Expect(roles).To(Equal([]string{"ClusterRoleBinding/ClusterRole/policy-herald-email-reporter-role"}))

	const team = "team-a"
	g.Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: team}})).To(Succeed())
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: team, Name: "smtp"}, StringData: map[string]string{"password": "s3cret"}}
	g.Expect(k8s.Create(ctx, secret)).To(Succeed())
	schedule := &v1alpha1.EmailReportSchedule{
		ObjectMeta: metav1.ObjectMeta{Namespace: team, Name: "daily"},
		Spec: v1alpha1.EmailReportScheduleSpec{Schedule: "@daily", ReportType: v1alpha1.EmailReportSummary,
			Recipients: []string{"a@example.com"}, SMTP: &v1alpha1.SMTPSettings{SecretRef: &v1alpha1.LocalSecretReference{Name: "smtp"}}},
	}
	g.Expect(k8s.Create(ctx, schedule)).To(Succeed())

	cfg := rest.CopyConfig(admin)
	cfg.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + operatorNamespace + ":" + emailjob.ServiceAccount,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + operatorNamespace, "system:authenticated"},
	}
	as, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	g.Expect(err).NotTo(HaveOccurred())

	// What the subcommand reads.
	// The authorizer sees new bindings through its informers: wait for the first grant.
	g.Eventually(func() error {
		return as.Get(ctx, client.ObjectKeyFromObject(schedule), &v1alpha1.EmailReportSchedule{})
	}).Should(Succeed())
	g.Expect(as.Get(ctx, client.ObjectKeyFromObject(secret), &corev1.Secret{})).To(Succeed())
	// A filter's namespaceSelector needs the namespace's labels.
	g.Expect(as.Get(ctx, client.ObjectKey{Name: team}, &corev1.Namespace{})).To(Succeed())
	forbidden0 := as.List(ctx, &corev1.NamespaceList{})
	g.Expect(apierrors.IsForbidden(forbidden0)).To(BeTrue(), "listing namespaces: %v", forbidden0)
	for _, l := range []client.ObjectList{
		&wgpolicyv1alpha2.PolicyReportList{}, &wgpolicyv1alpha2.ClusterPolicyReportList{},
		&openreportsv1alpha1.ReportList{}, &openreportsv1alpha1.ClusterReportList{},
	} {
		g.Expect(as.List(ctx, l)).To(Succeed(), "listing %T in every namespace", l)
	}
	g.Expect(as.List(ctx, &wgpolicyv1alpha2.PolicyReportList{}, client.InNamespace(team))).To(Succeed())
	g.Expect(as.List(ctx, &openreportsv1alpha1.ReportList{}, client.InNamespace(team))).To(Succeed())
	for _, crd := range []string{"policyreports.wgpolicyk8s.io", "clusterpolicyreports.wgpolicyk8s.io", "reports.openreports.io", "clusterreports.openreports.io"} {
		m := &metav1.PartialObjectMetadata{}
		m.SetGroupVersionKind(apiextensionsv1.SchemeGroupVersion.WithKind("CustomResourceDefinition"))
		g.Expect(as.Get(ctx, client.ObjectKey{Name: crd}, m)).To(Succeed(), crd)
	}

	// What it may not do.
	forbidden := func(what string, err error) {
		t.Helper()
		if !apierrors.IsForbidden(err) {
			t.Errorf("%s: %v, want Forbidden", what, err)
		}
	}
	forbidden("list Secrets", as.List(ctx, &corev1.SecretList{}))
	forbidden("list Secrets in the team's namespace", as.List(ctx, &corev1.SecretList{}, client.InNamespace(team)))
	forbidden("list EmailReportSchedules", as.List(ctx, &v1alpha1.EmailReportScheduleList{}))
	forbidden("update a Secret", as.Update(ctx, secret.DeepCopy()))
	forbidden("delete a Secret", as.Delete(ctx, secret.DeepCopy()))
	forbidden("create a Secret", as.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: team, Name: "mine"}}))
	live := &v1alpha1.EmailReportSchedule{}
	g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(schedule), live)).To(Succeed())
	forbidden("update its schedule", as.Update(ctx, live.DeepCopy()))
	forbidden("update its schedule's status", as.Status().Update(ctx, live.DeepCopy()))
	forbidden("create a ConfigMap", as.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: "x"}}))
	forbidden("create a Job", as.Create(ctx, &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: "x"}}))
	forbidden("create a PolicyReport", as.Create(ctx, &wgpolicyv1alpha2.PolicyReport{ObjectMeta: metav1.ObjectMeta{Namespace: team, Name: "x"}}))

	// Every rule it holds, in the team's namespace and the operator's, beyond what any
	// ServiceAccount holds (system:authenticated's self-reviews, discovery, trust bundles):
	// reads only, and Secrets by name only.
	nobodyCfg := rest.CopyConfig(cfg)
	nobodyCfg.Impersonate.UserName = "system:serviceaccount:" + operatorNamespace + ":nobody"
	nobody, err := client.New(nobodyCfg, client.Options{Scheme: scheme.New()})
	g.Expect(err).NotTo(HaveOccurred())
	rules := func(c client.Client, ns string) map[string]bool {
		review := &authorizationv1.SelfSubjectRulesReview{Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: ns}}
		g.Expect(c.Create(ctx, review)).To(Succeed())
		out := map[string]bool{}
		for _, r := range review.Status.ResourceRules {
			for _, group := range r.APIGroups {
				for _, res := range r.Resources {
					for _, verb := range r.Verbs {
						out[verb+" "+group+"/"+res] = true
					}
				}
			}
		}
		return out
	}
	for _, ns := range []string{team, operatorNamespace} {
		everyone := rules(nobody, ns)
		var extra []string
		for rule := range rules(as, ns) {
			if !everyone[rule] {
				extra = append(extra, rule)
			}
		}
		slices.Sort(extra)
		g.Expect(extra).To(Equal([]string{
			"get /namespaces",
			"get /secrets",
			"get apiextensions.k8s.io/customresourcedefinitions",
			"get reporting.policyherald.io/emailreportschedules",
			"list openreports.io/clusterreports",
			"list openreports.io/reports",
			"list wgpolicyk8s.io/clusterpolicyreports",
			"list wgpolicyk8s.io/policyreports",
		}), "the email reporter's own rules in %s", ns)
	}
}
