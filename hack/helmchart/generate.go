package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	yamlv3 "go.yaml.in/yaml/v3"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

const (
	chartName      = "policy-herald"
	crdKind        = "CustomResourceDefinition"
	deploymentName = "policy-herald-controller-manager"
	managerName    = "manager"
	repository     = "https://github.com/policyherald/policy-herald"
	description    = "Delivers the results of policy reports (Kyverno, Trivy, Falco, kube-bench, ...) to chat, alerting, ticketing and storage destinations."
	header         = "# Generated from config/default by `make helm-chart` (hack/helmchart): edit config/ and regenerate.\n"
)

// build is `kustomize build dir` in kustomize's legacy order (Namespace and CRDs first), as
// hack/installer renders it; with extra, the kustomization's resources and those directories
// (relative to dir), as when their commented-out lines in config/default are uncommented.
func build(dir string, extra ...string) ([]map[string]any, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	opts := krusty.MakeDefaultOptions()
	opts.Reorder = krusty.ReorderOptionLegacy
	root := abs
	if len(extra) > 0 {
		if root, err = withResources(abs, extra); err != nil {
			return nil, err
		}
		defer func() { _ = os.RemoveAll(root) }() // a leftover temporary dir harms nothing
		// The copy's resources are files and directories of dir, outside its own root.
		opts.LoadRestrictions = types.LoadRestrictionsNone
	}
	m, err := krusty.MakeKustomizer(opts).Run(filesys.MakeFsOnDisk(), root)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	var objs []map[string]any
	for _, r := range m.Resources() {
		o, err := r.Map()
		if err != nil {
			return nil, err
		}
		objs = append(objs, o)
	}
	return objs, nil
}

// withResources writes, to a temporary directory, dir's kustomization with its resources and
// extra, all by paths relative to the copy (kustomize takes bases by relative path only).
func withResources(dir string, extra []string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		return "", err
	}
	var k types.Kustomization
	if err := yaml.UnmarshalStrict(b, &k); err != nil {
		return "", fmt.Errorf("%s/kustomization.yaml: %w", dir, err)
	}
	tmp, err := os.MkdirTemp("", "policy-herald-helmchart-")
	if err != nil {
		return "", err
	}
	var resources []string
	for _, r := range append(slices.Clone(k.Resources), extra...) {
		rel, err := filepath.Rel(tmp, filepath.Join(dir, r))
		if err != nil {
			return "", err
		}
		resources = append(resources, rel)
	}
	k.Resources = resources
	if b, err = yaml.Marshal(k); err != nil {
		return "", err
	}
	return tmp, os.WriteFile(filepath.Join(tmp, "kustomization.yaml"), b, 0o644)
}

// An optionalPart is a kustomization config/default leaves commented out; the chart renders its
// objects when the value its kinds map to is true.
type optionalPart struct {
	dir   string // relative to config/default
	value func(kind string) string
}

var optionalParts = []optionalPart{
	{"../prometheus", func(kind string) string {
		if kind == "PrometheusRule" {
			return "prometheusRule.enabled"
		}
		return "serviceMonitor.enabled"
	}},
	{"../network-policy", func(string) string { return "networkPolicy.enabled" }},
	{"../console", func(string) string { return "console.enabled" }},
}

// id names an object across builds.
func id(o map[string]any) string {
	return str(o, "kind") + "/" + str(o, "metadata", "namespace") + "/" + str(o, "metadata", "name")
}

// generate returns the chart's files by their path in the chart.
func generate(config, version string) (map[string][]byte, error) {
	objs, err := build(config)
	if err != nil {
		return nil, err
	}
	base := map[string]bool{} // before the loop below puts them in the release's namespace
	for _, o := range objs {
		base[id(o)] = true
	}
	files := map[string][]byte{}
	var namespace string
	var crds []map[string]any
	var defaults *defaultValues
	for _, o := range objs {
		kind, name := str(o, "kind"), str(o, "metadata", "name")
		switch kind {
		case "Namespace":
			// Helm owns the release namespace (helm install -n NS --create-namespace); a Namespace
			// object in the chart would conflict with it. Its labels move to NOTES and the docs.
			namespace = name
			continue
		case crdKind:
			crds = append(crds, o)
			b, err := yaml.Marshal(o)
			if err != nil {
				return nil, err
			}
			files["crds/"+name+".yaml"] = append([]byte(header), b...)
			continue
		}
		if namespace == "" {
			return nil, fmt.Errorf("%s %s comes before the Namespace", kind, name)
		}
		replaceNamespace(o, namespace)
		var body []byte
		if kind == "Deployment" && name == deploymentName {
			// The PodDisruptionBudget selects the Deployment's Pods by its selector, read before
			// templating.
			var pdb []byte
			if pdb, err = operatorPDB(o); err != nil {
				return nil, err
			}
			if err := addTemplate(files, "PodDisruptionBudget", name, pdb, nil, "podDisruptionBudget.enabled"); err != nil {
				return nil, err
			}
			body, defaults, err = templateDeployment(o)
		} else {
			body, err = templateObject(o)
		}
		cond := ""
		if kind == "Service" && name == metricsServiceName {
			cond = "metricsService.enabled"
		}
		if err := addTemplate(files, kind, name, body, err, cond); err != nil {
			return nil, err
		}
	}
	if defaults == nil {
		return nil, fmt.Errorf("config has no Deployment %s", deploymentName)
	}
	for _, part := range optionalParts {
		more, err := build(config, part.dir)
		if err != nil {
			return nil, err
		}
		for _, o := range more {
			if base[id(o)] {
				continue
			}
			kind, name := str(o, "kind"), str(o, "metadata", "name")
			replaceNamespace(o, namespace)
			var body []byte
			if kind == "Deployment" && name == consoleName {
				body, defaults.consoleReplicas, err = templateConsole(o)
			} else {
				body, err = templateObject(o)
			}
			if err := addTemplate(files, kind, name, body, err, part.value(kind)); err != nil {
				return nil, err
			}
		}
	}
	dashboards, err := filepath.Glob(filepath.Join(config, "..", "grafana", "*.json"))
	if err != nil || len(dashboards) == 0 {
		return nil, fmt.Errorf("no dashboards in config/grafana: %v", err)
	}
	for _, f := range dashboards {
		if files["dashboards/"+filepath.Base(f)], err = os.ReadFile(f); err != nil {
			return nil, err
		}
	}
	files["templates/configmap-grafana-dashboard.yaml"] = []byte(header + grafanaDashboard)
	files["templates/ingress-console.yaml"] = []byte(header + consoleIngress)
	files["templates/httproute-console.yaml"] = []byte(header + consoleHTTPRoute)
	if files["Chart.yaml"], err = chartYAML(version, defaults, crds); err != nil {
		return nil, err
	}
	if files["values.yaml"], err = valuesYAML(defaults); err != nil {
		return nil, err
	}
	if files["README.md"], err = readme(files["values.yaml"]); err != nil {
		return nil, err
	}
	if files["values.schema.json"], err = valuesSchema(); err != nil {
		return nil, err
	}
	files["templates/NOTES.txt"] = []byte(notes)
	files[".helmignore"] = []byte("# Generated by make helm-chart.\n*.orig\n*.tmp\n.git/\n")
	return files, nil
}

