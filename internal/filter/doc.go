// Package filter decides which policy results a NotificationTarget or TargetChannel delivers.
// [Compile] turns its result-selection settings ([Spec]: minimumSeverity, minimumPriority, sources
// and filter) into a [Filter] once; [Filter.Match] then evaluates one result without allocating
// and without compiling anything, so it can sit on the delivery hot path.
//
// # Rules
//
// Every rule that is set must pass (rules are ANDed). Paths below are relative to the
// target's or channel's spec.
//
// Match lists (filter.namespaces, filter.policies, filter.categories, filter.sources,
// filter.reportLabels) follow the MatchList semantics: a value passes when it matches no
// exclude pattern AND, if include is not empty, at least one include pattern. Exclude wins. An
// empty or absent list does not filter.
//
// Patterns know two wildcards: `*` matches any run of characters, including none and including
// `/`; `?` matches exactly one character (one Unicode code point). Every other character,
// including `[`, `{` and `\`, stands for itself: there are no character classes,
// alternatives or escapes. Matching is done by github.com/gobwas/glob, compiled without
// separators; patterns without a wildcard are compared as plain strings. [CompilePatterns] gives
// the console's queries these same patterns.
//
// A missing value (a cluster-scoped result has no namespace, a result may have no category or
// source) is matched as the empty string. It therefore passes when include is empty and fails
// when include is set, EXCEPT that a pattern made only of `*` (such as `*`) matches it: `*`
// means "anything, including nothing". Likewise an exclude pattern `*` drops results that lack
// the value. Patterns cannot be empty.
//
//   - filter.namespaces: matched against the result's namespace, that is its resource's
//     namespace, else its report's ([report.Report.ResultNamespace]).
//   - filter.namespaceSelector: a label selector matched against the labels of the result's
//     namespace, as returned by the [NamespaceLabels] given to Match. A result without a
//     namespace, or whose namespace is unknown (ok=false, or a nil NamespaceLabels), does not
//     match a non-empty selector. An empty selector ({}) selects everything and is ignored.
//   - filter.policies, filter.categories: matched against the policy name and category.
//   - filter.sources: matched against the result's source, case-insensitively (Unicode simple
//     case folding, as strings.EqualFold).
//   - sources (the spec-level list): the result's source must match one of its entries,
//     case-insensitively; entries may use wildcards too. It is an include-only list combined
//     with filter.sources: both must pass.
//   - filter.severities: exact severities. A result without a severity fails a non-empty
//     include and is never dropped by exclude.
//   - filter.statuses: exact statuses. When include is empty, the default include is every
//     status but pass and skip (fail, warn, error, and results without a status, which the
//     Trivy adapter writes). A non-empty include replaces the default: `include: [pass]` keeps
//     pass results only. Exclude applies on top of include, default or not.
//   - filter.reportLabels: each entry is `key` (the report has the label) or
//     `key:valuePattern` (the report has the label and its value matches the pattern; the key
//     is everything up to the first colon and has no wildcards). Include: the report must
//     match at least one entry; exclude: it must match none. A report without labels fails a
//     non-empty include.
//   - minimumSeverity: drops results whose severity ranks below it (info < low < medium <
//     high < critical). When it is set, results without a severity are dropped.
//   - minimumPriority: drops results whose priority ([report.Result.Priority]) ranks below it
//     (debug < info < warning < error < critical).
//
// # Silences
//
// [CompileSilence] compiles a silence's match with the same patterns (case-sensitive, a missing
// value being the empty string): every list that is set must match one of its values, and
// severities are exact. The delivery pipeline mutes what it matches.
//
// [Compile] reports, naming the field, an unknown severity, status or priority, an empty
// pattern, a reportLabels key that is not a valid label key, and a label selector that does not
// parse.
package filter
