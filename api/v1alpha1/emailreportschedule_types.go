package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AnnotationSendNow on an EmailReportSchedule sends its report once, now, whenever its value
// changes (status.lastSendNow records the last one): for example
// `kubectl annotate ers daily reporting.policyherald.io/send-now="$(date +%s)" --overwrite`.
const AnnotationSendNow = "reporting.policyherald.io/send-now"

// FinalizerCronJob is the finalizer the operator puts on every EmailReportSchedule: its CronJob
// lives in the platform namespace, where an owner reference to the schedule cannot reach, so
// the operator deletes the CronJob and its Jobs before the schedule goes.
const FinalizerCronJob = "reporting.policyherald.io/cronjob"

// EmailReportType says what an e-mail report contains.
// +kubebuilder:validation:Enum=summary;violations
type EmailReportType string

// E-mail report types.
const (
	// EmailReportSummary counts results per status and source.
	EmailReportSummary EmailReportType = "summary"
	// EmailReportViolations lists failed and errored results with resource, policy and rule.
	EmailReportViolations EmailReportType = "violations"
)

// SMTPEncryption says how the SMTP connection is protected.
// +kubebuilder:validation:Enum=ssl/tls;starttls;none
type SMTPEncryption string

// SMTP encryption modes.
const (
	SMTPEncryptionTLS      SMTPEncryption = "ssl/tls"
	SMTPEncryptionStartTLS SMTPEncryption = "starttls"
	SMTPEncryptionNone     SMTPEncryption = "none"
)

// SMTPSettings says how reports are mailed. Every field may instead come from the Secret named
// by secretRef under the key of the same name (`host`, `port`, `username`, `password`, `from`,
// `encryption`); a key in the Secret wins. The password is read only from the Secret.
// +kubebuilder:validation:XValidation:rule="has(self.secretRef) || (has(self.host) && has(self.from))",message="smtp needs host and from: set them inline or in the Secret named by smtp.secretRef"
type SMTPSettings struct {
	// Host name of the SMTP server.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Host string `json:"host,omitempty"`

	// Port of the SMTP server. Defaults to 465 for ssl/tls, 587 for starttls and 25 for none.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port,omitempty"`

	// Username to authenticate with; no authentication when empty.
	// +optional
	Username string `json:"username,omitempty"`

	// From is the sender address.
	// +optional
	// +kubebuilder:validation:MaxLength=320
	From string `json:"from,omitempty"`

	// Encryption is ssl/tls (implicit TLS), starttls, or none. Defaults to ssl/tls.
	// +optional
	Encryption SMTPEncryption `json:"encryption,omitempty"`

	// SecretRef names a Secret in this namespace holding the password and, optionally, any other
	// SMTP setting.
	// +optional
	SecretRef *LocalSecretReference `json:"secretRef,omitempty"`

	// TLS settings for ssl/tls and starttls.
	// +optional
	TLS *TLSConfig `json:"tls,omitempty"`
}

// GraphSettings says how reports are mailed through Microsoft Graph (Exchange Online, which is
// retiring basic-auth SMTP): an application registered in Microsoft Entra ID, with the
// application permission Mail.Send granted by an administrator, sends as one mailbox. It gets a
// token by the OAuth2 client credentials grant and calls sendMail.
type GraphSettings struct {
	// TenantID is the directory (tenant) ID of the application's Microsoft Entra tenant: a GUID
	// or a verified domain name such as contoso.onmicrosoft.com.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][A-Za-z0-9.-]*$`
	TenantID string `json:"tenantID"`

	// ClientID is the application (client) ID of the app registration.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	ClientID string `json:"clientID"`

	// ClientSecretRef selects the key of a Secret in this namespace that holds the
	// application's client secret.
	ClientSecretRef SecretKeySelector `json:"clientSecretRef"`

	// User is the mailbox that sends the report, by user principal name
	// (reports@contoso.com) or object ID; the report comes from this user.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=320
	User string `json:"user"`
}