// addTemplate adds an object's template to files, rendered only when the value cond is true if
// cond is set; err is that of templating it.
func addTemplate(files map[string][]byte, kind, name string, body []byte, err error, cond string) error {
	if err != nil {
		return fmt.Errorf("%s %s: %w", kind, name, err)
	}
	file := fmt.Sprintf("templates/%s-%s.yaml", strings.ToLower(kind), strings.TrimPrefix(name, chartName+"-"))
	if _, dup := files[file]; dup {
		return fmt.Errorf("two objects render to %s", file)
	}
	if cond != "" {
		body = fmt.Appendf(nil, "{{- if .Values.%s }}\n%s{{- end }}\n", cond, body)
	}
	files[file] = append([]byte(header), body...)
	return nil
}

// replaceNamespace puts every object of config/default's namespace (metadata.namespace and
// binding subjects alike) into the release's namespace.
func replaceNamespace(v any, namespace string) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok && k == "namespace" && s == namespace {
				v[k] = placeholder("releaseNamespace")
				continue
			}
			replaceNamespace(x, namespace)
		}
	case []any:
		for _, x := range v {
			replaceNamespace(x, namespace)
		}
	}
}

// templateObject is an object as kustomize built it, in the release's namespace.
func templateObject(o map[string]any) ([]byte, error) {
	b, err := yaml.Marshal(o)
	if err != nil {
		return nil, err
	}
	return expand(b, map[string]func(indent, key string) string{"releaseNamespace": releaseNamespace})
}

var releaseNamespace = inline("{{ .Release.Namespace }}")

// The operator's image from values; the console runs the same.
var (
	image           = inline(`"{{ .Values.image.repository }}{{ with .Values.image.digest }}@{{ . }}{{ else }}:{{ .Values.image.tag | default .Chart.AppVersion }}{{ end }}"`)
	imagePullPolicy = inline("{{ .Values.image.pullPolicy }}")
)

// A placeholder stands for a field in the marshalled YAML until expand replaces its line with
// template text: marshalling keeps the rest of the object exactly as kustomize built it.
func placeholder(name string) string { return "@@" + name + "@@" }

var placeholderLine = regexp.MustCompile(`(?m)^( *)(- )?([A-Za-z]+): '?@@([A-Za-z]+)@@'?$`)

// expand replaces each placeholder's line with its template, given the line's indent and key.
func expand(b []byte, templates map[string]func(indent, key string) string) ([]byte, error) {
	// Text of the objects that looks like a template (a PrometheusRule's {{ $labels.x }}) stays
	// text: Helm prints it as it is.
	b = bytes.ReplaceAll(b, []byte("{{"), []byte(`{{ "{{" }}`))
	var missing error
	out := placeholderLine.ReplaceAllFunc(b, func(line []byte) []byte {
		m := placeholderLine.FindSubmatch(line)
		indent, item, key, name := string(m[1]), len(m[2]) > 0, string(m[3]), string(m[4])
		f, ok := templates[name]
		if !ok {
			missing = fmt.Errorf("no template for placeholder %s", name)
			return line
		}
		if !item {
			return []byte(f(indent, key))
		}
		// The first field of a list item: its template must begin with the field, which then
		// takes the item's dash.
		t := f(indent+"  ", key)
		if !strings.HasPrefix(t, indent+"  "+key+":") {
			missing = fmt.Errorf("placeholder %s cannot begin a list item", name)
			return line
		}
		return []byte(indent + "- " + strings.TrimPrefix(t, indent+"  "))
	})
	if bytes.Contains(out, []byte("@@")) {
		return nil, fmt.Errorf("a placeholder was left in %q", out)
	}
	return out, missing
}

