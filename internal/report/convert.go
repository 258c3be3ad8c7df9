package report

import (
	"maps"
	"sort"
	"strings"
	"sync"
	"time"
	"unique"

	openreportsv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	wgpolicyv1alpha2 "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
)

// ResultIDProperty is the result property a producer may set to give a result its identity
// within its report.
const ResultIDProperty = "resultID"

// SeverityProperty is the result property some producers (the Falco and RHACM adapters) put
// the severity in instead of the severity field; it is used when the field is empty.
const SeverityProperty = "severity"

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
	c := newConverter(kind, meta, scope, len(in))
	for i := range in {
		r := &in[i]
		c.add("", resultFields{
			source: r.Source, policy: r.Policy, rule: r.Rule, category: r.Category,
			severity: string(r.Severity), status: string(outcome(r)), message: r.Message,
			scored: r.Scored, timestamp: r.Timestamp, resources: r.Resources, properties: r.Properties,
		})
	}
	return c.finish()
}

// outcome is a result's outcome: result, else status, its name in wgpolicyk8s.io/v1alpha1 (the
// CRDs serve v1alpha1 and v1alpha2 without conversion).
func outcome(r *wgpolicyv1alpha2.PolicyReportResult) wgpolicyv1alpha2.PolicyResult {
	if r.Result != "" {
		return r.Result
	}
	return r.Status
}

func fromOpenReports(kind string, meta *metav1.ObjectMeta, source string, scope *corev1.ObjectReference, in []openreportsv1alpha1.ReportResult) *Report {
	c := newConverter(kind, meta, scope, len(in))
	for i := range in {
		r := &in[i]
		c.add(source, resultFields{
			source: r.Source, policy: r.Policy, rule: r.Rule, category: r.Category,
			severity: string(r.Severity), status: string(r.Result), message: r.Description,
			scored: r.Scored, timestamp: r.Timestamp, resources: r.Subjects, properties: r.Properties,
		})
	}
	return c.finish()
}

// resultFields are the fields both APIs share, under one name.
type resultFields struct {
	source, policy, rule, category, severity, status, message string
	scored                                                    bool
	timestamp                                                 metav1.Timestamp
	resources                                                 []corev1.ObjectReference
	properties                                                map[string]string
}

// converter builds one compact Report: strings that repeat across results and reports
// (policy, rule, source, kind, namespace, ...) are interned, and results about the same
// resource share one Resource, so a stored result costs little more than its message.
type converter struct {
	rep       *Report
	scope     *Resource
	resources map[corev1.ObjectReference]*Resource
	// properties are the distinct property maps seen so far: results with equal properties
	// (Kyverno writes {"process": "background scan"} on every result) share one map.
	properties []map[string]string
}

func newConverter(kind string, meta *metav1.ObjectMeta, scope *corev1.ObjectReference, n int) *converter {
	c := &converter{rep: &Report{
		Kind: kind, Namespace: intern(meta.Namespace), Name: meta.Name, Labels: meta.Labels,
		Created: meta.CreationTimestamp.Time, Results: make([]Result, 0, n),
	}}
	if scope != nil {
		c.scope = c.resource(scope)
	}
	if o := ownerOf(meta); o != nil {
		c.rep.Owner = c.resource(&corev1.ObjectReference{APIVersion: o.APIVersion, Kind: o.Kind, Namespace: meta.Namespace, Name: o.Name, UID: o.UID})
	}
	return c
}

// ownerOf returns the controller among meta's owner references, else the first; nil for none.
func ownerOf(meta *metav1.ObjectMeta) *metav1.OwnerReference {
	if o := metav1.GetControllerOfNoCopy(meta); o != nil {
		return o
	}
	if len(meta.OwnerReferences) > 0 {
		return &meta.OwnerReferences[0]
	}
	return nil
}

func (c *converter) add(reportSource string, f resultFields) {
	check := Check{
		Policy:   intern(f.policy),
		Rule:     intern(f.rule),
		Category: intern(f.category),
		Source:   intern(f.source),
		Status:   v1alpha1.ResultStatus(intern(strings.ToLower(f.status))),
		Severity: severityOf(f.severity, f.properties),
		Scored:   f.scored,
	}
	if check.Source == "" {
		check.Source = intern(reportSource)
	}
	res := Result{
		Check:      c.check(check),
		Message:    intern(f.message), // a rule's message is mostly the same for every resource
		Time:       toUnixNano(f.timestamp),
		Properties: c.shared(f.properties),
	}
	// A result without resources is about its report's scope (Kyverno 1.13+ writes one report
	// per resource and names it only in the scope).
	if len(f.resources) > 0 {
		res.Resource = c.resource(&f.resources[0])
	} else {
		res.Resource = c.scope
	}
	res.Hash = c.rep.resultHash(&res, false)
	c.rep.Results = append(c.rep.Results, res)
}

// checks holds one copy of every Check seen, so the results of every report share them:
// Kyverno's per-resource reports have one result per rule, and the same rules in every
// report. A cluster has few distinct checks; past maxChecks (a producer that writes unique
// text into its rules) further ones are simply not shared, so the table stays bounded.
var checks = struct {
	sync.Mutex
	m map[Check]*Check
}{m: map[Check]*Check{}}

const maxChecks = 1 << 16

