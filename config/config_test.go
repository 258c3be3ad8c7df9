// Package config_test builds the kustomizations under config/ the way `kubectl apply -k` does and
// checks what comes out, so a broken or drifting manifest fails `go test` rather than an install.
package config_test

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
)

const (
	namespace   = "policy-herald-system"
	prefix      = "policy-herald-"
	group       = "reporting.policyherald.io"
	deployment  = prefix + "controller-manager"
	serviceAcct = prefix + "controller-manager"
)

// kinds are the Policy Herald kinds with their plural resource names.
var kinds = map[string]string{
	"NotificationTarget":  "notificationtargets",
	"TargetChannel":       "targetchannels",
	"EmailReportSchedule": "emailreportschedules",
	"MetricsProfile":      "metricsprofiles",
	"BlockReportPolicy":   "blockreportpolicies",
}

// object is one built resource: its identity and its content.
type object struct {
	apiVersion, kind, name, namespace string
	content                           map[string]any
}

func (o object) String() string { return o.kind + " " + o.namespace + "/" + o.name }

// build runs kustomize on dir (relative to config/) in fsys.
func build(t *testing.T, fsys filesys.FileSystem, dir string) []object {
	t.Helper()
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fsys, dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	return objectsOf(t, m)
}

// buildOnDisk runs kustomize on dir (relative to config/) as it is on disk.
func buildOnDisk(t *testing.T, dir string) []object {
	t.Helper()
	return build(t, filesys.MakeFsOnDisk(), dir)
}

func objectsOf(t *testing.T, m resmap.ResMap) []object {
	t.Helper()
	var out []object
	for _, r := range m.Resources() {
		content, err := r.Map()
		if err != nil {
			t.Fatalf("%s: %v", r.CurId(), err)
		}
		out = append(out, object{
			apiVersion: r.GetApiVersion(),
			kind:       r.GetKind(),
			name:       r.GetName(),
			namespace:  r.GetNamespace(),
			content:    content,
		})
	}
	if len(out) == 0 {
		t.Fatal("the build produced no objects")
	}
	return out
}

func ofKind(objs []object, kind string) []object {
	var out []object
	for _, o := range objs {
		if o.kind == kind {
			out = append(out, o)
		}
	}
	return out
}

