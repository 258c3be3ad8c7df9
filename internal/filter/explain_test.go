package filter

import (
	"fmt"

	"github.com/policyherald/policy-herald/internal/report"
)

// explain returns "" when res passes the filter, else which rule dropped it, in words, so a
// test can assert the rule and print it when it fails.
func (f *Filter) explain(rep *report.Report, res *report.Result, nsLabels NamespaceLabels) string {
	ns := rep.ResultNamespace(res)
	switch f.check(rep, res, nsLabels) {
	case keep:
		return ""
	case dropStatusNotIncluded:
		if f.statusDefault {
			return fmt.Sprintf("status %q is not in filter.statuses.include (default: every status but pass and skip)", res.Status)
		}
		return fmt.Sprintf("status %q is not in filter.statuses.include", res.Status)
	case dropStatusExcluded:
		return fmt.Sprintf("status %q is in filter.statuses.exclude", res.Status)
	case dropSeverityNotIncluded:
		return fmt.Sprintf("severity %q is not in filter.severities.include", res.Severity)
	case dropSeverityExcluded:
		return fmt.Sprintf("severity %q is in filter.severities.exclude", res.Severity)
	case dropMinimumSeverity:
		return fmt.Sprintf("severity %q is below minimumSeverity", res.Severity)
	case dropMinimumPriority:
		return fmt.Sprintf("priority %q is below minimumPriority", res.Priority())
	case dropSources:
		return fmt.Sprintf("source %q is not in sources", res.Source)
	case dropSourceNotIncluded:
		return fmt.Sprintf("source %q matches no pattern of filter.sources.include", res.Source)
	case dropSourceExcluded:
		return fmt.Sprintf("source %q matches filter.sources.exclude", res.Source)
	case dropPolicyNotIncluded:
		return fmt.Sprintf("policy %q matches no pattern of filter.policies.include", res.Policy)
	case dropPolicyExcluded:
		return fmt.Sprintf("policy %q matches filter.policies.exclude", res.Policy)
	case dropCategoryNotIncluded:
		return fmt.Sprintf("category %q matches no pattern of filter.categories.include", res.Category)
	case dropCategoryExcluded:
		return fmt.Sprintf("category %q matches filter.categories.exclude", res.Category)
	case dropKindNotIncluded:
		return fmt.Sprintf("kind %q matches no pattern of filter.kinds.include", kindOf(res))
	case dropKindExcluded:
		return fmt.Sprintf("kind %q matches filter.kinds.exclude", kindOf(res))
	case dropNamespaceNotIncluded:
		return fmt.Sprintf("namespace %q matches no pattern of filter.namespaces.include", ns)
	case dropNamespaceExcluded:
		return fmt.Sprintf("namespace %q matches filter.namespaces.exclude", ns)
	case dropReportLabelsNotIncluded:
		return "the report's labels match no entry of filter.reportLabels.include"
	case dropReportLabelsExcluded:
		return "the report's labels match filter.reportLabels.exclude"
	case dropSelectorNoNamespace:
		return "the result has no namespace, so it does not match filter.namespaceSelector"
	case dropSelectorUnknownNamespace:
		return fmt.Sprintf("namespace %q is unknown, so it does not match filter.namespaceSelector", ns)
	case dropSelectorLabels:
		return fmt.Sprintf("the labels of namespace %q do not match filter.namespaceSelector", ns)
	}
	return "dropped"
}
