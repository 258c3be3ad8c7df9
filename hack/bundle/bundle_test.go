package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/operator-framework/api/pkg/manifests"
	"github.com/operator-framework/api/pkg/validation"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/yaml"

	"github.com/policyherald/policy-herald/hack/internal/generated"
)

// The repository root, seen from this package's directory (go test runs in it).
const root = "../.."

var (
	committedBundle     = filepath.Join(root, "bundle")
	committedDockerfile = filepath.Join(root, "bundle.Dockerfile")
)

// makefileVersion is the VERSION `make bundle` passes to the generator.
func makefileVersion(t *testing.T) string {
	t.Helper()
	v, err := generated.MakefileVersion(root)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// readTree reads every file under dir, keyed by its slash-separated path relative to dir.
func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files, err := generated.ReadTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestBundleUpToDate generates the bundle as `make bundle` does, into a temporary directory, and
// compares it byte for byte with the committed bundle/ and bundle.Dockerfile.
func TestBundleUpToDate(t *testing.T) {
	tmp := t.TempDir()
	out := filepath.Join(tmp, "bundle")
	res, err := generate(options{version: makefileVersion(t), out: out, config: filepath.Join(root, "config")})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range res.skipped {
		t.Logf("not in the bundle: %s", s)
	}
	got, want := readTree(t, out), readTree(t, committedBundle)
	var stale []string
	for _, name := range sortedKeys(got) {
		if w, ok := want[name]; !ok {
			stale = append(stale, "bundle/"+name+" is missing")
		} else if !bytes.Equal(w, got[name]) {
			stale = append(stale, "bundle/"+name+" differs")
		}
	}
	for _, name := range sortedKeys(want) {
		if _, ok := got[name]; !ok {
			stale = append(stale, "bundle/"+name+" is no longer generated")
		}
	}
	gotDF, err := os.ReadFile(filepath.Join(tmp, "bundle.Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if wantDF, err := os.ReadFile(committedDockerfile); err != nil || !bytes.Equal(gotDF, wantDF) {
		stale = append(stale, "bundle.Dockerfile differs")
	}
	if len(stale) > 0 {
		t.Fatalf("bundle is stale: run make bundle\n  %s", strings.Join(stale, "\n  "))
	}
}

// TestGenerateDeterministic renders twice and expects the same bytes: nothing may depend on map
// order or on the time.
func TestGenerateDeterministic(t *testing.T) {
	o := options{version: "0.1.0", out: "bundle", config: filepath.Join(root, "config")}
	a, _, err := render(o)
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := render(o)
	if err != nil {
		t.Fatal(err)
	}
	for name := range a {
		if !bytes.Equal(a[name], b[name]) {
			t.Errorf("%s differs between two runs", name)
		}
	}
	if len(a) != len(b) {
		t.Errorf("the runs wrote %d and %d files", len(a), len(b))
	}
}

func loadBundle(t *testing.T) *manifests.Bundle {
	t.Helper()
	b, err := manifests.GetBundleFromDir(committedBundle)
	if err != nil {
		t.Fatalf("load bundle/: %v", err)
	}
	return b
}

// TestBundleValid runs operator-framework's bundle validators, the OperatorHub ones included,
// on the committed bundle: any error fails, warnings are logged.
func TestBundleValid(t *testing.T) {
	b := loadBundle(t)
	if b.Package != packageName || b.DefaultChannel != channel || !slices.Equal(b.Channels, []string{channel}) {
		t.Errorf("bundle package %q, channels %v, default %q; want %s, [%s], %s", b.Package, b.Channels, b.DefaultChannel, packageName, channel, channel)
	}
	validators := validation.DefaultBundleValidators.WithValidators(
		// OperatorHubV2 with the standard capabilities and categories is what the deprecated
		// OperatorHubValidator checked.
		validation.OperatorHubV2Validator,
		validation.StandardCapabilitiesValidator,
		validation.StandardCategoriesValidator,
		validation.AlphaDeprecatedAPIsValidator,
		validation.GoodPracticesValidator,
		validation.ObjectValidator,
	)
	objs := append(b.ObjectsToValidate(), map[string]string{"k8s-version": b.CSV.Spec.MinKubeVersion})
	for _, r := range validators.Validate(objs...) {
		for _, e := range r.Errors {
			t.Errorf("%s: %v", r.Name, e)
		}
		for _, w := range r.Warnings {
			t.Logf("warning: %s: %v", r.Name, w)
		}
	}
	var names []string
	for _, crd := range b.V1CRDs {
		names = append(names, crd.Name)
	}
	sort.Strings(names)
	want := []string{
		"blockreportpolicies.reporting.policyherald.io", "emailreportschedules.reporting.policyherald.io",
		"metricsprofiles.reporting.policyherald.io", "notificationtargets.reporting.policyherald.io",
		"targetchannels.reporting.policyherald.io",
	}
	if !slices.Equal(names, want) {
		t.Errorf("bundle CRDs = %v, want %v", names, want)
	}
}

// renderedRole is the ClusterRole or Role name renders from config/default.
func renderedRole(t *testing.T, kind, name string) []rbacv1.PolicyRule {
	t.Helper()
	objs, err := build(filepath.Join(root, "config", "default"))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.kind == kind && o.name == name {
			var r rbacv1.ClusterRole
			if err := convert(o.content, &r); err != nil {
				t.Fatal(err)
			}
			return r.Rules
		}
	}
	t.Fatalf("config/default renders no %s %s", kind, name)
	return nil
}

// containsRun tells whether want appears in rules as one run, in order.
func containsRun(rules, want []rbacv1.PolicyRule) bool {
	for i := 0; i+len(want) <= len(rules); i++ {
		if equality.Semantic.DeepEqual(rules[i:i+len(want)], want) {
			return true
		}
	}
	return false
}

// TestCSVContent checks the parts of the CSV that come from config/: the operator's RBAC, the
// examples and the owned CRDs.
func TestCSVContent(t *testing.T) {
	csv := loadBundle(t).CSV
	const sa = "policy-herald-controller-manager"
	strategy := csv.Spec.InstallStrategy.StrategySpec

	// The e-mail report Jobs run as an account of their own, which OLM creates with its role.
	const reporter = "policy-herald-email-reporter"
	if len(strategy.ClusterPermissions) != 2 || strategy.ClusterPermissions[0].ServiceAccountName != sa ||
		strategy.ClusterPermissions[1].ServiceAccountName != reporter {
		t.Fatalf("clusterPermissions = %+v, want one entry for %s and one for %s", strategy.ClusterPermissions, sa, reporter)
	}
	cluster := strategy.ClusterPermissions[0].Rules
	for _, role := range []string{"policy-herald-manager-role", "policy-herald-metrics-auth-role"} {
		if !containsRun(cluster, renderedRole(t, "ClusterRole", role)) {
			t.Errorf("clusterPermissions lack the rules of %s as rendered:\n got %+v", role, cluster)
		}
	}
	if got, want := strategy.ClusterPermissions[1].Rules, renderedRole(t, "ClusterRole", "policy-herald-email-reporter-role"); !equality.Semantic.DeepEqual(got, want) {
		t.Errorf("clusterPermissions of %s = %+v, want the rules of policy-herald-email-reporter-role %+v", reporter, got, want)
	}
	if len(strategy.Permissions) != 1 || strategy.Permissions[0].ServiceAccountName != sa {
		t.Fatalf("permissions = %+v, want one entry for %s", strategy.Permissions, sa)
	}
	namespaced := strategy.Permissions[0].Rules
	for _, role := range []string{"policy-herald-leader-election-role", "policy-herald-manager-role"} {
		if !containsRun(namespaced, renderedRole(t, "Role", role)) {
			t.Errorf("permissions lack the rules of Role %s as rendered:\n got %+v", role, namespaced)
		}
	}
	for _, f := range loadBundle(t).Objects {
		if f.GetKind() == "ServiceAccount" || f.GetKind() == "ClusterRoleBinding" || f.GetKind() == "RoleBinding" {
			t.Errorf("the bundle ships %s %s: OLM would not create it in the namespace it installs into", f.GetKind(), f.GetName())
		}
	}
	if len(strategy.DeploymentSpecs) != 1 || strategy.DeploymentSpecs[0].Spec.Template.Spec.ServiceAccountName != sa {
		t.Errorf("deployments = %+v, want one running as %s", strategy.DeploymentSpecs, sa)
	}

	var examples []map[string]any
	if err := json.Unmarshal([]byte(csv.Annotations["alm-examples"]), &examples); err != nil {
		t.Fatalf("alm-examples: %v", err)
	}
	var kinds []string
	for _, e := range examples {
		kinds = append(kinds, e["kind"].(string))
	}
	sort.Strings(kinds)
	wantKinds := []string{"BlockReportPolicy", "EmailReportSchedule", "MetricsProfile", "NotificationTarget", "TargetChannel"}
	if !slices.Equal(kinds, wantKinds) {
		t.Errorf("alm-examples kinds = %v, want one of each of %v", kinds, wantKinds)
	}

	var owned []string
	for _, d := range csv.Spec.CustomResourceDefinitions.Owned {
		owned = append(owned, d.Kind)
		if d.DisplayName == "" || d.Description == "" || d.Version == "" || len(d.SpecDescriptors) == 0 {
			t.Errorf("owned CRD %s lacks a display name, description, version or spec descriptors", d.Name)
		}
		conditions := false
		for _, sd := range d.StatusDescriptors {
			conditions = conditions || (sd.Path == "conditions" && slices.Contains(sd.XDescriptors, conditionsDescriptor))
		}
		if !conditions {
			t.Errorf("owned CRD %s has no conditions status descriptor", d.Name)
		}
	}
	if !slices.Equal(owned, wantKinds) {
		t.Errorf("owned CRD kinds = %v, want %v", owned, wantKinds)
	}

	for mode, supported := range map[string]bool{"OwnNamespace": false, "SingleNamespace": false, "MultiNamespace": false, "AllNamespaces": true} {
		found := false
		for _, m := range csv.Spec.InstallModes {
			if string(m.Type) == mode {
				found = true
				if m.Supported != supported {
					t.Errorf("install mode %s supported = %v, want %v", mode, m.Supported, supported)
				}
			}
		}
		if !found {
			t.Errorf("no install mode %s", mode)
		}
	}
	if _, ok := csv.Annotations["createdAt"]; ok {
		t.Error("the CSV has a createdAt annotation, which would change on every make bundle")
	}
}

// TestBundleCRDsMatchBases checks that the bundle's CRDs have the specs controller-gen wrote
// into config/crd/bases.
func TestBundleCRDsMatchBases(t *testing.T) {
	b := loadBundle(t)
	for _, crd := range b.V1CRDs {
		raw, err := os.ReadFile(filepath.Join(root, "config", "crd", "bases", crd.Spec.Group+"_"+crd.Spec.Names.Plural+".yaml"))
		if err != nil {
			t.Errorf("CRD %s: %v", crd.Name, err)
			continue
		}
		var base struct {
			Spec json.RawMessage `json:"spec"`
		}
		if err := yaml.Unmarshal(raw, &base); err != nil {
			t.Fatal(err)
		}
		got, err := json.Marshal(crd.Spec)
		if err != nil {
			t.Fatal(err)
		}
		var g, w any
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(base.Spec, &w); err != nil {
			t.Fatal(err)
		}
		if !equality.Semantic.DeepEqual(g, w) {
			t.Errorf("CRD %s in bundle/ has another spec than config/crd/bases", crd.Name)
		}
	}
}

// TestDockerfileMatchesAnnotations checks bundle.Dockerfile's labels against
// metadata/annotations.yaml.
func TestDockerfileMatchesAnnotations(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(committedBundle, "metadata", "annotations.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var af manifests.AnnotationsFile
	if err := yaml.Unmarshal(raw, &af); err != nil {
		t.Fatal(err)
	}
	var ann struct {
		Annotations map[string]string `json:"annotations"`
	}
	if err := yaml.Unmarshal(raw, &ann); err != nil {
		t.Fatal(err)
	}
	if af.Annotations.PackageName != packageName || af.Annotations.Channels != channel || af.Annotations.DefaultChannelName != channel {
		t.Errorf("annotations.yaml: %+v, want package %s and channel %s, the default", af.Annotations, packageName, channel)
	}
	if mt := ann.Annotations["operators.operatorframework.io.bundle.mediatype.v1"]; mt != "registry+v1" {
		t.Errorf("annotations.yaml: media type %q, want registry+v1", mt)
	}
	df, err := os.ReadFile(committedDockerfile)
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{}
	for _, line := range strings.Split(string(df), "\n") {
		if l, ok := strings.CutPrefix(line, "LABEL "); ok {
			k, v, _ := strings.Cut(l, "=")
			labels[k] = v
		}
	}
	if !equality.Semantic.DeepEqual(labels, ann.Annotations) {
		t.Errorf("bundle.Dockerfile labels %v differ from annotations.yaml %v", labels, ann.Annotations)
	}
	if !strings.Contains(string(df), "\nFROM scratch\n") {
		t.Error("bundle.Dockerfile does not build FROM scratch")
	}
	for _, d := range []string{"manifests", "metadata", "tests/scorecard"} {
		if !strings.Contains(string(df), "COPY bundle/"+d+" /"+d+"/\n") {
			t.Errorf("bundle.Dockerfile does not copy bundle/%s", d)
		}
	}
}

func TestHumanize(t *testing.T) {
	for in, want := range map[string]string{
		"minimumSeverity":     "Minimum Severity",
		"EmailReportSchedule": "Email Report Schedule",
		"smtp":                "SMTP",
		"s3":                  "S3",
		"tls":                 "TLS",
		"HTTPServer":          "HTTP Server",
		"observedGeneration":  "Observed Generation",
	} {
		if got := humanize(in); got != want {
			t.Errorf("humanize(%q) = %q, want %q", in, got, want)
		}
	}
}
