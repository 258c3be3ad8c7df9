package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BlockReportPolicySpec says which blocked-admission events become PolicyReport results.
type BlockReportPolicySpec struct {
	// Source written on the generated results, so filters and dashboards can tell them apart
	// from background-scan results.
	// +optional
	// +kubebuilder:default="Kyverno Event"
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Source string `json:"source,omitempty"`

	// Namespaces filters the namespaces whose events are reported. Wildcards allowed. A policy
	// outside the platform namespace only ever reports its own namespace.
	// +optional
	Namespaces *MatchList `json:"namespaces,omitempty"`

	// NamespaceSelector keeps events of namespaces whose labels match.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`

	// ResultsPerReport caps the results kept in one generated report; the oldest go first.
	// +optional
	// +kubebuilder:default=200
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	ResultsPerReport int32 `json:"resultsPerReport,omitempty"`

	// Retention is how long a blocked result stays in its report, for example 168h. Zero or
	// unset keeps results until the cap pushes them out.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^-?([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s')",message="retention must not be negative"
	Retention *metav1.Duration `json:"retention,omitempty"`
}

// BlockReportPolicyStatus is the observed state of a BlockReportPolicy.
type BlockReportPolicyStatus struct {
	// ObservedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready, Reconciling, Stalled.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// EventsSeen counts the blocked-admission Events in this policy's namespaces that the
	// operator currently sees (Kubernetes keeps Events for about an hour).
	// +optional
	EventsSeen int64 `json:"eventsSeen"`

	// ResultsWritten counts the results in the reports this policy manages.
	// +optional
	ResultsWritten int64 `json:"resultsWritten"`

	// UnparseableEvents counts the Kyverno Events about blocked requests in scope that could
	// not be read; they are skipped, and while any is left Ready is False with reason
	// EventsUnreadable, naming the newest.
	// +optional
	UnparseableEvents int64 `json:"unparseableEvents"`

	// LastEventTime is the time of the newest blocked-admission Event seen.
	// +optional
	LastEventTime *metav1.Time `json:"lastEventTime,omitempty"`

	// ReportsManaged counts the PolicyReports and ClusterPolicyReports this policy writes.
	// +optional
	ReportsManaged int32 `json:"reportsManaged"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=brp,categories=policyherald
// +kubebuilder:printcolumn:name="Source",type=string,JSONPath=`.spec.source`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Results",type=integer,JSONPath=`.status.resultsWritten`
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// BlockReportPolicy turns Kyverno's "blocked" admission events (PolicyViolation events of
// enforced policies) into PolicyReport results, which Kyverno itself does not report.
type BlockReportPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +optional
	Spec   BlockReportPolicySpec   `json:"spec,omitempty"`
	Status BlockReportPolicyStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// BlockReportPolicyList is a list of BlockReportPolicies.
type BlockReportPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BlockReportPolicy `json:"items"`
}

func init() {
	register(&BlockReportPolicy{}, &BlockReportPolicyList{})
}

// GetConditions returns the status conditions.
func (p *BlockReportPolicy) GetConditions() *[]metav1.Condition { return &p.Status.Conditions }

// SetObservedGeneration records the generation the status describes.
func (p *BlockReportPolicy) SetObservedGeneration(g int64) { p.Status.ObservedGeneration = g }
