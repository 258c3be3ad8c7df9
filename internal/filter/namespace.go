package filter

// MatchNamespace reports whether namespace ns passes the filter's namespace rules
// (filter.namespaces and filter.namespaceSelector) and nothing else: for callers that scope by
// namespace before there is a result to match, as a BlockReportPolicy scopes Kyverno's Events.
func (f *Filter) MatchNamespace(ns string, nsLabels NamespaceLabels) bool {
	if f.namespaces.check(ns) != passes {
		return false
	}
	return f.checkSelector(ns, nsLabels) == keep
}
