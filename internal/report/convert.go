package report

import (
	"hash/fnv"
	"sort"
	"strconv"
	"strings"
	"time"

	openreportsv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	wgpolicyv1alpha2 "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
)

// ResultIDProperty is the result property a producer may set to give a result its identity.
const ResultIDProperty = "resultID"

// FromPolicyReport converts a wgpolicyk8s.io PolicyReport.
func FromPolicyReport(r *wgpolicyv1alpha2.PolicyReport) *Report {
	return fromWGPolicy("PolicyReport", &r.ObjectMeta, r.Scope, r.Results)
}

// FromClusterPolicyReport converts a wgpolicyk8s.io ClusterPolicyReport.
func FromClusterPolicyReport(r *wgpolicyv1alpha2.ClusterPolicyReport) *Report {
	return fromWGPolicy("ClusterPolicyReport", &r.ObjectMeta, r.Scope, r.Results)
}

// FromReport converts an openreports.io Report.
func FromReport(r *openreportsv1alpha1.Report) *Report {
	return fromOpenReports("Report", &r.ObjectMeta, r.Source, r.Scope, r.Results)
}

// FromClusterReport converts an openreports.io ClusterReport.
func FromClusterReport(r *openreportsv1alpha1.ClusterReport) *Report {
	return fromOpenReports("ClusterReport", &r.ObjectMeta, r.Source, r.Scope, r.Results)
}

func fromWGPolicy(kind string, meta *metav1.ObjectMeta, scope *corev1.ObjectReference, in []wgpolicyv1alpha2.PolicyReportResult) *Report {
	out := newReport(kind, meta, len(in))
	for i := range in {
		r := &in[i]
		out.Results = append(out.Results, newResult(scope, "", resultFields{
			source: r.Source, policy: r.Policy, rule: r.Rule, category: r.Category,
			severity: string(r.Severity), status: string(r.Result), message: r.Message,
			scored: r.Scored, timestamp: r.Timestamp, resources: r.Resources, properties: r.Properties,
		}))
	}
	disambiguate(out.Results)
	return out
}

func fromOpenReports(kind string, meta *metav1.ObjectMeta, source string, scope *corev1.ObjectReference, in []openreportsv1alpha1.ReportResult) *Report {
	out := newReport(kind, meta, len(in))
	for i := range in {
		r := &in[i]
		out.Results = append(out.Results, newResult(scope, source, resultFields{
			source: r.Source, policy: r.Policy, rule: r.Rule, category: r.Category,
			severity: string(r.Severity), status: string(r.Result), message: r.Description,
			scored: r.Scored, timestamp: r.Timestamp, resources: r.Subjects, properties: r.Properties,
		}))
	}
	disambiguate(out.Results)
	return out
}

func newReport(kind string, meta *metav1.ObjectMeta, n int) *Report {
	return &Report{
		Kind: kind, Namespace: meta.Namespace, Name: meta.Name, Labels: meta.Labels,
		Created: meta.CreationTimestamp.Time, Results: make([]Result, 0, n),
	}
}

// resultFields are the fields both APIs share, under one name.
type resultFields struct {
	source, policy, rule, category, severity, status, message string
	scored                                                    bool
	timestamp                                                 metav1.Timestamp
	resources                                                 []corev1.ObjectReference
	properties                                                map[string]string
}

func newResult(scope *corev1.ObjectReference, reportSource string, f resultFields) Result {
	res := Result{
		Policy:     f.policy,
		Rule:       f.rule,
		Category:   f.category,
		Message:    f.message,
		Source:     f.source,
		Status:     v1alpha1.ResultStatus(strings.ToLower(f.status)),
		Severity:   v1alpha1.Severity(strings.ToLower(f.severity)),
		Scored:     f.scored,
		Timestamp:  toTime(f.timestamp),
		Properties: f.properties,
	}
	if res.Source == "" {
		res.Source = reportSource
	}
	// A result without resources is about its report's scope (Kyverno 1.13+ writes one report
	// per resource and names it only in the scope).
	switch {
	case len(f.resources) > 0:
		res.Resource = toResource(&f.resources[0])
	case scope != nil:
		res.Resource = toResource(scope)
	}
	res.ID = resultID(&res, false)
	return res
}

// disambiguate gives results that share an ID within one report distinct IDs by also hashing
// their properties. Producers such as the Trivy adapter write results that differ only in their
// properties (the vulnerability ID); without this, all but the first would never be sent.
func disambiguate(results []Result) {
	if len(results) < 2 {
		return
	}
	seen := make(map[string]int, len(results))
	for i := range results {
		seen[results[i].ID]++
	}
	for i := range results {
		if seen[results[i].ID] > 1 && results[i].Properties[ResultIDProperty] == "" {
			results[i].ID = resultID(&results[i], true)
		}
	}
}

func toResource(o *corev1.ObjectReference) *Resource {
	return &Resource{APIVersion: o.APIVersion, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name, UID: string(o.UID)}
}

// toTime converts a protobuf-style timestamp. Real producers write negative nanos (the Trivy
// adapter does), which time.Unix normalises; an unset timestamp stays zero.
func toTime(t metav1.Timestamp) time.Time {
	if t.Seconds == 0 && t.Nanos == 0 {
		return time.Time{}
	}
	return time.Unix(t.Seconds, int64(t.Nanos)).UTC()
}

// resultID is the producer's properties.resultID when given, else a hash of what the result
// says: its resource (uid, name), policy, rule, status, category and message, and with
// withProperties also its properties. The timestamp is left out so a re-scan that only
// refreshes it is not a new result.
func resultID(r *Result, withProperties bool) string {
	if id := r.Properties[ResultIDProperty]; id != "" {
		return id
	}
	h := fnv.New64a()
	write := func(s string) {
		_, _ = h.Write([]byte(s))
		_, _ = h.Write([]byte{0}) // separator: "ab"+"c" and "a"+"bc" must differ
	}
	if r.Resource != nil {
		write(r.Resource.UID)
		write(r.Resource.Name)
	} else {
		write("")
		write("")
	}
	write(r.Policy)
	write(r.Rule)
	write(string(r.Status))
	write(r.Category)
	write(r.Message)
	if withProperties {
		keys := make([]string, 0, len(r.Properties))
		for k := range r.Properties {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			write(k)
			write(r.Properties[k])
		}
	}
	return strconv.FormatUint(h.Sum64(), 16)
}
