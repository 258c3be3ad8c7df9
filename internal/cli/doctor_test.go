package cli

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/ledger"
	"github.com/policyherald/policy-herald/internal/scheme"
	"github.com/policyherald/policy-herald/internal/testing/wait"
)

// TestDoctorGolden runs doctor against a cluster of its own (the shared world's objects would
// make its lines depend on the order tests run in), installed as config/default installs
// Policy Herald with the console. envtest runs no kubelet and no controllers: the Deployments'
// status, the Lease and the EndpointSlice are written as the cluster would write them. The
// cluster then breaks one way after the other.
func TestDoctorGolden(t *testing.T) {
	ctx := context.Background()
	env := &envtest.Environment{CRDDirectoryPaths: []string{filepath.Join("..", "..", "hack", "crds"), operatorCRDs}, ErrorIfCRDPathMissing: true}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = env.Stop() }()
	k8s, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	admin := filepath.Join(t.TempDir(), "admin")
	if err := writeKubeconfig(admin, cfg, cfg.Host, &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData}); err != nil {
		t.Fatal(err)
	}
	kubeconfigs["doctor-admin"] = admin
	defer delete(kubeconfigs, "doctor-admin")
	in := installation(t, ctx, k8s)
	kubeconfigs["doctor-viewer"] = viewer(t, ctx, k8s, cfg)
	defer delete(kubeconfigs, "doctor-viewer")

	doctorCase(t, "doctor-healthy", "doctor-admin", false)
	doctorCase(t, "doctor-view-one-namespace", "doctor-viewer", false, "-n", "team-a")

	setTargetReady(t, ctx, k8s, in.target, metav1.ConditionFalse, "DeliveryFailing", "POST: 503 Service Unavailable (3 attempts)")
	doctorCase(t, "doctor-target-not-ready", "doctor-admin", true)
	setTargetReady(t, ctx, k8s, in.target, metav1.ConditionTrue, "Ready", "delivering")

	shard := ledgerConfigMap(in.target, "policy-herald-ledger-shard-notificationtarget-platform-webhook-2-0", 600<<10)
	mustCreate(t, ctx, k8s, shard)
	doctorCase(t, "doctor-ledger-near-limit", "doctor-admin", false)
	if err := k8s.Delete(ctx, shard); err != nil {
		t.Fatal(err)
	}

	renew(t, ctx, k8s, in.lease, testNow.Add(-10*time.Minute))
	doctorCase(t, "doctor-stale-lease", "doctor-admin", true)
	doctorCase(t, "doctor-stale-lease-json", "doctor-admin", true, "-o", "json")
	renew(t, ctx, k8s, in.lease, testNow.Add(-2*time.Second))

	removeReportAPIs(t, ctx, k8s)
	doctorCase(t, "doctor-no-report-api", "doctor-admin", true, "--operator-namespace", samplesNS)
}

// doctorCase runs doctor as user and compares its table with testdata/name.golden; fails says
// whether a check should FAIL (and the exit code be non-zero).
func doctorCase(t *testing.T, name, user string, fails bool, args ...string) {
	t.Helper()
	out, stderr, err := herald(t, context.Background(), user, append([]string{"doctor"}, args...)...)
	if fails != errors.Is(err, errChecksFailed) || (err != nil && !errors.Is(err, errChecksFailed)) {
		t.Errorf("%s: err = %v, want failed checks: %v\n%s", name, err, fails, stderr)
	}
	golden(t, name, out)
}

// installed are the objects of the test installation the cases change.
type installed struct {
	target *v1alpha1.NotificationTarget
	lease  *coordinationv1.Lease
}