// inline is the field's key with a value on the same line.
func inline(value string) func(indent, key string) string {
	return func(indent, key string) string { return indent + key + ": " + value }
}

// optional renders the field from .Values.path when that is set, and leaves it out otherwise.
func optional(path string) func(indent, key string) string {
	return func(indent, key string) string {
		return fmt.Sprintf("{{- with .Values.%s }}\n%s%s:\n{{- toYaml . | nindent %d }}\n{{- end }}", path, indent, key, len(indent)+2)
	}
}

// withExtra renders a map or list kustomize built, followed by what .Values.path adds to it.
func withExtra(built any, path string) func(indent, key string) string {
	return func(indent, key string) string {
		var b strings.Builder
		b.WriteString(indent + key + ":")
		inner := indent + "  "
		if _, list := built.([]any); list {
			inner = indent // sigs.k8s.io/yaml does not indent a list under its key
		}
		if built != nil {
			y, _ := yaml.Marshal(built) // built came from YAML, so it marshals
			for _, l := range strings.Split(strings.TrimSuffix(string(y), "\n"), "\n") {
				b.WriteString("\n" + inner + l)
			}
		}
		fmt.Fprintf(&b, "\n{{- with .Values.%s }}\n{{- toYaml . | nindent %d }}\n{{- end }}", path, len(inner))
		return b.String()
	}
}

const (
	metricsServiceName = "policy-herald-controller-manager-metrics-service"
	consoleName        = "policy-herald-console"
)

// grafanaDashboard is config/grafana's dashboards (operator health, policy results) as one
// ConfigMap the Grafana sidecar loads, a key per dashboard.
const grafanaDashboard = `{{- if .Values.grafanaDashboard.enabled }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: policy-herald-grafana-dashboard
  namespace: {{ .Values.grafanaDashboard.namespace | default .Release.Namespace }}
  labels:
    app.kubernetes.io/name: policy-herald
    {{- toYaml .Values.grafanaDashboard.labels | nindent 4 }}
data:
  {{- range $path, $_ := .Files.Glob "dashboards/*.json" }}
  {{ base $path }}: |-
    {{- $.Files.Get $path | nindent 4 }}
  {{- end }}
{{- end }}
`

// consoleIngress and consoleHTTPRoute expose the console's Service (config/console), as
// config/console/examples do.
const consoleIngress = `{{- if and .Values.console.enabled .Values.console.ingress.enabled }}
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: policy-herald-console
  namespace: {{ .Release.Namespace }}
  labels:
    app.kubernetes.io/name: policy-herald
    app.kubernetes.io/component: console
  {{- with .Values.console.ingress.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  {{- with .Values.console.ingress.className }}
  ingressClassName: {{ . }}
  {{- end }}
  {{- with .Values.console.ingress.tlsSecretName }}
  tls:
  - hosts:
    - {{ $.Values.console.ingress.host | quote }}
    secretName: {{ . }}
  {{- end }}
  rules:
  - host: {{ .Values.console.ingress.host | quote }}
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: policy-herald-console
            port:
              name: http
{{- end }}
`

const consoleHTTPRoute = `{{- if and .Values.console.enabled .Values.console.httpRoute.enabled }}
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: policy-herald-console
  namespace: {{ .Release.Namespace }}
  labels:
    app.kubernetes.io/name: policy-herald
    app.kubernetes.io/component: console
spec:
  parentRefs:
  {{- toYaml .Values.console.httpRoute.parentRefs | nindent 2 }}
  hostnames:
  {{- toYaml .Values.console.httpRoute.hostnames | nindent 2 }}
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /
    backendRefs:
    - name: policy-herald-console
      port: 80
{{- end }}
`

// templateConsole templates the console's Deployment: its replicas come from values, by
// default config/console's, which it returns.
func templateConsole(o map[string]any) ([]byte, int64, error) {
	spec := mapAt(o, "spec")
	replicas, ok := asInt(spec["replicas"])
	if !ok {
		return nil, 0, fmt.Errorf("no replicas")
	}
	spec["replicas"] = placeholder("replicas")
	containers, _ := mapAt(o, "spec", "template", "spec")["containers"].([]any)
	var c map[string]any
	for _, x := range containers {
		if m, ok := x.(map[string]any); ok && m["name"] == "console" {
			c = m
		}
	}
	if c == nil {
		return nil, 0, fmt.Errorf("no container console")
	}
	args, _ := c["args"].([]any)
	c["args"] = placeholder("args")
	c["image"] = placeholder("image")
	c["imagePullPolicy"] = placeholder("imagePullPolicy")
	b, err := yaml.Marshal(o)
	if err != nil {
		return nil, 0, err
	}
	b, err = expand(b, map[string]func(indent, key string) string{
		"releaseNamespace": releaseNamespace,
		"replicas":         inline("{{ .Values.console.replicas }}"),
		"args":             func(indent, key string) string { return templateArgs(indent, key, args, consoleFlags, "") },
		"image":            image,
		"imagePullPolicy":  imagePullPolicy,
	})
	return b, replicas, err
}

// defaultValues are the values config/default sets, which values.yaml repeats so that default
// values render config/default.
type defaultValues struct {
	repository, tag, digest, pullPolicy string
	replicas, consoleReplicas           int64
	resources                           map[string]any
}

