package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/kube"
	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// A real helm install, upgrade and uninstall of the chart into an envtest control plane, through
// Helm's action package as the helm CLI does: the objects arrive, change with values, and go
// again, the CRDs staying as Helm leaves them; in between the operator, run as the Deployment
// says and as its ServiceAccount, delivers a result.
func TestInstallUpgradeUninstall(t *testing.T) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run KUBEBUILDER_ASSETS=$(hack/control-plane.sh) go test")
	}
	// The report CRDs (hack/crds), which the operator watches.
	env := &envtest.Environment{CRDDirectoryPaths: []string{"../crds", "../crds/kyverno"}, ErrorIfCRDPathMissing: true}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	ch := load(t)
	actions := helmConfig(t, kubeconfigOf(t, env, cfg, "helm", "system:masters"))

	in := action.NewInstall(actions)
	in.ReleaseName, in.Namespace, in.CreateNamespace = chartName, namespace, true
	in.WaitStrategy, in.Timeout = kube.HookOnlyStrategy, time.Minute // no kubelet runs the Pods
	if _, err := in.RunWithContext(ctx, ch, nil); err != nil {
		t.Fatalf("install: %v", err)
	}
	var d appsv1.Deployment
	key := client.ObjectKey{Namespace: namespace, Name: deploymentName}
	if err := c.Get(ctx, key, &d); err != nil {
		t.Fatalf("after install: %v", err)
	}
	if got := d.Spec.Template.Spec.Containers[0].Image; got != "policy-herald:dev" || *d.Spec.Replicas != 1 {
		t.Errorf("installed %s with %d replicas, want config/default's policy-herald:dev and 1", got, *d.Spec.Replicas)
	}
	var crb rbacv1.ClusterRoleBinding
	if err := c.Get(ctx, client.ObjectKey{Name: "policy-herald-manager-rolebinding"}, &crb); err != nil {
		t.Fatal(err)
	}
	if s := crb.Subjects[0]; s.Namespace != namespace || s.Name != deploymentName {
		t.Errorf("the manager's ClusterRoleBinding binds %s/%s", s.Namespace, s.Name)
	}
	if n := len(ch.CRDObjects()); n != 5 {
		t.Errorf("the chart has %d CRDs, want 5", n)
	}
	for _, crd := range ch.CRDObjects() {
		if err := c.Get(ctx, client.ObjectKey{Name: strings.TrimSuffix(filepath.Base(crd.Filename), ".yaml")}, crdObject()); err != nil {
			t.Errorf("CRD from %s: %v", crd.Filename, err)
		}
	}

	// The operator as installed delivers a result as its ServiceAccount.
	runInstalledOperator(t, env, cfg, &d)

	up := action.NewUpgrade(actions)
	up.Namespace, up.WaitStrategy, up.Timeout = namespace, kube.HookOnlyStrategy, time.Minute
	if _, err := up.RunWithContext(ctx, chartName, ch, map[string]any{
		"replicas":           2,
		"image":              map[string]any{"tag": "v0.2.0"},
		"tenantBlockedCIDRs": []any{"10.96.0.0/12"},
	}); err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	if err := c.Get(ctx, key, &d); err != nil {
		t.Fatal(err)
	}
	if got := d.Spec.Template.Spec.Containers[0]; *d.Spec.Replicas != 2 || got.Image != "policy-herald:v0.2.0" ||
		!slices.Contains(got.Args, "--tenant-blocked-cidrs=10.96.0.0/12") {
		t.Errorf("after upgrade: %d replicas, image %s, args %v", *d.Spec.Replicas, got.Image, got.Args)
	}

	un := action.NewUninstall(actions)
	un.WaitStrategy, un.Timeout = kube.HookOnlyStrategy, time.Minute
	if _, err := un.Run(chartName); err != nil {
		t.Fatalf("uninstall: %v", err)
	}
	if err := c.Get(ctx, key, &d); !apierrors.IsNotFound(err) {
		t.Errorf("the Deployment after uninstall: %v", err)
	}
	if err := c.Get(ctx, client.ObjectKey{Name: "policy-herald-manager-rolebinding"}, &crb); !apierrors.IsNotFound(err) {
		t.Errorf("the ClusterRoleBinding after uninstall: %v", err)
	}
	// Helm never deletes CRDs, so teams' objects survive an uninstall.
	if err := c.Get(ctx, client.ObjectKey{Name: "notificationtargets.reporting.policyherald.io"}, crdObject()); err != nil {
		t.Errorf("the CRDs after uninstall: %v", err)
	}
}

func crdObject() *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: crdKind})
	return u
}

// helmConfig is Helm's action configuration for the cluster of the kubeconfig file at path, its
// releases stored as Secrets: as the CLI does.
func helmConfig(t *testing.T, path string) *action.Configuration {
	t.Helper()
	flags := genericclioptions.NewConfigFlags(false)
	flags.KubeConfig = &path
	ns := namespace
	flags.Namespace = &ns
	actions := action.NewConfiguration()
	if err := actions.Init(flags, namespace, "secret"); err != nil {
		t.Fatal(err)
	}
	return actions
}
