package store

import (
	"bytes"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/policyherald/policy-herald/internal/report"
)

// wgpolicyV1alpha1 is the oldest wgpolicyk8s.io version the CRDs serve. Its results name
// their outcome status (v1alpha2: result), and the CRDs serve every version without
// conversion, so the API server prunes status when it stores such a report in a version that
// has no such field: the outcome is gone before any client reads it. The model reads status
// where it gets it; here a report whose results were written so is told about, once, as its
// results have no outcome (the default filter sends them, pass and skip included).
const wgpolicyV1alpha1 = "wgpolicyk8s.io/v1alpha1"

// ReasonOutcomeLost is the reason of the Warning Event on such a report.
const ReasonOutcomeLost = "OutcomeLost"

// lostOutcomes remembers the reports already told about.
type lostOutcomes struct {
	mu   sync.Mutex
	told map[string]struct{}
}

// check logs once per report when obj's results were written as v1alpha1 and some of them
// have no outcome, and records a Warning Event on the report, where its owner looks.
func (l *lostOutcomes) check(h *reportHandler, obj client.Object, rep *report.Report) {
	if rep == nil || !writtenAsV1alpha1(obj) || !missingOutcome(rep) {
		return
	}
	key := rep.Key()
	l.mu.Lock()
	_, told := l.told[key]
	if !told {
		if l.told == nil {
			l.told = map[string]struct{}{}
		}
		l.told[key] = struct{}{}
	}
	l.mu.Unlock()
	if told {
		return
	}
	if h.s.events != nil {
		h.s.events.Eventf(obj, nil, corev1.EventTypeWarning, ReasonOutcomeLost, "Read",
			"%d of %d results have no outcome: the report was written as %s, whose results name it status, and the API server drops that field when it stores the report (the CRD does not convert versions). They are delivered as results without status, pass and skip included. Have the producer write wgpolicyk8s.io/v1alpha2.",
			countMissing(rep), len(rep.Results), wgpolicyV1alpha1)
	}
	h.s.log.Info("a report written as "+wgpolicyV1alpha1+" lost the outcome of its results: the API server drops their status when it stores the report, as the CRD does not convert v1alpha1; they are handled as results without status (sent by the default filter, pass and skip included). Have its producer write wgpolicyk8s.io/v1alpha2.",
		"kind", rep.Kind, "namespace", rep.Namespace, "name", rep.Name)
}

// forget lets a report that comes again be told about again.
func (l *lostOutcomes) forget(key string) {
	l.mu.Lock()
	delete(l.told, key)
	l.mu.Unlock()
}

// writtenAsV1alpha1 reports whether a v1alpha1 write owns the report's results.
func writtenAsV1alpha1(obj client.Object) bool {
	for _, m := range obj.GetManagedFields() {
		if m.APIVersion == wgpolicyV1alpha1 && m.FieldsV1 != nil && bytes.Contains(m.FieldsV1.GetRawBytes(), []byte(`"f:results"`)) {
			return true
		}
	}
	return false
}

func missingOutcome(rep *report.Report) bool { return countMissing(rep) > 0 }

func countMissing(rep *report.Report) int {
	n := 0
	for i := range rep.Results {
		if rep.Results[i].Status == "" {
			n++
		}
	}
	return n
}
