package emailjob

import (
	"io"
	"reflect"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/consolelink"
)

func TestCronJobNames(t *testing.T) {
	long := strings.Repeat("x", 253)
	seen := map[string]string{}
	for _, c := range []struct{ ns, name, prefix string }{
		{"team-a", "daily", "ers-team-a-daily-"},
		{"team-a", "daily.violations", "ers-team-a-daily-violations-"},
		// The readable parts alike, the schedules apart.
		{"team-a-daily", "violations", "ers-team-a-daily-violations-"},
		{"team-b", "daily", "ers-team-b-daily-"},
		{"team-b", long, "ers-team-b-xxx"},
		{strings.Repeat("n", 63), long, "ers-nnn"},
	} {
		name := CronJobName(c.ns, c.name)
		if !strings.HasPrefix(name, c.prefix) || len(name) > maxCronJobName || len(validation.IsDNS1123Label(name)) > 0 {
			t.Errorf("CronJobName(%q, %q) = %q: want a DNS label of at most %d characters starting %q", c.ns, c.name, name, maxCronJobName, c.prefix)
		}
		if other, dup := seen[name]; dup {
			t.Errorf("CronJobName(%q, %q) = %q, as for %s", c.ns, c.name, name, other)
		}
		seen[name] = c.ns + "/" + c.name
		job := SendNowJobName(name, "2026-12-01T08:00:00Z")
		if len(job) > validation.DNS1123LabelMaxLength || len(validation.IsDNS1123Label(job)) > 0 {
			t.Errorf("SendNowJobName(%q) = %q: not a DNS label", name, job)
		}
	}
	// Pinned: a release that names the CronJob of an existing schedule differently leaves the
	// old one running beside the new one.
	if got := CronJobName("a", "b"); got != "ers-a-b-c14cddc0" {
		t.Errorf("CronJobName(a, b) = %q, was ers-a-b-c14cddc0: existing CronJobs would be orphaned", got)
	}
	if SendNowJobName("cj", "1") == SendNowJobName("cj", "2") {
		t.Error("two send-now values name the same Job")
	}
}

// The CronJob runs the subcommand with arguments it accepts, for the schedule it was made for,
// with the operator's console URL when it has one.
func TestCronJobArgsAreTheSubcommandsContract(t *testing.T) {
	for _, console := range []consolelink.Base{"", "https://herald.example.com/console"} {
		s := &v1alpha1.EmailReportSchedule{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "daily"}}
		cj := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Namespace: "policy-herald-system", Name: CronJobName(s.Namespace, s.Name)}}
		MutateCronJob(cj, s, "policy-herald-system", Image{Image: "example.com/ph:v1"}, console)
		c := cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0]
		if len(c.Args) == 0 || c.Args[0] != "email-report" {
			t.Fatalf("args = %q, want the email-report subcommand first", c.Args)
		}
		f, err := parseFlags(c.Args[1:], Env{Stderr: io.Discard, Getenv: func(string) string { return "" }})
		if err != nil {
			t.Fatalf("the subcommand refuses the CronJob's args %q: %v", c.Args, err)
		}
		if f.namespace != s.Namespace || f.name != s.Name || f.platformNamespace != "policy-herald-system" ||
			f.terminationLog != c.TerminationMessagePath || f.dryRun || f.consoleURL != console {
			t.Errorf("args %q parse to %+v", c.Args, *f)
		}
		if key, ok := ScheduleOf(cj); !ok || key.Namespace != s.Namespace || key.Name != s.Name {
			t.Errorf("ScheduleOf(CronJob) = %v, %v", key, ok)
		}
		if job := SendNowJob(cj, s, "now").Spec.Template.Spec.Containers[0]; !reflect.DeepEqual(job.Args, c.Args) {
			t.Errorf("the send-now Job runs %q, the CronJob %q", job.Args, c.Args)
		}
	}
	if _, err := parseFlags([]string{"--schedule=a/b", "--platform-namespace=p", "--console-url=herald.example.com"},
		Env{Stderr: io.Discard, Getenv: func(string) string { return "" }}); err == nil || !strings.Contains(err.Error(), "--console-url") {
		t.Errorf("a console URL that is not absolute: got %v", err)
	}
}
