package config_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

const console = prefix + "console"

// consoleRules are all the console may do: read reports, namespaces, CRDs and Policy Herald's
// kinds, get Kyverno's policies (for their annotations), and review its callers.
var consoleRules = []rbacv1.PolicyRule{
	{APIGroups: []string{"wgpolicyk8s.io"}, Resources: []string{"policyreports", "clusterpolicyreports"}, Verbs: []string{"list", "watch"}},
	{APIGroups: []string{"openreports.io"}, Resources: []string{"reports", "clusterreports"}, Verbs: []string{"list", "watch"}},
	{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"list", "watch"}},
	{APIGroups: []string{"apiextensions.k8s.io"}, Resources: []string{"customresourcedefinitions"}, Verbs: []string{"list", "watch"}},
	{APIGroups: []string{group}, Resources: []string{"notificationtargets", "targetchannels", "emailreportschedules", "metricsprofiles",
		"blockreportpolicies"}, Verbs: []string{"get", "list", "watch"}},
	{APIGroups: []string{"kyverno.io"}, Resources: []string{"clusterpolicies", "policies"}, Verbs: []string{"get"}},
	{APIGroups: []string{"policies.kyverno.io"}, Resources: []string{"validatingpolicies", "namespacedvalidatingpolicies",
		"imagevalidatingpolicies", "namespacedimagevalidatingpolicies", "mutatingpolicies", "namespacedmutatingpolicies",
		"generatingpolicies", "namespacedgeneratingpolicies", "deletingpolicies", "namespaceddeletingpolicies"}, Verbs: []string{"get"}},
	{APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"tokenreviews"}, Verbs: []string{"create"}},
	{APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"subjectaccessreviews"}, Verbs: []string{"create"}},
}

// The console is optional: the default install has none of it.
func TestDefaultHasNoConsole(t *testing.T) {
	for _, o := range buildOnDisk(t, "default") {
		if o.name == console {
			t.Errorf("%s is installed by default; the console is optional (../console)", o)
		}
	}
}

// With its line enabled, config/default installs the console next to the operator, as
// restricted as the operator, with its own identity and exactly the permissions it needs.
func TestDefaultWithConsole(t *testing.T) {
	objs := withOptional(t, "../console")
	var dep, mgr appsv1.Deployment
	decode(t, find(t, objs, "Deployment", console), &dep)
	decode(t, find(t, objs, "Deployment", deployment), &mgr)
	checkConsoleDeployment(t, &dep, &mgr)

	var pdb policyv1.PodDisruptionBudget
	decode(t, find(t, objs, "PodDisruptionBudget", console), &pdb)
	if pdb.Namespace != namespace || pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 1 || pdb.Spec.MaxUnavailable != nil {
		t.Errorf("PodDisruptionBudget %s/%s: minAvailable %v, maxUnavailable %v; want minAvailable 1 in %s",
			pdb.Namespace, pdb.Name, pdb.Spec.MinAvailable, pdb.Spec.MaxUnavailable, namespace)
	}
	checkSelectsOnly(t, "PodDisruptionBudget", pdb.Spec.Selector, &dep, &mgr)

	var svc corev1.Service
	decode(t, find(t, objs, "Service", console), &svc)
	checkServiceSelectsPods(t, &svc, &dep)
	checkSelectsOnly(t, "Service", &metav1.LabelSelector{MatchLabels: svc.Spec.Selector}, &dep, &mgr)
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "http" || svc.Spec.Ports[0].TargetPort.String() != "http" {
		t.Errorf("console Service ports = %+v, want one named http to the container's http port", svc.Spec.Ports)
	}

	find(t, objs, "ServiceAccount", console)
	var role rbacv1.ClusterRole
	decode(t, find(t, objs, "ClusterRole", console), &role)
	if !equality.Semantic.DeepEqual(role.Rules, consoleRules) {
		t.Errorf("ClusterRole %s has rules %+v, want exactly %+v", role.Name, role.Rules, consoleRules)
	}
	checkConsoleBindings(t, objs)
	checkExamples(t, &svc)

	// Named, placed and labelled like the rest of the install.
	var n int
	for _, o := range objs {
		if o.name != console {
			continue
		}
		n++
		if l, _, _ := unstructured.NestedString(o.content, "metadata", "labels", "app.kubernetes.io/name"); l != "policy-herald" {
			t.Errorf("%s lacks the label app.kubernetes.io/name=policy-herald", o)
		}
		if cluster := o.kind == "ClusterRole" || o.kind == "ClusterRoleBinding"; cluster != (o.namespace == "") {
			t.Errorf("%s is in namespace %q", o, o.namespace)
		}
	}
	if n != 6 {
		t.Errorf("want 6 console objects (ServiceAccount, ClusterRole, ClusterRoleBinding, Deployment, PodDisruptionBudget, Service), got %d", n)
	}
}

