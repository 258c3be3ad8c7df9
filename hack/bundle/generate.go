package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/blang/semver/v4"
	"github.com/operator-framework/api/pkg/lib/version"
	"github.com/operator-framework/api/pkg/operators/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

const (
	packageName    = "policy-herald"
	channel        = "alpha"
	manifestsDir   = "manifests"
	metadataDir    = "metadata"
	scorecardDir   = "tests/scorecard"
	csvFile        = manifestsDir + "/" + packageName + ".clusterserviceversion.yaml"
	scorecardImage = "quay.io/operator-framework/scorecard-test:v1.39.2"
)

type options struct {
	version, image, out, config string
}

// result is what generate wrote.
type result struct {
	// files are the paths written under out, slash-separated and relative to it, sorted.
	files []string
	// dockerfile is the path of the Dockerfile written beside out.
	dockerfile string
	// skipped names the rendered objects that are not in the bundle, with the reason.
	skipped []string
}

// object is one rendered resource.
type object struct {
	apiVersion, kind, name, namespace string
	content                           map[string]any
}

func (o object) String() string {
	if o.namespace == "" {
		return o.kind + " " + o.name
	}
	return o.kind + " " + o.namespace + "/" + o.name
}

// extraKinds are the kinds OLM installs from a bundle besides the CSV and the CRDs (the
// registry+v1 format's supported resources); other rendered objects are left out.
var extraKinds = map[string]bool{
	"ClusterRole": true, "ClusterRoleBinding": true, "Role": true, "RoleBinding": true,
	"ServiceAccount": true, "Service": true, "ConfigMap": true, "Secret": true,
	"ServiceMonitor": true, "PrometheusRule": true, "PodDisruptionBudget": true,
	"PriorityClass": true, "VerticalPodAutoscaler": true, "NetworkPolicy": true,
}

// clusterScoped are the cluster-scoped kinds among extraKinds: the others lose their namespace,
// since OLM creates them in the namespace the operator is installed in.
var clusterScoped = map[string]bool{"ClusterRole": true, "ClusterRoleBinding": true, "PriorityClass": true}

