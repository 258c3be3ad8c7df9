package filter

import (
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/gobwas/glob"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/report"
)

// Spec is what selects results for one target or channel.
type Spec struct {
	// MinimumSeverity drops results below this severity; "" sets no minimum.
	MinimumSeverity v1alpha1.Severity
	// MinimumPriority drops results below this priority; "" sets no minimum.
	MinimumPriority v1alpha1.Priority
	// Sources keeps only results from these sources (case-insensitive, wildcards allowed);
	// empty keeps every source.
	Sources []string
	// Filter narrows the results further; nil applies only the default status gate.
	Filter *v1alpha1.ResultFilter
}

// NamespaceLabels returns the labels of a namespace, ok=false if the namespace is unknown.
type NamespaceLabels func(namespace string) (labels.Set, bool)

// Filter is a compiled Spec. It is immutable and safe for concurrent use.
type Filter struct {
	statusInclude uint8 // bits of statusBit; defaultStatuses when no include list is given
	statusDefault bool  // statusInclude is the default
	statusExclude uint8
	sevInclude    uint8 // bits 1<<SeverityRank; 0 = no include list; bit 0 never set
	sevExclude    uint8 // bit 0 never set: exclude never drops a result without severity
	minSeverity   int   // 0 = none
	minPriority   int   // 0 = none

	sources     *patterns  // spec-level include-only list, case-insensitive
	srcList     *matchList // filter.sources, case-insensitive
	policies    *matchList
	categories  *matchList
	kinds       *matchList
	namespaces  *matchList
	nsSelector  labels.Selector // nil = no rule
	reportLabel *labelList
}

// Status bits.
const (
	bitPass uint8 = 1 << (iota + 1)
	bitFail
	bitWarn
	bitError
	bitSkip
)

// bitNone stands for a result without a (known) status, as the Trivy adapter writes them.
const bitNone uint8 = 1

// defaultStatuses is the status include list used when filter.statuses.include is empty: every
// status but pass and skip, so results without a status are sent too.
const defaultStatuses = bitNone | bitFail | bitWarn | bitError

func statusBit(s v1alpha1.ResultStatus) uint8 {
	switch s {
	case v1alpha1.StatusPass:
		return bitPass
	case v1alpha1.StatusFail:
		return bitFail
	case v1alpha1.StatusWarn:
		return bitWarn
	case v1alpha1.StatusError:
		return bitError
	case v1alpha1.StatusSkip:
		return bitSkip
	}
	return bitNone
}

