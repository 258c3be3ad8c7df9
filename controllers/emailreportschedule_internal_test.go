package controllers

import (
	"testing"
	"time"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
)

// The controller does not publish the next run while mailing is not implemented, but the
// schedule is still evaluated in its time zone; this keeps that right for when mailing lands.
func TestNextRunInTheScheduleTimeZone(t *testing.T) {
	// The day before Berlin moves to summer time (29 March 2026).
	now := time.Date(2026, 3, 28, 12, 0, 0, 0, time.UTC)
	r := &EmailReportScheduleReconciler{Now: func() time.Time { return now }}
	s := &v1alpha1.EmailReportSchedule{Spec: v1alpha1.EmailReportScheduleSpec{Schedule: "0 8 * * *", TimeZone: "Europe/Berlin"}}
	next, err := r.nextRun(s)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 3, 29, 6, 0, 0, 0, time.UTC); !next.Equal(want) {
		t.Errorf("next run = %s, want %s (08:00 CEST)", next, want)
	}
}