// generate renders o.config and writes the bundle into o.out and the Dockerfile beside it.
func generate(o options) (*result, error) {
	files, skipped, err := render(o)
	if err != nil {
		return nil, err
	}
	// Regenerate the directories the generator owns from scratch, so a file for an object that
	// is gone does not linger.
	for _, d := range []string{manifestsDir, metadataDir, scorecardDir} {
		if err := os.RemoveAll(filepath.Join(o.out, filepath.FromSlash(d))); err != nil {
			return nil, err
		}
	}
	res := &result{skipped: skipped}
	for _, name := range sortedKeys(files) {
		if name == dockerfileKey {
			continue
		}
		p := filepath.Join(o.out, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(p, files[name], 0o644); err != nil {
			return nil, err
		}
		res.files = append(res.files, name)
	}
	res.dockerfile = filepath.Join(filepath.Dir(filepath.Clean(o.out)), "bundle.Dockerfile")
	if err := os.WriteFile(res.dockerfile, files[dockerfileKey], 0o644); err != nil {
		return nil, err
	}
	return res, nil
}

// dockerfileKey is the key of the Dockerfile among render's files.
const dockerfileKey = "../bundle.Dockerfile"

// render builds every file of the bundle in memory, keyed by its path relative to o.out.
func render(o options) (map[string][]byte, []string, error) {
	if o.version == "" {
		return nil, nil, errors.New("-version is required")
	}
	ver, err := semver.Parse(strings.TrimPrefix(o.version, "v"))
	if err != nil {
		return nil, nil, fmt.Errorf("-version %q: %w", o.version, err)
	}
	objs, err := build(filepath.Join(o.config, "default"))
	if err != nil {
		return nil, nil, err
	}
	samples, err := build(filepath.Join(o.config, "samples"))
	if err != nil {
		return nil, nil, err
	}

	files := map[string][]byte{}
	var skipped []string
	var crds []apiextensionsv1.CustomResourceDefinition
	var deployments []appsv1.Deployment
	var rest []object
	for _, obj := range objs {
		switch obj.kind {
		case "CustomResourceDefinition":
			var crd apiextensionsv1.CustomResourceDefinition
			if err := convert(obj.content, &crd); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", obj, err)
			}
			crds = append(crds, crd)
			b, err := yaml.Marshal(obj.content)
			if err != nil {
				return nil, nil, err
			}
			files[manifestsDir+"/"+crd.Spec.Group+"_"+crd.Spec.Names.Plural+".yaml"] = b
		case "Deployment":
			var d appsv1.Deployment
			if err := convert(obj.content, &d); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", obj, err)
			}
			deployments = append(deployments, d)
		case "Namespace":
			skipped = append(skipped, obj.String()+": OLM installs into the namespace of an OperatorGroup")
		default:
			rest = append(rest, obj)
		}
	}
	if len(deployments) == 0 {
		return nil, nil, errors.New("config/default renders no Deployment")
	}
	if len(crds) == 0 {
		return nil, nil, errors.New("config/default renders no CustomResourceDefinition")
	}
	sort.Slice(crds, func(i, j int) bool { return crds[i].Spec.Names.Kind < crds[j].Spec.Names.Kind })
	sort.Slice(deployments, func(i, j int) bool { return deployments[i].Name < deployments[j].Name })

	// The operator image: the one the config renders for the first container of the first
	// Deployment, unless -image names another; every container with that image gets the new one.
	rendered := deployments[0].Spec.Template.Spec.Containers[0].Image
	image := rendered
	if o.image != "" {
		image = o.image
	}
	accounts := map[string]bool{}
	var deploymentSpecs []v1alpha1.StrategyDeploymentSpec
	for _, d := range deployments {
		setImage(d.Spec.Template.Spec.Containers, rendered, image)
		setImage(d.Spec.Template.Spec.InitContainers, rendered, image)
		sa := d.Spec.Template.Spec.ServiceAccountName
		if sa == "" {
			sa = "default"
		}
		accounts[d.Namespace+"/"+sa] = true
		deploymentSpecs = append(deploymentSpecs, v1alpha1.StrategyDeploymentSpec{Name: d.Name, Spec: d.Spec, Label: d.Labels})
	}

	// The ServiceAccounts no Deployment runs as are the operator's too: the e-mail reporter, which
	// the Jobs the operator creates run as. In the CSV's permissions OLM creates them, with their
	// roles and bindings, in the namespace it installs into; shipped as plain manifests, their
	// bindings would name config/default's namespace instead.
	for _, obj := range rest {
		if obj.kind == "ServiceAccount" {
			accounts[obj.namespace+"/"+obj.name] = true
		}
	}
	perms, extras, more, err := permissions(rest, accounts)
	if err != nil {
		return nil, nil, err
	}
	skipped = append(skipped, more...)
	for _, obj := range extras {
		content := obj.content
		if !clusterScoped[obj.kind] {
			if md, ok := content["metadata"].(map[string]any); ok {
				delete(md, "namespace")
			}
		}
		b, err := yaml.Marshal(content)
		if err != nil {
			return nil, nil, err
		}
		files[manifestsDir+"/"+extraFileName(obj)] = b
	}

	examples, err := almExamples(samples, crds)
	if err != nil {
		return nil, nil, err
	}
	owned, err := ownedCRDs(crds)
	if err != nil {
		return nil, nil, err
	}

	csv := v1alpha1.ClusterServiceVersion{
		TypeMeta: metav1.TypeMeta{APIVersion: v1alpha1.SchemeGroupVersion.String(), Kind: v1alpha1.ClusterServiceVersionKind},
		ObjectMeta: metav1.ObjectMeta{
			Name: packageName + ".v" + ver.String(),
			Annotations: map[string]string{
				"alm-examples":   examples,
				"capabilities":   "Basic Install",
				"categories":     "Monitoring,Security",
				"containerImage": image,
				"description":    "Delivers the results of policy reports (Kyverno, Trivy, Falco, kube-bench, ...) to chat, alerting, ticketing and storage destinations.",
				"repository":     "https://github.com/policyherald/policy-herald",
				"support":        "Policy Herald",
			},
		},
		Spec: v1alpha1.ClusterServiceVersionSpec{
			DisplayName: "Policy Herald",
			Description: description,
			Version:     version.OperatorVersion{Version: ver},
			Maturity:    channel,
			Keywords:    []string{"policy", "policyreport", "openreports", "kyverno", "trivy", "falco", "notifications", "security"},
			Provider:    v1alpha1.AppLink{Name: "Policy Herald", URL: "https://github.com/policyherald/policy-herald"},
			Links: []v1alpha1.AppLink{
				{Name: "Source Code", URL: "https://github.com/policyherald/policy-herald"},
				{Name: "Documentation", URL: "https://github.com/policyherald/policy-herald#readme"},
			},
			Maintainers:    []v1alpha1.Maintainer{{Name: "Policy Herald maintainers", Email: "maintainers@policyherald.io"}},
			Icon:           []v1alpha1.Icon{{Data: iconBase64(), MediaType: "image/svg+xml"}},
			MinKubeVersion: "1.30.0",
			InstallModes: []v1alpha1.InstallMode{
				// The operator watches reports in every namespace, so it is installed for all of them.
				{Type: v1alpha1.InstallModeTypeOwnNamespace, Supported: false},
				{Type: v1alpha1.InstallModeTypeSingleNamespace, Supported: false},
				{Type: v1alpha1.InstallModeTypeMultiNamespace, Supported: false},
				{Type: v1alpha1.InstallModeTypeAllNamespaces, Supported: true},
			},
			CustomResourceDefinitions: v1alpha1.CustomResourceDefinitions{Owned: owned},
			InstallStrategy: v1alpha1.NamedInstallStrategy{
				StrategyName: v1alpha1.InstallStrategyNameDeployment,
				StrategySpec: v1alpha1.StrategyDetailsDeployment{
					DeploymentSpecs:    deploymentSpecs,
					Permissions:        perms.namespaced,
					ClusterPermissions: perms.cluster,
				},
			},
		},
	}
	b, err := marshalCSV(&csv)
	if err != nil {
		return nil, nil, err
	}
	files[csvFile] = b

	annotations := bundleAnnotations()
	b, err = yaml.Marshal(map[string]any{"annotations": annotations})
	if err != nil {
		return nil, nil, err
	}
	files[metadataDir+"/annotations.yaml"] = b
	if files[scorecardDir+"/config.yaml"], err = scorecardConfig(); err != nil {
		return nil, nil, err
	}
	files[dockerfileKey] = dockerfile(annotations, filepath.Base(filepath.Clean(o.out)))
	sort.Strings(skipped)
	return files, skipped, nil
}