// Next to an operator installed by OLM (README, With OLM): an overlay of config/console with the
// operator's namespace and the install's prefix binds the role to the renamed ServiceAccount.
func TestConsoleOverlay(t *testing.T) {
	mem := consoleInMemory(t)
	overlay := "resources:\n- ../console\nnamespace: operators\nnamePrefix: policy-herald-\n" +
		"images:\n- name: policy-herald\n  newName: quay.io/org/policy-herald\n  newTag: v0.2.0\n"
	if err := mem.WriteFile("/config/olm/kustomization.yaml", []byte(overlay)); err != nil {
		t.Fatal(err)
	}
	objs := build(t, mem, "/config/olm")
	var crb rbacv1.ClusterRoleBinding
	decode(t, find(t, objs, "ClusterRoleBinding", console), &crb)
	want := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: console, Namespace: "operators"}
	if crb.RoleRef.Name != console || len(crb.Subjects) != 1 || crb.Subjects[0] != want {
		t.Errorf("ClusterRoleBinding binds %s to %+v, want %s to %+v", crb.RoleRef.Name, crb.Subjects, console, want)
	}
	var dep appsv1.Deployment
	decode(t, find(t, objs, "Deployment", console), &dep)
	if c := dep.Spec.Template.Spec.Containers[0]; c.Image != "quay.io/org/policy-herald:v0.2.0" || dep.Namespace != "operators" ||
		dep.Spec.Template.Spec.ServiceAccountName != console {
		t.Errorf("Deployment %s/%s runs %s as %s", dep.Namespace, dep.Name, c.Image, dep.Spec.Template.Spec.ServiceAccountName)
	}
}

