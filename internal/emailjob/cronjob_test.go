package emailjob

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
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