// build renders the kustomization in dir, in kustomize's order.
func build(dir string) ([]object, error) {
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	var out []object
	for _, r := range m.Resources() {
		content, err := r.Map()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.CurId(), err)
		}
		out = append(out, object{
			apiVersion: r.GetApiVersion(), kind: r.GetKind(), name: r.GetName(), namespace: r.GetNamespace(),
			content: content,
		})
	}
	return out, nil
}

// convert decodes a rendered object into a typed one.
func convert(content map[string]any, into any) error {
	b, err := json.Marshal(content)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, into)
}

func setImage(containers []corev1.Container, from, to string) {
	for i := range containers {
		if containers[i].Image == from {
			containers[i].Image = to
		}
	}
}

// extraFileName names an extra manifest the way bundle tools commonly do:
// <name>_<group>_<version>_<kind>.yaml, with the core group left out.
func extraFileName(o object) string {
	gv := strings.ReplaceAll(o.apiVersion, "/", "_")
	return o.name + "_" + gv + "_" + strings.ToLower(o.kind) + ".yaml"
}

type csvPermissions struct {
	cluster, namespaced []v1alpha1.StrategyDeploymentPermissions
}

// permissions turns the roles bound to the operator's ServiceAccounts (accounts, as
// namespace/name) into the CSV's permissions: a ClusterRoleBinding's ClusterRole into
// clusterPermissions, a RoleBinding's Role or ClusterRole into permissions. OLM creates those
// roles, their bindings and the ServiceAccounts itself, so they leave the bundle; every other
// object of a kind OLM can install is returned as an extra manifest, sorted by kind and name.
func permissions(objs []object, accounts map[string]bool) (csvPermissions, []object, []string, error) {
	roles := map[string]object{} // by kind/namespace/name
	for _, o := range objs {
		if o.kind == "ClusterRole" || o.kind == "Role" {
			roles[o.kind+"/"+o.namespace+"/"+o.name] = o
		}
	}
	used := map[string]bool{}
	dropped := map[string]bool{}
	cluster := map[string][]rbacv1.PolicyRule{}
	namespaced := map[string][]rbacv1.PolicyRule{}
	// Bindings in name order, so the rules of several roles bound to one account come in a
	// fixed order.
	bindings := slices.Clone(objs)
	sort.SliceStable(bindings, func(i, j int) bool { return bindings[i].name < bindings[j].name })
	for _, o := range bindings {
		if o.kind != "ClusterRoleBinding" && o.kind != "RoleBinding" {
			continue
		}
		var rb rbacv1.RoleBinding // a ClusterRoleBinding has the same roleRef and subjects
		if err := convert(o.content, &rb); err != nil {
			return csvPermissions{}, nil, nil, fmt.Errorf("%s: %w", o, err)
		}
		var sas []string
		for _, s := range rb.Subjects {
			ns := s.Namespace
			if ns == "" {
				ns = o.namespace
			}
			if s.Kind == rbacv1.ServiceAccountKind && accounts[ns+"/"+s.Name] {
				sas = append(sas, s.Name)
			}
		}
		if len(sas) == 0 {
			continue
		}
		if len(sas) != len(rb.Subjects) {
			return csvPermissions{}, nil, nil, fmt.Errorf("%s binds the operator's ServiceAccount and other subjects; split it", o)
		}
		roleNS := ""
		if rb.RoleRef.Kind == "Role" {
			roleNS = o.namespace
		}
		key := rb.RoleRef.Kind + "/" + roleNS + "/" + rb.RoleRef.Name
		role, ok := roles[key]
		if !ok {
			return csvPermissions{}, nil, nil, fmt.Errorf("%s refers to %s %s, which config/default does not render", o, rb.RoleRef.Kind, rb.RoleRef.Name)
		}
		var r rbacv1.ClusterRole // a Role has the same rules
		if err := convert(role.content, &r); err != nil {
			return csvPermissions{}, nil, nil, fmt.Errorf("%s: %w", role, err)
		}
		if r.AggregationRule != nil {
			return csvPermissions{}, nil, nil, fmt.Errorf("%s is aggregated; a CSV needs its rules spelt out", role)
		}
		for _, sa := range sas {
			if o.kind == "ClusterRoleBinding" {
				cluster[sa] = append(cluster[sa], r.Rules...)
			} else {
				namespaced[sa] = append(namespaced[sa], r.Rules...)
			}
		}
		used[key] = true
		dropped[o.kind+"/"+o.namespace+"/"+o.name] = true
	}

	var perms csvPermissions
	for _, sa := range sortedKeys(cluster) {
		perms.cluster = append(perms.cluster, v1alpha1.StrategyDeploymentPermissions{ServiceAccountName: sa, Rules: cluster[sa]})
	}
	for _, sa := range sortedKeys(namespaced) {
		perms.namespaced = append(perms.namespaced, v1alpha1.StrategyDeploymentPermissions{ServiceAccountName: sa, Rules: namespaced[sa]})
	}

	var extras []object
	var skipped []string
	for _, o := range objs {
		key := o.kind + "/" + o.namespace + "/" + o.name
		switch {
		case used[key] || dropped[key]:
		case o.kind == "ServiceAccount" && accounts[o.namespace+"/"+o.name]:
		case extraKinds[o.kind]:
			extras = append(extras, o)
		default:
			skipped = append(skipped, o.String()+": not a kind a registry+v1 bundle can ship")
		}
	}
	sort.SliceStable(extras, func(i, j int) bool {
		if extras[i].kind != extras[j].kind {
			return extras[i].kind < extras[j].kind
		}
		return extras[i].name < extras[j].name
	})
	return perms, extras, skipped, nil
}

