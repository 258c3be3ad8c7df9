package v1alpha1

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DestinationType names the kind of service a NotificationTarget delivers to.
type DestinationType string

// Supported destination types; each is the name of its field in Destinations.
const (
	DestinationWebhook       DestinationType = "webhook"
	DestinationSlack         DestinationType = "slack"
	DestinationTeams         DestinationType = "teams"
	DestinationDiscord       DestinationType = "discord"
	DestinationGoogleChat    DestinationType = "googleChat"
	DestinationTelegram      DestinationType = "telegram"
	DestinationLoki          DestinationType = "loki"
	DestinationElasticsearch DestinationType = "elasticsearch"
	DestinationSplunk        DestinationType = "splunk"
	DestinationAlertManager  DestinationType = "alertManager"
	DestinationJira          DestinationType = "jira"
	DestinationS3            DestinationType = "s3"
	DestinationKinesis       DestinationType = "kinesis"
	DestinationSecurityHub   DestinationType = "securityHub"
	DestinationGCS           DestinationType = "gcs"
	DestinationPagerDuty     DestinationType = "pagerDuty"
)

// Destinations holds one block per destination type. A NotificationTarget sets exactly one; a
// TargetChannel sets at most one, of its target's type, to override destination fields.
//
// Values that are credentials (webhook URLs with tokens, passwords, API keys) belong in the
// Secret named by secretRef; the Secret keys each destination reads are listed on its fields.
// A key present in the Secret wins over the inline field of the same name.
type Destinations struct {
	// Webhook posts one JSON document per result to any HTTP endpoint.
	// +optional
	Webhook *WebhookDestination `json:"webhook,omitempty"`

	// Slack posts Block Kit messages to a Slack incoming webhook.
	// +optional
	Slack *SlackDestination `json:"slack,omitempty"`

	// Teams posts Adaptive Cards to a Microsoft Teams Workflows webhook.
	// +optional
	Teams *ChatWebhookDestination `json:"teams,omitempty"`

	// Discord posts embeds to a Discord webhook.
	// +optional
	Discord *ChatWebhookDestination `json:"discord,omitempty"`

	// GoogleChat posts cardsV2 messages to a Google Chat space webhook.
	// +optional
	GoogleChat *ChatWebhookDestination `json:"googleChat,omitempty"`

	// Telegram sends messages through the Telegram Bot API.
	// +optional
	Telegram *TelegramDestination `json:"telegram,omitempty"`

	// Loki pushes log lines to Grafana Loki.
	// +optional
	Loki *LokiDestination `json:"loki,omitempty"`

	// Elasticsearch indexes one document per result.
	// +optional
	Elasticsearch *ElasticsearchDestination `json:"elasticsearch,omitempty"`

	// Splunk sends events to a Splunk HTTP Event Collector.
	// +optional
	Splunk *SplunkDestination `json:"splunk,omitempty"`

	// AlertManager posts alerts to a Prometheus Alertmanager.
	// +optional
	AlertManager *AlertManagerDestination `json:"alertManager,omitempty"`

	// Jira opens an issue per result.
	// +optional
	Jira *JiraDestination `json:"jira,omitempty"`

	// S3 writes one JSON object per result to an S3 (or S3-compatible) bucket.
	// +optional
	S3 *S3Destination `json:"s3,omitempty"`

	// Kinesis puts one record per result on an AWS Kinesis data stream.
	// +optional
	Kinesis *KinesisDestination `json:"kinesis,omitempty"`

	// SecurityHub imports results as AWS Security Hub findings.
	// +optional
	SecurityHub *SecurityHubDestination `json:"securityHub,omitempty"`

	// GCS writes one JSON object per result to a Google Cloud Storage bucket.
	// +optional
	GCS *GCSDestination `json:"gcs,omitempty"`

	// PagerDuty triggers an incident per result through the Events API v2 and resolves it when
	// the result leaves the cluster or passes.
	// +optional
	PagerDuty *PagerDutyDestination `json:"pagerDuty,omitempty"`
}

// HTTPSettings are common to destinations reached over HTTP.
type HTTPSettings struct {
	// URL of the endpoint. May instead come from the Secret key `url`, which wins; keep URLs that
	// embed a token (Slack, Teams, Discord, Google Chat webhooks) in the Secret.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="(self.startsWith('http://') || self.startsWith('https://')) && isURL(self) && url(self).getHostname() != ''",message="url must be an absolute http:// or https:// URL with a host"
	URL string `json:"url,omitempty"`

	// Headers are added to every request. A TargetChannel's headers are merged over its
	// target's, key by key.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	Headers map[string]string `json:"headers,omitempty"`
}