const (
	leaderElectArg       = "--leader-elect"
	platformNamespaceArg = "--platform-namespace="
)

// operatorPDB is a PodDisruptionBudget of the operator's Deployment d: config/ has none, as with
// one replica it would only block node drains; with more it keeps one running through them.
func operatorPDB(d map[string]any) ([]byte, error) {
	meta := mapAt(d, "metadata")
	selector := mapAt(d, "spec", "selector")
	if selector == nil {
		return nil, fmt.Errorf("the Deployment %s has no selector", deploymentName)
	}
	pdb := map[string]any{
		"apiVersion": "policy/v1",
		"kind":       "PodDisruptionBudget",
		"metadata":   map[string]any{"name": meta["name"], "namespace": meta["namespace"], "labels": meta["labels"]},
		"spec": map[string]any{
			"maxUnavailable": placeholder("maxUnavailable"),
			"selector":       selector,
			// A Pod that is not ready may always go: it serves nothing.
			"unhealthyPodEvictionPolicy": "AlwaysAllow",
		},
	}
	b, err := yaml.Marshal(pdb)
	if err != nil {
		return nil, err
	}
	return expand(b, map[string]func(indent, key string) string{
		"releaseNamespace": releaseNamespace,
		"maxUnavailable":   inline("{{ .Values.podDisruptionBudget.maxUnavailable }}"),
	})
}

// templateDeployment templates the operator's Deployment: image, replicas, arguments,
// environment, resources and scheduling come from values.
func templateDeployment(o map[string]any) ([]byte, *defaultValues, error) {
	spec := mapAt(o, "spec")
	pod := mapAt(o, "spec", "template", "spec")
	podMeta := mapAt(o, "spec", "template", "metadata")
	if spec == nil || pod == nil || podMeta == nil {
		return nil, nil, fmt.Errorf("no pod template")
	}
	containers, _ := pod["containers"].([]any)
	var c map[string]any
	for _, x := range containers {
		if m, ok := x.(map[string]any); ok && m["name"] == managerName {
			c = m
		}
	}
	if c == nil {
		return nil, nil, fmt.Errorf("no container %s", managerName)
	}
	d := &defaultValues{pullPolicy: str(c, "imagePullPolicy")}
	d.repository, d.tag, d.digest = splitImage(str(c, "image"))
	var ok bool
	if d.replicas, ok = asInt(spec["replicas"]); !ok {
		d.replicas = 1 // Kubernetes' default
	}
	d.resources, _ = c["resources"].(map[string]any)

	args, _ := c["args"].([]any)
	if !slices.Contains(args, any(leaderElectArg)) {
		return nil, nil, fmt.Errorf("the manager has no %s argument", leaderElectArg)
	}
	podLabels, podAnnotations, env := podMeta["labels"], podMeta["annotations"], c["env"]
	spec["replicas"] = placeholder("replicas")
	podMeta["labels"] = placeholder("podLabels")
	podMeta["annotations"] = placeholder("podAnnotations")
	for _, k := range []string{"imagePullSecrets", "nodeSelector", "tolerations", "affinity", "topologySpreadConstraints", "priorityClassName"} {
		if _, set := pod[k]; set {
			return nil, nil, fmt.Errorf("config sets %s, which the chart's values own", k)
		}
		pod[k] = placeholder(k)
	}
	c["image"] = placeholder("image")
	c["imagePullPolicy"] = placeholder("imagePullPolicy")
	c["args"] = placeholder("args")
	c["env"] = placeholder("env")
	c["resources"] = placeholder("resources")
	b, err := yaml.Marshal(o)
	if err != nil {
		return nil, nil, err
	}
	b, err = expand(b, map[string]func(indent, key string) string{
		"releaseNamespace":          releaseNamespace,
		"replicas":                  inline("{{ .Values.replicas }}"),
		"podLabels":                 withExtra(podLabels, "podLabels"),
		"podAnnotations":            withExtra(podAnnotations, "podAnnotations"),
		"imagePullSecrets":          optional("image.pullSecrets"),
		"nodeSelector":              optional("nodeSelector"),
		"tolerations":               optional("tolerations"),
		"affinity":                  optional("affinity"),
		"topologySpreadConstraints": optional("topologySpreadConstraints"),
		"priorityClassName": func(indent, key string) string {
			return fmt.Sprintf("{{- with .Values.priorityClassName }}\n%s%s: {{ . | quote }}\n{{- end }}", indent, key)
		},
		"image":           image,
		"imagePullPolicy": imagePullPolicy,
		"args":            func(indent, key string) string { return templateArgs(indent, key, args, operatorFlags, "extraArgs") },
		"env":             withExtra(env, "extraEnv"),
		"resources": func(indent, key string) string {
			return fmt.Sprintf("%s%s:\n{{- toYaml .Values.resources | nindent %d }}", indent, key, len(indent)+2)
		},
	})
	if err != nil {
		return nil, nil, err
	}
	return b, d, nil
}

// A valueFlag is a flag config/ leaves at its default, passed only when its value is set; value
// renders the value (the dot) as the flag's.
type valueFlag struct{ flag, path, value string }

var operatorFlags = []valueFlag{
	{"--blocked-cidrs", "blockedCIDRs", `join "," .`},
	{"--tenant-blocked-cidrs", "tenantBlockedCIDRs", `join "," .`},
	{"--console-url", "consoleURL", "."},
}

