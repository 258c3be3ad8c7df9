// Package rbac_test proves the install on real API servers (envtest), one per test:
//   - the operator runs with exactly the permissions config/default grants: the test applies
//     its ServiceAccount, roles and bindings and runs a manager impersonating that ServiceAccount
//     through a delivery end to end; a permission missing from config/rbac fails it;
//   - the operator's binary runs as the rendered Deployment runs it, and dist/install.yaml
//     applies, and applies again unchanged (deployment_test.go);
//   - the optional console's binary runs as its rendered Deployment runs it, with only its
//     rendered ClusterRole, and serves a person their namespace's results (console_test.go);
//   - namespace admins, editors and viewers get what the aggregated roles promise, with the
//     real kube-controller-manager aggregating them (selfservice_test.go).
//
// It has its own package, and so its own control planes, so that no other operator replica
// (the controllers suite runs one) leads or delivers the same targets.
package rbac_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	wgpolicyv1alpha2 "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
	"github.com/policyherald/policy-herald/controllers"
	"github.com/policyherald/policy-herald/internal/addrguard"
	"github.com/policyherald/policy-herald/internal/blockreports"
	"github.com/policyherald/policy-herald/internal/delivery"
	"github.com/policyherald/policy-herald/internal/emailjob"
	"github.com/policyherald/policy-herald/internal/ledger"
	"github.com/policyherald/policy-herald/internal/scheme"
	"github.com/policyherald/policy-herald/internal/sender"
)

const (
	// operatorNamespace is where config/default installs the operator; it is also the
	// platform namespace and the leader election namespace, as in production.
	operatorNamespace = "policy-herald-system"
	serviceAccount    = "policy-herald-controller-manager"
)

// installRBAC renders config/default and returns its ServiceAccount and RBAC objects (and the
// Namespace), in an order that applies cleanly.
func installRBAC(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	m := renderDefault(t)
	order := []string{"Namespace", "ServiceAccount", "ClusterRole", "Role", "ClusterRoleBinding", "RoleBinding"}
	var out []*unstructured.Unstructured
	for _, r := range m.Resources() {
		if !slices.Contains(order, r.GetKind()) {
			continue
		}
		content, err := r.Map()
		if err != nil {
			t.Fatalf("%s: %v", r.CurId(), err)
		}
		out = append(out, &unstructured.Unstructured{Object: content})
	}
	slices.SortStableFunc(out, func(a, b *unstructured.Unstructured) int {
		return slices.Index(order, a.GetKind()) - slices.Index(order, b.GetKind())
	})
	return out
}

// startAPIServer starts an envtest API server of the test's own (KUBEBUILDER_ASSETS points at
// the kube-apiserver and etcd built by hack/control-plane.sh) with Policy Herald's CRDs and,
// withReports, the report CRDs (and Kyverno's policy CRDs, as a cluster with reports has them),
// and returns its admin config and a client.
func startAPIServer(t *testing.T, withReports bool) (*rest.Config, client.Client) {
	t.Helper()
	crds := []string{filepath.Join("..", "..", "config", "crd", "bases")}
	if withReports {
		crds = append(crds, filepath.Join("..", "..", "hack", "crds"), filepath.Join("..", "..", "hack", "crds", "kyverno"))
	}
	env := &envtest.Environment{CRDDirectoryPaths: crds, ErrorIfCRDPathMissing: true}
	admin, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	k8s, err := client.New(admin, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	return admin, k8s
}

// renderDefault renders config/default as kustomize does.
func renderDefault(t *testing.T) resmap.ResMap {
	t.Helper()
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), filepath.Join("..", "..", "config", "default"))
	if err != nil {
		t.Fatalf("kustomize build config/default: %v", err)
	}
	return m
}