// EmailReportScheduleSpec says what is mailed, to whom, and when.
// +kubebuilder:validation:XValidation:rule="has(self.smtp) != has(self.graph)",message="set exactly one of smtp and graph: smtp sends through an SMTP server, graph through Microsoft Graph (Exchange Online)"
type EmailReportScheduleSpec struct {
	// Schedule in cron format (five fields, or a macro such as @daily), as a CronJob takes it.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	Schedule string `json:"schedule"`

	// TimeZone of the schedule, an IANA name such as Europe/Berlin. Defaults to UTC.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	TimeZone string `json:"timeZone,omitempty"`

	// ReportType is summary (counts per status and source) or violations (the failed results).
	ReportType EmailReportType `json:"reportType"`

	// ClusterName is shown in the subject and body to tell clusters apart.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	ClusterName string `json:"clusterName,omitempty"`

	// Recipients of the report.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:items:MinLength=3
	// +kubebuilder:validation:items:MaxLength=320
	// +listType=set
	Recipients []string `json:"recipients"`

	// CC are further recipients named in the Cc header.
	// +optional
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:items:MinLength=3
	// +kubebuilder:validation:items:MaxLength=320
	// +listType=set
	CC []string `json:"cc,omitempty"`

	// BCC are further recipients that no header names: they are in the SMTP envelope (or
	// Graph's bccRecipients) only.
	// +optional
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:items:MinLength=3
	// +kubebuilder:validation:items:MaxLength=320
	// +listType=set
	BCC []string `json:"bcc,omitempty"`

	// SMTP server settings. Exactly one of smtp and graph is set.
	// +optional
	SMTP *SMTPSettings `json:"smtp,omitempty"`

	// Graph sends through Microsoft Graph instead of SMTP. Exactly one of smtp and graph is set.
	// +optional
	Graph *GraphSettings `json:"graph,omitempty"`

	// Filter selects the results the report covers. A schedule outside the platform namespace
	// only ever covers its own namespace.
	// +optional
	Filter *ResultFilter `json:"filter,omitempty"`

	// ClusterReports includes the results of cluster-scoped reports (ClusterPolicyReport,
	// ClusterReport). Only schedules in the platform namespace ever see them. Defaults to true.
	// +optional
	// +kubebuilder:default=true
	ClusterReports *bool `json:"clusterReports,omitempty"`

	// Suspend stops sending reports without deleting the schedule.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// EmailReportScheduleStatus is the observed state of an EmailReportSchedule.
type EmailReportScheduleStatus struct {
	// ObservedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready, Reconciling, Stalled.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// CronJobName names the CronJob that sends this report, in the operator's platform
	// namespace (not this one: see the README, "Who may do what"). Its Jobs carry the label
	// reporting.policyherald.io/cronjob with this name.
	// +optional
	CronJobName string `json:"cronJobName,omitempty"`

	// NextScheduleTime is when the next report is due; unset while the schedule is suspended or
	// not valid.
	// +optional
	NextScheduleTime *metav1.Time `json:"nextScheduleTime,omitempty"`

	// LastScheduleTime is when a report was last started: by the schedule (the CronJob's
	// lastScheduleTime) or by the send-now annotation.
	// +optional
	LastScheduleTime *metav1.Time `json:"lastScheduleTime,omitempty"`

	// LastSuccessfulTime is when a report was last sent successfully (a Job of the CronJob
	// completed).
	// +optional
	LastSuccessfulTime *metav1.Time `json:"lastSuccessfulTime,omitempty"`

	// LastSendNow is the value of the annotation reporting.policyherald.io/send-now the
	// operator last started a one-off Job for. Setting the annotation to any other value sends
	// the report once more.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	LastSendNow string `json:"lastSendNow,omitempty"`

	// Delivery reports the health of the mailings, one per run (a Job): sent and failed count
	// the runs that succeeded and failed since the schedule was created, pending the runs
	// under way; lastFailureReason is the failed run's own message (its container's
	// termination message) or, failing that, why its Job failed.
	// +optional
	Delivery *DeliveryStatus `json:"delivery,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ers,categories=policyherald
// +kubebuilder:printcolumn:name="Schedule",type=string,JSONPath=`.spec.schedule`
// +kubebuilder:printcolumn:name="Report",type=string,JSONPath=`.spec.reportType`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Next",type=string,JSONPath=`.status.nextScheduleTime`
// +kubebuilder:printcolumn:name="Last Sent",type=date,JSONPath=`.status.lastSuccessfulTime`,priority=1
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// EmailReportSchedule mails a summary or violations report of policy results on a schedule.
type EmailReportSchedule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec   EmailReportScheduleSpec   `json:"spec"`
	Status EmailReportScheduleStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// EmailReportScheduleList is a list of EmailReportSchedules.
type EmailReportScheduleList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []EmailReportSchedule `json:"items"`
}

func init() {
	register(&EmailReportSchedule{}, &EmailReportScheduleList{})
}

// GetConditions returns the status conditions.
func (s *EmailReportSchedule) GetConditions() *[]metav1.Condition { return &s.Status.Conditions }

// SetObservedGeneration records the generation the status describes.
func (s *EmailReportSchedule) SetObservedGeneration(g int64) { s.Status.ObservedGeneration = g }

// Addresses returns every recipient: to, cc and bcc.
func (s *EmailReportScheduleSpec) Addresses() []string {
	out := make([]string, 0, len(s.Recipients)+len(s.CC)+len(s.BCC))
	out = append(out, s.Recipients...)
	out = append(out, s.CC...)
	return append(out, s.BCC...)
}