// The console's sign-in: the files are the keys of the Secret config/console mounts at
// /etc/policy-herald/login (docs/console.md, Signing in).
var consoleFlags = []valueFlag{
	{"--external-url", "console.externalURL", "."},
	{"--session-key-file", "console.oidc.issuerURL", `"/etc/policy-herald/login/session-key"`},
	{"--oidc-issuer-url", "console.oidc.issuerURL", "."},
	{"--oidc-client-id", "console.oidc.clientID", "."},
	{"--oidc-client-secret-file", "console.oidc.issuerURL", `"/etc/policy-herald/login/oidc-client-secret"`},
	{"--oidc-scopes", "console.oidc.scopes", `join "," .`},
	{"--oidc-username-claim", "console.oidc.usernameClaim", "."},
	{"--oidc-groups-claim", "console.oidc.groupsClaim", "."},
	{"--oidc-groups-prefix", "console.oidc.groupsPrefix", "."},
}

// templateArgs renders a container's arguments: --leader-elect as leaderElection.enabled says,
// the platform namespace from platformNamespace, then the flags set by values and, when
// extraArgs names values, those.
func templateArgs(indent, key string, args []any, flags []valueFlag, extraArgs string) string {
	var b strings.Builder
	b.WriteString(indent + key + ":")
	for _, a := range args {
		s, _ := a.(string)
		switch {
		case s == leaderElectArg:
			fmt.Fprintf(&b, "\n{{- if .Values.leaderElection.enabled }}\n%s- %s\n{{- end }}", indent, s)
		case strings.HasPrefix(s, platformNamespaceArg):
			fmt.Fprintf(&b, "\n%s- %s{{ .Values.platformNamespace | default %q }}", indent, platformNamespaceArg, strings.TrimPrefix(s, platformNamespaceArg))
		default:
			y, _ := yaml.Marshal([]any{a})
			b.WriteString("\n" + indent + strings.TrimSuffix(string(y), "\n"))
		}
	}
	for _, f := range flags {
		// quoted: a value may end in a colon (--oidc-groups-prefix=oidc:), which YAML would read
		// as a map.
		fmt.Fprintf(&b, "\n{{- with .Values.%s }}\n%s- {{ printf \"%s=%%s\" (%s) | quote }}\n{{- end }}", f.path, indent, f.flag, f.value)
	}
	if extraArgs != "" {
		fmt.Fprintf(&b, "\n{{- range .Values.%s }}\n%s- {{ . | quote }}\n{{- end }}", extraArgs, indent)
	}
	return b.String()
}

// splitImage splits NAME[:TAG] or NAME@DIGEST; a colon before the last slash belongs to a
// registry's port, not to a tag.
func splitImage(image string) (name, tag, digest string) {
	if at := strings.Index(image, "@"); at >= 0 {
		return image[:at], "", image[at+1:]
	}
	if c := strings.LastIndex(image, ":"); c > strings.LastIndex(image, "/") {
		return image[:c], image[c+1:], ""
	}
	return image, "latest", ""
}

// asInt reads a number kustomize built, whichever type its YAML decoding gave it.
func asInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case int:
		return int64(n), true
	case float64:
		return int64(n), n == float64(int64(n))
	}
	return 0, false
}

func mapAt(o map[string]any, path ...string) map[string]any {
	for _, p := range path {
		o, _ = o[p].(map[string]any)
	}
	return o
}

func str(o map[string]any, path ...string) string {
	s, _ := mapAt(o, path[:len(path)-1]...)[path[len(path)-1]].(string)
	return s
}

// chartYAML is Chart.yaml, with Artifact Hub's annotations: the CRDs (from their schemas), the
// image and that this is an operator.
func chartYAML(version string, d *defaultValues, crds []map[string]any) ([]byte, error) {
	type crdAnnotation struct {
		Kind        string `json:"kind"`
		Version     string `json:"version"`
		Name        string `json:"name"`
		DisplayName string `json:"displayName"`
		Description string `json:"description"`
	}
	var list []crdAnnotation
	for _, crd := range crds {
		versions, _ := mapAt(crd, "spec")["versions"].([]any)
		for _, v := range versions {
			v, _ := v.(map[string]any)
			if served, _ := v["served"].(bool); !served {
				continue
			}
			list = append(list, crdAnnotation{
				Kind:        str(crd, "spec", "names", "kind"),
				Version:     str(v, "name"),
				Name:        str(crd, "spec", "names", "plural"),
				DisplayName: str(crd, "spec", "names", "kind"),
				Description: firstSentence(str(v, "schema", "openAPIV3Schema", "description")),
			})
		}
	}
	crdsYAML, err := yaml.Marshal(list)
	if err != nil {
		return nil, err
	}
	image := d.repository + ":" + d.tag // what default values run
	if d.digest != "" {
		image = d.repository + "@" + d.digest
	}
	imagesYAML, err := yaml.Marshal([]map[string]string{{"name": chartName, "image": image}})
	if err != nil {
		return nil, err
	}
	chart := map[string]any{
		"apiVersion":  "v2",
		"name":        chartName,
		"description": description,
		"type":        "application",
		"version":     version,
		"appVersion":  version,
		"home":        repository,
		"sources":     []string{repository},
		"keywords":    []string{"policy", "policy-report", "kyverno", "trivy", "falco", "operator", "notifications"},
		"maintainers": []map[string]string{{"name": "Policy Herald maintainers", "email": "maintainers@policyherald.io"}},
		"annotations": map[string]string{
			"artifacthub.io/operator":                "true",
			"artifacthub.io/prerelease":              fmt.Sprint(strings.HasPrefix(version, "0.")),
			"artifacthub.io/crds":                    string(crdsYAML),
			"artifacthub.io/images":                  string(imagesYAML),
			"artifacthub.io/links":                   "- name: Documentation\n  url: " + repository + "/tree/main/docs\n",
			"artifacthub.io/containsSecurityUpdates": "false",
		},
	}
	b, err := yaml.Marshal(chart)
	if err != nil {
		return nil, err
	}
	return append([]byte(header), b...), nil
}