// almExamples is the alm-examples annotation: the first sample of each owned kind, in kind
// order, without a namespace (the console creates an example in the namespace one is in).
func almExamples(samples []object, crds []apiextensionsv1.CustomResourceDefinition) (string, error) {
	var examples []map[string]any
	for _, crd := range crds {
		found := false
		for _, s := range samples {
			if s.kind != crd.Spec.Names.Kind || !strings.HasPrefix(s.apiVersion, crd.Spec.Group+"/") {
				continue
			}
			content := s.content
			if md, ok := content["metadata"].(map[string]any); ok {
				delete(md, "namespace")
			}
			examples = append(examples, content)
			found = true
			break
		}
		if !found {
			return "", fmt.Errorf("config/samples has no %s", crd.Spec.Names.Kind)
		}
	}
	b, err := json.MarshalIndent(examples, "", "  ")
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// marshalCSV writes csv as YAML without its status and without the nulls of unset fields
// (creationTimestamp and the like).
func marshalCSV(csv *v1alpha1.ClusterServiceVersion) ([]byte, error) {
	b, err := json.Marshal(csv)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	delete(m, "status")
	if spec, ok := m["spec"].(map[string]any); ok {
		// Empty structs the API types cannot omit.
		if a, ok := spec["apiservicedefinitions"].(map[string]any); ok && len(a) == 0 {
			delete(spec, "apiservicedefinitions")
		}
		if c, ok := spec["cleanup"].(map[string]any); ok && c["enabled"] == false && len(c) == 1 {
			delete(spec, "cleanup")
		}
	}
	return yaml.Marshal(pruneNulls(m))
}

func pruneNulls(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if e == nil {
				delete(t, k)
				continue
			}
			t[k] = pruneNulls(e)
		}
	case []any:
		for i, e := range t {
			t[i] = pruneNulls(e)
		}
	}
	return v
}

