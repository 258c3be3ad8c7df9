package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Condition types every Policy Herald kind reports. Ready is the summary; Reconciling and
// Stalled follow the kstatus conventions so Argo CD and kstatus read health without a custom
// health check.
const (
	// ConditionReady is True when the object is valid and (where it delivers) its deliveries succeed.
	ConditionReady = "Ready"
	// ConditionReconciling is True while the controller works towards the desired state.
	ConditionReconciling = "Reconciling"
	// ConditionStalled is True when the controller cannot make progress until a person changes
	// the object or something it references.
	ConditionStalled = "Stalled"
)

// Condition reasons shared by the kinds.
const (
	ReasonReady               = "Ready"
	ReasonStarting            = "Starting"
	ReasonSuspended           = "Suspended"
	ReasonInvalidSpec         = "InvalidSpec"
	ReasonSecretNotFound      = "SecretNotFound"
	ReasonSecretKeyMissing    = "SecretKeyMissing"
	ReasonInvalidCertificate  = "InvalidCertificate"
	ReasonTargetNotFound      = "TargetNotFound"
	ReasonTargetNotReady      = "TargetNotReady"
	ReasonNotAllowed          = "NotAllowed"
	ReasonDestinationMismatch = "DestinationMismatch"
	ReasonInvalidSchedule     = "InvalidSchedule"
	ReasonDeliveryFailing     = "DeliveryFailing"
	ReasonDeliveryNotStarted  = "DeliveryNotStarted"
	ReasonDeliveryPaused      = "DeliveryPaused"
	// ReasonAddressNotAllowed says the destination's host is, or resolves to, an address the
	// operator refuses to connect to for this object (loopback, link-local, blocked networks).
	ReasonAddressNotAllowed = "AddressNotAllowed"
	// ReasonJobImageUnknown says the operator does not know which image its Jobs (the e-mail
	// reports' CronJobs) run: neither --email-report-image nor its own Pod tells it.
	ReasonJobImageUnknown = "JobImageUnknown"
	// ReasonCronJobNotApplied says the API server refused the CronJob or Job of an
	// EmailReportSchedule (a missing platform namespace, a quota, missing permissions).
	ReasonCronJobNotApplied = "CronJobNotApplied"
	// ReasonSeriesLimitReached says a MetricsProfile stopped adding series at its maxSeries:
	// it keeps exporting those it has, and more results would need more series.
	ReasonSeriesLimitReached = "SeriesLimitReached"
	// ReasonEventsUnreadable says a BlockReportPolicy cannot read some of Kyverno's Events about
	// blocked requests, so those requests are missing from its reports.
	ReasonEventsUnreadable = "EventsUnreadable"
	// ReasonWaitingForReports says the report store has not listed the reports yet.
	ReasonWaitingForReports = "WaitingForReports"
)

// Severity of a policy result, lowest first: info < low < medium < high < critical.
// +kubebuilder:validation:Enum=info;low;medium;high;critical
type Severity string

// Severities in ascending order.
const (
	SeverityInfo     Severity = "info"
	SeverityLow      Severity = "low"
	SeverityMedium   Severity = "medium"
	SeverityHigh     Severity = "high"
	SeverityCritical Severity = "critical"
)

// Priority ranks a result by its status and severity, lowest first:
// debug < info < warning < error < critical.
// +kubebuilder:validation:Enum=debug;info;warning;error;critical
type Priority string

// Priorities in ascending order.
const (
	PriorityDebug    Priority = "debug"
	PriorityInfo     Priority = "info"
	PriorityWarning  Priority = "warning"
	PriorityError    Priority = "error"
	PriorityCritical Priority = "critical"
)

// ResultStatus is the outcome of one policy evaluation.
// +kubebuilder:validation:Enum=pass;fail;warn;error;skip
type ResultStatus string

// Result statuses as policy engines write them.
const (
	StatusPass  ResultStatus = "pass"
	StatusFail  ResultStatus = "fail"
	StatusWarn  ResultStatus = "warn"
	StatusError ResultStatus = "error"
	StatusSkip  ResultStatus = "skip"
)

// LocalSecretReference names a Secret in the same namespace as the object that refers to it.
// Cross-namespace Secret references are not possible by design: a team can only use its own
// credentials.
type LocalSecretReference struct {
	// Name of the Secret: a DNS subdomain, as Kubernetes requires of Secret names.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`
}

// SecretKeySelector selects one key of a Secret in the same namespace.
type SecretKeySelector struct {
	// Name of the Secret: a DNS subdomain, as Kubernetes requires of Secret names.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`

	// Key within the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key"`
}

// TLSConfig controls how the operator verifies the destination's server certificate.
// +kubebuilder:validation:XValidation:rule="!(has(self.caSecretRef) && has(self.insecureSkipVerify) && self.insecureSkipVerify)",message="set either caSecretRef or insecureSkipVerify, not both: a CA is pointless when verification is skipped"
type TLSConfig struct {
	// CASecretRef selects a PEM-encoded CA bundle used, in addition to the system roots, to
	// verify the destination's certificate. The Secret must be in the same namespace.
	// +optional
	CASecretRef *SecretKeySelector `json:"caSecretRef,omitempty"`

	// InsecureSkipVerify disables verification of the destination's certificate. Only for tests:
	// it makes the connection open to interception.
	// +optional
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
}

