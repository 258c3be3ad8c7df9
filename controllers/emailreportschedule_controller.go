package controllers

import (
	"context"
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/conditions"
	"github.com/policyherald/policy-herald/internal/secrets"
	"github.com/policyherald/policy-herald/internal/tlsconfig"
)

// +kubebuilder:rbac:groups=reporting.policyherald.io,resources=emailreportschedules,verbs=get;list;watch
// +kubebuilder:rbac:groups=reporting.policyherald.io,resources=emailreportschedules/status,verbs=get;update;patch

// EmailReportScheduleReconciler validates EmailReportSchedules. Mailing is not implemented
// yet, so a valid schedule reports Ready=False, reason NotImplemented.
type EmailReportScheduleReconciler struct {
	Deps
	// Now returns the current time; tests may fix it.
	Now func() time.Time
}

// Reconcile validates the schedule, recipients and SMTP settings.
func (r *EmailReportScheduleReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var s v1alpha1.EmailReportSchedule
	if err := r.Client.Get(ctx, req.NamespacedName, &s); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	base := s.DeepCopy()
	// Evaluating the next run validates the schedule in its time zone.
	_, err := r.nextRun(&s)
	if err == nil {
		err = r.validate(ctx, &s)
	}
	if err == nil {
		err = notImplemented("mailing e-mail reports", s.Spec.Suspend)
	}
	// Nothing is mailed, so no report is due: a next run time would claim otherwise. Set it
	// again (and requeue when it is due) once mailing lands.
	s.Status.NextScheduleTime = nil
	return finish(ctx, r.Deps, &s, base, outcome{err: err})
}

// nextRun parses the schedule in its time zone and returns the next run after now.
func (r *EmailReportScheduleReconciler) nextRun(s *v1alpha1.EmailReportSchedule) (time.Time, error) {
	if strings.Contains(s.Spec.Schedule, "TZ=") {
		return time.Time{}, conditions.Stalled(v1alpha1.ReasonInvalidSchedule,
			"schedule must not contain TZ= or CRON_TZ=: set spec.timeZone instead")
	}
	loc := time.UTC
	if s.Spec.TimeZone != "" {
		l, err := time.LoadLocation(s.Spec.TimeZone)
		if err != nil {
			return time.Time{}, conditions.Stalled(v1alpha1.ReasonInvalidSchedule,
				fmt.Sprintf("timeZone %q is not a known IANA time zone", s.Spec.TimeZone))
		}
		loc = l
	}
	sched, err := cron.ParseStandard(s.Spec.Schedule)
	if err != nil {
		return time.Time{}, conditions.Stalled(v1alpha1.ReasonInvalidSchedule,
			fmt.Sprintf("schedule %q is not a valid cron expression: %v", s.Spec.Schedule, err))
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	return sched.Next(now().In(loc)).UTC(), nil
}

// validate checks the recipients and the SMTP settings merged with their Secret.
func (r *EmailReportScheduleReconciler) validate(ctx context.Context, s *v1alpha1.EmailReportSchedule) error {
	for _, to := range s.Spec.Recipients {
		if _, err := mail.ParseAddress(to); err != nil {
			return conditions.Stalled(v1alpha1.ReasonInvalidSpec, fmt.Sprintf("recipient %q is not an e-mail address", to))
		}
	}
	smtp := s.Spec.SMTP
	values, secretName, err := readOptionalSecret(ctx, r.SecretReader, s.Namespace, smtp.SecretRef)
	if err != nil {
		return err
	}
	if err := checkSMTP(smtp, values, secretName); err != nil {
		return err
	}
	_, err = tlsconfig.Build(ctx, r.SecretReader, s.Namespace, smtp.TLS)
	if err != nil {
		return err
	}
	return checkSelector("filter.namespaceSelector", filterSelector(s.Spec.Filter))
}

// checkSMTP checks the effective SMTP settings: inline fields with the Secret's keys winning.
func checkSMTP(smtp v1alpha1.SMTPSettings, values secrets.Values, secretName string) error {
	invalid := func(format string, args ...any) error {
		return conditions.Stalled(v1alpha1.ReasonInvalidSpec, fmt.Sprintf(format, args...))
	}
	if values.Get("host", smtp.Host) == "" {
		return invalid("smtp.host is not set inline nor under key 'host' of Secret %q", secretName)
	}
	from := values.Get("from", smtp.From)
	if _, err := mail.ParseAddress(from); err != nil {
		return invalid("smtp.from %q is not an e-mail address", from)
	}
	if p, ok := values["port"]; ok {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return invalid("key 'port' of Secret %q is not a port number", secretName)
		}
	}
	if e, ok := values["encryption"]; ok {
		switch v1alpha1.SMTPEncryption(e) {
		case v1alpha1.SMTPEncryptionTLS, v1alpha1.SMTPEncryptionStartTLS, v1alpha1.SMTPEncryptionNone:
		default:
			return invalid("key 'encryption' of Secret %q must be ssl/tls, starttls or none", secretName)
		}
	}
	if values.Get("username", smtp.Username) != "" {
		if secretName == "" {
			return invalid("smtp.username is set but there is no smtp.secretRef for the password")
		}
		return secrets.RequireKeys(values, secretName, "password")
	}
	return nil
}

// SetupWithManager registers the reconciler and the Secrets it watches.
func (r *EmailReportScheduleReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if err := indexSecrets(ctx, mgr, &v1alpha1.EmailReportSchedule{}); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.EmailReportSchedule{}).
		WatchesMetadata(&corev1.Secret{}, requestsForSecret(r.Client, func() client.ObjectList { return &v1alpha1.EmailReportScheduleList{} })).
		Complete(r)
}
