package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MetricsMode says which labels the result metrics carry.
// +kubebuilder:validation:Enum=detailed;simple;custom
type MetricsMode string

// Metrics modes.
const (
	// MetricsDetailed labels every result metric with namespace, policy, rule, report, kind,
	// name, status, severity, category and source.
	MetricsDetailed MetricsMode = "detailed"
	// MetricsSimple labels with namespace, policy, status, severity, category and source only,
	// to keep the number of series small.
	MetricsSimple MetricsMode = "simple"
	// MetricsCustom uses exactly the labels listed in customLabels.
	MetricsCustom MetricsMode = "custom"
)

// MetricLabel is one label of the result metrics: a result field, `label:<key>` for a label of
// the report, or `property:<key>` for a property of the result.
// +kubebuilder:validation:Pattern=`^(namespace|policy|rule|report|kind|name|status|severity|category|source|message|label:[A-Za-z0-9][-A-Za-z0-9_./]*|property:[A-Za-z0-9][-A-Za-z0-9_./]*)$`
// +kubebuilder:validation:MaxLength=128
type MetricLabel string

// MetricsProfileSpec shapes the Prometheus metrics of policy results.
// +kubebuilder:validation:XValidation:rule="self.mode == 'custom' ? (has(self.customLabels) && size(self.customLabels) > 0) : !has(self.customLabels)",message="customLabels is required with mode custom and allowed only then"
type MetricsProfileSpec struct {
	// Mode is detailed (the default), simple or custom.
	// +optional
	// +kubebuilder:default=detailed
	Mode MetricsMode `json:"mode,omitempty"`

	// CustomLabels are the labels used with mode custom: namespace, policy, rule, report, kind,
	// name, status, severity, category, source, message, `label:<report label key>` or
	// `property:<result property key>`.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +listType=set
	CustomLabels []MetricLabel `json:"customLabels,omitempty"`

	// Filter selects the results counted. A profile outside the platform namespace only ever
	// counts its own namespace.
	// +optional
	Filter *ResultFilter `json:"filter,omitempty"`

	// MaxSeries caps the number of series the profile exports. When a new series would exceed
	// it, the profile stops adding series, keeps those it has and says so in Ready
	// (reason SeriesLimitReached). Unset means no cap.
	// +optional
	// +kubebuilder:validation:Minimum=1
	MaxSeries *int32 `json:"maxSeries,omitempty"`
}

// MetricsProfileStatus is the observed state of a MetricsProfile.
type MetricsProfileStatus struct {
	// ObservedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready, Reconciling, Stalled.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Labels are the metric labels in effect, as exported (sanitised to Prometheus label names),
	// besides the label profile that every series carries.
	// +optional
	Labels []string `json:"labels,omitempty"`

	// Series is the number of series the profile exports (updated every few seconds, not on
	// every report change).
	// +optional
	Series int64 `json:"series"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=mp,categories=policyherald
// +kubebuilder:printcolumn:name="Mode",type=string,JSONPath=`.spec.mode`
// +kubebuilder:printcolumn:name="Series",type=integer,JSONPath=`.status.series`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// MetricsProfile sets the labels and filters of the Prometheus metrics of policy results: the
// gauges policy_report_result and cluster_policy_report_result, whose every series carries the
// label profile="<namespace>/<name>". While no MetricsProfile exists in the platform namespace,
// an implicit profile="default" (mode simple, every namespace) applies. Only the leader exports
// them.
type MetricsProfile struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +optional
	Spec   MetricsProfileSpec   `json:"spec,omitempty"`
	Status MetricsProfileStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// MetricsProfileList is a list of MetricsProfiles.
type MetricsProfileList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []MetricsProfile `json:"items"`
}

func init() {
	register(&MetricsProfile{}, &MetricsProfileList{})
}

// GetConditions returns the status conditions.
func (p *MetricsProfile) GetConditions() *[]metav1.Condition { return &p.Status.Conditions }

// SetObservedGeneration records the generation the status describes.
func (p *MetricsProfile) SetObservedGeneration(g int64) { p.Status.ObservedGeneration = g }

// Labels returns the metric labels the profile gives, in order.
func (s *MetricsProfileSpec) Labels() []string {
	switch s.Mode {
	case MetricsCustom:
		out := make([]string, len(s.CustomLabels))
		for i, l := range s.CustomLabels {
			out[i] = string(l)
		}
		return out
	case MetricsSimple:
		return []string{"namespace", "policy", "status", "severity", "category", "source"}
	default:
		return []string{"namespace", "policy", "rule", "report", "kind", "name", "status", "severity", "category", "source"}
	}
}