// boundToOperator checks that the rendered bindings grant the roles this test relies on to the
// rendered ServiceAccount, so a renamed account or binding fails here with a clear message.
func boundToOperator(g *WithT, objs []*unstructured.Unstructured) {
	var sa []string
	bound := map[string]bool{} // "Kind/namespace/role"
	for _, o := range objs {
		switch o.GetKind() {
		case "ServiceAccount":
			sa = append(sa, o.GetNamespace()+"/"+o.GetName())
		case "ClusterRoleBinding", "RoleBinding":
			var b rbacv1.RoleBinding // same shape as a ClusterRoleBinding for these fields
			g.Expect(fromUnstructured(o, &b)).To(Succeed())
			for _, s := range b.Subjects {
				if s.Kind == "ServiceAccount" && s.Namespace == operatorNamespace && s.Name == serviceAccount {
					bound[b.RoleRef.Kind+"/"+o.GetNamespace()+"/"+b.RoleRef.Name] = true
				}
			}
		}
	}
	g.Expect(sa).To(ConsistOf(operatorNamespace+"/"+serviceAccount, operatorNamespace+"/"+emailjob.ServiceAccount))
	g.Expect(bound).To(HaveKey("ClusterRole//policy-herald-manager-role"))
	g.Expect(bound).To(HaveKey("Role/" + operatorNamespace + "/policy-herald-manager-role"))
	g.Expect(bound).To(HaveKey("Role/" + operatorNamespace + "/policy-herald-leader-election-role"))
	g.Expect(bound).To(HaveKey("ClusterRole//policy-herald-metrics-auth-role"))
}

func fromUnstructured(u *unstructured.Unstructured, into any) error {
	b, err := json.Marshal(u.Object)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, into)
}

// receiver is a webhook endpoint on loopback that records the policy of each result it gets.
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	docs []string // "policy/message"
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var d sender.ResultDocument
		if err := json.NewDecoder(req.Body).Decode(&d); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.docs = append(r.docs, d.Policy+"/"+d.Message)
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) received() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := slices.Clone(r.docs)
	slices.Sort(out)
	return out
}

// forbiddenLog keeps the operator's log lines that say the API server refused it.
type forbiddenLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *forbiddenLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range strings.Split(string(bytes.TrimSpace(p)), "\n") {
		if strings.Contains(line, "forbidden") || strings.Contains(line, "Forbidden") {
			l.lines = append(l.lines, line)
		}
	}
	return len(p), nil
}

func (l *forbiddenLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.lines)
}

func deliveryOptions() delivery.Options {
	o := delivery.DefaultOptions()
	o.Retry.InitialInterval, o.Retry.MaxInterval, o.Retry.MaxAttempts = 50*time.Millisecond, 200*time.Millisecond, 4
	o.SweepInterval, o.FlushInterval, o.StatusInterval = time.Hour, 200*time.Millisecond, 200*time.Millisecond
	o.SlowRetryInterval, o.ShutdownGrace = 200*time.Millisecond, 2*time.Second
	return o
}

