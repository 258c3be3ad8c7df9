// Package report turns the reports of every supported API (wgpolicyk8s.io PolicyReport and
// ClusterPolicyReport, openreports.io Report and ClusterReport) into one model with a stable
// identity per result.
package report

import (
	"strconv"
	"strings"
	"time"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
)

// Resource is the Kubernetes object a result is about.
type Resource struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind,omitempty"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name,omitempty"`
	UID        string `json:"uid,omitempty"`
}

// Check is what a result says about the rule it checked: the part that many results of a
// report share (every resource a rule checked), so they share one Check.
type Check struct {
	Policy   string
	Rule     string
	Category string
	Source   string
	Status   v1alpha1.ResultStatus
	Severity v1alpha1.Severity // empty when the producer gave none
	Scored   bool
}

// Result is one policy result. Results are never modified once stored; their Check and
// Resource may be shared with other results.
type Result struct {
	// Hash is the result's identity (see resultHash): stable across re-scans, it changes only
	// when what the result says changes.
	Hash uint64
	*Check
	Message string
	// Time is when the producer found the result, in Unix nanoseconds; 0 when it gave none.
	// (Kept as a number: a time.Time would triple its size in every stored result.)
	Time       int64
	Resource   *Resource // nil when the result names no resource and its report has no scope
	Properties map[string]string
}

// Timestamp returns when the producer found the result; zero when it gave none.
func (r *Result) Timestamp() time.Time {
	if r.Time == 0 {
		return time.Time{}
	}
	return time.Unix(0, r.Time).UTC()
}

// ID is the result's identity as text, as destinations receive it.
func (r *Result) ID() string { return IDOf(r.Hash) }

// IDOf returns the ID of the result with key.
func IDOf(key uint64) string { return strconv.FormatUint(key, 16) }

// Report is one report with its results.
type Report struct {
	// Kind is PolicyReport, ClusterPolicyReport, Report or ClusterReport.
	Kind      string
	Namespace string // empty for cluster-scoped reports
	Name      string
	Labels    map[string]string
	// Created is when the report object was created (set by the API server, never by a re-scan).
	Created time.Time
	// Owner is the object the report's owner reference names (its controller's, else the
	// first), in the report's namespace; nil when it names none. Kyverno 1.13+ and the Trivy
	// adapter make the resource a report is about its owner, so the Trivy adapter's results,
	// which name no resource, are still about one. It costs 8 bytes per report and none per
	// result (the Resource is shared with the scope when they are equal).
	Owner   *Resource
	Results []Result
	// sources counts Results per source spelling (see SourceCounts); nil when not counted.
	sources []SourceCount
}

// Key identifies a report across APIs: kind/namespace/name.
func (r *Report) Key() string { return Key(r.Kind, r.Namespace, r.Name) }

// Key returns the key of the report of kind in namespace with name.
func Key(kind, namespace, name string) string { return kind + "/" + namespace + "/" + name }

// SplitKey returns the kind, namespace and name of a report's key (names hold no "/").
func SplitKey(key string) (kind, namespace, name string) {
	kind, rest, _ := strings.Cut(key, "/")
	namespace, name, _ = strings.Cut(rest, "/")
	return kind, namespace, name
}

// ResultNamespace returns the namespace a result is about: its resource's, else its report's.
// Filters use it; tenancy uses the report's namespace, where the producer wrote the result.
func (r *Report) ResultNamespace(res *Result) string {
	if res.Resource != nil && res.Resource.Namespace != "" {
		return res.Resource.Namespace
	}
	return r.Namespace
}

// severityRank orders severities; a missing severity ranks below info.
var severityRank = map[v1alpha1.Severity]int{
	v1alpha1.SeverityInfo: 1, v1alpha1.SeverityLow: 2, v1alpha1.SeverityMedium: 3,
	v1alpha1.SeverityHigh: 4, v1alpha1.SeverityCritical: 5,
}

// SeverityRank returns the rank of s: 0 for none, 1 (info) to 5 (critical).
func SeverityRank(s v1alpha1.Severity) int { return severityRank[s] }

var priorityRank = map[v1alpha1.Priority]int{
	v1alpha1.PriorityDebug: 1, v1alpha1.PriorityInfo: 2, v1alpha1.PriorityWarning: 3,
	v1alpha1.PriorityError: 4, v1alpha1.PriorityCritical: 5,
}

// PriorityRank returns the rank of p: 1 (debug) to 5 (critical), 0 for none.
func PriorityRank(p v1alpha1.Priority) int { return priorityRank[p] }

// Priority ranks a result by status and severity: error results are error; warn results are
// warning; pass and skip are debug; fail results, and results without a (known) status (the
// Trivy adapter writes its findings so), take their severity: critical→critical, high→error,
// medium→warning, low and info→info, none→warning.
func (r *Result) Priority() v1alpha1.Priority {
	switch r.Status {
	case v1alpha1.StatusError:
		return v1alpha1.PriorityError
	case v1alpha1.StatusWarn:
		return v1alpha1.PriorityWarning
	case v1alpha1.StatusPass, v1alpha1.StatusSkip:
		return v1alpha1.PriorityDebug
	}
	return severityPriority(r.Severity)
}

// severityPriority is the priority of a fail of severity s.
func severityPriority(s v1alpha1.Severity) v1alpha1.Priority {
	switch s {
	case v1alpha1.SeverityCritical:
		return v1alpha1.PriorityCritical
	case v1alpha1.SeverityHigh:
		return v1alpha1.PriorityError
	case v1alpha1.SeverityLow, v1alpha1.SeverityInfo:
		return v1alpha1.PriorityInfo
	}
	return v1alpha1.PriorityWarning
}