// WebhookDestination posts one JSON document per result. Secret keys: `url`, `token` (sent
// as the Authorization header value).
type WebhookDestination struct {
	HTTPSettings `json:",inline"`

	// BodyTemplate replaces the document posted for each result with the output of a Go
	// text/template, which must be JSON. Its data and rules are messageTemplate's: the fields
	// .ID, .Policy, .Rule, .Status, .Severity, .Category, .Message, .Scored, .Source, .Timestamp,
	// .Priority, .Resource (.APIVersion, .Kind, .Namespace, .Name, .UID), .Report (.Kind,
	// .Namespace, .Name), .Properties and .CustomFields; `range` only over a field of the result
	// and not nested; no `define`, `block` or `template`. Write every text with the `json`
	// function, which quotes and escapes it, so that a message with quotes or line breaks stays
	// valid JSON: `{"text": {{ json .Message }}, "policy": {{ json .Policy }}}`; `{{ json . }}`
	// is the whole default document. The template is tried on a complete result when the object
	// is reconciled: one that fails or whose output is not JSON makes it InvalidSpec. A result
	// the template fails on when sent (such as .Resource.Name on a result without a resource) is
	// counted as failed, as is one whose output is over 1 MiB. Empty posts the default document.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	BodyTemplate string `json:"bodyTemplate,omitempty"`

	// ContentType is the Content-Type of every request: a JSON media type, application/json
	// (the default) or application/<name>+json such as application/cloudevents+json, with
	// parameters if any.
	// +optional
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:Pattern=`^application/([A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*\+)?json(\s*;.*)?$`
	ContentType string `json:"contentType,omitempty"`

	// Keepalive sends a heartbeat to the endpoint so it can tell a quiet cluster from a dead
	// operator.
	// +optional
	Keepalive *Keepalive `json:"keepalive,omitempty"`
}

// Keepalive configures a periodic heartbeat.
type Keepalive struct {
	// Interval between heartbeats, for example `5m`.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('10s')",message="keepalive interval must be at least 10s"
	Interval metav1.Duration `json:"interval"`

	// Params are added to each heartbeat document.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	Params map[string]string `json:"params,omitempty"`
}

// SlackDestination posts to a Slack incoming webhook (its `url`), or, with a bot token (Secret
// key `token`, xoxb-…) and a channel, through Slack's Web API (chat.postMessage), which threads
// resolved notices under the original message (notifyResolved); the url is not used then.
// Secret keys: `url`, `channel`, `token`.
type SlackDestination struct {
	HTTPSettings `json:",inline"`

	// Channel overrides the webhook's default channel, for example `#team-a`. With a bot token
	// it is required: the channel (name or ID) the bot posts to, which it must be a member of.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Channel string `json:"channel,omitempty"`
}

// ChatWebhookDestination posts to a chat service's incoming webhook (Teams, Discord, Google
// Chat). Secret keys: `url`.
type ChatWebhookDestination struct {
	HTTPSettings `json:",inline"`
}

// TelegramDestination sends messages with the Bot API. Secret keys: `token` (the bot token,
// required), `chatID`.
type TelegramDestination struct {
	// APIURL is the Bot API base URL, to go through a proxy. Defaults to https://api.telegram.org.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="(self.startsWith('http://') || self.startsWith('https://')) && isURL(self) && url(self).getHostname() != ''",message="apiURL must be an absolute http:// or https:// URL with a host"
	APIURL string `json:"apiURL,omitempty"`

	// ChatID is the chat, group or channel to post to.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	ChatID string `json:"chatID,omitempty"`

	// Headers are added to every request.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	Headers map[string]string `json:"headers,omitempty"`
}

// LokiDestination pushes to Grafana Loki. Secret keys: `url`, `username`, `password`.
type LokiDestination struct {
	HTTPSettings `json:",inline"`

	// Path of the push API. Defaults to /loki/api/v1/push.
	// +optional
	// +kubebuilder:validation:Pattern=`^/`
	Path string `json:"path,omitempty"`

	// TenantID is sent as X-Scope-OrgID for multi-tenant Loki.
	// +optional
	TenantID string `json:"tenantID,omitempty"`

	// Username for basic authentication; the password comes from the Secret.
	// +optional
	Username string `json:"username,omitempty"`
}