func TestRBACOperatorDeliversWithItsInstalledPermissions(t *testing.T) {
	g := NewWithT(t)
	g.SetDefaultEventuallyTimeout(20 * time.Second)
	g.SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	log := &forbiddenLog{}
	logf.SetLogger(zap.New(zap.WriteTo(log), zap.UseDevMode(true)))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	admin, k8s := startAPIServer(t, true)

	objs := installRBAC(t)
	boundToOperator(g, objs)
	for _, o := range objs {
		g.Expect(k8s.Create(ctx, o)).To(Succeed(), "applying %s %s/%s", o.GetKind(), o.GetNamespace(), o.GetName())
	}

	// The operator, as its ServiceAccount: envtest's admin may impersonate anyone.
	cfg := rest.CopyConfig(admin)
	cfg.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + operatorNamespace + ":" + serviceAccount,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + operatorNamespace, "system:authenticated"},
	}
	// The API server's authorizer sees new bindings through its informers: wait until it does,
	// so a refusal logged below is a missing permission, not a bit of lag.
	as, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(func(g Gomega) {
		// Not found, rather than forbidden: the manager-role, then the leader election role.
		g.Expect(as.Get(ctx, client.ObjectKey{Name: "none"}, &corev1.Namespace{})).To(Satisfy(apierrors.IsNotFound))
		lease := &unstructured.Unstructured{}
		lease.SetAPIVersion("coordination.k8s.io/v1")
		lease.SetKind("Lease")
		g.Expect(as.Get(ctx, client.ObjectKey{Namespace: operatorNamespace, Name: "none"}, lease)).To(Satisfy(apierrors.IsNotFound))
	}).Should(Succeed())

	// The operator's own Pod, as the Deployment makes it: the operator reads it for the image of
	// the e-mail report Jobs.
	dep := renderedDeployment(t)
	self := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: dep.Name + "-7d9f8b6c5-x2x4z",
		Labels: dep.Spec.Template.Labels}, Spec: dep.Spec.Template.Spec}
	g.Expect(k8s.Create(ctx, self)).To(Succeed())

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        scheme.New(),
		Metrics:                       metricsserver.Options{BindAddress: "0"},
		LeaderElection:                true,
		LeaderElectionID:              "policy-herald.reporting.policyherald.io",
		LeaderElectionNamespace:       operatorNamespace,
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 ptr.To(3 * time.Second),
		RenewDeadline:                 ptr.To(2 * time.Second),
		RetryPeriod:                   ptr.To(200 * time.Millisecond),
	})
	g.Expect(err).NotTo(HaveOccurred())
	mctx, mcancel := context.WithCancel(ctx)
	_, err = controllers.SetupAll(mctx, mgr, controllers.Options{
		PlatformNamespace: operatorNamespace,
		Delivery:          deliveryOptions(),
		// The receivers listen on 127.0.0.1.
		Addresses:   addrguard.LocalPolicy(),
		OperatorPod: client.ObjectKeyFromObject(self),
	})
	g.Expect(err).NotTo(HaveOccurred())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mctx) }()
	t.Cleanup(func() {
		mcancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})

	tenant := "tenant-a"
	g.Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: tenant}})).To(Succeed())

	ready := func(obj client.Object, conds func() []metav1.Condition) func(Gomega) {
		return func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(obj), obj)).To(Succeed())
			c := meta.FindStatusCondition(conds(), v1alpha1.ConditionReady)
			g.Expect(c).NotTo(BeNil(), "Ready not set yet")
			g.Expect(c.ObservedGeneration).To(Equal(obj.GetGeneration()))
			g.Expect(c.Status).To(Equal(metav1.ConditionTrue), "%s: %s", c.Reason, c.Message)
		}
	}
	platformRcv, tenantRcv, channelRcv := newReceiver(t), newReceiver(t), newReceiver(t)

	platform := &v1alpha1.NotificationTarget{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: "platform"}}
	platform.Spec.Webhook = &v1alpha1.WebhookDestination{HTTPSettings: v1alpha1.HTTPSettings{URL: platformRcv.URL}}
	// A tenant target takes its URL from a Secret, which the operator must read.
	g.Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: tenant, Name: "hook"},
		StringData: map[string]string{"url": tenantRcv.URL}})).To(Succeed())
	mine := &v1alpha1.NotificationTarget{ObjectMeta: metav1.ObjectMeta{Namespace: tenant, Name: "hook"}}
	mine.Spec.Webhook = &v1alpha1.WebhookDestination{}
	mine.Spec.SecretRef = &v1alpha1.LocalSecretReference{Name: "hook"}
	channel := &v1alpha1.TargetChannel{ObjectMeta: metav1.ObjectMeta{Namespace: tenant, Name: "team"},
		Spec: v1alpha1.TargetChannelSpec{TargetRef: v1alpha1.TargetReference{Name: "hook"}}}
	channel.Spec.Webhook = &v1alpha1.WebhookDestination{HTTPSettings: v1alpha1.HTTPSettings{URL: channelRcv.URL}}
	for _, o := range []client.Object{platform, mine, channel} {
		g.Expect(k8s.Create(ctx, o)).To(Succeed())
	}
	g.Eventually(ready(platform, func() []metav1.Condition { return platform.Status.Conditions })).Should(Succeed())
	g.Eventually(ready(mine, func() []metav1.Condition { return mine.Status.Conditions })).Should(Succeed())
	g.Eventually(ready(channel, func() []metav1.Condition { return channel.Status.Conditions })).Should(Succeed())

	res := func(ns, policy, message string) wgpolicyv1alpha2.PolicyReportResult {
		r := wgpolicyv1alpha2.PolicyReportResult{
			Source: "kyverno", Policy: policy, Rule: "check", Result: "fail", Severity: "high", Message: message,
			Timestamp: metav1.Timestamp{Seconds: time.Now().Unix()},
		}
		if ns != "" {
			r.Resources = []corev1.ObjectReference{{APIVersion: "v1", Kind: "Pod", Namespace: ns, Name: "nginx", UID: "uid-nginx"}}
		}
		return r
	}
	g.Expect(k8s.Create(ctx, &wgpolicyv1alpha2.PolicyReport{ObjectMeta: metav1.ObjectMeta{Namespace: tenant, Name: "pod-nginx"},
		Results: []wgpolicyv1alpha2.PolicyReportResult{res(tenant, "tenant-policy", "in the tenant")}})).To(Succeed())
	g.Expect(k8s.Create(ctx, &wgpolicyv1alpha2.ClusterPolicyReport{ObjectMeta: metav1.ObjectMeta{Name: "cluster"},
		Results: []wgpolicyv1alpha2.PolicyReportResult{res("", "cluster-policy", "cluster-wide")}})).To(Succeed())

	g.Eventually(platformRcv.received).Should(Equal([]string{"cluster-policy/cluster-wide", "tenant-policy/in the tenant"}))
	g.Eventually(tenantRcv.received).Should(Equal([]string{"tenant-policy/in the tenant"}))
	g.Eventually(channelRcv.received).Should(Equal([]string{"tenant-policy/in the tenant"}))

	// The engine writes the counts and the ledgers with the operator's own permissions.
	g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(platform), platform)).To(Succeed())
		g.Expect(platform.Status.Delivery).To(HaveField("Sent", int64(2)))
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(mine), mine)).To(Succeed())
		g.Expect(mine.Status.Delivery).To(HaveField("Sent", int64(1)))
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(channel), channel)).To(Succeed())
		g.Expect(channel.Status.Delivery).To(HaveField("Sent", int64(1)))
	}).Should(Succeed())
	for _, l := range []client.ObjectKey{
		{Namespace: operatorNamespace, Name: ledger.Name("nt", platform.Name)},
		{Namespace: tenant, Name: ledger.Name("nt", mine.Name)},
		{Namespace: tenant, Name: ledger.Name("tc", channel.Name)},
	} {
		g.Eventually(func() error { return k8s.Get(ctx, l, &corev1.ConfigMap{}) }).Should(Succeed(), "ledger ConfigMap %s", l)
	}

	// It led through the lease in its namespace, with the leader election role.
	var lease unstructured.Unstructured
	lease.SetAPIVersion("coordination.k8s.io/v1")
	lease.SetKind("Lease")
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: operatorNamespace, Name: "policy-herald.reporting.policyherald.io"}, &lease)).To(Succeed())

	controlledResources(g, ctx, k8s, tenant, mine)
	emailReports(t, g, ctx, k8s, tenant, self)
	blockReports(g, ctx, k8s, tenant)

	// Some refusals change no outcome above (an Event not recorded, a watch that fails and
	// retries): the operator logs them.
	g.Expect(log.get()).To(BeEmpty(), "the API server refused the operator something")
}