// find returns the one object of kind and name, failing the test if there is not exactly one.
func find(t *testing.T, objs []object, kind, name string) object {
	t.Helper()
	var found []object
	for _, o := range ofKind(objs, kind) {
		if o.name == name {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want exactly one %s %q, found %d; objects: %v", kind, name, len(found), objs)
	}
	return found[0]
}

// decode converts o into a typed object, rejecting fields that the type does not have: a
// misspelt field would otherwise be silently dropped by the API server.
func decode(t *testing.T, o object, into any) {
	t.Helper()
	b, err := json.Marshal(o.content)
	if err != nil {
		t.Fatalf("%s: %v", o, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		t.Fatalf("%s does not decode strictly into %T: %v", o, into, err)
	}
}

func TestCRDs(t *testing.T) {
	crds := ofKind(buildOnDisk(t, "crd"), "CustomResourceDefinition")
	checkCRDs(t, crds)

	// Every generated base is installed: a new kind must be added to crd/kustomization.yaml.
	files, err := filepath.Glob(filepath.Join("crd", "bases", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(crds) {
		t.Errorf("crd/bases holds %d files but crd/kustomization.yaml installs %d CRDs", len(files), len(crds))
	}
}

// checkCRDs checks that crds are exactly the Policy Herald kinds, each with the policyherald
// category (`kubectl get policyherald`) and a short name.
func checkCRDs(t *testing.T, crds []object) {
	t.Helper()
	var got, want []string
	for _, plural := range kinds {
		want = append(want, plural+"."+group)
	}
	for _, crd := range crds {
		got = append(got, crd.name)
		kind, _, _ := unstructured.NestedString(crd.content, "spec", "names", "kind")
		if plural, ok := kinds[kind]; !ok || crd.name != plural+"."+group {
			t.Errorf("CRD %s has kind %q, which is not a Policy Herald kind with that name", crd.name, kind)
		}
		if g, _, _ := unstructured.NestedString(crd.content, "spec", "group"); g != group {
			t.Errorf("CRD %s has group %q, want %q", crd.name, g, group)
		}
		if scope, _, _ := unstructured.NestedString(crd.content, "spec", "scope"); scope != "Namespaced" {
			t.Errorf("CRD %s has scope %q, want Namespaced", crd.name, scope)
		}
		categories, _, _ := unstructured.NestedStringSlice(crd.content, "spec", "names", "categories")
		if !slices.Contains(categories, "policyherald") {
			t.Errorf("CRD %s has categories %v, want policyherald among them", crd.name, categories)
		}
		shortNames, _, _ := unstructured.NestedStringSlice(crd.content, "spec", "names", "shortNames")
		if len(shortNames) == 0 || shortNames[0] == "" {
			t.Errorf("CRD %s has no short name", crd.name)
		}
	}
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("CRDs = %v, want exactly %v", got, want)
	}
}

func TestDefault(t *testing.T) {
	objs := buildOnDisk(t, "default")

	checkCRDs(t, ofKind(objs, "CustomResourceDefinition"))

	find(t, objs, "Namespace", namespace)
	for _, o := range objs {
		if o.kind == "ServiceMonitor" || o.kind == "PrometheusRule" {
			t.Errorf("%s is installed by default, but the monitoring.coreos.com CRDs may be absent: keep ../prometheus optional", o)
		}
		if l, _, _ := unstructured.NestedString(o.content, "metadata", "labels", "app.kubernetes.io/name"); l != "policy-herald" {
			t.Errorf("%s lacks the label app.kubernetes.io/name=policy-herald", o)
		}
		switch o.kind {
		case "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "Namespace":
			if o.namespace != "" {
				t.Errorf("cluster-scoped %s has a namespace", o)
			}
		default:
			if o.namespace != namespace {
				t.Errorf("%s is not in namespace %s", o, namespace)
			}
		}
		if o.kind != "CustomResourceDefinition" && o.kind != "Namespace" && !strings.HasPrefix(o.name, prefix) {
			t.Errorf("%s lacks the name prefix %s", o, prefix)
		}
	}

	sa := find(t, objs, "ServiceAccount", serviceAcct)
	if sa.namespace != namespace {
		t.Errorf("%s is not in namespace %s", sa, namespace)
	}

	var dep appsv1.Deployment
	decode(t, find(t, objs, "Deployment", deployment), &dep)
	checkDeployment(t, &dep)

	find(t, objs, "ClusterRole", prefix+"manager-role")
	var crb rbacv1.ClusterRoleBinding
	decode(t, find(t, objs, "ClusterRoleBinding", prefix+"manager-rolebinding"), &crb)
	checkBinding(t, crb.Name, crb.RoleRef, crb.Subjects, "ClusterRole", prefix+"manager-role")

	var role rbacv1.Role
	decode(t, find(t, objs, "Role", prefix+"leader-election-role"), &role)
	if !allows(role.Rules, "coordination.k8s.io", "leases", "get", "list", "watch", "create", "update", "patch", "delete") {
		t.Errorf("Role %s does not allow managing the leader election Lease: %+v", role.Name, role.Rules)
	}
	if !allows(role.Rules, "events.k8s.io", "events", "create", "patch") {
		t.Errorf("Role %s does not allow recording events: %+v", role.Name, role.Rules)
	}
	var rb rbacv1.RoleBinding
	decode(t, find(t, objs, "RoleBinding", prefix+"leader-election-rolebinding"), &rb)
	checkBinding(t, rb.Name, rb.RoleRef, rb.Subjects, "Role", prefix+"leader-election-role")

	// The CronJobs and Jobs of e-mail reports, and Pods, only in the operator's namespace.
	var nsRole rbacv1.Role
	decode(t, find(t, objs, "Role", prefix+"manager-role"), &nsRole)
	if nsRole.Namespace != namespace || !allows(nsRole.Rules, "batch", "cronjobs", "get", "list", "watch", "create", "update", "patch", "delete") ||
		!allows(nsRole.Rules, "batch", "jobs", "get", "list", "watch", "create", "update", "patch", "delete") ||
		!allows(nsRole.Rules, "", "pods", "get", "list") || allows(nsRole.Rules, "", "pods", "create") {
		t.Errorf("Role %s/%s does not manage CronJobs and Jobs and read Pods (only): %+v", nsRole.Namespace, nsRole.Name, nsRole.Rules)
	}
	var nsrb rbacv1.RoleBinding
	decode(t, find(t, objs, "RoleBinding", prefix+"manager-namespace-rolebinding"), &nsrb)
	checkBinding(t, nsrb.Name, nsrb.RoleRef, nsrb.Subjects, "Role", prefix+"manager-role")
	for _, r := range ofKind(objs, "ClusterRole") {
		var cr rbacv1.ClusterRole
		decode(t, r, &cr)
		// Cluster-wide, only get of Pods, ReplicaSets and Jobs: the owner lookups of
		// controlledResources (internal/owners), one object at a time; never a list or watch,
		// never a write.
		if allows(cr.Rules, "batch", "cronjobs", "create") || allows(cr.Rules, "batch", "jobs", "create") ||
			allows(cr.Rules, "", "pods", "list") || allows(cr.Rules, "", "pods", "watch") || allows(cr.Rules, "batch", "jobs", "list") ||
			allows(cr.Rules, "apps", "replicasets", "list") || allows(cr.Rules, "", "pods", "create") {
			t.Errorf("ClusterRole %s grants CronJobs, Jobs or Pods in every namespace beyond get", cr.Name)
		}
	}

	// The e-mail report Jobs' identity: reads exactly what `policy-herald email-report` needs.
	find(t, objs, "ServiceAccount", prefix+"email-reporter")
	var reporter rbacv1.ClusterRole
	decode(t, find(t, objs, "ClusterRole", prefix+"email-reporter-role"), &reporter)
	wantReporter := []rbacv1.PolicyRule{
		{APIGroups: []string{group}, Resources: []string{"emailreportschedules"}, Verbs: []string{"get"}},
		{APIGroups: []string{""}, Resources: []string{"secrets", "namespaces"}, Verbs: []string{"get"}},
		{APIGroups: []string{"wgpolicyk8s.io"}, Resources: []string{"policyreports", "clusterpolicyreports"}, Verbs: []string{"list"}},
		{APIGroups: []string{"openreports.io"}, Resources: []string{"reports", "clusterreports"}, Verbs: []string{"list"}},
		{APIGroups: []string{"apiextensions.k8s.io"}, Resources: []string{"customresourcedefinitions"}, Verbs: []string{"get"}},
	}
	if !equality.Semantic.DeepEqual(reporter.Rules, wantReporter) {
		t.Errorf("ClusterRole %s has rules %+v, want %+v", reporter.Name, reporter.Rules, wantReporter)
	}
	var rcrb rbacv1.ClusterRoleBinding
	decode(t, find(t, objs, "ClusterRoleBinding", prefix+"email-reporter-rolebinding"), &rcrb)
	wantSubject := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: prefix + "email-reporter", Namespace: namespace}
	if rcrb.RoleRef.Name != reporter.Name || rcrb.RoleRef.Kind != "ClusterRole" || len(rcrb.Subjects) != 1 || rcrb.Subjects[0] != wantSubject {
		t.Errorf("ClusterRoleBinding %s binds %s %s to %+v, want ClusterRole %s to %+v", rcrb.Name, rcrb.RoleRef.Kind, rcrb.RoleRef.Name, rcrb.Subjects, reporter.Name, wantSubject)
	}

	// The secure metrics endpoint reviews callers' tokens with the operator's own identity.
	find(t, objs, "ClusterRole", prefix+"metrics-auth-role")
	var mcrb rbacv1.ClusterRoleBinding
	decode(t, find(t, objs, "ClusterRoleBinding", prefix+"metrics-auth-rolebinding"), &mcrb)
	checkBinding(t, mcrb.Name, mcrb.RoleRef, mcrb.Subjects, "ClusterRole", prefix+"metrics-auth-role")
	find(t, objs, "ClusterRole", prefix+"metrics-reader")
	find(t, objs, "ClusterRole", prefix+"editor-role")
	find(t, objs, "ClusterRole", prefix+"viewer-role")
	find(t, objs, "ClusterRole", prefix+"blockreportpolicy-editor-role")

	// The metrics endpoint is reachable through a Service, without the optional ServiceMonitor.
	var svc corev1.Service
	decode(t, find(t, objs, "Service", prefix+"controller-manager-metrics-service"), &svc)
	checkServiceSelectsPods(t, &svc, &dep)
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "https" || svc.Spec.Ports[0].Port != 8443 {
		t.Errorf("metrics Service ports = %+v, want only https 8443", svc.Spec.Ports)
	}
	if len(ofKind(objs, "NetworkPolicy")) != 0 {
		t.Error("a NetworkPolicy is installed by default; it is optional (../network-policy)")
	}
}

func checkDeployment(t *testing.T, dep *appsv1.Deployment) {
	t.Helper()
	if dep.Namespace != namespace {
		t.Errorf("Deployment is in namespace %q, want %q", dep.Namespace, namespace)
	}
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 1 {
		t.Errorf("Deployment replicas = %v, want 1", dep.Spec.Replicas)
	}
	pod := dep.Spec.Template
	if pod.Labels["control-plane"] != "controller-manager" {
		t.Errorf("pod labels %v lack control-plane=controller-manager (the metrics Service selects it)", pod.Labels)
	}
	sel, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
	if err != nil || sel.Empty() || !sel.Matches(labels.Set(pod.Labels)) {
		t.Errorf("Deployment selector %v does not match its pod labels %v (%v)", dep.Spec.Selector, pod.Labels, err)
	}
	if pod.Spec.ServiceAccountName != serviceAcct {
		t.Errorf("serviceAccountName = %q, want %q", pod.Spec.ServiceAccountName, serviceAcct)
	}
	psc := pod.Spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Error("pod securityContext.runAsNonRoot is not true")
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("pod securityContext.seccompProfile is not RuntimeDefault")
	}
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("pod has %d containers, want 1", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]
	if c.Name != "manager" {
		t.Errorf("container is named %q, want manager", c.Name)
	}
	if c.Image != "policy-herald:dev" {
		t.Errorf("image = %q, want policy-herald:dev (set by config/manager's images)", c.Image)
	}
	if !slices.Equal(c.Command, []string{"/policy-herald"}) {
		t.Errorf("command = %v, want [/policy-herald]", c.Command)
	}
	for _, arg := range []string{"--leader-elect", "--health-probe-bind-address=:8081", "--metrics-bind-address=:8443",
		"--platform-namespace=$(POD_NAMESPACE)"} {
		if !slices.Contains(c.Args, arg) {
			t.Errorf("args %v lack %s", c.Args, arg)
		}
	}
	// Metrics are served over HTTPS with authentication, which is main.go's default; turning it
	// off here would expose them unauthenticated.
	for _, arg := range c.Args {
		if strings.HasPrefix(arg, "--metrics-secure") && arg != "--metrics-secure" && arg != "--metrics-secure=true" {
			t.Errorf("args %v turn off secure metrics serving", c.Args)
		}
	}
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("container securityContext.readOnlyRootFilesystem is not true")
	}
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("container securityContext.allowPrivilegeEscalation is not false")
	}
	if sc == nil || sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Error("container does not drop ALL capabilities")
	}
	if sc != nil && sc.RunAsNonRoot != nil && !*sc.RunAsNonRoot {
		t.Error("container securityContext overrides runAsNonRoot with false")
	}
	for name, p := range map[string]*corev1.Probe{"/healthz": c.LivenessProbe, "/readyz": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != name || p.HTTPGet.Port.IntValue() != 8081 {
			t.Errorf("no probe on %s at port 8081: %+v", name, p)
		}
	}
	if !hasPort(c, "https", 8443) {
		t.Errorf("container has no port 8443 named https: %+v", c.Ports)
	}
	var podNS, podName, memLimit bool
	for _, e := range c.Env {
		podNS = podNS || (e.Name == "POD_NAMESPACE" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil &&
			e.ValueFrom.FieldRef.FieldPath == "metadata.namespace")
		// The operator reads its own Pod for the image of the e-mail report Jobs.
		podName = podName || (e.Name == "POD_NAME" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil &&
			e.ValueFrom.FieldRef.FieldPath == "metadata.name")
		memLimit = memLimit || (e.Name == "GOMEMLIMIT" && e.ValueFrom != nil && e.ValueFrom.ResourceFieldRef != nil &&
			e.ValueFrom.ResourceFieldRef.Resource == "limits.memory" && e.ValueFrom.ResourceFieldRef.ContainerName == c.Name &&
			(e.ValueFrom.ResourceFieldRef.Divisor.IsZero() || e.ValueFrom.ResourceFieldRef.Divisor.Value() == 1))
	}
	if !podNS {
		t.Error("env lacks POD_NAMESPACE from metadata.namespace")
	}
	if !podName {
		t.Error("env lacks POD_NAME from metadata.name")
	}
	// GOMEMLIMIT reads a plain number as bytes, so the divisor must stay 1.
	if !memLimit {
		t.Error("env lacks GOMEMLIMIT from this container's limits.memory, in bytes")
	}
	if c.Resources.Requests.Cpu().String() != "10m" || c.Resources.Requests.Memory().String() != "64Mi" ||
		c.Resources.Limits.Cpu().String() != "500m" || c.Resources.Limits.Memory().String() != "256Mi" {
		t.Errorf("resources = %+v, want requests 10m/64Mi and limits 500m/256Mi", c.Resources)
	}
}