// MatchList includes and excludes values by pattern. Patterns may use the wildcards `*` (any
// run of characters) and `?` (one character).
//
// Semantics: a value passes when it matches no exclude pattern AND, if include is not empty, it
// matches at least one include pattern. Exclude therefore always wins over include. An empty or
// absent list does not filter. A result that lacks the value (for example a cluster-scoped
// result has no namespace) passes when include is empty and fails when include is set, unless
// an include pattern is `*`, which matches anything including nothing (and so an exclude `*`
// drops it).
type MatchList struct {
	// Include lists the patterns a value must match one of. Empty means every value.
	// +optional
	// +kubebuilder:validation:MaxItems=128
	// +kubebuilder:validation:items:MinLength=1
	Include []string `json:"include,omitempty"`

	// Exclude lists the patterns a value must match none of.
	// +optional
	// +kubebuilder:validation:MaxItems=128
	// +kubebuilder:validation:items:MinLength=1
	Exclude []string `json:"exclude,omitempty"`
}

// SeverityList includes and excludes exact severities, with the semantics of MatchList. A
// result without a severity passes an include list only when it is empty.
type SeverityList struct {
	// Include lists the severities a result must have one of. Empty means every severity.
	// +optional
	// +listType=set
	Include []Severity `json:"include,omitempty"`

	// Exclude lists the severities a result must not have.
	// +optional
	// +listType=set
	Exclude []Severity `json:"exclude,omitempty"`
}

// StatusList includes and excludes exact result statuses, with the semantics of MatchList.
type StatusList struct {
	// Include lists the statuses a result must have one of. Empty means every status but pass
	// and skip (results without a status are kept). A list replaces that default: to add pass
	// results, list fail, warn, error and pass.
	// +optional
	// +listType=set
	Include []ResultStatus `json:"include,omitempty"`

	// Exclude lists the statuses a result must not have.
	// +optional
	// +listType=set
	Exclude []ResultStatus `json:"exclude,omitempty"`
}

// ResultFilter selects policy results. Every rule that is set must pass (rules are ANDed);
// within one rule, include and exclude follow MatchList semantics. A filter can only narrow what
// its owner may see: it never widens a tenant's view to other namespaces.
type ResultFilter struct {
	// Namespaces filters by the namespace of the result's resource (or of the report, when the
	// resource has no namespace or there is none). Wildcards allowed.
	// +optional
	Namespaces *MatchList `json:"namespaces,omitempty"`

	// NamespaceSelector keeps results whose namespace carries matching labels. Cluster-scoped
	// results, and results of a namespace that no longer exists, do not match a non-empty
	// selector.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`

	// Policies filters by policy name. Wildcards allowed.
	// +optional
	Policies *MatchList `json:"policies,omitempty"`

	// Sources filters by the engine that wrote the result (kyverno, trivy, falco, ...). Matching
	// is case-insensitive. Wildcards allowed.
	// +optional
	Sources *MatchList `json:"sources,omitempty"`

	// Categories filters by result category. Wildcards allowed.
	// +optional
	Categories *MatchList `json:"categories,omitempty"`

	// Kinds filters by the kind of the result's resource (Pod, Deployment, Namespace, ...).
	// Wildcards allowed. A result about no resource has no kind.
	// +optional
	Kinds *MatchList `json:"kinds,omitempty"`

	// Severities filters by exact severity.
	// +optional
	Severities *SeverityList `json:"severities,omitempty"`

	// Statuses filters by exact result status.
	// +optional
	Statuses *StatusList `json:"statuses,omitempty"`

	// ReportLabels filters by the labels of the report that holds the result. Each entry is
	// `key` (the label is present) or `key:valuePattern` (the label's value matches the
	// wildcard pattern).
	// +optional
	ReportLabels *MatchList `json:"reportLabels,omitempty"`
}

// DeliveryStatus tells how deliveries to a destination are going.
type DeliveryStatus struct {
	// Sent counts results delivered successfully since the object was created.
	// +optional
	Sent int64 `json:"sent"`

	// Failed counts results the destination refused for good (a 4xx other than 408 and 429).
	// +optional
	Failed int64 `json:"failed"`

	// Dropped counts results that could not be delivered within the target's dropAfter.
	// +optional
	Dropped int64 `json:"dropped"`

	// Skipped counts results not sent because a controller owns their resource
	// (controlledResources: skip).
	// +optional
	Skipped int64 `json:"skipped,omitempty"`

	// Muted counts results a silence muted.
	// +optional
	Muted int64 `json:"muted,omitempty"`

	// Digested counts the results of sent that went in digests.
	// +optional
	Digested int64 `json:"digested,omitempty"`

	// Summarised counts the results of sent that did not fit the rate limit and went in a
	// summary (counted, not listed one by one).
	// +optional
	Summarised int64 `json:"summarised,omitempty"`

	// Pending counts results queued, being sent or waiting to be retried right now.
	// +optional
	Pending int64 `json:"pending"`

	// LastSuccessTime is when a delivery last succeeded.
	// +optional
	LastSuccessTime *metav1.Time `json:"lastSuccessTime,omitempty"`

	// LastFailureTime is when a delivery attempt last failed.
	// +optional
	LastFailureTime *metav1.Time `json:"lastFailureTime,omitempty"`

	// LastFailureReason describes the last failed attempt, without credentials or full URLs.
	// +optional
	LastFailureReason string `json:"lastFailureReason,omitempty"`

	// ConsecutiveFailures counts failed attempts since the last success.
	// +optional
	ConsecutiveFailures int32 `json:"consecutiveFailures"`
}