// installation creates what config/default with the console installs, as running.
func installation(t *testing.T, ctx context.Context, k8s client.Client) installed {
	for _, ns := range []string{samplesNS, "team-a", "people"} {
		mustCreate(t, ctx, k8s, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	}
	operator := deployment("policy-herald-controller-manager", operatorLabels, 1, "--leader-elect", "--health-probe-bind-address=:8081")
	console := deployment("policy-herald-console", consoleLabels, 2, "console")
	for _, d := range []*appsv1.Deployment{operator, console} {
		mustCreate(t, ctx, k8s, d)
		n := *d.Spec.Replicas
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n}
		if err := k8s.Status().Update(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: samplesNS, Name: "policy-herald-console", Labels: consoleLabels},
		Spec: corev1.ServiceSpec{Selector: consoleLabels, Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
	mustCreate(t, ctx, k8s, svc)
	mustCreate(t, ctx, k8s, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: samplesNS, Name: "policy-herald-console-x7k2p", Labels: map[string]string{discoveryv1.LabelServiceName: svc.Name}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.11"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}},
			{Addresses: []string{"10.0.0.12"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
	})
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: samplesNS, Name: leaseName}, Spec: coordinationv1.LeaseSpec{
		HolderIdentity: ptr.To("policy-herald-controller-manager-6c9f7d5b8-x2x4q_0b6e1f3c"), LeaseDurationSeconds: ptr.To(int32(15)),
		RenewTime: &metav1.MicroTime{Time: testNow.Add(-2 * time.Second)},
	}}
	mustCreate(t, ctx, k8s, lease)
	target := &v1alpha1.NotificationTarget{}
	for _, o := range readObjects(t, filepath.Join("..", "..", "config", "samples", "reporting_v1alpha1_notificationtarget.yaml"))[:1] {
		mustCreate(t, ctx, k8s, o)
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(o), target); err != nil {
			t.Fatal(err)
		}
	}
	setTargetReady(t, ctx, k8s, target, metav1.ConditionTrue, "Ready", "delivering")
	mustCreate(t, ctx, k8s, ledgerConfigMap(target, ledger.Name("notificationtarget", target.Name), 20<<10))
	return installed{target: target, lease: lease}
}

func deployment(name string, labels map[string]string, replicas int32, args ...string) *appsv1.Deployment {
	image := "ghcr.io/policyherald/policy-herald:v0.9.0"
	return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: samplesNS, Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To(replicas), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: managerContainer, Image: image, Args: args}}}}}}
}

// ledgerConfigMap is a ConfigMap of target's ledger holding size bytes, labelled and owned as
// package ledger writes them.
func ledgerConfigMap(target *v1alpha1.NotificationTarget, name string, size int) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: target.Namespace, Name: name,
		Labels:          map[string]string{ledger.LabelOwner: string(target.UID)},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: operatorGV, Kind: "NotificationTarget", Name: target.Name, UID: target.UID}}},
		BinaryData: map[string][]byte{"shard.bin": make([]byte, size)}}
}

// setTargetReady writes target's Ready condition as the operator does.
func setTargetReady(t *testing.T, ctx context.Context, k8s client.Client, target *v1alpha1.NotificationTarget, status metav1.ConditionStatus, reason, message string) {
	t.Helper()
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(target), target); err != nil {
		t.Fatal(err)
	}
	target.Status.Conditions = []metav1.Condition{{Type: "Ready", Status: status, Reason: reason, Message: message,
		LastTransitionTime: metav1.NewTime(testNow)}}
	if err := k8s.Status().Update(ctx, target); err != nil {
		t.Fatal(err)
	}
}

// viewer is the kubeconfig of someone who may only view in team-a: read the reports and
// Policy Herald's objects there.
func viewer(t *testing.T, ctx context.Context, k8s client.Client, cfg *rest.Config) string {
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "view"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{"wgpolicyk8s.io", "openreports.io", phGroup}, Resources: []string{rbacv1.ResourceAll}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "watch"}},
	}}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "people", Name: "viewer"}}
	mustCreate(t, ctx, k8s, role)
	mustCreate(t, ctx, k8s, sa)
	mustCreate(t, ctx, k8s, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "viewer"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: sa.Namespace, Name: sa.Name}}})
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := cs.CoreV1().ServiceAccounts(sa.Namespace).CreateToken(ctx, sa.Name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(3600))}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitAllowed(t, ctx, k8s, "system:serviceaccount:people:viewer", "team-a")
	path := filepath.Join(t.TempDir(), "viewer")
	if err := writeKubeconfig(path, cfg, cfg.Host, &clientcmdapi.AuthInfo{Token: tr.Status.Token}); err != nil {
		t.Fatal(err)
	}
	return path
}