// controlledResources has the operator, as its ServiceAccount, read the owners of a Pod, a
// ReplicaSet and a Job that a controller owns (controlledResources: skip, the default): their
// results are skipped, not sent as they would be if it could not read them.
func controlledResources(g *WithT, ctx context.Context, k8s client.Client, tenant string, target *v1alpha1.NotificationTarget) {
	labels := map[string]string{"app": "carts"}
	containers := []corev1.Container{{Name: "carts", Image: "carts"}}
	controlledBy := func(apiVersion, kind, name string) []metav1.OwnerReference {
		return []metav1.OwnerReference{{APIVersion: apiVersion, Kind: kind, Name: name, UID: types.UID("uid-" + name), Controller: ptr.To(true)}}
	}
	for _, o := range []struct {
		apiVersion, kind string
		obj              client.Object
	}{
		{"v1", "Pod", &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: tenant, Name: "carts-5d8f-x2", Labels: labels, OwnerReferences: controlledBy("apps/v1", "ReplicaSet", "carts-5d8f")},
			Spec:       corev1.PodSpec{Containers: containers},
		}},
		{"apps/v1", "ReplicaSet", &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{Namespace: tenant, Name: "carts-5d8f", OwnerReferences: controlledBy("apps/v1", "Deployment", "carts")},
			Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: containers}}},
		}},
		{"batch/v1", "Job", &batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{Namespace: tenant, Name: "backup-2910", OwnerReferences: controlledBy("batch/v1", "CronJob", "backup")},
			Spec:       batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: containers, RestartPolicy: corev1.RestartPolicyNever}}},
		}},
	} {
		g.Expect(k8s.Create(ctx, o.obj)).To(Succeed())
		ref := corev1.ObjectReference{APIVersion: o.apiVersion, Kind: o.kind, Namespace: tenant, Name: o.obj.GetName(), UID: o.obj.GetUID()}
		g.Expect(k8s.Create(ctx, &wgpolicyv1alpha2.PolicyReport{ObjectMeta: metav1.ObjectMeta{Namespace: tenant, Name: string(o.obj.GetUID())}, Scope: &ref,
			Results: []wgpolicyv1alpha2.PolicyReportResult{{
				Source: "kyverno", Policy: "disallow-latest-tag", Rule: "check", Result: "fail", Severity: "medium", Message: "on a controlled " + o.kind,
				Timestamp: metav1.Timestamp{Seconds: time.Now().Unix()}, Resources: []corev1.ObjectReference{ref},
			}}})).To(Succeed())
	}
	g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(target), target)).To(Succeed())
		g.Expect(target.Status.Delivery).To(And(HaveField("Skipped", int64(3)), HaveField("Sent", int64(1))))
	}).Should(Succeed())
}

