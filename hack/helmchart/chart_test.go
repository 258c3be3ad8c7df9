package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	kubefake "helm.sh/helm/v4/pkg/kube/fake"
	release "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage"
	"helm.sh/helm/v4/pkg/storage/driver"
	"sigs.k8s.io/yaml"

	"github.com/policyherald/policy-herald/hack/internal/generated"
)

const (
	chartDir  = "../../dist/chart"
	configDir = "../../config/default"
	// The namespace config/default installs into, which the comparison installs the release in.
	namespace = "policy-herald-system"
)

const dashboardID = "ConfigMap/" + namespace + "/policy-herald-grafana-dashboard"

var update = flag.Bool("update", false, "Rewrite the golden files of testdata/golden.")

// The committed dist/chart is what `make helm-chart` generates from config/default, at the
// Makefile's VERSION.
func TestChartIsCurrent(t *testing.T) {
	version, err := generated.MakefileVersion("../..")
	if err != nil {
		t.Fatal(err)
	}
	want, err := generate(configDir, version)
	if err != nil {
		t.Fatal(err)
	}
	got, err := generated.ReadTree(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	var stale []string
	for name, w := range want {
		switch g, ok := got[name]; {
		case !ok:
			stale = append(stale, name+" is missing")
		case !bytes.Equal(g, w):
			stale = append(stale, name+" differs")
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			stale = append(stale, name+" is no longer generated")
		}
	}
	if len(stale) > 0 {
		sort.Strings(stale)
		t.Fatalf("dist/chart is stale: run make helm-chart and commit it\n  %s", strings.Join(stale, "\n  "))
	}
}

func TestGenerateDeterministic(t *testing.T) {
	a, err := generate(configDir, "1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	b, err := generate(configDir, "1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two runs generate different charts")
	}
}

// helm lint, strict (no warnings either), with default values and each golden value set.
func TestLint(t *testing.T) {
	sets, _ := filepath.Glob("testdata/values/*.yaml")
	for _, set := range append([]string{""}, sets...) {
		var vals map[string]any
		if set != "" {
			vals = readValues(t, set)
		}
		res := lint.RunAll(chartDir, vals, namespace)
		for _, m := range res.Messages {
			if m.Severity >= support.WarningSev {
				t.Errorf("%s: %v", set, m)
			}
		}
	}
}

// With default values the chart renders config/default's objects, every field alike; only the
// Namespace is left to Helm (helm install --create-namespace), which owns the release's namespace.
func TestDefaultValuesRenderConfigDefault(t *testing.T) {
	compareWithConfig(t, nil)
}

// With the optional parts on, it renders config/default with their lines uncommented, and the
// Grafana dashboard's ConfigMap.
func TestOptionalPartsRenderConfig(t *testing.T) {
	var dirs []string
	for _, p := range optionalParts {
		dirs = append(dirs, p.dir)
	}
	on := map[string]any{"enabled": true}
	got := compareWithConfig(t, map[string]any{
		"serviceMonitor": on, "prometheusRule": on, "networkPolicy": on, "console": on, "grafanaDashboard": on,
	}, dirs...)
	cm, ok := got[dashboardID]
	if !ok {
		t.Fatal("no dashboard ConfigMap")
	}
	files, _ := filepath.Glob("../../config/grafana/*.json")
	data, _ := cm["data"].(map[string]any)
	if len(files) < 2 || len(data) != len(files) {
		t.Errorf("the ConfigMap holds %d dashboards, config/grafana %d", len(data), len(files))
	}
	for _, f := range files {
		want, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if data[filepath.Base(f)] != strings.TrimSuffix(string(want), "\n") {
			t.Errorf("the ConfigMap does not hold config/grafana's %s", filepath.Base(f))
		}
	}
}

// compareWithConfig renders the chart with vals and compares it with config/default built with
// the extra kustomizations; the chart may add the dashboard's ConfigMap. It returns the chart's objects.
func compareWithConfig(t *testing.T, vals map[string]any, extra ...string) map[string]map[string]any {
	t.Helper()
	manifest, err := render(load(t), vals)
	if err != nil {
		t.Fatal(err)
	}
	got := byID(t, split(t, manifest))
	built, err := build(configDir, extra...)
	if err != nil {
		t.Fatal(err)
	}
	want := byID(t, built)
	nsID := "Namespace//" + namespace
	if _, ok := want[nsID]; !ok {
		t.Fatalf("config/default has no Namespace %s", namespace)
	}
	delete(want, nsID)
	for id, w := range want {
		g, ok := got[id]
		if !ok {
			t.Errorf("the chart does not render %s", id)
			continue
		}
		if !reflect.DeepEqual(g, w) {
			gy, _ := yaml.Marshal(g)
			wy, _ := yaml.Marshal(w)
			t.Errorf("%s differs:\nchart:\n%s\nconfig/default:\n%s", id, gy, wy)
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok && id != dashboardID {
			t.Errorf("the chart renders %s, which config/default does not", id)
		}
	}
	if len(want) < 20 {
		t.Errorf("config/default builds only %d objects besides its Namespace", len(want))
	}
	return got
}

// helm template with each value set of testdata/values matches its golden file
// (go test -run TestGolden -update rewrites them).
func TestGolden(t *testing.T) {
	ch := load(t)
	sets, err := filepath.Glob("testdata/values/*.yaml")
	if err != nil || len(sets) < 2 {
		t.Fatalf("value sets %v: %v", sets, err)
	}
	for _, set := range sets {
		t.Run(filepath.Base(set), func(t *testing.T) {
			manifest, err := render(ch, readValues(t, set))
			if err != nil {
				t.Fatal(err)
			}
			// The CRDs are config/crd's, compared above; the golden files hold what values change.
			var docs []string
			for _, o := range split(t, manifest) {
				if o["kind"] == crdKind {
					continue
				}
				y, err := yaml.Marshal(o)
				if err != nil {
					t.Fatal(err)
				}
				docs = append(docs, string(y))
			}
			got := []byte(strings.Join(docs, "---\n"))
			golden := filepath.Join("testdata/golden", filepath.Base(set))
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v: run go test -run TestGolden -update", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("helm template with %s differs from %s (go test -run TestGolden -update rewrites it):\n%s", set, golden, got)
			}
		})
	}
}

// values.schema.json refuses unknown and mistyped values, which helm install and template then
// refuse too.
func TestSchemaRefusesBadValues(t *testing.T) {
	ch := load(t)
	for name, vals := range map[string]string{
		"unknown value":              "replica: 2",
		"unknown image field":        "image: {name: x}",
		"replicas as a string":       `replicas: "2"`,
		"negative replicas":          "replicas: -1",
		"pull policy":                "image: {pullPolicy: Sometimes}",
		"digest without algorithm":   "image: {digest: abc}",
		"pull secrets as names":      "image: {pullSecrets: [regcred]}",
		"leader election as a bool":  "leaderElection: false",
		"platform namespace":         "platformNamespace: Team_A",
		"extra args as a string":     "extraArgs: --console-url=x",
		"an extra arg not a flag":    "extraArgs: [console-url]",
		"extra env without name":     "extraEnv: [{value: x}]",
		"node selector not a map":    "nodeSelector: [linux]",
		"pod label value not string": "podLabels: {tier: 1}",
		"tolerations as a map":       "tolerations: {key: x}",
		"resources misspelt":         "resources: {limit: {cpu: 1}}",
		"priority class as a number": "priorityClassName: 7",
		"CIDRs as one string":        "tenantBlockedCIDRs: 10.0.0.0/8",
		"a CIDR that is not one":     "blockedCIDRs: [internal]",
		"console URL without scheme": "consoleURL: herald.example.com",
		"console as a bool":          "console: true",
		"console replicas as string": `console: {replicas: "2"}`,
		"unknown ServiceMonitor key": "serviceMonitor: {enable: true}",
		"dashboard label not string": "grafanaDashboard: {labels: {grafana_dashboard: 1}}",
		"OIDC issuer without scheme": "console: {oidc: {issuerURL: idp.example.com}}",
		"unknown OIDC setting":       "console: {oidc: {clientSecret: x}}",
		"Ingress host empty":         `console: {ingress: {host: ""}}`,
		"parentRefs without name":    "console: {httpRoute: {parentRefs: [{namespace: x}]}}",
		"maxUnavailable not a count": "podDisruptionBudget: {maxUnavailable: one}",
	} {
		t.Run(name, func(t *testing.T) {
			var v map[string]any
			if err := yaml.Unmarshal([]byte(vals), &v); err != nil {
				t.Fatal(err)
			}
			merged, err := util.CoalesceValues(ch, v)
			if err != nil {
				t.Fatal(err)
			}
			if err := util.ValidateAgainstSchema(ch, merged); err == nil {
				t.Errorf("the schema accepts %s", vals)
			}
			if _, err := render(ch, v); err == nil {
				t.Errorf("helm template accepts %s", vals)
			}
		})
	}
	// and accepts every value set the golden files render, and the defaults.
	sets, _ := filepath.Glob("testdata/values/*.yaml")
	for _, set := range append(sets, filepath.Join(chartDir, "values.yaml")) {
		merged, err := util.CoalesceValues(ch, readValues(t, set))
		if err != nil {
			t.Fatal(err)
		}
		if err := util.ValidateAgainstSchema(ch, merged); err != nil {
			t.Errorf("the schema refuses %s: %v", set, err)
		}
	}
}

func load(t *testing.T) *chart.Chart {
	t.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func readValues(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// render is helm template: an install in client-only dry-run mode, CRDs included.
func render(ch *chart.Chart, vals map[string]any) (string, error) {
	cfg := action.NewConfiguration()
	cfg.Releases = storage.Init(driver.NewMemory())
	cfg.KubeClient = &kubefake.PrintingKubeClient{Out: io.Discard}
	cfg.Capabilities = common.DefaultCapabilities
	in := action.NewInstall(cfg)
	in.DryRunStrategy = action.DryRunClient
	in.ReleaseName = chartName
	in.Namespace = namespace
	in.IncludeCRDs = true
	r, err := in.Run(ch, vals)
	if err != nil {
		return "", err
	}
	rel, ok := r.(*release.Release)
	if !ok {
		return "", fmt.Errorf("release of type %T", r)
	}
	return rel.Manifest, nil
}

// split parses a YAML stream into objects, through JSON so that numbers compare alike.
func split(t *testing.T, stream string) []map[string]any {
	t.Helper()
	var objs []map[string]any
	for _, doc := range strings.Split("\n"+stream, "\n---") {
		var o map[string]any
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatalf("%v in\n%s", err, doc)
		}
		if o != nil {
			objs = append(objs, o)
		}
	}
	return objs
}

func byID(t *testing.T, objs []map[string]any) map[string]map[string]any {
	t.Helper()
	m := map[string]map[string]any{}
	for _, o := range objs {
		j, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		var n map[string]any
		if err := json.Unmarshal(j, &n); err != nil {
			t.Fatal(err)
		}
		id := str(n, "kind") + "/" + str(n, "metadata", "namespace") + "/" + str(n, "metadata", "name")
		if _, dup := m[id]; dup {
			t.Fatalf("%s twice", id)
		}
		m[id] = n
	}
	return m
}

// Every value is documented in values.yaml (the README's table) and typed in the schema, and
// the schema types nothing else.
func TestSchemaTypesEveryDocumentedValue(t *testing.T) {
	values, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	list, err := documentValues(values)
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, v := range list {
		documented[v.path] = true
	}
	raw, err := os.ReadFile(filepath.Join(chartDir, "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	type property struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	var schema property
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatal(err)
	}
	typed := map[string]bool{}
	var walk func(prefix string, p property)
	walk = func(prefix string, p property) {
		for name, sub := range p.Properties {
			if !nestedValues[prefix+name] {
				typed[prefix+name] = true
				continue
			}
			var n property
			if err := json.Unmarshal(sub, &n); err != nil {
				t.Fatal(err)
			}
			walk(prefix+name+".", n)
		}
	}
	walk("", schema)
	if !reflect.DeepEqual(documented, typed) {
		t.Errorf("values.yaml documents %v,\nvalues.schema.json types %v", documented, typed)
	}
}
