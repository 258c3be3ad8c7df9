package v1alpha1

import (
	"reflect"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NotificationTargetSpec describes one destination and which new policy results go to it.
//
// +kubebuilder:validation:XValidation:rule="[has(self.webhook), has(self.slack), has(self.teams), has(self.discord), has(self.googleChat), has(self.telegram), has(self.loki), has(self.elasticsearch), has(self.splunk), has(self.alertManager), has(self.jira), has(self.s3), has(self.kinesis), has(self.securityHub), has(self.gcs), has(self.pagerDuty)].filter(x, x).size() == 1",message="set exactly one destination: webhook, slack, teams, discord, googleChat, telegram, loki, elasticsearch, splunk, alertManager, jira, s3, kinesis, securityHub, gcs or pagerDuty"
// +kubebuilder:validation:XValidation:rule="has(self.secretRef) || ((!has(self.webhook) || has(self.webhook.url)) && (!has(self.slack) || has(self.slack.url)) && (!has(self.teams) || has(self.teams.url)) && (!has(self.discord) || has(self.discord.url)) && (!has(self.googleChat) || has(self.googleChat.url)) && (!has(self.loki) || has(self.loki.url)) && (!has(self.elasticsearch) || has(self.elasticsearch.url)) && (!has(self.splunk) || has(self.splunk.url)) && (!has(self.alertManager) || has(self.alertManager.url)) && (!has(self.jira) || has(self.jira.url)))",message="the destination needs a url: set it inline or put it under the key 'url' in the Secret named by secretRef (Slack's Web API takes a bot token under the key 'token' in that Secret instead)"
// +kubebuilder:validation:XValidation:rule="!(has(self.telegram) || has(self.splunk)) || has(self.secretRef)",message="telegram and splunk need secretRef: the bot token or HEC token is read from the Secret key 'token'"
// +kubebuilder:validation:XValidation:rule="!has(self.pagerDuty) || has(self.secretRef)",message="pagerDuty needs secretRef: the routing key is read from the Secret key 'routingKey'"
// +kubebuilder:validation:XValidation:rule="!has(self.jira) || has(self.jira.projectKey)",message="jira.projectKey is required"
// +kubebuilder:validation:XValidation:rule="!has(self.s3) || has(self.s3.bucket)",message="s3.bucket is required"
// +kubebuilder:validation:XValidation:rule="!has(self.gcs) || has(self.gcs.bucket)",message="gcs.bucket is required"
// +kubebuilder:validation:XValidation:rule="!has(self.kinesis) || has(self.kinesis.streamName)",message="kinesis.streamName is required"
// +kubebuilder:validation:XValidation:rule="!has(self.securityHub) || has(self.securityHub.accountID)",message="securityHub.accountID is required"
type NotificationTargetSpec struct {
	Destinations `json:",inline"`

	// SecretRef names a Secret in this namespace with the destination's credentials. The keys
	// read are listed on each destination; a key in the Secret wins over the inline field of the
	// same name. Changes to the Secret take effect without a restart.
	// +optional
	SecretRef *LocalSecretReference `json:"secretRef,omitempty"`

	// TLS settings for HTTPS destinations.
	// +optional
	TLS *TLSConfig `json:"tls,omitempty"`

	// MinimumSeverity drops results below this severity (info < low < medium < high <
	// critical). Results without a severity are kept only when this is unset.
	// +optional
	MinimumSeverity Severity `json:"minimumSeverity,omitempty"`

	// MinimumPriority drops results below this priority (debug < info < warning < error <
	// critical). A result's priority comes from its status and severity: error results are
	// error; warn results are warning; pass and skip are debug; fail results take their
	// severity (critical→critical, high→error, medium→warning, low and info→info,
	// none→warning), and so do results without a status (the Trivy adapter writes its
	// vulnerabilities so: a high one is error).
	// +optional
	MinimumPriority Priority `json:"minimumPriority,omitempty"`

	// Sources keeps only results written by these engines (case-insensitive, wildcards allowed,
	// for example kyverno, trivy). Empty means every source. Combined with filter.sources, both
	// must pass.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	Sources []string `json:"sources,omitempty"`

	// Filter narrows the results further. By default, pass and skip results are not sent; list
	// them with the statuses you want in filter.statuses.include to send them.
	// +optional
	Filter *ResultFilter `json:"filter,omitempty"`

	// MessageTemplate replaces the default text of each result in chat messages (Slack, Teams,
	// Discord, Google Chat, Telegram) with a Go text/template; other destinations refuse it. Its data is the result with the
	// fields .ID, .Policy, .Rule, .Status, .Severity, .Category, .Message, .Scored, .Source,
	// .Timestamp, .Priority, .Resource (.APIVersion, .Kind, .Namespace, .Name, .UID; empty when
	// the result names no resource), .Report (.Kind, .Namespace, .Name), .Properties and
	// .CustomFields. Example: `{{ .Severity }} {{ .Policy }}: {{ .Message }}`. So that a template's
	// work stays bounded, `range` may only walk a field of the result (.Properties,
	// .CustomFields), not nested in another `range`, and `define`, `block` and `template` are
	// refused.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	MessageTemplate string `json:"messageTemplate,omitempty"`

	// CustomFields are added to every message (for example a cluster name).
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	CustomFields map[string]string `json:"customFields,omitempty"`

	// SkipExistingOnStartup: when true (the default), results that already exist when the target
	// is created are not sent; only results that appear later are. When false, existing results
	// are sent once.
	// +optional
	// +kubebuilder:default=true
	SkipExistingOnStartup *bool `json:"skipExistingOnStartup,omitempty"`

	// DropAfter is how long a result that cannot be delivered is retried before it is dropped:
	// counted in status.delivery.dropped and logged with its ID. Results that exhaust their fast
	// retries (about 6 minutes) are retried every minute until then, so a destination that is
	// down for less than this loses nothing. Its channels inherit it.
	// +optional
	// +kubebuilder:default="24h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m')",message="dropAfter must be at least 1m"
	DropAfter *metav1.Duration `json:"dropAfter,omitempty"`

	// Suspend stops deliveries without deleting the target. New results that appear while
	// suspended are sent when it is resumed.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// AllowedChannels says which namespaces may attach a TargetChannel to this target.
	// By default only channels in the target's own namespace may.
	// +optional
	AllowedChannels *AllowedChannels `json:"allowedChannels,omitempty"`

	Notifications `json:",inline"`

	// AllowPrivateNetworks lets the target, and its channels in the same namespace, connect to
	// addresses the operator otherwise refuses (loopback, link-local, --blocked-cidrs), for
	// example an in-cluster Alertmanager. It is honoured only in the platform namespace; targets
	// and channels elsewhere are always restricted (see the operator's --tenant-blocked-cidrs).
	// +optional
	AllowPrivateNetworks bool `json:"allowPrivateNetworks,omitempty"`
}

// NamespacesFrom says which namespaces are admitted.
// +kubebuilder:validation:Enum=Same;All;Selector
type NamespacesFrom string

// Values of NamespacesFrom.
const (
	NamespacesFromSame     NamespacesFrom = "Same"
	NamespacesFromAll      NamespacesFrom = "All"
	NamespacesFromSelector NamespacesFrom = "Selector"
)

// AllowedChannels admits TargetChannels from other namespaces.
type AllowedChannels struct {
	// Namespaces admitted.
	// +optional
	Namespaces *ChannelNamespaces `json:"namespaces,omitempty"`
}

// ChannelNamespaces admits namespaces, in the style of Gateway API's allowedRoutes.
// +kubebuilder:validation:XValidation:rule="(self.from == 'Selector') == has(self.selector)",message="selector is required when from is Selector, and only then"
type ChannelNamespaces struct {
	// From is Same (only this namespace), All (every namespace), or Selector (namespaces whose
	// labels match selector, plus this namespace).
	// +optional
	// +kubebuilder:default=Same
	From NamespacesFrom `json:"from,omitempty"`

	// Selector of admitted namespaces' labels, when from is Selector.
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
}

// NotificationTargetStatus is the observed state of a NotificationTarget.
type NotificationTargetStatus struct {
	// ObservedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready, Reconciling, Stalled.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Destination is the type of the configured destination.
	// +optional
	Destination DestinationType `json:"destination,omitempty"`

	// Delivery reports the health of deliveries to this target's own destination.
	// +optional
	Delivery *DeliveryStatus `json:"delivery,omitempty"`

	// Mode says how results become messages: each (a message per batch of new results) or
	// digest <interval> [by <groups>], then the rate limit and the suppressions in effect.
	// +optional
	Mode string `json:"mode,omitempty"`

	// Silences lists the spec's silences, active and expired, with what each muted.
	// +optional
	// +listType=map
	// +listMapKey=name
	Silences []SilenceStatus `json:"silences,omitempty"`

	// Channels counts the TargetChannels attached to this target.
	// +optional
	Channels *ChannelCounts `json:"channels,omitempty"`

	// LastTest is the answer to the last test message asked for with the annotation
	// reporting.policyherald.io/send-test (`kubectl herald test` writes it): one synthetic
	// result of the policy policy-herald-test, sent through this object's destination once per
	// annotation value, with a single attempt and past its filters, counted in no delivery
	// status and stored in no ledger.
	// +optional
	LastTest *TestMessageStatus `json:"lastTest,omitempty"`
}

// ChannelCounts summarises the channels attached to a target.
type ChannelCounts struct {
	// Attached is the number of channels that reference this target and are allowed to.
	Attached int32 `json:"attached"`
	// Ready is the number of attached channels whose Ready condition is True.
	Ready int32 `json:"ready"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=nt,categories=policyherald
// +kubebuilder:printcolumn:name="Destination",type=string,JSONPath=`.status.destination`
// +kubebuilder:printcolumn:name="Mode",type=string,JSONPath=`.status.mode`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Sent",type=integer,JSONPath=`.status.delivery.sent`
// +kubebuilder:printcolumn:name="Failed",type=integer,JSONPath=`.status.delivery.failed`
// +kubebuilder:printcolumn:name="Channels",type=integer,JSONPath=`.status.channels.attached`,priority=1
// +kubebuilder:printcolumn:name="Last Test",type=string,JSONPath=`.status.lastTest.outcome`,priority=1
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// NotificationTarget delivers new policy results to one destination: a chat service, a log
// store, an alerting or ticketing system, or object storage.
type NotificationTarget struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec   NotificationTargetSpec   `json:"spec"`
	Status NotificationTargetStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// NotificationTargetList is a list of NotificationTargets.
type NotificationTargetList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NotificationTarget `json:"items"`
}

func init() {
	register(&NotificationTarget{}, &NotificationTargetList{})
}

// DestinationType is the type of the one block set in d ("" when none is): the JSON name of its
// field, so that a new destination block needs nothing here.
func (d *Destinations) DestinationType() DestinationType {
	v := reflect.ValueOf(d).Elem()
	for i, name := range destinationBlocks {
		if !v.Field(i).IsNil() {
			return DestinationType(name)
		}
	}
	return ""
}

// destinationBlocks are the JSON names of Destinations' fields, by field index.
var destinationBlocks = func() []string {
	t := reflect.TypeFor[Destinations]()
	names := make([]string, t.NumField())
	for i := range names {
		names[i], _, _ = strings.Cut(t.Field(i).Tag.Get("json"), ",")
	}
	return names
}()

// GetConditions returns the status conditions.
func (t *NotificationTarget) GetConditions() *[]metav1.Condition { return &t.Status.Conditions }

// SetObservedGeneration records the generation the status describes.
func (t *NotificationTarget) SetObservedGeneration(g int64) { t.Status.ObservedGeneration = g }
