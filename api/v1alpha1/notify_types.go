package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Notifications says how new results become messages: which are not worth one (results about
// controlled resources, silenced results), whether they are collected into digests, how many
// messages a destination may get, and whether resolved results are announced. A TargetChannel
// inherits its target's settings field by field and may override each; silences add up (a
// target's silences mute its channels too).
type Notifications struct {
	// ControlledResources is skip (the default) or include. With skip, Kyverno's results about
	// a resource whose controller (ownerReference with controller: true) is of a kind Kyverno's
	// autogen rules report on (Pods of ReplicaSets, StatefulSets, DaemonSets and Jobs,
	// ReplicaSets of Deployments, Jobs of CronJobs) are not sent: the controller has the same
	// results, so one problem makes one message. Other sources' results and objects of other
	// controllers are always sent. Controllers are read from the resource's metadata; a
	// resource that cannot be read counts as uncontrolled and its results are sent. Skipped
	// results are counted in status.delivery.skipped.
	// +optional
	ControlledResources ControlledResources `json:"controlledResources,omitempty"`

	// Digest collects new results and sends one message per group per interval instead of one
	// per batch of results. Chat destinations only (slack, teams, discord, googleChat,
	// telegram).
	// +optional
	Digest *Digest `json:"digest,omitempty"`

	// RateLimit caps the messages of results sent to the destination; the results that do not
	// fit are summarised in one message when the limit allows the next one, never dropped, and
	// counted in status.delivery.summarised. Chat destinations only.
	// +optional
	RateLimit *RateLimit `json:"rateLimit,omitempty"`

	// NotifyResolved sends a short "resolved" message when a result that was delivered passes
	// or leaves the cluster. Chat destinations only. Slack through its Web API (a bot token
	// under the Secret key 'token' and a channel) replies in the original message's thread.
	// +optional
	NotifyResolved *bool `json:"notifyResolved,omitempty"`

	// Silences mute matching results until a time, like Alertmanager's silences. Muted results
	// are recorded as handled, not queued for later; status.silences counts what each muted.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	Silences []Silence `json:"silences,omitempty"`
}

// ControlledResources says whether results about resources a controller owns are sent.
// +kubebuilder:validation:Enum=skip;include
type ControlledResources string

// Values of ControlledResources.
const (
	ControlledResourcesSkip    ControlledResources = "skip"
	ControlledResourcesInclude ControlledResources = "include"
)

// DigestGroup is what one digest message is about.
// +kubebuilder:validation:Enum=policy;namespace;resource;severity
type DigestGroup string

// Values of DigestGroup.
const (
	DigestByPolicy    DigestGroup = "policy"
	DigestByNamespace DigestGroup = "namespace"
	DigestByResource  DigestGroup = "resource"
	DigestBySeverity  DigestGroup = "severity"
)

// Digest collects results into one message per group per interval.
type Digest struct {
	// Interval between digests, from 1m to 24h. The first digest of a group is sent one
	// interval after its first result.
	// +required
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m') && duration(self) <= duration('24h')",message="interval must be between 1m and 24h"
	Interval metav1.Duration `json:"interval"`

	// GroupBy makes one message per distinct combination of these values in an interval.
	// Empty: one message per interval.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=4
	GroupBy []DigestGroup `json:"groupBy,omitempty"`

	// MaxItems is how many results a digest lists (most severe first); the rest are counted
	// as "and N more". Default 10.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=50
	MaxItems int32 `json:"maxItems,omitempty"`
}

// RateLimit caps messages per period.
type RateLimit struct {
	// Messages is how many messages may be sent per period.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	Messages int32 `json:"messages"`

	// Per is the period, from 1s to 24h.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s') && duration(self) <= duration('24h')",message="per must be between 1s and 24h"
	Per metav1.Duration `json:"per"`
}

// Silence mutes the results it matches until a time.
type Silence struct {
	// Name identifies the silence in status.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// Match selects the results muted: every list that is set must match (lists are ANDed);
	// within a list, one value must match. Wildcards `*` and `?` allowed. An empty match
	// mutes every result.
	// +required
	Match SilenceMatch `json:"match"`

	// Until is when the silence ends (RFC 3339), at most 90 days after it is set: results that
	// appear later are sent again.
	// +required
	Until metav1.Time `json:"until"`

	// Reason says why, for the people who read status.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Reason string `json:"reason,omitempty"`
}

// SilenceMatch selects results by their values.
type SilenceMatch struct {
	// Policies are policy names.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	Policies []string `json:"policies,omitempty"`

	// Rules are rule names.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	Rules []string `json:"rules,omitempty"`

	// Namespaces are the namespaces of the results' resources (or reports).
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	Namespaces []string `json:"namespaces,omitempty"`

	// Kinds are the kinds of the results' resources.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	Kinds []string `json:"kinds,omitempty"`

	// Names are the names of the results' resources.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	Names []string `json:"names,omitempty"`

	// Severities are exact severities.
	// +optional
	// +listType=set
	Severities []Severity `json:"severities,omitempty"`
}

// SilenceStatus tells what a silence does.
type SilenceStatus struct {
	// Name of the silence.
	Name string `json:"name"`
	// State is Active until the silence's until, Expired after.
	State SilenceState `json:"state"`
	// Until is when it ends or ended.
	Until metav1.Time `json:"until"`
	// Muted counts the results it muted.
	Muted int64 `json:"muted"`
}

// SilenceState is Active or Expired.
type SilenceState string

// Values of SilenceState.
const (
	SilenceActive  SilenceState = "Active"
	SilenceExpired SilenceState = "Expired"
)