// consoleInMemory is an in-memory file system holding config/console's files at
// /config/console, for an overlay of the test's own next to them.
func consoleInMemory(t *testing.T) filesys.FileSystem {
	t.Helper()
	mem := filesys.MakeFsInMemory()
	files, err := filepath.Glob(filepath.Join("console", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("config/console: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := mem.WriteFile(filepath.Join("/config", f), b); err != nil {
			t.Fatal(err)
		}
	}
	return mem
}

func checkConsoleDeployment(t *testing.T, dep, mgr *appsv1.Deployment) {
	t.Helper()
	if dep.Namespace != namespace {
		t.Errorf("console Deployment is in namespace %q, want %q", dep.Namespace, namespace)
	}
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 2 {
		t.Errorf("console replicas = %v, want 2", dep.Spec.Replicas)
	}
	pod, mpod := dep.Spec.Template.Spec, mgr.Spec.Template.Spec
	if pod.ServiceAccountName != console {
		t.Errorf("console serviceAccountName = %q, want %q", pod.ServiceAccountName, console)
	}
	if !equality.Semantic.DeepEqual(pod.SecurityContext, mpod.SecurityContext) {
		t.Errorf("console pod securityContext %+v differs from the operator's %+v", pod.SecurityContext, mpod.SecurityContext)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("console pod has %d containers, want 1", len(pod.Containers))
	}
	c, m := pod.Containers[0], mpod.Containers[0]
	if !equality.Semantic.DeepEqual(c.SecurityContext, m.SecurityContext) {
		t.Errorf("console container securityContext %+v differs from the operator's %+v", c.SecurityContext, m.SecurityContext)
	}
	if c.Image != m.Image || !slices.Equal(c.Command, m.Command) {
		t.Errorf("console runs %s %v, want the operator's %s %v", c.Image, c.Command, m.Image, m.Command)
	}
	// Every replica serves with its own store: no leader election. It names the platform
	// namespace as the operator does, so "Delivered to" agrees with what the operator delivers.
	platform := platformNamespaceArg(t, m)
	want := []string{"console", "--bind-address=:8090", "--health-probe-bind-address=:8091", platform}
	if !slices.Equal(c.Args, want) {
		t.Errorf("console args = %v, want %v", c.Args, want)
	}
	if ce, me := envVar(c, "POD_NAMESPACE"), envVar(m, "POD_NAMESPACE"); me == nil || !equality.Semantic.DeepEqual(ce, me) {
		t.Errorf("console env POD_NAMESPACE = %+v, want the operator's %+v", ce, me)
	}
	for path, p := range map[string]*corev1.Probe{"/healthz": c.LivenessProbe, "/readyz": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path || p.HTTPGet.Port.IntValue() != 8091 {
			t.Errorf("console has no probe on %s at port 8091: %+v", path, p)
		}
	}
	if !hasPort(c, "http", 8090) || !hasPort(c, "health", 8091) {
		t.Errorf("console ports = %+v, want http 8090 and health 8091", c.Ports)
	}
	if !equality.Semantic.DeepEqual(c.Resources, m.Resources) {
		t.Errorf("console resources %+v differ from the operator's %+v", c.Resources, m.Resources)
	}
	if mem := envVar(c, "GOMEMLIMIT"); len(c.Env) != 2 || mem == nil || mem.ValueFrom == nil || mem.ValueFrom.ResourceFieldRef == nil ||
		mem.ValueFrom.ResourceFieldRef.ContainerName != c.Name || mem.ValueFrom.ResourceFieldRef.Resource != "limits.memory" ||
		mem.ValueFrom.ResourceFieldRef.Divisor.Value() != 1 {
		t.Errorf("console env = %+v, want only POD_NAMESPACE and GOMEMLIMIT from its limits.memory in bytes", c.Env)
	}
	spread := pod.TopologySpreadConstraints
	if len(spread) != 1 || spread[0].TopologyKey != corev1.LabelHostname || spread[0].WhenUnsatisfiable != corev1.ScheduleAnyway {
		t.Errorf("console topologySpreadConstraints = %+v, want a preferred spread across nodes", spread)
	} else {
		checkSelectsOnly(t, "topology spread", spread[0].LabelSelector, dep, mgr)
	}
	checkSelectsOnly(t, "Deployment", dep.Spec.Selector, dep, mgr)
}

// checkSelectsOnly checks that sel selects the console's pods and not the operator's.
func checkSelectsOnly(t *testing.T, what string, sel *metav1.LabelSelector, dep, mgr *appsv1.Deployment) {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil || s.Empty() || !s.Matches(labels.Set(dep.Spec.Template.Labels)) || s.Matches(labels.Set(mgr.Spec.Template.Labels)) {
		t.Errorf("%s selector %v does not select only the console's pods %v (operator's: %v, %v)", what, sel,
			dep.Spec.Template.Labels, mgr.Spec.Template.Labels, err)
	}
}

// checkConsoleBindings checks that the console's role goes to its ServiceAccount only, and
// that its ServiceAccount gets nothing else.
func checkConsoleBindings(t *testing.T, objs []object) {
	t.Helper()
	sa := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: console, Namespace: namespace}
	for _, o := range append(ofKind(objs, "ClusterRoleBinding"), ofKind(objs, "RoleBinding")...) {
		var b rbacv1.RoleBinding // same shape as a ClusterRoleBinding for these fields
		decode(t, o, &b)
		toConsole := b.RoleRef.Name == console
		if toConsole && (o.name != console || b.RoleRef.Kind != "ClusterRole" || len(b.Subjects) != 1 || b.Subjects[0] != sa) {
			t.Errorf("%s binds ClusterRole %s to %+v, want only %+v", o, console, b.Subjects, sa)
		}
		if !toConsole && slices.Contains(b.Subjects, sa) {
			t.Errorf("%s grants %s %s to the console", o, b.RoleRef.Kind, b.RoleRef.Name)
		}
	}
	find(t, objs, "ClusterRoleBinding", console)
}