// IndexRotation says how often a new Elasticsearch index is started.
// +kubebuilder:validation:Enum=none;daily;monthly;annually
type IndexRotation string

// ElasticsearchDestination indexes one document per result. Secret keys: `url`, `username`,
// `password`, `apiKey`.
type ElasticsearchDestination struct {
	HTTPSettings `json:",inline"`

	// Index name prefix. Defaults to policy-herald.
	// +optional
	// +kubebuilder:validation:Pattern=`^[a-z0-9][a-z0-9._-]*$`
	// +kubebuilder:validation:MaxLength=200
	Index string `json:"index,omitempty"`

	// Rotation appends a date suffix to the index. Defaults to daily.
	// +optional
	Rotation IndexRotation `json:"rotation,omitempty"`

	// Username for basic authentication; otherwise the Secret's `apiKey` is used.
	// +optional
	Username string `json:"username,omitempty"`

	// TypelessAPI leaves the mapping type out of bulk requests, as Elasticsearch 7 and later and
	// OpenSearch expect. Set it to false for Elasticsearch 6, which needs the type _doc.
	// +optional
	// +kubebuilder:default=true
	TypelessAPI *bool `json:"typelessAPI,omitempty"`
}

// SplunkDestination sends to a Splunk HTTP Event Collector. Secret keys: `url`, `token`
// (required).
type SplunkDestination struct {
	HTTPSettings `json:",inline"`

	// Index the events are written to. Defaults to the token's default index.
	// +optional
	// +kubebuilder:validation:MaxLength=80
	Index string `json:"index,omitempty"`

	// Source of the events. Defaults to policy-herald.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Source string `json:"source,omitempty"`

	// SourceType of the events. Defaults to _json.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	SourceType string `json:"sourceType,omitempty"`
}

// AlertManagerDestination posts alerts to Alertmanager's v2 API: one alert per result, firing
// while the result is in the cluster and resolved when it leaves or passes. Secret keys: `url`.
type AlertManagerDestination struct {
	HTTPSettings `json:",inline"`

	// AdditionalURLs are the other Alertmanagers of a high-availability cluster. Every alert is
	// posted to url and to each of these, as Alertmanager's clustering expects of its clients.
	// +optional
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MaxLength=2048
	// +kubebuilder:validation:items:Pattern=`^https?://[^/?#\s]+`
	AdditionalURLs []string `json:"additionalURLs,omitempty"`

	// ResendInterval is how often firing alerts are posted again. Each is posted with endsAt four
	// intervals ahead, so Alertmanager resolves alerts by itself when the operator is gone for
	// longer than that. Defaults to 5m.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('10s') && duration(self) <= duration('24h')",message="resendInterval must be between 10s and 24h"
	ResendInterval *metav1.Duration `json:"resendInterval,omitempty"`
}

// PagerDutyDestination sends events to the PagerDuty Events API v2: a trigger per result, with
// the result's identity as dedup_key, and a resolve when the result goes away. Secret keys:
// `routingKey` (required; the integration key of a service or an event orchestration), `url`.
type PagerDutyDestination struct {
	// URL of the Events API enqueue endpoint. Defaults to https://events.pagerduty.com/v2/enqueue;
	// EU accounts use https://events.eu.pagerduty.com/v2/enqueue.
	HTTPSettings `json:",inline"`

	// Source is the event's payload.source, the system the incident is about. Defaults to the
	// result's resource (kind namespace/name), else its report.
	// +optional
	// +kubebuilder:validation:MaxLength=255
	Source string `json:"source,omitempty"`
}