// emailReports has the operator, as its ServiceAccount, turn a tenant's EmailReportSchedule into
// a CronJob in its own namespace running its own image (read from its Pod, self), start a
// send-now Job, read a failed Job's Pod for the reason, and remove both when the schedule goes.
func emailReports(t *testing.T, g *WithT, ctx context.Context, k8s client.Client, tenant string, self *corev1.Pod) {
	t.Helper()
	s := &v1alpha1.EmailReportSchedule{
		ObjectMeta: metav1.ObjectMeta{Namespace: tenant, Name: "daily", Annotations: map[string]string{v1alpha1.AnnotationSendNow: "1"}},
		Spec: v1alpha1.EmailReportScheduleSpec{
			Schedule: "0 8 * * *", ReportType: v1alpha1.EmailReportSummary, Recipients: []string{"team-a@example.com"},
			SMTP: &v1alpha1.SMTPSettings{Host: "smtp.example.com", From: "herald@example.com", Username: "herald",
				SecretRef: &v1alpha1.LocalSecretReference{Name: "smtp"}},
		},
	}
	g.Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: tenant, Name: "smtp"},
		StringData: map[string]string{"password": "s3cret"}})).To(Succeed())
	g.Expect(k8s.Create(ctx, s)).To(Succeed())
	readyAs := func(status metav1.ConditionStatus, reason string) func(Gomega) {
		return func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(s), s)).To(Succeed())
			c := meta.FindStatusCondition(s.Status.Conditions, v1alpha1.ConditionReady)
			g.Expect(c).NotTo(BeNil(), "Ready not set yet")
			g.Expect(c.Status).To(Equal(status), "%s: %s", c.Reason, c.Message)
			g.Expect(c.Reason).To(Equal(reason), c.Message)
		}
	}
	g.Eventually(readyAs(metav1.ConditionTrue, v1alpha1.ReasonReady)).Should(Succeed())

	cj := &batchv1.CronJob{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: operatorNamespace, Name: s.Status.CronJobName}, cj)).To(Succeed())
	g.Expect(cj.Name).To(Equal(emailjob.CronJobName(tenant, s.Name)))
	pod := cj.Spec.JobTemplate.Spec.Template.Spec
	g.Expect(pod.Containers[0].Image).To(Equal(self.Spec.Containers[0].Image), "the operator's own image")
	g.Expect(pod.ServiceAccountName).To(Equal(emailjob.ServiceAccount))
	var jobs batchv1.JobList
	g.Eventually(func(g Gomega) {
		g.Expect(k8s.List(ctx, &jobs, client.InNamespace(operatorNamespace), client.MatchingLabels{"reporting.policyherald.io/cronjob": cj.Name})).To(Succeed())
		g.Expect(jobs.Items).To(HaveLen(1), "the send-now Job")
	}).Should(Succeed())

	// The run fails; the operator reads the reason from its Pod (the restricted Pod Security
	// Standard of the namespace admits the Job's Pod as it is).
	job := &jobs.Items[0]
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: job.Name + "-abcde",
		Labels: map[string]string{batchv1.JobNameLabel: job.Name}}, Spec: *job.Spec.Template.Spec.DeepCopy()}
	g.Expect(k8s.Create(ctx, p)).To(Succeed())
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	p.Status.Phase = corev1.PodFailed
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: pod.Containers[0].Name, Image: pod.Containers[0].Image,
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Message: "smtp.example.com:465: connection refused", FinishedAt: now}}}}
	g.Expect(k8s.Status().Update(ctx, p)).To(Succeed())
	job.Status.StartTime, job.Status.Failed = &now, 3
	job.Status.Conditions = []batchv1.JobCondition{
		{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", LastTransitionTime: now},
		{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", LastTransitionTime: now},
	}
	g.Expect(k8s.Status().Update(ctx, job)).To(Succeed())
	g.Eventually(readyAs(metav1.ConditionFalse, v1alpha1.ReasonDeliveryFailing)).Should(Succeed())
	g.Expect(s.Status.Delivery.LastFailureReason).To(Equal("smtp.example.com:465: connection refused"))

	// Deleting the schedule: the finalizer removes the CronJob and its Jobs, then lets it go.
	g.Expect(k8s.Delete(ctx, s)).To(Succeed())
	g.Eventually(func() error { return k8s.Get(ctx, client.ObjectKeyFromObject(s), s) }).Should(Satisfy(apierrors.IsNotFound))
	g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(cj), cj)).To(Satisfy(apierrors.IsNotFound))
	g.Eventually(func() error { return k8s.Get(ctx, client.ObjectKeyFromObject(job), job) }).Should(Satisfy(apierrors.IsNotFound))
}