func hasPort(c corev1.Container, name string, port int32) bool {
	for _, p := range c.Ports {
		if p.Name == name && p.ContainerPort == port {
			return true
		}
	}
	return false
}

// checkBinding checks that a binding grants roleKind roleName to the operator's ServiceAccount,
// with the names the default kustomization gives them.
func checkBinding(t *testing.T, name string, ref rbacv1.RoleRef, subjects []rbacv1.Subject, roleKind, roleName string) {
	t.Helper()
	if ref.Kind != roleKind || ref.Name != roleName || ref.APIGroup != rbacv1.GroupName {
		t.Errorf("%s refers to %s %q, want %s %q", name, ref.Kind, ref.Name, roleKind, roleName)
	}
	want := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: serviceAcct, Namespace: namespace}
	if len(subjects) != 1 || subjects[0] != want {
		t.Errorf("%s binds %+v, want only %+v", name, subjects, want)
	}
}

// allows tells whether rules grant all verbs on resource of apiGroup.
func allows(rules []rbacv1.PolicyRule, apiGroup, resource string, verbs ...string) bool {
	for _, verb := range verbs {
		ok := false
		for _, r := range rules {
			if slices.Contains(r.APIGroups, apiGroup) && slices.Contains(r.Resources, resource) &&
				(slices.Contains(r.Verbs, verb) || slices.Contains(r.Verbs, "*")) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func TestRBAC(t *testing.T) {
	objs := buildOnDisk(t, "rbac")

	find(t, objs, "ServiceAccount", "controller-manager")
	find(t, objs, "ClusterRole", "manager-role")

	var metricsAuth, metricsReader rbacv1.ClusterRole
	decode(t, find(t, objs, "ClusterRole", "metrics-auth-role"), &metricsAuth)
	if !allows(metricsAuth.Rules, "authentication.k8s.io", "tokenreviews", "create") {
		t.Errorf("ClusterRole %s does not allow creating TokenReviews: %+v", metricsAuth.Name, metricsAuth.Rules)
	}
	if !allows(metricsAuth.Rules, "authorization.k8s.io", "subjectaccessreviews", "create") {
		t.Errorf("ClusterRole %s does not allow creating SubjectAccessReviews: %+v", metricsAuth.Name, metricsAuth.Rules)
	}
	var mrb rbacv1.ClusterRoleBinding
	decode(t, find(t, objs, "ClusterRoleBinding", "metrics-auth-rolebinding"), &mrb)
	if mrb.RoleRef.Kind != "ClusterRole" || mrb.RoleRef.Name != metricsAuth.Name {
		t.Errorf("ClusterRoleBinding %s refers to %s %q, want ClusterRole %s", mrb.Name, mrb.RoleRef.Kind, mrb.RoleRef.Name, metricsAuth.Name)
	}
	sa := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: "controller-manager", Namespace: "system"}
	if len(mrb.Subjects) != 1 || mrb.Subjects[0] != sa {
		t.Errorf("ClusterRoleBinding %s binds %+v, want only %+v", mrb.Name, mrb.Subjects, sa)
	}
	decode(t, find(t, objs, "ClusterRole", "metrics-reader"), &metricsReader)
	want := []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}
	if !equality.Semantic.DeepEqual(metricsReader.Rules, want) {
		t.Errorf("ClusterRole %s has rules %+v, want only GET on /metrics", metricsReader.Name, metricsReader.Rules)
	}

	var editor, viewer rbacv1.ClusterRole
	decode(t, find(t, objs, "ClusterRole", "editor-role"), &editor)
	decode(t, find(t, objs, "ClusterRole", "viewer-role"), &viewer)
	for _, l := range []string{"rbac.authorization.k8s.io/aggregate-to-edit", "rbac.authorization.k8s.io/aggregate-to-admin"} {
		if editor.Labels[l] != "true" {
			t.Errorf("ClusterRole %s lacks label %s=true", editor.Name, l)
		}
	}
	if viewer.Labels["rbac.authorization.k8s.io/aggregate-to-view"] != "true" {
		t.Errorf("ClusterRole %s lacks label rbac.authorization.k8s.io/aggregate-to-view=true", viewer.Name)
	}
	var brpEditor rbacv1.ClusterRole
	decode(t, find(t, objs, "ClusterRole", "blockreportpolicy-editor-role"), &brpEditor)
	for l := range brpEditor.Labels {
		if strings.HasPrefix(l, "rbac.authorization.k8s.io/aggregate-to-") {
			t.Errorf("ClusterRole %s is aggregated (%s), but BlockReportPolicies are the platform team's", brpEditor.Name, l)
		}
	}
	if !allows(brpEditor.Rules, group, "blockreportpolicies", "create", "update", "patch", "delete", "get", "list", "watch") {
		t.Errorf("ClusterRole %s does not let the platform team manage blockreportpolicies", brpEditor.Name)
	}
	for kind, plural := range kinds {
		// BlockReportPolicies are the platform team's: namespace editors may read, not write them.
		if kind == "BlockReportPolicy" {
			for _, verb := range []string{"create", "update", "patch", "delete"} {
				if allows(editor.Rules, group, plural, verb) {
					t.Errorf("ClusterRole %s lets namespace editors %s %s", editor.Name, verb, plural)
				}
			}
		} else if !allows(editor.Rules, group, plural, "create", "update", "patch", "delete", "get", "list", "watch") {
			t.Errorf("ClusterRole %s does not let editors manage %s", editor.Name, plural)
		}
		if allows(editor.Rules, group, plural+"/status", "update") || allows(editor.Rules, group, plural+"/status", "patch") {
			t.Errorf("ClusterRole %s lets editors write %s/status, which only the operator may", editor.Name, plural)
		}
		for _, res := range []string{plural, plural + "/status"} {
			if !allows(viewer.Rules, group, res, "get", "list", "watch") {
				t.Errorf("ClusterRole %s does not let viewers read %s", viewer.Name, res)
			}
			for _, verb := range []string{"create", "update", "patch", "delete"} {
				if allows(viewer.Rules, group, res, verb) {
					t.Errorf("ClusterRole %s lets viewers %s %s", viewer.Name, verb, res)
				}
			}
		}
	}
}

func TestSamples(t *testing.T) {
	objs := buildOnDisk(t, "samples")

	counts := map[string]int{}
	secrets := map[string]bool{}
	targets := map[string]*v1alpha1.NotificationTarget{}
	for _, o := range objs {
		if o.namespace != namespace {
			t.Errorf("sample %s is not in namespace %s", o, namespace)
		}
		counts[o.kind]++
		if _, ok := kinds[o.kind]; ok && o.apiVersion != v1alpha1.GroupVersion.String() {
			t.Errorf("sample %s has apiVersion %q, want %q", o, o.apiVersion, v1alpha1.GroupVersion)
		}
		// Every sample must decode strictly into its Go type, so field names match the json tags.
		switch o.kind {
		case "Secret":
			var s corev1.Secret
			decode(t, o, &s)
			secrets[s.Name] = true
		case "NotificationTarget":
			var nt v1alpha1.NotificationTarget
			decode(t, o, &nt)
			if nt.Spec.DestinationType() == "" {
				t.Errorf("NotificationTarget %s sets no destination", nt.Name)
			}
			targets[nt.Name] = &nt
		case "TargetChannel":
			decode(t, o, &v1alpha1.TargetChannel{})
		case "EmailReportSchedule":
			decode(t, o, &v1alpha1.EmailReportSchedule{})
		case "MetricsProfile":
			decode(t, o, &v1alpha1.MetricsProfile{})
		case "BlockReportPolicy":
			decode(t, o, &v1alpha1.BlockReportPolicy{})
		default:
			t.Errorf("unexpected sample %s", o)
		}
	}
	for kind := range kinds {
		if counts[kind] == 0 {
			t.Errorf("no sample of kind %s", kind)
		}
	}

	// References between the samples resolve, so applying them makes every object Ready.
	for _, nt := range targets {
		if nt.Spec.SecretRef != nil && !secrets[nt.Spec.SecretRef.Name] {
			t.Errorf("NotificationTarget %s refers to Secret %q, which is not among the samples", nt.Name, nt.Spec.SecretRef.Name)
		}
	}
	for _, o := range ofKind(objs, "TargetChannel") {
		var c v1alpha1.TargetChannel
		decode(t, o, &c)
		target, ok := targets[c.Spec.TargetRef.Name]
		if !ok || c.TargetNamespace() != target.Namespace {
			t.Errorf("TargetChannel %s refers to NotificationTarget %s/%s, which is not among the samples",
				c.Name, c.TargetNamespace(), c.Spec.TargetRef.Name)
			continue
		}
		if ct := c.Spec.DestinationType(); ct != "" && ct != target.Spec.DestinationType() {
			t.Errorf("TargetChannel %s overrides %s fields, but its target delivers to %s", c.Name, ct, target.Spec.DestinationType())
		}
		if c.Spec.SecretRef != nil && !secrets[c.Spec.SecretRef.Name] {
			t.Errorf("TargetChannel %s refers to Secret %q, which is not among the samples", c.Name, c.Spec.SecretRef.Name)
		}
	}
}

func TestPrometheus(t *testing.T) {
	monitors := ofKind(buildOnDisk(t, "prometheus"), "ServiceMonitor")
	if len(monitors) != 1 || monitors[0].apiVersion != "monitoring.coreos.com/v1" {
		t.Fatalf("want one monitoring.coreos.com/v1 ServiceMonitor, got %v", monitors)
	}
	// It scrapes the metrics Service that config/default installs.
	var svc corev1.Service
	decode(t, find(t, buildOnDisk(t, "default"), "Service", prefix+"controller-manager-metrics-service"), &svc)
	checkMonitorSelects(t, monitors[0], &svc)
}

func checkMonitorSelects(t *testing.T, monitor object, svc *corev1.Service) {
	t.Helper()
	match, _, _ := unstructured.NestedStringMap(monitor.content, "spec", "selector", "matchLabels")
	if len(match) == 0 || !labels.SelectorFromSet(match).Matches(labels.Set(svc.Labels)) {
		t.Errorf("ServiceMonitor selector %v does not select the Service's labels %v", match, svc.Labels)
	}
	endpoints, _, _ := unstructured.NestedSlice(monitor.content, "spec", "endpoints")
	if len(endpoints) != 1 {
		t.Fatalf("ServiceMonitor has %d endpoints, want 1", len(endpoints))
	}
	ep := endpoints[0].(map[string]any)
	// Series keep their own namespace label (the destination's), not the target's.
	if honor, _, _ := unstructured.NestedBool(ep, "honorLabels"); !honor {
		t.Error("ServiceMonitor does not honor labels: the namespace label of destinations would become exported_namespace")
	}
	if port, _, _ := unstructured.NestedString(ep, "port"); port != "https" {
		t.Errorf("ServiceMonitor scrapes port %q, want https", port)
	}
	if scheme, _, _ := unstructured.NestedString(ep, "scheme"); scheme != "https" {
		t.Errorf("ServiceMonitor scrapes with scheme %q, want https", scheme)
	}
	// The operator answers only requests with a bearer token the API server accepts.
	if f, _, _ := unstructured.NestedString(ep, "bearerTokenFile"); f != "/var/run/secrets/kubernetes.io/serviceaccount/token" {
		t.Errorf("ServiceMonitor bearerTokenFile = %q, want Prometheus's ServiceAccount token", f)
	}
	// The default certificate is self-signed, so nothing could verify it.
	if skip, _, _ := unstructured.NestedBool(ep, "tlsConfig", "insecureSkipVerify"); !skip {
		t.Error("ServiceMonitor tlsConfig.insecureSkipVerify is not true, but the default metrics certificate is self-signed")
	}
}

func checkServiceSelectsPods(t *testing.T, svc *corev1.Service, dep *appsv1.Deployment) {
	t.Helper()
	if svc.Namespace != dep.Namespace {
		t.Errorf("Service is in namespace %q, the Deployment in %q", svc.Namespace, dep.Namespace)
	}
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(dep.Spec.Template.Labels)) {
		t.Errorf("Service selector %v does not select the pod labels %v", svc.Spec.Selector, dep.Spec.Template.Labels)
	}
	c := dep.Spec.Template.Spec.Containers[0]
	for _, p := range svc.Spec.Ports {
		exposed := false
		for _, cp := range c.Ports {
			switch p.TargetPort.Type {
			case intstr.String:
				exposed = exposed || cp.Name == p.TargetPort.StrVal
			default:
				// An unset targetPort means the Service port itself.
				exposed = exposed || cp.ContainerPort == p.TargetPort.IntVal || (p.TargetPort.IntVal == 0 && cp.ContainerPort == p.Port)
			}
		}
		if !exposed {
			t.Errorf("Service port %s targets %s, which container %s does not expose", p.Name, p.TargetPort.String(), c.Name)
		}
	}
}