// JiraDestination opens a Jira issue per result. Secret keys: `url`, `username`, `password`,
// `apiToken`.
type JiraDestination struct {
	HTTPSettings `json:",inline"`

	// ProjectKey of the project issues are opened in.
	// +optional
	// +kubebuilder:validation:Pattern=`^[A-Z][A-Z0-9_]*$`
	ProjectKey string `json:"projectKey,omitempty"`

	// IssueType of the opened issues. Defaults to Task.
	// +optional
	IssueType string `json:"issueType,omitempty"`

	// APIVersion of the Jira REST API. Defaults to v3 (Jira Cloud).
	// +optional
	// +kubebuilder:validation:Enum=v2;v3
	APIVersion string `json:"apiVersion,omitempty"`

	// SummaryTemplate is a Go text/template for the issue summary.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	SummaryTemplate string `json:"summaryTemplate,omitempty"`

	// Labels added to every issue.
	// +optional
	Labels []string `json:"labels,omitempty"`

	// Components set on every issue, by name.
	// +optional
	Components []string `json:"components,omitempty"`

	// Username for basic authentication with the Secret's `password` or `apiToken`.
	// +optional
	Username string `json:"username,omitempty"`

	// Fields are further issue fields set on every issue, by field ID, with the JSON value the
	// Jira API takes for that field, for example `customfield_10010: {"value": "High"}`.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	Fields map[string]apiextensionsv1.JSON `json:"fields,omitempty"`

	// ResolveTransition is the name of the workflow transition (for example Done) applied, with a
	// comment, when the result of an issue leaves the cluster or passes. Unset, issues are left
	// as they are.
	// +optional
	// +kubebuilder:validation:MaxLength=255
	ResolveTransition string `json:"resolveTransition,omitempty"`
}

// AWSSettings are common to AWS destinations. Secret keys: `accessKeyID`, `secretAccessKey`.
// Without keys the operator's workload identity (IRSA or EKS Pod Identity) is used.
type AWSSettings struct {
	// Region of the service.
	// +optional
	// +kubebuilder:validation:Pattern=`^[a-z0-9-]+$`
	Region string `json:"region,omitempty"`

	// Endpoint overrides the service endpoint, for S3-compatible storage or VPC endpoints.
	// +optional
	// +kubebuilder:validation:XValidation:rule="(self.startsWith('http://') || self.startsWith('https://')) && isURL(self) && url(self).getHostname() != ''",message="endpoint must be an absolute http:// or https:// URL with a host"
	Endpoint string `json:"endpoint,omitempty"`
}

// S3Destination writes objects to a bucket.
type S3Destination struct {
	AWSSettings `json:",inline"`

	// Bucket to write to.
	// +optional
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=63
	Bucket string `json:"bucket,omitempty"`

	// Prefix of every object key. Defaults to policy-herald.
	// +optional
	Prefix string `json:"prefix,omitempty"`

	// PathStyle addresses the bucket in the path instead of the host name (MinIO and most
	// S3-compatible stores need this).
	// +optional
	PathStyle bool `json:"pathStyle,omitempty"`

	// ServerSideEncryption algorithm for written objects.
	// +optional
	// +kubebuilder:validation:Enum=AES256;aws:kms
	ServerSideEncryption string `json:"serverSideEncryption,omitempty"`

	// KMSKeyID used with aws:kms encryption.
	// +optional
	KMSKeyID string `json:"kmsKeyID,omitempty"`

	// BucketKeyEnabled uses an S3 Bucket Key for aws:kms encryption.
	// +optional
	BucketKeyEnabled bool `json:"bucketKeyEnabled,omitempty"`
}

// KinesisDestination puts records on a data stream.
type KinesisDestination struct {
	AWSSettings `json:",inline"`

	// StreamName of the data stream.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	StreamName string `json:"streamName,omitempty"`
}

// SecurityHubDestination imports findings into AWS Security Hub.
type SecurityHubDestination struct {
	AWSSettings `json:",inline"`

	// AccountID of the AWS account findings belong to.
	// +optional
	// +kubebuilder:validation:Pattern=`^[0-9]{12}$`
	AccountID string `json:"accountID,omitempty"`

	// ProductName shown on findings. Defaults to Policy Herald.
	// +optional
	ProductName string `json:"productName,omitempty"`

	// CompanyName shown on findings. Defaults to Policy Herald.
	// +optional
	CompanyName string `json:"companyName,omitempty"`

	// Synchronize resolves findings whose results disappeared from the cluster.
	// +optional
	Synchronize bool `json:"synchronize,omitempty"`
}

// GCSDestination writes objects to a Google Cloud Storage bucket. Secret keys: `credentials`
// (a service account key JSON); without it the workload identity is used.
type GCSDestination struct {
	// Bucket to write to.
	// +optional
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=222
	Bucket string `json:"bucket,omitempty"`

	// Prefix of every object key. Defaults to policy-herald.
	// +optional
	Prefix string `json:"prefix,omitempty"`
}