func firstSentence(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if i := strings.Index(s, ". "); i >= 0 {
		return s[:i+1]
	}
	return s
}

// valuesYAML is values.yaml: config/default's settings, each value with the comment the chart's
// README shows.
func valuesYAML(d *defaultValues) ([]byte, error) {
	res, err := yaml.Marshal(d.resources)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	b.WriteString(header)
	fmt.Fprintf(&b, `
image:
  # The operator's image, without tag or digest.
  repository: %s
  # Its tag; empty: the chart's appVersion.
  tag: %q
  # Its digest (sha256:...), which wins over tag when set.
  digest: %q
  # When the kubelet pulls it: Always, IfNotPresent or Never.
  pullPolicy: %s
  # Secrets to pull it with: a list of {name: SECRET} in the release's namespace.
  pullSecrets: []

# Operator replicas; with leader election one of them delivers, the others stand by.
replicas: %d

leaderElection:
  # Elect a leader (--leader-elect); turn off only with one replica and nothing else managing
  # the same objects.
  enabled: true

# Targets and channels in this namespace may deliver results of every namespace and reach
# private networks; everywhere else they see their own namespace only. Empty: the release's
# namespace.
platformNamespace: ""

# Networks no target or channel may connect to (--blocked-cidrs). Empty: the operator's
# default, loopback, link-local (cloud metadata) and unspecified addresses.
blockedCIDRs: []

# Networks also refused to targets and channels outside the platform namespace
# (--tenant-blocked-cidrs): set them to the cluster's service and pod networks, which cannot be
# discovered. Empty: the operator's default, every private range.
tenantBlockedCIDRs: []

# The console's external address (--console-url): chat messages, digests and e-mail reports
# link to its pages. Empty: no links.
consoleURL: ""

# More arguments for the operator (policy-herald --help), each a --flag=value.
extraArgs: []

# More environment variables for the operator's container (Kubernetes EnvVars).
extraEnv: []

# The operator container's resources; GOMEMLIMIT follows limits.memory. Helm merges a map given
# here into this one: set a field to null to drop it.
resources:
%s

# Annotations added to the operator's Pods.
podAnnotations: {}

# Labels added to the operator's Pods.
podLabels: {}

# Node labels the operator's Pods must run on (Pod nodeSelector).
nodeSelector: {}

# Taints the operator's Pods tolerate (Pod tolerations).
tolerations: []

# Pod affinity and anti-affinity of the operator's Pods.
affinity: {}

# How the operator's Pods spread over zones or nodes.
topologySpreadConstraints: []

# PriorityClass of the operator's Pods.
priorityClassName: ""

metricsService:
  # The operator's metrics Service: HTTPS on 8443, for callers whose token may GET /metrics
  # (bind the ClusterRole policy-herald-metrics-reader to them). The ServiceMonitor scrapes it.
  enabled: true

podDisruptionBudget:
  # A PodDisruptionBudget of the operator's Pods; useful with more than one replica (with one it
  # would block node drains).
  enabled: false
  # How many of them a voluntary disruption may take at once: a number or a percentage.
  maxUnavailable: 1

serviceMonitor:
  # A Prometheus Operator ServiceMonitor scraping the operator's metrics (config/prometheus;
  # needs the monitoring.coreos.com CRDs).
  enabled: false

prometheusRule:
  # The operator's alerts as a PrometheusRule (config/prometheus; needs the monitoring.coreos.com
  # CRDs).
  enabled: false

networkPolicy:
  # Admit traffic to the operator only on its metrics port, from namespaces labelled
  # metrics=enabled (config/network-policy).
  enabled: false

console:
  # The console (config/console): its ServiceAccount, ClusterRole, Deployment,
  # PodDisruptionBudget and ClusterIP Service. Expose it as docs/console.md says.
  enabled: false
  # Console replicas; each serves on its own.
  replicas: %d
  # The console's external address (--external-url), which sign-in redirects back to.
  externalURL: ""
  oidc:
    # OIDC issuer to sign in with (--oidc-issuer-url); empty: token login only. Create the
    # Secret policy-herald-console-login with the keys session-key and oidc-client-secret first
    # (docs/console.md, Signing in).
    issuerURL: ""
    # The OIDC client's ID (--oidc-client-id).
    clientID: ""
    # Scopes to request (--oidc-scopes); empty: the console's default.
    scopes: []
    # The claim that names the person (--oidc-username-claim), as the kube-apiserver's flag.
    usernameClaim: ""
    # The claim of groups (--oidc-groups-claim), as the kube-apiserver's flag.
    groupsClaim: ""
    # Prefixed to groups (--oidc-groups-prefix), as the kube-apiserver's flag.
    groupsPrefix: ""
  ingress:
    # An Ingress to the console's Service.
    enabled: false
    # Its IngressClass.
    className: ""
    # The host it serves.
    host: console.example.com
    # TLS Secret of the host; empty: no TLS.
    tlsSecretName: ""
    # Annotations of the Ingress.
    annotations: {}
  httpRoute:
    # A Gateway API HTTPRoute to the console's Service.
    enabled: false
    # The Gateways it attaches to (HTTPRoute parentRefs).
    parentRefs:
    - name: public
      namespace: gateway-system
      sectionName: https
    # The hosts it serves.
    hostnames:
    - console.example.com

grafanaDashboard:
  # The Grafana dashboards of config/grafana (the operator's health and the policy results, by
  # namespace, policy, severity and source) as one ConfigMap for Grafana's dashboard sidecar.
  enabled: false
  # Namespace of the ConfigMap, where the sidecar looks. Empty: the release's namespace.
  namespace: ""
  # Labels the sidecar selects dashboards by.
  labels:
    grafana_dashboard: "1"
`, d.repository, d.tag, d.digest, d.pullPolicy, d.replicas, indentLines(string(res), "  "), d.consoleReplicas)
	return []byte(b.String()), nil
}