// bundleAnnotations are metadata/annotations.yaml's annotations, and the Dockerfile's labels.
func bundleAnnotations() map[string]string {
	return map[string]string{
		"operators.operatorframework.io.bundle.mediatype.v1":       "registry+v1",
		"operators.operatorframework.io.bundle.manifests.v1":       manifestsDir + "/",
		"operators.operatorframework.io.bundle.metadata.v1":        metadataDir + "/",
		"operators.operatorframework.io.bundle.package.v1":         packageName,
		"operators.operatorframework.io.bundle.channels.v1":        channel,
		"operators.operatorframework.io.bundle.channel.default.v1": channel,
		"operators.operatorframework.io.test.mediatype.v1":         "scorecard+v1",
		"operators.operatorframework.io.test.config.v1":            scorecardDir + "/",
	}
}

// dockerfile builds the bundle image from dir (the bundle directory, relative to the build
// context), labelled with annotations.
func dockerfile(annotations map[string]string, dir string) []byte {
	var b strings.Builder
	b.WriteString("# Generated by `make bundle` (hack/bundle); do not edit.\n")
	b.WriteString("# The OLM bundle image of Policy Herald: docker build -f bundle.Dockerfile -t REGISTRY/policy-herald-bundle:vVERSION .\n")
	b.WriteString("FROM scratch\n\n")
	for _, k := range sortedKeys(annotations) {
		fmt.Fprintf(&b, "LABEL %s=%s\n", k, annotations[k])
	}
	b.WriteString("\n")
	for _, d := range []string{manifestsDir, metadataDir, scorecardDir} {
		fmt.Fprintf(&b, "COPY %s/%s /%s/\n", dir, d, d)
	}
	return []byte(b.String())
}

// scorecardConfig runs the basic and OLM tests of `operator-sdk scorecard`.
func scorecardConfig() ([]byte, error) {
	type test struct {
		Entrypoint []string          `json:"entrypoint"`
		Image      string            `json:"image"`
		Labels     map[string]string `json:"labels"`
	}
	var tests []test
	for _, t := range []struct{ suite, name string }{
		{"basic", "basic-check-spec"},
		{"olm", "olm-bundle-validation"},
		{"olm", "olm-crds-have-validation"},
		{"olm", "olm-crds-have-resources"},
		{"olm", "olm-spec-descriptors"},
		{"olm", "olm-status-descriptors"},
	} {
		tests = append(tests, test{
			Entrypoint: []string{"scorecard-test", t.name},
			Image:      scorecardImage,
			Labels:     map[string]string{"suite": t.suite, "test": t.name + "-test"},
		})
	}
	return yaml.Marshal(map[string]any{
		"apiVersion": "scorecard.operatorframework.io/v1alpha3",
		"kind":       "Configuration",
		"metadata":   map[string]any{"name": "config"},
		"stages":     []any{map[string]any{"parallel": true, "tests": tests}},
		"storage":    map[string]any{"spec": map[string]any{"mountPath": map[string]any{}}},
	})
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
