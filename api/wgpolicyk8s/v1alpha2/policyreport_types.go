package v1alpha2

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PolicyResult is the outcome of one policy evaluation: pass, fail, warn, error or skip.
type PolicyResult string

// PolicySeverity is critical, high, medium, low or info.
type PolicySeverity string

// PolicyReportSummary counts results per outcome.
type PolicyReportSummary struct {
	Pass  int `json:"pass"`
	Fail  int `json:"fail"`
	Warn  int `json:"warn"`
	Error int `json:"error"`
	Skip  int `json:"skip"`
}

// PolicyReportResult is one result of a policy report. Real producers leave almost every field
// empty at times (an empty policy, no resources, negative timestamp nanos), so nothing here is
// assumed to be set.
type PolicyReportResult struct {
	Source           string                   `json:"source,omitempty"`
	Policy           string                   `json:"policy"`
	Rule             string                   `json:"rule,omitempty"`
	Category         string                   `json:"category,omitempty"`
	Severity         PolicySeverity           `json:"severity,omitempty"`
	Timestamp        metav1.Timestamp         `json:"timestamp,omitempty"`
	Result           PolicyResult             `json:"result,omitempty"`
	Status           PolicyResult             `json:"status,omitempty"` // Result's name in v1alpha1
	Scored           bool                     `json:"scored,omitempty"`
	Resources        []corev1.ObjectReference `json:"resources,omitempty"`
	ResourceSelector *metav1.LabelSelector    `json:"resourceSelector,omitempty"`
	Message          string                   `json:"message,omitempty"`
	Properties       map[string]string        `json:"properties,omitempty"`
}

// +kubebuilder:object:root=true

// PolicyReport holds the results of policies for namespaced resources.
type PolicyReport struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Scope         *corev1.ObjectReference `json:"scope,omitempty"`
	ScopeSelector *metav1.LabelSelector   `json:"scopeSelector,omitempty"`
	Summary       PolicyReportSummary     `json:"summary,omitempty"`
	Results       []PolicyReportResult    `json:"results,omitempty"`
}

// +kubebuilder:object:root=true

// PolicyReportList is a list of PolicyReports.
type PolicyReportList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PolicyReport `json:"items"`
}

// +kubebuilder:object:root=true

// ClusterPolicyReport holds the results of policies for cluster-scoped resources.
type ClusterPolicyReport struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Scope         *corev1.ObjectReference `json:"scope,omitempty"`
	ScopeSelector *metav1.LabelSelector   `json:"scopeSelector,omitempty"`
	Summary       PolicyReportSummary     `json:"summary,omitempty"`
	Results       []PolicyReportResult    `json:"results,omitempty"`
}

// +kubebuilder:object:root=true

// ClusterPolicyReportList is a list of ClusterPolicyReports.
type ClusterPolicyReportList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterPolicyReport `json:"items"`
}

func init() {
	register(&PolicyReport{}, &PolicyReportList{}, &ClusterPolicyReport{}, &ClusterPolicyReportList{})
}
