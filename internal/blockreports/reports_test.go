package blockreports

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// Another kind is an error to return, not a panic in the reconciler.
func TestReportPartsOfAnotherKind(t *testing.T) {
	if _, _, err := reportParts(&corev1.ConfigMap{}); err == nil {
		t.Error("reportParts(ConfigMap) returned no error")
	}
	for _, ns := range []string{"", "team-a"} {
		if _, _, err := reportParts(newReport(ns)); err != nil {
			t.Errorf("reportParts(newReport(%q)): %v", ns, err)
		}
	}
}