// nestedValues are the values that group others, which the README lists field by field.
var nestedValues = map[string]bool{
	"image": true, "leaderElection": true, "serviceMonitor": true, "prometheusRule": true,
	"networkPolicy": true, "console": true, "grafanaDashboard": true, "podDisruptionBudget": true,
	"metricsService": true,
	"console.oidc":   true, "console.ingress": true, "console.httpRoute": true,
}

// documentedValue is one row of the README's table of values.
type documentedValue struct{ path, def, doc string }

// documentValues reads every value of values.yaml with its default and its comment.
func documentValues(values []byte) ([]documentedValue, error) {
	var doc yamlv3.Node
	if err := yamlv3.Unmarshal(values, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) != 1 {
		return nil, fmt.Errorf("values.yaml is not one document")
	}
	var out []documentedValue
	var walk func(prefix string, m *yamlv3.Node) error
	walk = func(prefix string, m *yamlv3.Node) error {
		for i := 0; i+1 < len(m.Content); i += 2 {
			k, v := m.Content[i], m.Content[i+1]
			path := prefix + k.Value
			if nestedValues[path] {
				if err := walk(path+".", v); err != nil {
					return err
				}
				continue
			}
			comment := strings.TrimSpace(strings.ReplaceAll(k.HeadComment, "# ", ""))
			comment = strings.Join(strings.Fields(strings.ReplaceAll(comment, "#", "")), " ")
			if comment == "" {
				return fmt.Errorf("values.yaml: %s has no comment", path)
			}
			var def any
			if err := v.Decode(&def); err != nil {
				return err
			}
			j, err := json.Marshal(def)
			if err != nil {
				return err
			}
			out = append(out, documentedValue{path: path, def: string(j), doc: comment})
		}
		return nil
	}
	if err := walk("", doc.Content[0]); err != nil {
		return nil, err
	}
	return out, nil
}

// readme is the chart's README.md: how to install it and every value.
func readme(values []byte) ([]byte, error) {
	list, err := documentValues(values)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	fmt.Fprintf(&b, `# %s

%s

<!-- Generated from config/default by make helm-chart (hack/helmchart); a test fails when it is stale. -->

The chart installs what `+"`config/default`"+` does, from the same kustomize base: the CRDs (in
`+"`crds/`"+`), the operator's RBAC, its Deployment and its metrics Service, in the release's
namespace. With default values it renders exactly the objects of `+"`kustomize build config/default`"+`
except its Namespace, which Helm creates:

    helm install policy-herald dist/chart --namespace policy-herald-system --create-namespace \
      --set image.repository=REGISTRY/policy-herald --set image.tag=TAG

Helm installs CRDs but never upgrades or deletes them: on upgrade apply the new ones first
(`+"`kubectl apply --server-side -f dist/chart/crds/`"+`). More in docs/helm.md.

## Values

`+"`values.schema.json`"+` refuses unknown and mistyped values.

| Value | Default | Description |
|---|---|---|
`, chartName, description)
	for _, v := range list {
		fmt.Fprintf(&b, "| `%s` | `%s` | %s |\n", v.path, strings.ReplaceAll(v.def, "|", "\\|"), strings.ReplaceAll(v.doc, "|", "\\|"))
	}
	return []byte(b.String()), nil
}

func indentLines(s, indent string) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = indent + l
	}
	return strings.Join(lines, "\n")
}

// enabled is the schema of an optional part's values: enabled and the given properties.
func enabled(properties map[string]any) map[string]any {
	p := map[string]any{"enabled": map[string]any{"type": "boolean"}}
	for k, v := range properties {
		p[k] = v
	}
	return map[string]any{"type": "object", "additionalProperties": false, "properties": p}
}