// Compile compiles s. The error names every invalid field (joined with errors.Join).
func Compile(s Spec) (*Filter, error) {
	var errs []error
	fail := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	f := &Filter{statusInclude: defaultStatuses, statusDefault: true}

	if s.MinimumSeverity != "" {
		if f.minSeverity = report.SeverityRank(s.MinimumSeverity); f.minSeverity == 0 {
			fail("minimumSeverity", "unknown severity %q", s.MinimumSeverity)
		}
	}
	if s.MinimumPriority != "" {
		if f.minPriority = report.PriorityRank(s.MinimumPriority); f.minPriority == 0 {
			fail("minimumPriority", "unknown priority %q", s.MinimumPriority)
		}
	}
	if len(s.Sources) > 0 {
		f.sources = compilePatterns("sources", s.Sources, true, fail)
	}

	if r := s.Filter; r != nil {
		f.namespaces = compileMatchList("filter.namespaces", r.Namespaces, false, fail)
		f.policies = compileMatchList("filter.policies", r.Policies, false, fail)
		f.categories = compileMatchList("filter.categories", r.Categories, false, fail)
		f.kinds = compileMatchList("filter.kinds", r.Kinds, false, fail)
		f.srcList = compileMatchList("filter.sources", r.Sources, true, fail)
		if sel := r.NamespaceSelector; sel != nil {
			ls, err := metav1.LabelSelectorAsSelector(sel)
			switch {
			case err != nil:
				fail("filter.namespaceSelector", "%v", err)
			case !ls.Empty():
				f.nsSelector = ls
			}
		}
		if l := r.Severities; l != nil {
			for i, v := range l.Include {
				f.sevInclude |= severityBit(fmt.Sprintf("filter.severities.include[%d]", i), v, fail)
			}
			for i, v := range l.Exclude {
				f.sevExclude |= severityBit(fmt.Sprintf("filter.severities.exclude[%d]", i), v, fail)
			}
		}
		if l := r.Statuses; l != nil {
			if len(l.Include) > 0 {
				f.statusInclude, f.statusDefault = 0, false
			}
			for i, v := range l.Include {
				b := statusBit(v)
				if b == bitNone {
					fail(fmt.Sprintf("filter.statuses.include[%d]", i), "unknown status %q", v)
				}
				f.statusInclude |= b
			}
			for i, v := range l.Exclude {
				b := statusBit(v)
				if b == bitNone {
					fail(fmt.Sprintf("filter.statuses.exclude[%d]", i), "unknown status %q", v)
				}
				f.statusExclude |= b
			}
		}
		if l := r.ReportLabels; l != nil && (len(l.Include) > 0 || len(l.Exclude) > 0) {
			f.reportLabel = &labelList{
				include: compileLabelEntries("filter.reportLabels.include", l.Include, fail),
				exclude: compileLabelEntries("filter.reportLabels.exclude", l.Exclude, fail),
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return f, nil
}

func severityBit(field string, s v1alpha1.Severity, fail func(field, format string, args ...any)) uint8 {
	r := report.SeverityRank(s)
	if r == 0 {
		fail(field, "unknown severity %q", s)
		return 0
	}
	return 1 << r
}

// reason is the rule that dropped a result; keep means none did. Match needs only keep or not;
// the tests say which rule dropped a result (explain in explain_test.go), so check keeps them apart.
type reason uint8

const (
	keep reason = iota
	dropStatusNotIncluded
	dropStatusExcluded
	dropSeverityNotIncluded
	dropSeverityExcluded
	dropMinimumSeverity
	dropMinimumPriority
	dropSources
	dropSourceNotIncluded
	dropSourceExcluded
	dropPolicyNotIncluded
	dropPolicyExcluded
	dropCategoryNotIncluded
	dropCategoryExcluded
	dropKindNotIncluded
	dropKindExcluded
	dropNamespaceNotIncluded
	dropNamespaceExcluded
	dropReportLabelsNotIncluded
	dropReportLabelsExcluded
	dropSelectorNoNamespace
	dropSelectorUnknownNamespace
	dropSelectorLabels
)

// Match reports whether res, a result of rep, passes the filter. nsLabels is only called when
// the filter has a namespace selector; it may be nil, in which case every namespace is unknown.
// Match does not allocate.
func (f *Filter) Match(rep *report.Report, res *report.Result, nsLabels NamespaceLabels) bool {
	return f.check(rep, res, nsLabels) == keep
}

// check returns the first rule that drops res, cheapest rules first.
func (f *Filter) check(rep *report.Report, res *report.Result, nsLabels NamespaceLabels) reason {
	st := statusBit(res.Status)
	if f.statusExclude&st != 0 {
		return dropStatusExcluded
	}
	if f.statusInclude&st == 0 {
		return dropStatusNotIncluded
	}

	if f.sevInclude != 0 || f.sevExclude != 0 || f.minSeverity != 0 {
		sev := report.SeverityRank(res.Severity)
		bit := uint8(1) << sev
		if f.sevExclude&bit != 0 {
			return dropSeverityExcluded
		}
		if f.sevInclude != 0 && f.sevInclude&bit == 0 {
			return dropSeverityNotIncluded
		}
		if sev < f.minSeverity {
			return dropMinimumSeverity
		}
	}
	if f.minPriority != 0 && report.PriorityRank(res.Priority()) < f.minPriority {
		return dropMinimumPriority
	}

	if f.sources != nil && !f.sources.match(res.Source) {
		return dropSources
	}
	if r := f.srcList.check(res.Source); r != passes {
		return listReason(r, dropSourceNotIncluded, dropSourceExcluded)
	}
	if r := f.policies.check(res.Policy); r != passes {
		return listReason(r, dropPolicyNotIncluded, dropPolicyExcluded)
	}
	if r := f.categories.check(res.Category); r != passes {
		return listReason(r, dropCategoryNotIncluded, dropCategoryExcluded)
	}
	if f.kinds != nil {
		if r := f.kinds.check(kindOf(res)); r != passes {
			return listReason(r, dropKindNotIncluded, dropKindExcluded)
		}
	}
	if f.namespaces != nil || f.nsSelector != nil {
		ns := rep.ResultNamespace(res)
		if r := f.namespaces.check(ns); r != passes {
			return listReason(r, dropNamespaceNotIncluded, dropNamespaceExcluded)
		}
		if r := f.checkSelector(ns, nsLabels); r != keep {
			return r
		}
	}
	if r := f.reportLabel.check(rep.Labels); r != passes {
		return listReason(r, dropReportLabelsNotIncluded, dropReportLabelsExcluded)
	}
	return keep
}

func (f *Filter) checkSelector(ns string, nsLabels NamespaceLabels) reason {
	if f.nsSelector == nil {
		return keep
	}
	if ns == "" {
		return dropSelectorNoNamespace
	}
	if nsLabels == nil {
		return dropSelectorUnknownNamespace
	}
	set, ok := nsLabels(ns)
	if !ok {
		return dropSelectorUnknownNamespace
	}
	if !f.nsSelector.Matches(set) {
		return dropSelectorLabels
	}
	return keep
}

// verdict is what an include/exclude list says of a value.
type verdict uint8

const (
	passes verdict = iota
	notIncluded
	excluded
)

// listReason turns a list's verdict into the reason of that list.
func listReason(v verdict, notIncludedReason, excludedReason reason) reason {
	switch v {
	case notIncluded:
		return notIncludedReason
	case excluded:
		return excludedReason
	}
	return keep
}

// matchList is a compiled MatchList; a nil *matchList does not filter.
type matchList struct {
	include, exclude *patterns // nil when empty
}

func compileMatchList(field string, l *v1alpha1.MatchList, fold bool, fail func(field, format string, args ...any)) *matchList {
	if l == nil || (len(l.Include) == 0 && len(l.Exclude) == 0) {
		return nil
	}
	m := &matchList{}
	if len(l.Include) > 0 {
		m.include = compilePatterns(field+".include", l.Include, fold, fail)
	}
	if len(l.Exclude) > 0 {
		m.exclude = compilePatterns(field+".exclude", l.Exclude, fold, fail)
	}
	return m
}

// check returns the verdict on s. Exclude wins.
func (m *matchList) check(s string) verdict {
	switch {
	case m == nil:
		return passes
	case m.exclude != nil && m.exclude.match(s):
		return excluded
	case m.include != nil && !m.include.match(s):
		return notIncluded
	}
	return passes
}

// literalSetMin is the number of literal patterns from which a case-sensitive list looks them
// up in a map instead of comparing them one by one.
const literalSetMin = 8

// patterns is a compiled list of patterns; it matches a value that any of them matches.
type patterns struct {
	any   bool                // a pattern of only `*`: matches everything
	fold  bool                // literals compare case-insensitively (globs are compiled so)
	lits  []string            // patterns without wildcards
	set   map[string]struct{} // lits as a set, when there are many and !fold
	globs []*glob.Pattern
}

func compilePatterns(field string, list []string, fold bool, fail func(field, format string, args ...any)) *patterns {
	p := &patterns{fold: fold}
	for i, s := range list {
		g, lit, ok := compilePattern(s, fold)
		switch {
		case !ok:
			fail(fmt.Sprintf("%s[%d]", field, i), "empty pattern")
		case g == nil && lit == "":
			p.any = true
		case g == nil:
			p.lits = append(p.lits, lit)
		default:
			p.globs = append(p.globs, g)
		}
	}
	if !fold && len(p.lits) >= literalSetMin {
		p.set = make(map[string]struct{}, len(p.lits))
		for _, l := range p.lits {
			p.set[l] = struct{}{}
		}
	}
	return p
}

// compilePattern compiles one pattern. It returns the glob for a pattern with a wildcard, the
// literal for one without, neither for a pattern of only `*` (matches everything), and ok=false
// for an empty pattern. Only `*` and `?` are wildcards: every other glob meta character is
// quoted. With fold, the glob matches case-insensitively: each letter becomes a class of its
// case-folding orbit, `k` becomes `[kKK]` (the last being the Kelvin sign), as strings.EqualFold.
func compilePattern(s string, fold bool) (g *glob.Pattern, lit string, ok bool) {
	if s == "" {
		return nil, "", false
	}
	if strings.Trim(s, "*") == "" {
		return nil, "", true
	}
	if !strings.ContainsAny(s, "*?") {
		return nil, s, true
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '*' || r == '?':
			b.WriteRune(r)
		case fold && unicode.SimpleFold(r) != r:
			b.WriteByte('[')
			for c := r; ; {
				b.WriteRune(c)
				if c = unicode.SimpleFold(c); c == r {
					break
				}
			}
			b.WriteByte(']')
		default:
			b.WriteString(glob.QuoteMeta(string(r)))
		}
	}
	g, err := glob.Compile(b.String())
	if err != nil {
		// Cannot happen: everything but the wildcards is quoted.
		panic(fmt.Sprintf("filter: compiling %q as %q: %v", s, b.String(), err))
	}
	return g, "", true
}

func (p *patterns) match(s string) bool {
	if p.any {
		return true
	}
	switch {
	case p.set != nil:
		if _, ok := p.set[s]; ok {
			return true
		}
	case p.fold:
		for _, l := range p.lits {
			if strings.EqualFold(l, s) {
				return true
			}
		}
	default:
		for _, l := range p.lits {
			if l == s {
				return true
			}
		}
	}
	for _, g := range p.globs {
		if g.Match(s) {
			return true
		}
	}
	return false
}

// labelEntry is one reportLabels entry: key, or key:valuePattern.
type labelEntry struct {
	key   string
	value *patterns // nil: the label must only be present
}

func (e *labelEntry) match(l map[string]string) bool {
	v, ok := l[e.key]
	return ok && (e.value == nil || e.value.match(v))
}

// labelList is a compiled filter.reportLabels; a nil *labelList does not filter.
type labelList struct {
	include, exclude []labelEntry
}

func compileLabelEntries(field string, list []string, fail func(field, format string, args ...any)) []labelEntry {
	var out []labelEntry
	for i, s := range list {
		f := fmt.Sprintf("%s[%d]", field, i)
		key, value, hasValue := strings.Cut(s, ":")
		if errs := validation.IsQualifiedName(key); len(errs) > 0 {
			fail(f, "invalid label key %q: %s", key, strings.Join(errs, "; "))
			continue
		}
		e := labelEntry{key: key}
		if hasValue {
			e.value = &patterns{}
			switch g, lit, ok := compilePattern(value, false); {
			case !ok:
				e.value.lits = []string{""} // key: matches an empty value
			case g == nil && lit == "":
				e.value.any = true
			case g == nil:
				e.value.lits = []string{lit}
			default:
				e.value.globs = []*glob.Pattern{g}
			}
		}
		out = append(out, e)
	}
	return out
}

// check returns the verdict on a report's labels. Exclude wins.
func (l *labelList) check(labels map[string]string) verdict {
	if l == nil {
		return passes
	}
	for i := range l.exclude {
		if l.exclude[i].match(labels) {
			return excluded
		}
	}
	if len(l.include) == 0 {
		return passes
	}
	for i := range l.include {
		if l.include[i].match(labels) {
			return passes
		}
	}
	return notIncluded
}

// kindOf is the kind of the result's resource, "" without one.
func kindOf(res *report.Result) string {
	if res.Resource == nil {
		return ""
	}
	return res.Resource.Kind
}