// withOptional builds config/default with its commented-out resource lines enabled (in memory,
// the files on disk stay as they are; the JSON files are the dashboards config/grafana generates
// ConfigMaps of).
func withOptional(t *testing.T, lines ...string) []object {
	t.Helper()
	mem := filesys.MakeFsInMemory()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || (!strings.HasSuffix(path, ".yaml") && !strings.HasSuffix(path, ".json")) {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return mem.WriteFile(filepath.Join("/config", path), b)
	})
	if err != nil {
		t.Fatal(err)
	}
	kf := "/config/default/kustomization.yaml"
	b, err := mem.ReadFile(kf)
	if err != nil {
		t.Fatal(err)
	}
	enabled := string(b)
	for _, line := range lines {
		next := strings.Replace(enabled, "#- "+line, "- "+line, 1)
		if next == enabled {
			t.Fatalf("config/default/kustomization.yaml has no commented-out `#- %s` line to enable", line)
		}
		enabled = next
	}
	if err := mem.WriteFile(kf, []byte(enabled)); err != nil {
		t.Fatal(err)
	}
	return build(t, mem, "/config/default")
}

// The optional ServiceMonitor and NetworkPolicy land next to the Deployment with the default's
// namespace and prefix, and select what they must.
func TestDefaultWithOptionalParts(t *testing.T) {
	objs := withOptional(t, "../prometheus", "../network-policy")
	var svc corev1.Service
	decode(t, find(t, objs, "Service", prefix+"controller-manager-metrics-service"), &svc)
	var dep appsv1.Deployment
	decode(t, find(t, objs, "Deployment", deployment), &dep)
	checkServiceSelectsPods(t, &svc, &dep)
	monitor := find(t, objs, "ServiceMonitor", prefix+"controller-manager-metrics-monitor")
	if monitor.namespace != namespace {
		t.Errorf("%s is not in namespace %s", monitor, namespace)
	}
	checkMonitorSelects(t, monitor, &svc)
	if rule := find(t, objs, "PrometheusRule", prefix+"controller-manager-alerts"); rule.namespace != namespace {
		t.Errorf("%s is not in namespace %s", rule, namespace)
	}

	var np networkingv1.NetworkPolicy
	decode(t, find(t, objs, "NetworkPolicy", prefix+"allow-metrics-traffic"), &np)
	if np.Namespace != namespace {
		t.Errorf("NetworkPolicy %s is in namespace %q, want %q", np.Name, np.Namespace, namespace)
	}
	sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	if err != nil || sel.Empty() || !sel.Matches(labels.Set(dep.Spec.Template.Labels)) {
		t.Errorf("NetworkPolicy selects %v, not the operator's pods %v", np.Spec.PodSelector, dep.Spec.Template.Labels)
	}
	// Ingress only, and only to the metrics port: egress to destinations stays open.
	if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}) {
		t.Errorf("NetworkPolicy policyTypes = %v, want only Ingress", np.Spec.PolicyTypes)
	}
	if len(np.Spec.Ingress) != 1 || len(np.Spec.Ingress[0].Ports) != 1 || np.Spec.Ingress[0].Ports[0].Port.IntValue() != 8443 ||
		len(np.Spec.Ingress[0].From) != 1 || np.Spec.Ingress[0].From[0].NamespaceSelector == nil {
		t.Errorf("NetworkPolicy ingress = %+v, want port 8443 from a namespace selector", np.Spec.Ingress)
	}
}
