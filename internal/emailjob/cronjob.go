package emailjob

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/consolelink"
	"github.com/policyherald/policy-herald/internal/textcut"
)

// The CronJob that runs this subcommand for an EmailReportSchedule, and the one-off Job of a
// send-now, as the controller builds them: the other side of the contract in the package
// documentation.

// Labels and annotations of the CronJobs, their Jobs and Pods.
const (
	// LabelCronJob names the CronJob (and so the schedule) a Job belongs to; every object the
	// controller makes carries it, and its cache holds only objects with it.
	LabelCronJob = "reporting.policyherald.io/cronjob"
	// labelScheduleNamespace and labelScheduleName say whose objects these are, for people and
	// selectors; the name is cut to 63 characters (annotationSchedule has it in full).
	labelScheduleNamespace = "reporting.policyherald.io/schedule-namespace"
	labelScheduleName      = "reporting.policyherald.io/schedule-name"
	// annotationSchedule is "namespace/name" of the schedule, in full.
	annotationSchedule = "reporting.policyherald.io/schedule"
	// annotationSendNow on a one-off Job records the send-now value it was started for.
	annotationSendNow = v1alpha1.AnnotationSendNow
)

// ServiceAccount is the ServiceAccount the e-mail report Jobs run as, in the platform namespace
// (config/rbac/email_reporter_*.yaml, with config/default's name prefix).
const ServiceAccount = "policy-herald-email-reporter"

// The CronJob's and Job's settings.
const (
	// startingDeadline: a run missed by more than this (the operator or the cluster was down)
	// is skipped rather than sent late; the next one is on time.
	startingDeadline = int64(3600)
	// historyLimit Jobs of each outcome are kept, for their status and logs.
	historyLimit = int32(3)
	// backoffLimit: a failed run is retried twice (three Pods at most).
	backoffLimit = int32(2)
	// activeDeadline ends a run that takes longer than this (an SMTP server that hangs).
	activeDeadline = int64(600)
)

// Image is the image a Job runs, and how it is pulled.
type Image struct {
	Image       string
	PullPolicy  corev1.PullPolicy
	PullSecrets []corev1.LocalObjectReference
}

// maxCronJobName is the longest CronJob name the API server takes: the CronJob controller
// appends 11 characters to name its Jobs, which must stay within 63.
const maxCronJobName = 52

// CronJobName names the CronJob of the EmailReportSchedule namespace/name in the platform
// namespace: "ers-", a readable part (namespace-name, cut to fit) and a short hash of
// namespace/name, which keeps the names of every namespace's schedules apart.
func CronJobName(namespace, name string) string {
	sum := sha256.Sum256([]byte(namespace + "/" + name))
	hash := hex.EncodeToString(sum[:])[:8]
	readable := dnsLabel(namespace + "-" + name)
	if room := maxCronJobName - len("ers-") - len("-") - len(hash); len(readable) > room {
		readable = strings.TrimRight(readable[:room], "-")
	}
	return "ers-" + readable + "-" + hash
}

// SendNowJobName names the one-off Job of cronJob for the send-now value: at most 63
// characters (a label value: the job-name label of its Pods), one Job per value.
func SendNowJobName(cronJob, value string) string {
	sum := sha256.Sum256([]byte(value))
	return cronJob + "-now-" + hex.EncodeToString(sum[:])[:6]
}

// dnsLabel keeps the lower-case letters, digits and dashes of s ('.' becomes '-').
func dnsLabel(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
			b.WriteRune(r)
		case r == '.':
			b.WriteByte('-')
		}
	}
	return strings.Trim(b.String(), "-")
}

// ScheduleOf returns the schedule a CronJob or Job of this package belongs to.
func ScheduleOf(o metav1.Object) (types.NamespacedName, bool) {
	ns, name, ok := strings.Cut(o.GetAnnotations()[annotationSchedule], "/")
	return types.NamespacedName{Namespace: ns, Name: name}, ok
}