// waitAllowed waits until RBAC lets user list policyreports in ns (its caches take a moment).
func waitAllowed(t *testing.T, ctx context.Context, k8s client.Client, user, ns string) {
	allowed := wait.Until(10*time.Second, func() bool {
		r := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: user,
			Groups:             []string{"system:serviceaccounts", "system:authenticated"},
			ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: ns, Verb: "list", Group: "wgpolicyk8s.io", Resource: "policyreports"}}}
		if err := k8s.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
		return r.Status.Allowed
	})
	if !allowed {
		t.Fatalf("%s may still not list policyreports in %s", user, ns)
	}
}

// removeReportAPIs deletes the report CRDs and waits until discovery no longer serves them (the
// API server finalizes a CRD by deleting its objects first, which a loaded machine makes slow).
func removeReportAPIs(t *testing.T, ctx context.Context, k8s client.Client) {
	for _, name := range []string{"policyreports.wgpolicyk8s.io", "clusterpolicyreports.wgpolicyk8s.io", "reports.openreports.io", "clusterreports.openreports.io"} {
		crd := &unstructured.Unstructured{}
		crd.SetAPIVersion("apiextensions.k8s.io/v1")
		crd.SetKind("CustomResourceDefinition")
		crd.SetName(name)
		if err := k8s.Delete(ctx, crd); err != nil {
			t.Fatal(err)
		}
	}
	// The deadlines are safeguards, not timings: a CRD goes only after its objects, and on a
	// loaded 2-core machine that took over 90 s once. Waiting on the CRDs first keeps the doctor
	// (many requests a run) from adding to the load while they go.
	start := time.Now()
	crdsGone := wait.Until(5*time.Minute, func() bool {
		list := &unstructured.UnstructuredList{}
		list.SetAPIVersion("apiextensions.k8s.io/v1")
		list.SetKind("CustomResourceDefinitionList")
		if err := k8s.List(ctx, list); err != nil {
			t.Fatal(err)
		}
		for _, crd := range list.Items {
			if g, _, _ := unstructured.NestedString(crd.Object, "spec", "group"); g == "wgpolicyk8s.io" || g == "openreports.io" {
				return false
			}
		}
		return true
	})
	if !crdsGone {
		t.Fatalf("the report CRDs are still there after %s", time.Since(start).Round(time.Second))
	}
	t.Logf("report CRDs gone after %s", time.Since(start).Round(time.Millisecond))
	gone := wait.Until(time.Minute, func() bool {
		out, _, _ := herald(t, ctx, "doctor-admin", "doctor", "-o", "json")
		return strings.Contains(out, "no report API is installed")
	})
	if !gone {
		t.Fatal("the report APIs are still served after their CRDs went")
	}
}

// renew sets the Lease's renewTime, as its holder does.
func renew(t *testing.T, ctx context.Context, k8s client.Client, lease *coordinationv1.Lease, at time.Time) {
	t.Helper()
	lease.Spec.RenewTime = &metav1.MicroTime{Time: at}
	if err := k8s.Update(ctx, lease); err != nil {
		t.Fatal(err)
	}
}

func mustCreate(t *testing.T, ctx context.Context, k8s client.Client, o client.Object) {
	t.Helper()
	if err := k8s.Create(ctx, o); err != nil {
		t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
	}
}

// TestDoctorUnreachable: a cluster that does not answer is an error naming the context and the
// server, not a list of failed checks.
func TestDoctorUnreachable(t *testing.T) {
	addr := unreachableContext(t, "doctor-gone")
	out, _, err := herald(t, context.Background(), "doctor-gone", "doctor")
	if err == nil || !strings.Contains(err.Error(), `cannot reach the cluster of context "envtest" at https://`+addr) || out != "" {
		t.Errorf("err = %v, out %q; want it to name the context and the server, and no checks", err, out)
	}
}