// blockReports has the operator, as its ServiceAccount, watch Kyverno's blocked-admission
// Events, write a PolicyReport in the tenant's namespace and remove it with its policy.
func blockReports(g *WithT, ctx context.Context, k8s client.Client, tenant string) {
	p := &v1alpha1.BlockReportPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: tenant, Name: "blocked"}}
	g.Expect(k8s.Create(ctx, p)).To(Succeed())
	now := metav1.Now()
	g.Expect(k8s.Create(ctx, &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Namespace: "default", Name: "restrict-image-registries.rbac"},
		InvolvedObject: corev1.ObjectReference{APIVersion: "kyverno.io/v1", Kind: "ClusterPolicy", Name: "restrict-image-registries", UID: "uid-policy"},
		Related:        &corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: tenant, Name: "nginx-public"},
		Reason:         "PolicyViolation", Type: corev1.EventTypeWarning, Source: corev1.EventSource{Component: "kyverno-admission"},
		Message:        "Pod " + tenant + "/nginx-public: [validate-registries] fail (blocked); validation error: Unknown Image registry.",
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
	})).To(Succeed())
	key := client.ObjectKey{Namespace: tenant, Name: blockreports.ReportName(tenant, p.Name)}
	g.Eventually(func(g Gomega) {
		var rep wgpolicyv1alpha2.PolicyReport
		g.Expect(k8s.Get(ctx, key, &rep)).To(Succeed())
		g.Expect(rep.Results).To(HaveLen(1))
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(p), p)).To(Succeed())
		c := meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ConditionReady)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
		g.Expect(p.Status.ResultsWritten).To(Equal(int64(1)))
	}).Should(Succeed())
	g.Expect(k8s.Delete(ctx, p)).To(Succeed())
	g.Eventually(func() bool { return apierrors.IsNotFound(k8s.Get(ctx, key, &wgpolicyv1alpha2.PolicyReport{})) }).Should(BeTrue())
}
