// Package email renders Policy Herald's e-mail reports (summary and violations, as HTML with a
// plain-text alternative) and sends them over SMTP with github.com/wneessen/go-mail.
//
// Rendering is deterministic: the same results and options give byte-identical output, so the
// golden files in testdata pin it. A report that would be huge is capped (see [Options]): the
// first rows are listed and the rest summed up as "and N more", per group and overall.
package email

import (
	"cmp"
	"slices"
	"strings"
	"time"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/consolelink"
	"github.com/policyherald/policy-herald/internal/report"
)

// Type is what a report shows.
type Type string

// Report types, as EmailReportSchedule.spec.reportType names them.
const (
	// Summary counts results per status, per source and namespace, and for cluster reports.
	Summary Type = "summary"
	// Violations lists the fail, warn and error results, grouped by source and namespace.
	Violations Type = "violations"
)

// Defaults of the size cap.
const (
	DefaultMaxRows      = 500
	DefaultMaxGroupRows = 100
	DefaultMaxBytes     = 1 << 20
	// maxMessageRunes is where a result's message is cut (with an ellipsis).
	maxMessageRunes = 1000
	// maxFieldRunes is where a resource name, policy or rule is cut.
	maxFieldRunes = 253
)

// Options say how a report is rendered.
type Options struct {
	Type Type
	// ClusterName is shown in the subject and body; empty leaves it out.
	ClusterName string
	// Schedule names the EmailReportSchedule (namespace/name), shown in the footer.
	Schedule string
	// Scope says which results the report can cover ("namespace team-a", "all namespaces and
	// cluster reports"), shown under the title.
	Scope string
	// Now is when the report is generated, shown in the body (UTC).
	Now time.Time
	// MaxRows caps the rows (results in a violations report, namespaces in a summary) listed
	// in the whole report; 0 means DefaultMaxRows.
	MaxRows int
	// MaxGroupRows caps the rows listed in one group (a namespace of a source in a violations
	// report, the namespaces of a source in a summary); 0 means DefaultMaxGroupRows.
	MaxGroupRows int
	// MaxBytes caps the size of the HTML and text parts together: the row caps are halved until
	// the report fits. 0 means DefaultMaxBytes.
	MaxBytes int
	// ConsoleURL, when set, is the console's address: the HTML part links a namespace's section
	// and row to the namespace's page, a violation's resource and policy to theirs, and the text
	// part lists the same addresses. Empty leaves links out.
	ConsoleURL consolelink.Base
	// Sources names the sources: spellings that differ only in letter case are one source,
	// listed under its name. Give the names of every result the reader sees (the report
	// store's, or those of the reports listed); nil counts the reports of the items.
	Sources *report.SourceNames
}

// Item is one result with the report that holds it.
type Item struct {
	Report *report.Report
	Result *report.Result
}

// Counts counts results per status (see report.StatusCounts).
type Counts = report.StatusCounts

// IsViolation reports whether a result of status s is listed in a violations report.
func IsViolation(s v1alpha1.ResultStatus) bool {
	return s == v1alpha1.StatusFail || s == v1alpha1.StatusWarn || s == v1alpha1.StatusError
}

// noSource names the source of results that have none.
const noSource = "(no source)"

func sourceOf(names *report.SourceNames, res *report.Result) string {
	if res.Source == "" {
		return noSource
	}
	return names.Name(res.Source)
}

// itemNames counts the results of the reports that hold items.
func itemNames(items []Item) *report.SourceNames {
	seen := map[*report.Report]bool{}
	var reps []*report.Report
	for _, it := range items {
		if !seen[it.Report] {
			seen[it.Report] = true
			reps = append(reps, it.Report)
		}
	}
	return report.SourceNamesOf(reps)
}

// groupKey is where a result is listed: cluster reports form one group, results of namespaced
// reports are grouped by the namespace they are about.
func groupKey(it Item) (ns string, cluster bool) {
	if it.Report.Namespace == "" {
		return "", true
	}
	return it.Report.ResultNamespace(it.Result), false
}

// compareFold orders strings case-insensitively, then exactly, so the order is total.
func compareFold(a, b string) int {
	if c := cmp.Compare(strings.ToLower(a), strings.ToLower(b)); c != 0 {
		return c
	}
	return cmp.Compare(a, b)
}

// sortedKeys returns the keys of m in compareFold order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareFold)
	return keys
}