// checkExamples checks that the example Ingress and HTTPRoute send traffic to the console's
// Service and port.
func checkExamples(t *testing.T, svc *corev1.Service) {
	t.Helper()
	var ing networkingv1.Ingress
	decode(t, readExample(t, "ingress.yaml"), &ing)
	for _, r := range ing.Spec.Rules {
		for _, p := range r.HTTP.Paths {
			b := p.Backend.Service
			if b == nil || b.Name != svc.Name || b.Port.Name != svc.Spec.Ports[0].Name || ing.Namespace != svc.Namespace {
				t.Errorf("example Ingress sends %s to %+v in %s, want Service %s/%s port %s", r.Host, b, ing.Namespace,
					svc.Namespace, svc.Name, svc.Spec.Ports[0].Name)
			}
		}
	}
	if len(ing.Spec.TLS) == 0 {
		t.Error("example Ingress has no TLS: callers send bearer tokens")
	}
	route := readExample(t, "httproute.yaml")
	if route.apiVersion != "gateway.networking.k8s.io/v1" || route.kind != "HTTPRoute" || route.namespace != svc.Namespace {
		t.Errorf("example HTTPRoute is %s %s in %s", route.apiVersion, route.kind, route.namespace)
	}
	// The fields of an HTTPRoute this test reads (the Gateway API types are not a dependency).
	var spec struct {
		Rules []struct {
			BackendRefs []struct {
				Name string `json:"name"`
				Port int32  `json:"port"`
			} `json:"backendRefs"`
		} `json:"rules"`
	}
	b, err := json.Marshal(route.content["spec"])
	if err != nil || json.Unmarshal(b, &spec) != nil || len(spec.Rules) == 0 {
		t.Fatalf("example HTTPRoute has no rules (%v)", err)
	}
	for _, r := range spec.Rules {
		for _, ref := range r.BackendRefs {
			if ref.Name != svc.Name || ref.Port != svc.Spec.Ports[0].Port {
				t.Errorf("example HTTPRoute sends to %s:%d, want %s:%d", ref.Name, ref.Port, svc.Name, svc.Spec.Ports[0].Port)
			}
		}
	}
}

func readExample(t *testing.T, name string) object {
	t.Helper()
	f, err := os.Open(filepath.Join("console", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := &unstructured.Unstructured{}
	if err := utilyaml.NewYAMLOrJSONDecoder(f, 4096).Decode(&u.Object); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return object{apiVersion: u.GetAPIVersion(), kind: u.GetKind(), name: u.GetName(), namespace: u.GetNamespace(), content: u.Object}
}

// platformNamespaceArg is the operator's --platform-namespace argument.
func platformNamespaceArg(t *testing.T, m corev1.Container) string {
	t.Helper()
	for _, a := range m.Args {
		if strings.HasPrefix(a, "--platform-namespace=") {
			return a
		}
	}
	t.Fatalf("the operator has no --platform-namespace argument: %v", m.Args)
	return ""
}

func envVar(c corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}
