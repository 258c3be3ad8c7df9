package filter

import (
	"errors"
	"fmt"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/report"
)

// Silence is a compiled silence's match (v1alpha1.SilenceMatch). Every list that is set must
// match (lists are ANDed); within a list, one value must match. Policies, rules, namespaces,
// kinds and names are patterns with this package's wildcards, case-sensitive, a missing value
// being the empty string (as the filter's lists); severities are exact, and a result without a
// severity matches no severities list. An empty match matches every result. It is immutable
// and safe for concurrent use.
type Silence struct {
	policies, rules, namespaces, kinds, names *patterns // nil: not set
	severities                                uint8     // bits 1<<SeverityRank; 0: not set
}

// CompileSilence compiles m. The error names every invalid field (joined with errors.Join).
func CompileSilence(m v1alpha1.SilenceMatch) (*Silence, error) {
	var errs []error
	fail := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	list := func(field string, l []string) *patterns {
		if len(l) == 0 {
			return nil
		}
		return compilePatterns(field, l, false, fail)
	}
	s := &Silence{
		policies:   list("match.policies", m.Policies),
		rules:      list("match.rules", m.Rules),
		namespaces: list("match.namespaces", m.Namespaces),
		kinds:      list("match.kinds", m.Kinds),
		names:      list("match.names", m.Names),
	}
	for i, v := range m.Severities {
		s.severities |= severityBit(fmt.Sprintf("match.severities[%d]", i), v, fail)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// Match reports whether s matches res, a result of a report in reportNamespace ("" for a
// cluster-scoped report). It does not allocate.
func (s *Silence) Match(reportNamespace string, res *report.Result) bool {
	if s.severities != 0 && s.severities&(1<<report.SeverityRank(res.Severity)) == 0 {
		return false
	}
	if !matchSet(s.policies, res.Policy) || !matchSet(s.rules, res.Rule) || !matchSet(s.kinds, kindOf(res)) {
		return false
	}
	if s.names != nil {
		name := ""
		if res.Resource != nil {
			name = res.Resource.Name
		}
		if !s.names.match(name) {
			return false
		}
	}
	if s.namespaces != nil {
		rep := report.Report{Namespace: reportNamespace}
		if !s.namespaces.match(rep.ResultNamespace(res)) {
			return false
		}
	}
	return true
}

// matchSet tells whether p, a list that may not be set, lets s pass.
func matchSet(p *patterns, s string) bool { return p == nil || p.match(s) }