// check returns the shared copy of ch.
func (c *converter) check(ch Check) *Check {
	checks.Lock()
	defer checks.Unlock()
	if p, ok := checks.m[ch]; ok {
		return p
	}
	p := &ch
	if len(checks.m) < maxChecks {
		checks.m[ch] = p
	}
	return p
}

// maxSharedProperties bounds the distinct property maps a report compares against, so a
// report whose results all differ (Trivy's vulnerability IDs) costs no more than a few
// comparisons per result.
const maxSharedProperties = 8

// shared returns a map equal to p that an earlier result of the report already has, else p.
// Stored results are never modified, so sharing is safe.
func (c *converter) shared(p map[string]string) map[string]string {
	if len(p) == 0 {
		return nil
	}
	for _, m := range c.properties {
		if maps.Equal(m, p) {
			return m
		}
	}
	if len(c.properties) < maxSharedProperties {
		c.properties = append(c.properties, p)
	}
	return p
}

func (c *converter) resource(o *corev1.ObjectReference) *Resource {
	k := corev1.ObjectReference{APIVersion: o.APIVersion, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name, UID: o.UID}
	if r, ok := c.resources[k]; ok {
		return r
	}
	r := &Resource{APIVersion: intern(o.APIVersion), Kind: intern(o.Kind), Namespace: intern(o.Namespace), Name: o.Name, UID: string(o.UID)}
	if c.resources == nil {
		c.resources = map[corev1.ObjectReference]*Resource{}
	}
	c.resources[k] = r
	return r
}

// finish gives results that share a key within the report distinct keys by also hashing their
// properties. Producers such as the Trivy adapter write results that differ only in their
// properties (the vulnerability ID); without this, all but the first would never be sent.
func (c *converter) finish() *Report {
	results := c.rep.Results
	c.rep.sources = countSources(results)
	if len(results) > 1 {
		seen := make(map[uint64]int, len(results))
		for i := range results {
			seen[results[i].Hash]++
		}
		for i := range results {
			if seen[results[i].Hash] > 1 && results[i].Properties[ResultIDProperty] == "" {
				results[i].Hash = c.rep.resultHash(&results[i], true)
			}
		}
	}
	return c.rep
}

// severityOf returns the severity field, or the severity property when the field is empty and
// the property names a known severity.
func severityOf(field string, properties map[string]string) v1alpha1.Severity {
	s := v1alpha1.Severity(strings.ToLower(field))
	if s == "" {
		if p := v1alpha1.Severity(strings.ToLower(properties[SeverityProperty])); SeverityRank(p) > 0 {
			s = p
		}
	}
	return v1alpha1.Severity(intern(string(s)))
}

// intern returns the canonical copy of s, so equal strings of many results share one backing
// array.
func intern(s string) string {
	if s == "" {
		return ""
	}
	return unique.Make(s).Value()
}

// toUnixNano converts a protobuf-style timestamp. Real producers write negative nanos (the
// Trivy adapter does), which time.Unix normalises; an unset timestamp stays 0.
func toUnixNano(t metav1.Timestamp) int64 {
	if t.Seconds == 0 && t.Nanos == 0 {
		return 0
	}
	return time.Unix(t.Seconds, int64(t.Nanos)).UnixNano()
}

// hasher is FNV-64a over fields separated by a zero byte, so "ab"+"c" and "a"+"bc" differ.
// It hashes strings in place (hash/fnv would need a []byte copy of each).
type hasher uint64

func newHasher() *hasher {
	h := hasher(14695981039346656037) // FNV-64 offset basis
	return &h
}

func (h *hasher) write(s string) {
	v := uint64(*h)
	for i := 0; i < len(s); i++ {
		v ^= uint64(s[i])
		v *= 1099511628211 // FNV-64 prime
	}
	v *= 1099511628211 // the zero separator: v ^= 0 leaves v as it is
	*h = hasher(v)
}

func (h *hasher) sum() uint64 { return uint64(*h) }

// resultHash is a result's identity: a hash of its report (kind, namespace, name — not the UID,
// so a producer that deletes and recreates a report does not resend it) and, within the
// report, the producer's properties.resultID when given, else what the result says: its
// resource (apiVersion, kind, namespace, name, uid), policy, rule, status, category and message,
// and with withProperties also its properties. The timestamp is left out so a re-scan that only
// refreshes it is not a new result.
func (r *Report) resultHash(res *Result, withProperties bool) uint64 {
	h := newHasher()
	h.write("v2")
	h.write(r.Kind)
	h.write(r.Namespace)
	h.write(r.Name)
	if id := res.Properties[ResultIDProperty]; id != "" {
		h.write("resultID")
		h.write(id)
		return h.sum()
	}
	h.write("result")
	if res.Resource != nil {
		h.write(res.Resource.APIVersion)
		h.write(res.Resource.Kind)
		h.write(res.Resource.Namespace)
		h.write(res.Resource.Name)
		h.write(res.Resource.UID)
	} else {
		for range 5 {
			h.write("")
		}
	}
	writeFinding(h, res, withProperties)
	return h.sum()
}

// writeFinding hashes what a result says about its resource.
func writeFinding(h *hasher, res *Result, withProperties bool) {
	h.write(res.Policy)
	h.write(res.Rule)
	h.write(string(res.Status))
	h.write(res.Category)
	h.write(res.Message)
	if withProperties {
		writeProperties(h, res.Properties)
	}
}

func writeProperties(h *hasher, p map[string]string) {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		h.write(k)
		h.write(p[k])
	}
}
