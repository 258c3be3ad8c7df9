package query

import (
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/labels"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/filter"
	"github.com/policyherald/policy-herald/internal/report"
)

// Query selects results; every field that is set must match (fields are ANDed, the values of
// one field ORed). Pattern fields use the wildcards of destination filters (package filter:
// `*` any run of characters, `?` one character) and match a missing value as "", which only
// a pattern of `*` matches.
type Query struct {
	// Namespaces match the namespace a result is about: its resource's, else its report's
	// (report.Report.ResultNamespace).
	Namespaces []string
	// Kinds and Names match the kind and name of the result's resource.
	Kinds []string
	Names []string
	// Policies, Rules and Categories match the result's policy, rule and category.
	Policies   []string
	Rules      []string
	Categories []string
	// Sources match the result's source case-insensitively, as the store's SourceNames group
	// spellings: "kyverno" selects "Kyverno" too.
	Sources []string
	// Severities and Statuses are exact values; None selects results without one.
	Severities []v1alpha1.Severity
	Statuses   []v1alpha1.ResultStatus
	// ReportLabels is a label selector in kubectl's syntax ("app=kyverno,env in (prod)")
	// matched against the labels of the result's report.
	ReportLabels string
	// Text is found case-insensitively anywhere in the result's message.
	Text string
	// Scope keeps cluster-scoped results (no namespace) or namespaced results only.
	Scope Scope
}

// None is the value of Statuses and Severities that selects results without a status or a
// severity (the Trivy adapter writes findings without a status), as counts name them.
const None = "none"

// Scope says which results a query keeps by namespace.
type Scope string

// Scopes.
const (
	AnyScope   Scope = ""
	Cluster    Scope = "cluster"    // results without a namespace
	Namespaced Scope = "namespaced" // results with one
)

// matcher is a compiled Query. It holds memos, so it serves one call only.
type matcher struct {
	namespaces, kinds, names    *filter.Patterns // nil: not filtered
	policies, rules, categories *filter.Patterns
	sources                     *filter.Patterns // case-insensitive
	statuses, severities        uint8            // bit 1<<rank; 0: not filtered
	labels                      labels.Selector  // nil: not filtered
	text                        *textMatcher     // nil: not filtered
	scope                       Scope
	sourceMemo, textMemo        memo
}

// memo remembers the last verdict on a string. Results in a row mostly share their source and
// message (the store interns them, so comparing equal ones is a pointer comparison), and
// matching them case-insensitively costs more than that comparison.
type memo struct {
	s       string
	ok, set bool
}

func (m *memo) match(s string, f func(string) bool) bool {
	if !m.set || s != m.s {
		m.s, m.ok, m.set = s, f(s), true
	}
	return m.ok
}

// compile checks q and compiles it; the error names every invalid field.
func compile(q Query) (*matcher, error) {
	var errs []error
	fail := func(field string, err error) { errs = append(errs, fmt.Errorf("%s: %w", field, err)) }
	pats := func(field string, list []string, fold bool) *filter.Patterns {
		if len(list) == 0 {
			return nil
		}
		p, err := filter.CompilePatterns(list, fold)
		if err != nil {
			fail(field, err)
		}
		return p
	}
	m := &matcher{
		namespaces: pats("namespaces", q.Namespaces, false),
		kinds:      pats("kinds", q.Kinds, false),
		names:      pats("names", q.Names, false),
		policies:   pats("policies", q.Policies, false),
		rules:      pats("rules", q.Rules, false),
		categories: pats("categories", q.Categories, false),
		sources:    pats("sources", q.Sources, true),
		scope:      q.Scope,
	}
	for _, s := range q.Statuses {
		if r, ok := statusRankOf(string(s)); ok {
			m.statuses |= 1 << r
		} else {
			fail("statuses", fmt.Errorf("unknown status %q", s))
		}
	}
	for _, s := range q.Severities {
		if r, ok := severityRankOf(string(s)); ok {
			m.severities |= 1 << r
		} else {
			fail("severities", fmt.Errorf("unknown severity %q", s))
		}
	}
	if q.ReportLabels != "" {
		sel, err := labels.Parse(q.ReportLabels)
		if err != nil {
			fail("reportLabels", err)
		} else if !sel.Empty() {
			m.labels = sel
		}
	}
	if q.Text != "" {
		m.text = newTextMatcher(q.Text)
	}
	if q.Scope != AnyScope && q.Scope != Cluster && q.Scope != Namespaced {
		fail("scope", fmt.Errorf("unknown scope %q (want %q or %q)", q.Scope, Cluster, Namespaced))
	}
	return m, errors.Join(errs...)
}

// statusRankOf returns the rank of a status as a query names it (None for none).
func statusRankOf(s string) (int, bool) {
	if s == None {
		return 0, true
	}
	r := statusRank(v1alpha1.ResultStatus(s))
	return r, r > 0
}

func severityRankOf(s string) (int, bool) {
	if s == None {
		return 0, true
	}
	r := report.SeverityRank(v1alpha1.Severity(s))
	return r, r > 0
}

// matchReport reports whether the results of rep may match: the report-level rules.
func (m *matcher) matchReport(rep *report.Report) bool {
	return m.labels == nil || m.labels.Matches(labels.Set(rep.Labels))
}

// match reports whether res, a result of rep, matches; cheapest rules first.
func (m *matcher) match(rep *report.Report, res *report.Result) bool {
	if m.statuses != 0 && m.statuses&(1<<statusRank(res.Status)) == 0 {
		return false
	}
	if m.severities != 0 && m.severities&(1<<report.SeverityRank(res.Severity)) == 0 {
		return false
	}
	if m.scope != AnyScope || m.namespaces != nil {
		ns := rep.ResultNamespace(res)
		if (m.scope == Cluster && ns != "") || (m.scope == Namespaced && ns == "") || !matches(m.namespaces, ns) {
			return false
		}
	}
	if m.kinds != nil || m.names != nil {
		kind, name := resourceKind(res), resourceName(res)
		if !matches(m.kinds, kind) || !matches(m.names, name) {
			return false
		}
	}
	if !matches(m.policies, res.Policy) || !matches(m.rules, res.Rule) || !matches(m.categories, res.Category) {
		return false
	}
	if m.sources != nil && !m.sourceMemo.match(res.Source, m.sources.Match) {
		return false
	}
	return m.text == nil || m.textMemo.match(res.Message, m.text.match)
}

// matches reports whether p, when set, matches s.
func matches(p *filter.Patterns, s string) bool { return p == nil || p.Match(s) }

func resourceKind(res *report.Result) string {
	if res.Resource == nil {
		return ""
	}
	return res.Resource.Kind
}

func resourceName(res *report.Result) string {
	if res.Resource == nil {
		return ""
	}
	return res.Resource.Name
}
