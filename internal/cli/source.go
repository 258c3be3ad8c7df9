package cli

import "github.com/policyherald/policy-herald/internal/report"

// source is a query.Source over reports read from a LIST: the whole selection, one page of it,
// or one watched report. Names are shared by the sources of one command, so a source keeps one
// spelling from page to page.
type source struct {
	reps  []*report.Report
	names *report.SourceNames
}

// Snapshot returns the reports; the engine sorts them in place, which is fine: the source owns
// them and is used once.
func (s *source) Snapshot() []*report.Report { return s.reps }

func (s *source) SourceNames() *report.SourceNames { return s.names }

// newSource counts reps into names and returns a source over them.
func newSource(reps []*report.Report, names *report.SourceNames) *source {
	for _, r := range reps {
		names.Replace(nil, r)
	}
	return &source{reps: reps, names: names}
}
