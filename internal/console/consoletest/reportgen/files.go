package reportgen

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"

	openreportsv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	wgpolicyv1alpha2 "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
)

// Root is the repository's root, wherever the test runs.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "..")
}

// Fixture reads the real reports of testdata/reports/file (byte for byte those of
// shared/fixtures) as LoadYAML does.
func Fixture(file, namespace string) ([]client.Object, error) {
	return LoadYAML(filepath.Join(Root(), "testdata", "reports", file), namespace)
}

// LoadYAML reads every report of a YAML file as the API server holds it once created: without
// resource version and UID, owner references kept (the Trivy adapter's names the Pod its
// results are about). PolicyReports are put in namespace unless it is "".
func LoadYAML(path, namespace string) ([]client.Object, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	r := k8syaml.NewYAMLReader(bufio.NewReader(f))
	var out []client.Object
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		o, err := decode(doc)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if _, namespaced := o.(*wgpolicyv1alpha2.PolicyReport); namespaced && namespace != "" {
			o.SetNamespace(namespace)
		}
		o.SetResourceVersion("")
		o.SetUID("")
		out = append(out, o)
	}
}

// decode reads one PolicyReport or ClusterPolicyReport.
func decode(doc []byte) (client.Object, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return nil, err
	}
	var o client.Object
	switch tm.Kind {
	case "PolicyReport":
		o = &wgpolicyv1alpha2.PolicyReport{}
	case "ClusterPolicyReport":
		o = &wgpolicyv1alpha2.ClusterPolicyReport{}
	default:
		return nil, errors.New("unexpected kind " + tm.Kind)
	}
	return o, yaml.Unmarshal(doc, o)
}

// OpenReport is an openreports.io Report kyverno-<ns> in ns with a result of each status, of
// policy require-labels, rules rule-a, rule-b, ..., about the Pod web.
func OpenReport(ns string, statuses ...string) *openreportsv1alpha1.Report {
	r := &openreportsv1alpha1.Report{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kyverno-" + ns}}
	for i, s := range statuses {
		r.Results = append(r.Results, openreportsv1alpha1.ReportResult{
			Source: "kyverno", Policy: "require-labels", Rule: "rule-" + string(rune('a'+i)),
			Result:   openreportsv1alpha1.Result(s),
			Subjects: []corev1.ObjectReference{{APIVersion: "v1", Kind: "Pod", Namespace: ns, Name: "web"}},
		})
	}
	return r
}

// ResultCount is the number of results of a report object (0 for any other object).
func ResultCount(o client.Object) int {
	switch r := o.(type) {
	case *wgpolicyv1alpha2.PolicyReport:
		return len(r.Results)
	case *wgpolicyv1alpha2.ClusterPolicyReport:
		return len(r.Results)
	case *openreportsv1alpha1.Report:
		return len(r.Results)
	case *openreportsv1alpha1.ClusterReport:
		return len(r.Results)
	}
	return 0
}
