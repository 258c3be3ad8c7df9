package resultmetrics

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/filter"
	"github.com/policyherald/policy-herald/internal/labelname"
	"github.com/policyherald/policy-herald/internal/report"
)

// DefaultProfile is the value of the label profile of the implicit default profile, which
// applies while no MetricsProfile exists in the platform namespace. Other profiles are
// "<namespace>/<name>", so it cannot clash with one.
const DefaultProfile = "default"

// DefaultSpec is the spec of the implicit default profile: mode simple, the default filter
// (every status but pass and skip), every namespace and the cluster reports.
func DefaultSpec() v1alpha1.MetricsProfileSpec {
	return v1alpha1.MetricsProfileSpec{Mode: v1alpha1.MetricsSimple}
}

// field reads one label value of a result.
type field func(rep *report.Report, res *report.Result) string

// Profile is a compiled MetricsProfile. It is immutable.
type Profile struct {
	// Key is "<namespace>/<name>", the value of the label profile.
	Key string
	// Namespace is the profile's namespace; a profile outside the platform namespace counts
	// only reports of its own namespace, and no cluster reports.
	Namespace string
	// Names are the exported label names, in the order of the spec (without profile).
	Names []string
	// source is the index of the label source in Names, -1 without it.
	source int

	spec      v1alpha1.MetricsProfileSpec
	tenant    bool
	fields    []field
	filter    *filter.Filter
	maxSeries int
}

// Compile compiles the spec of the profile namespace/name. platformNamespace is the namespace
// whose profiles see every namespace. The error describes an invalid spec (labels whose names
// clash once sanitised, an unknown label, an invalid filter).
func Compile(namespace, name string, spec v1alpha1.MetricsProfileSpec, platformNamespace string) (*Profile, error) {
	p := &Profile{
		Key: namespace + "/" + name, Namespace: namespace,
		spec: *spec.DeepCopy(), tenant: namespace != platformNamespace, source: -1,
	}
	if namespace == "" && name == DefaultProfile {
		p.Key, p.tenant = DefaultProfile, false
	}
	if spec.MaxSeries != nil {
		if *spec.MaxSeries < 1 {
			return nil, fmt.Errorf("maxSeries must be at least 1")
		}
		p.maxSeries = int(*spec.MaxSeries)
	}
	if spec.Mode == v1alpha1.MetricsCustom && len(spec.CustomLabels) == 0 {
		return nil, fmt.Errorf("customLabels is required with mode custom")
	}
	seen := map[string]string{}
	for _, l := range spec.Labels() {
		n := SanitizeLabel(l)
		if prev, ok := seen[n]; ok {
			return nil, fmt.Errorf("customLabels %q and %q are both exported as label %q", prev, l, n)
		}
		f, err := fieldOf(l)
		if err != nil {
			return nil, err
		}
		seen[n] = l
		if l == "source" {
			p.source = len(p.Names)
		}
		p.Names = append(p.Names, n)
		p.fields = append(p.fields, f)
	}
	f, err := filter.Compile(filter.Spec{Filter: spec.Filter})
	if err != nil {
		return nil, err
	}
	p.filter = f
	return p, nil
}

// same says whether q counts exactly what p counts.
func (p *Profile) same(q *Profile) bool {
	return q != nil && p.Key == q.Key && p.tenant == q.tenant && equality.Semantic.DeepEqual(p.spec, q.spec)
}

// covers says whether the profile may count rep: a tenant profile counts only the reports of
// its own namespace.
func (p *Profile) covers(rep *report.Report) bool {
	return !p.tenant || (rep.Namespace != "" && rep.Namespace == p.Namespace)
}

// SanitizeLabel returns the Prometheus label name of a MetricLabel: every character outside
// [a-zA-Z0-9_] becomes "_" (`label:app.kubernetes.io/name` → `label_app_kubernetes_io_name`,
// `property:x` → `property_x`), and a leading digit gets a "_" prefix.
func SanitizeLabel(l string) string {
	if s := labelname.Classic(l); s != "" {
		return s
	}
	return "_"
}

func resource(res *report.Result) *report.Resource {
	if res.Resource == nil {
		return &report.Resource{}
	}
	return res.Resource
}

var fields = map[string]field{
	"namespace": func(rep *report.Report, res *report.Result) string { return rep.ResultNamespace(res) },
	"policy":    func(_ *report.Report, res *report.Result) string { return res.Policy },
	"rule":      func(_ *report.Report, res *report.Result) string { return res.Rule },
	"report":    func(rep *report.Report, _ *report.Result) string { return rep.Name },
	"kind":      func(_ *report.Report, res *report.Result) string { return resource(res).Kind },
	"name":      func(_ *report.Report, res *report.Result) string { return resource(res).Name },
	"status":    func(_ *report.Report, res *report.Result) string { return string(res.Status) },
	"severity":  func(_ *report.Report, res *report.Result) string { return string(res.Severity) },
	"category":  func(_ *report.Report, res *report.Result) string { return res.Category },
	"source":    func(_ *report.Report, res *report.Result) string { return res.Source },
	"message":   func(_ *report.Report, res *report.Result) string { return res.Message },
}

func fieldOf(l string) (field, error) {
	if f, ok := fields[l]; ok {
		return f, nil
	}
	if k, ok := strings.CutPrefix(l, "label:"); ok && k != "" {
		return func(rep *report.Report, _ *report.Result) string { return rep.Labels[k] }, nil
	}
	if k, ok := strings.CutPrefix(l, "property:"); ok && k != "" {
		return func(_ *report.Report, res *report.Result) string { return res.Properties[k] }, nil
	}
	known := make([]string, 0, len(fields))
	for k := range fields {
		known = append(known, k)
	}
	sort.Strings(known)
	return nil, fmt.Errorf("unknown metric label %q (known: %s, label:<key>, property:<key>)", l, strings.Join(known, ", "))
}
