package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TargetChannelSpec attaches a sub-destination to a NotificationTarget.
//
// Inherited from the target, never set here: the destination type, TLS settings,
// minimumSeverity, minimumPriority, sources and skipExistingOnStartup. Overridable: destination
// fields, set in the one destination block of the target's type (fields set here win, unset
// fields are inherited; headers are merged key by key), and credentials: settings are taken, last
// one winning, from the target's fields, the target's Secret, the channel's fields and the
// channel's Secret. A channel in another namespace than its target that changes where data goes
// (url, apiURL, endpoint, region, bucket, streamName, accountID, index, tenantID or projectKey,
// inline or in its Secret) inherits none of the target's credentials: not its Secret, not its
// headers, username or user info in its URL, so the platform's credentials never go to an
// endpoint a tenant chose. Own: secretRef, filter
// (applied after the target's minimums and sources, not the target's filter), customFields
// (merged over the target's) and suspend.
//
// A channel in a namespace other than the platform namespace only ever receives results of its
// own namespace, whatever its target sees.
//
// +kubebuilder:validation:XValidation:rule="[has(self.webhook), has(self.slack), has(self.teams), has(self.discord), has(self.googleChat), has(self.telegram), has(self.loki), has(self.elasticsearch), has(self.splunk), has(self.alertManager), has(self.jira), has(self.s3), has(self.kinesis), has(self.securityHub), has(self.gcs), has(self.pagerDuty)].filter(x, x).size() <= 1",message="set at most one destination block, of the target's destination type, to override its fields"
type TargetChannelSpec struct {
	// TargetRef names the NotificationTarget this channel belongs to.
	TargetRef TargetReference `json:"targetRef"`

	Destinations `json:",inline"`

	// SecretRef names a Secret in this namespace whose keys override the target's credentials
	// (same keys as on the target's destination).
	// +optional
	SecretRef *LocalSecretReference `json:"secretRef,omitempty"`

	// Filter selects the results of the target that this channel receives.
	// +optional
	Filter *ResultFilter `json:"filter,omitempty"`

	// MessageTemplate replaces the target's messageTemplate for this channel (same data and
	// rules). Like the target's, it is refused on a destination that does not render it.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	MessageTemplate string `json:"messageTemplate,omitempty"`

	// CustomFields are merged over the target's custom fields.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	CustomFields map[string]string `json:"customFields,omitempty"`

	// Notifications override the target's field by field; silences add to the target's.
	Notifications `json:",inline"`

	// Suspend stops deliveries to this channel without deleting it.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// TargetReference names a NotificationTarget.
type TargetReference struct {
	// Name of the NotificationTarget.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// Namespace of the NotificationTarget. Defaults to the channel's namespace. Another
	// namespace works only when that target's allowedChannels admits this channel's namespace.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace,omitempty"`
}

// TargetChannelStatus is the observed state of a TargetChannel.
type TargetChannelStatus struct {
	// ObservedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready, Reconciling, Stalled.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Destination is the type inherited from the target.
	// +optional
	Destination DestinationType `json:"destination,omitempty"`

	// Delivery reports the health of this channel's deliveries.
	// +optional
	Delivery *DeliveryStatus `json:"delivery,omitempty"`

	// Mode says how results become messages (see NotificationTarget's status.mode).
	// +optional
	Mode string `json:"mode,omitempty"`

	// Silences lists the silences in effect (the target's and the channel's), active and
	// expired, with what each muted.
	// +optional
	// +listType=map
	// +listMapKey=name
	Silences []SilenceStatus `json:"silences,omitempty"`

	// LastTest is the answer to the last test message asked for with the annotation
	// reporting.policyherald.io/send-test (`kubectl herald test` writes it): one synthetic
	// result of the policy policy-herald-test, sent through this object's destination once per
	// annotation value, with a single attempt and past its filters, counted in no delivery
	// status and stored in no ledger.
	// +optional
	LastTest *TestMessageStatus `json:"lastTest,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=tc,categories=policyherald
// +kubebuilder:printcolumn:name="Target",type=string,JSONPath=`.spec.targetRef.name`
// +kubebuilder:printcolumn:name="Destination",type=string,JSONPath=`.status.destination`
// +kubebuilder:printcolumn:name="Mode",type=string,JSONPath=`.status.mode`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Sent",type=integer,JSONPath=`.status.delivery.sent`
// +kubebuilder:printcolumn:name="Failed",type=integer,JSONPath=`.status.delivery.failed`
// +kubebuilder:printcolumn:name="Last Test",type=string,JSONPath=`.status.lastTest.outcome`,priority=1
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// TargetChannel is a team's own sub-destination of a NotificationTarget: for example the Slack
// channel of one team, receiving only that team's results.
type TargetChannel struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec   TargetChannelSpec   `json:"spec"`
	Status TargetChannelStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// TargetChannelList is a list of TargetChannels.
type TargetChannelList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []TargetChannel `json:"items"`
}

func init() {
	register(&TargetChannel{}, &TargetChannelList{})
}

// TargetNamespace returns the namespace of the referenced target.
func (c *TargetChannel) TargetNamespace() string {
	if c.Spec.TargetRef.Namespace != "" {
		return c.Spec.TargetRef.Namespace
	}
	return c.Namespace
}

// GetConditions returns the status conditions.
func (c *TargetChannel) GetConditions() *[]metav1.Condition { return &c.Status.Conditions }

// SetObservedGeneration records the generation the status describes.
func (c *TargetChannel) SetObservedGeneration(g int64) { c.Status.ObservedGeneration = g }