// valuesSchema is values.schema.json: every value typed, unknown ones refused.
func valuesSchema() ([]byte, error) {
	strMap := map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"}}
	object := map[string]any{"type": "object"}
	objects := map[string]any{"type": "array", "items": object}
	quantity := map[string]any{"type": []string{"string", "number"}}
	text := map[string]any{"type": "string"}
	url := map[string]any{"type": "string", "pattern": "^(https?://[^\\s,]+)?$"}
	cidrs := map[string]any{"type": "array", "items": map[string]any{"type": "string", "pattern": "^[0-9a-fA-F:.]+(/[0-9]{1,3})?$"}}
	quantities := map[string]any{"type": "object", "additionalProperties": quantity}
	schema := map[string]any{
		"$schema":              "http://json-schema.org/draft-07/schema#",
		"title":                "Values of the policy-herald chart",
		"type":                 "object",
		"additionalProperties": false,
		"properties": map[string]any{
			"image": map[string]any{
				"type": "object", "additionalProperties": false,
				"required": []string{"repository", "pullPolicy"},
				"properties": map[string]any{
					"repository": map[string]any{"type": "string", "minLength": 1},
					"tag":        map[string]any{"type": "string"},
					"digest":     map[string]any{"type": "string", "pattern": "^(sha256:[a-f0-9]{64})?$"},
					"pullPolicy": map[string]any{"enum": []string{"Always", "IfNotPresent", "Never"}},
					"pullSecrets": map[string]any{"type": "array", "items": map[string]any{
						"type": "object", "additionalProperties": false, "required": []string{"name"},
						"properties": map[string]any{"name": map[string]any{"type": "string", "minLength": 1}},
					}},
				},
			},
			"replicas": map[string]any{"type": "integer", "minimum": 0},
			"leaderElection": map[string]any{
				"type": "object", "additionalProperties": false,
				"properties": map[string]any{"enabled": map[string]any{"type": "boolean"}},
			},
			"platformNamespace":  map[string]any{"type": "string", "pattern": "^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)?$"},
			"blockedCIDRs":       cidrs,
			"tenantBlockedCIDRs": cidrs,
			"consoleURL":         map[string]any{"type": "string", "pattern": "^(https?://[^\\s,]+)?$"},
			"extraArgs":          map[string]any{"type": "array", "items": map[string]any{"type": "string", "pattern": "^--"}},
			"extraEnv": map[string]any{"type": "array", "items": map[string]any{
				"type": "object", "required": []string{"name"},
				"properties": map[string]any{"name": map[string]any{"type": "string", "minLength": 1}},
			}},
			"resources": map[string]any{
				"type": "object", "additionalProperties": false,
				"properties": map[string]any{"limits": quantities, "requests": quantities, "claims": objects},
			},
			"podAnnotations":            strMap,
			"podLabels":                 strMap,
			"nodeSelector":              strMap,
			"tolerations":               objects,
			"affinity":                  object,
			"topologySpreadConstraints": objects,
			"priorityClassName":         map[string]any{"type": "string"},
			"podDisruptionBudget": enabled(map[string]any{"maxUnavailable": map[string]any{
				"oneOf": []any{
					map[string]any{"type": "integer", "minimum": 0},
					map[string]any{"type": "string", "pattern": "^[0-9]+%$"},
				},
			}}),
			"metricsService": enabled(nil),
			"serviceMonitor": enabled(nil),
			"prometheusRule": enabled(nil),
			"networkPolicy":  enabled(nil),
			"console": enabled(map[string]any{
				"replicas":    map[string]any{"type": "integer", "minimum": 0},
				"externalURL": url,
				"oidc": map[string]any{
					"type": "object", "additionalProperties": false,
					"properties": map[string]any{
						"issuerURL": url, "clientID": text, "scopes": map[string]any{"type": "array", "items": text},
						"usernameClaim": text, "groupsClaim": text, "groupsPrefix": text,
					},
				},
				"ingress": enabled(map[string]any{
					"className": text, "host": map[string]any{"type": "string", "minLength": 1},
					"tlsSecretName": text, "annotations": strMap,
				}),
				"httpRoute": enabled(map[string]any{
					"parentRefs": map[string]any{"type": "array", "items": map[string]any{
						"type": "object", "required": []string{"name"},
						"properties": map[string]any{"name": map[string]any{"type": "string", "minLength": 1}},
					}},
					"hostnames": map[string]any{"type": "array", "items": text},
				}),
			}),
			"grafanaDashboard": enabled(map[string]any{
				"namespace": map[string]any{"type": "string", "pattern": "^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)?$"},
				"labels":    strMap,
			}),
		},
	}
	b, err := json.MarshalIndent(schema, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

const notes = `Policy Herald {{ .Chart.AppVersion }} is installed in the namespace {{ .Release.Namespace }}.

1. Check that the operator runs:
     kubectl -n {{ .Release.Namespace }} rollout status deployment/policy-herald-controller-manager

2. It needs no more than the restricted Pod Security Standard; enforce that on its namespace:
     kubectl label namespace {{ .Release.Namespace }} pod-security.kubernetes.io/enforce=restricted
{{- if not .Values.tenantBlockedCIDRs }}

3. Tenants' targets are refused every private network. Narrow that to the cluster's service and
   pod networks with --set-json 'tenantBlockedCIDRs=["10.96.0.0/12","10.244.0.0/16"]'.
{{- end }}

Then send results somewhere: a NotificationTarget in {{ .Values.platformNamespace | default .Release.Namespace }}
delivers results of every namespace, one elsewhere those of its own namespace. Examples:
  kubectl apply -k "https://github.com/policyherald/policy-herald//config/samples?ref=v{{ .Chart.AppVersion }}"
and docs/destinations.md for every destination. Watch them with:
  kubectl get notificationtargets,targetchannels -A
`