// MutateCronJob sets the fields of cj that the controller owns from the schedule s, and nothing
// else, so the API server's defaults stay and an unchanged schedule compares equal. cj's
// namespace and name are the caller's (the platform namespace, CronJobName). console, the
// operator's --console-url, is passed on when set, so that the reports link to the console.
func MutateCronJob(cj *batchv1.CronJob, s *v1alpha1.EmailReportSchedule, platformNamespace string, img Image, console consolelink.Base) {
	lbls := jobLabels(s, cj.Name)
	if cj.Labels == nil {
		cj.Labels = map[string]string{}
	}
	if cj.Annotations == nil {
		cj.Annotations = map[string]string{}
	}
	for k, v := range lbls {
		cj.Labels[k] = v
	}
	cj.Annotations[annotationSchedule] = s.Namespace + "/" + s.Name
	spec := &cj.Spec
	spec.Schedule = s.Spec.Schedule
	spec.TimeZone = nil
	if s.Spec.TimeZone != "" {
		spec.TimeZone = new(s.Spec.TimeZone)
	}
	spec.Suspend = new(s.Spec.Suspend)
	spec.ConcurrencyPolicy = batchv1.ForbidConcurrent
	spec.StartingDeadlineSeconds = new(startingDeadline)
	spec.SuccessfulJobsHistoryLimit = new(historyLimit)
	spec.FailedJobsHistoryLimit = new(historyLimit)
	tmpl := &spec.JobTemplate
	tmpl.Labels = lbls
	tmpl.Annotations = map[string]string{annotationSchedule: s.Namespace + "/" + s.Name}
	job := &tmpl.Spec
	job.BackoffLimit = new(backoffLimit)
	job.ActiveDeadlineSeconds = new(activeDeadline)
	pod := &job.Template
	pod.Labels = lbls
	pod.Annotations = map[string]string{annotationSchedule: s.Namespace + "/" + s.Name}
	ps := &pod.Spec
	ps.RestartPolicy = corev1.RestartPolicyNever
	ps.ServiceAccountName = ServiceAccount
	ps.ImagePullSecrets = img.PullSecrets
	ps.SecurityContext = &corev1.PodSecurityContext{
		RunAsNonRoot:   new(true),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	// One container, replaced as a whole: the API server's defaults for it (termination path,
	// pull policy) are set again below, so an unchanged schedule compares equal.
	var c corev1.Container
	if len(ps.Containers) == 1 {
		c = ps.Containers[0]
	}
	c.Name = "email-report"
	c.Image = img.Image
	if img.PullPolicy != "" {
		c.ImagePullPolicy = img.PullPolicy
	}
	c.Command = []string{"/policy-herald"}
	// The subcommand writes its outcome line to the termination log only when told where: a
	// preview on a workstation has none.
	c.TerminationMessagePath = corev1.TerminationMessagePathDefault
	c.TerminationMessagePolicy = corev1.TerminationMessageFallbackToLogsOnError
	c.Args = []string{"email-report", "--schedule=" + s.Namespace + "/" + s.Name, "--platform-namespace=" + platformNamespace,
		"--termination-log=" + c.TerminationMessagePath}
	if console != "" {
		c.Args = append(c.Args, "--console-url="+string(console))
	}
	c.Resources = corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
	}
	c.SecurityContext = &corev1.SecurityContext{
		AllowPrivilegeEscalation: new(false),
		ReadOnlyRootFilesystem:   new(true),
		RunAsNonRoot:             new(true),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
	ps.Containers = []corev1.Container{c}
}

// jobLabels are the labels of the CronJob, its Jobs and Pods.
func jobLabels(s *v1alpha1.EmailReportSchedule, cronJobName string) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":       "policy-herald",
		"app.kubernetes.io/component":  "email-report",
		"app.kubernetes.io/managed-by": "policy-herald",
		LabelCronJob:                   cronJobName,
		labelScheduleNamespace:         s.Namespace,
		labelScheduleName:              labelValue(s.Name),
	}
}

// labelValue cuts a name to a valid label value (63 characters, alphanumeric at the ends).
func labelValue(v string) string {
	if len(v) > 63 {
		v = v[:63]
	}
	return strings.TrimRight(v, "-_.")
}

// SendNowJob is the one-off Job of cj that sends the report of schedule s now, for the
// send-now value; its annotation keeps the value as status.lastSendNow does, cut to 1024 bytes.
func SendNowJob(cj *batchv1.CronJob, s *v1alpha1.EmailReportSchedule, value string) *batchv1.Job {
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:   cj.Namespace,
			Name:        SendNowJobName(cj.Name, value),
			Labels:      maps.Clone(cj.Spec.JobTemplate.Labels),
			Annotations: map[string]string{annotationSchedule: s.Namespace + "/" + s.Name, annotationSendNow: textcut.Cut(value, 1024)},
			// As `kubectl create job --from=cronjob/...`: the CronJob owns it, so the garbage
			// collector removes it with the CronJob (the finalizer deletes it too).
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "batch/v1", Kind: "CronJob", Name: cj.Name, UID: cj.UID, Controller: new(true),
			}},
		},
		Spec: *cj.Spec.JobTemplate.Spec.DeepCopy(),
	}
	job.Annotations["cronjob.kubernetes.io/instantiate"] = "manual"
	return job
}
