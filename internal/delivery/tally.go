package delivery

import (
	"cmp"
	"slices"
	"time"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/sender"
)

// tally is what one message about many results (a digest's group, a rate limit's summary)
// keeps of them while they wait: counts by status and severity, the distinct namespaces, when
// they were found, and their keys, recorded once the message is sent. A result costs its key
// (8 bytes) here, besides its entry in flight; a namespace costs one entry, however many
// results it has.
type tally struct {
	from, to time.Time
	// byStatus and bySeverity count by value: a handful of values each, so a slice searched
	// in order is cheaper than a map.
	byStatus   []sender.Count
	bySeverity []sender.Count
	namespaces map[string]struct{}
	lastNS     string // the namespace added last: results come by report
	// reports are the keys of the results' reports, so delivered results can be opened for a
	// sender.Resolver (see opened); lastReport is the report added last.
	reports    map[string]struct{}
	lastReport sender.ReportRef
	hashes     []uint64
}

// add counts one result of the report ref, found at now.
func (t *tally) add(ref sender.ReportRef, res *report.Result, now time.Time) {
	if len(t.hashes) == 0 {
		t.from, t.to = now, now
	}
	t.to = maxTime(t.to, now)
	t.byStatus = countIn(t.byStatus, string(res.Status), 1)
	t.bySeverity = countIn(t.bySeverity, string(res.Severity), 1)
	t.addNamespace(resultNamespace(ref, res))
	if t.reports == nil || ref.Kind != t.lastReport.Kind || ref.Namespace != t.lastReport.Namespace || ref.Name != t.lastReport.Name {
		t.addReport(report.Key(ref.Kind, ref.Namespace, ref.Name))
		t.lastReport = ref
	}
	t.hashes = append(t.hashes, res.Hash)
}

func (t *tally) addReport(key string) {
	if t.reports == nil {
		t.reports = map[string]struct{}{}
	}
	t.reports[key] = struct{}{}
}

func (t *tally) addNamespace(ns string) {
	if ns == "" || ns == t.lastNS {
		return
	}
	if t.namespaces == nil {
		t.namespaces = map[string]struct{}{}
	}
	t.namespaces[ns], t.lastNS = struct{}{}, ns
}

// countIn adds n to the count of v.
func countIn(cs []sender.Count, v string, n int) []sender.Count {
	for i := range cs {
		if cs[i].Value == v {
			cs[i].N += n
			return cs
		}
	}
	return append(cs, sender.Count{Value: v, N: n})
}

// merge adds o's results.
func (t *tally) merge(o *tally) {
	if len(o.hashes) == 0 {
		return
	}
	if len(t.hashes) == 0 {
		t.from, t.to = o.from, o.to
	}
	t.from, t.to = minTime(t.from, o.from), maxTime(t.to, o.to)
	for _, c := range o.byStatus {
		t.byStatus = countIn(t.byStatus, c.Value, c.N)
	}
	for _, c := range o.bySeverity {
		t.bySeverity = countIn(t.bySeverity, c.Value, c.N)
	}
	for ns := range o.namespaces {
		t.addNamespace(ns)
	}
	for key := range o.reports {
		t.addReport(key)
	}
	t.hashes = append(t.hashes, o.hashes...)
}

// message returns a message of kind k with the tally's counts, most serious first.
func (t *tally) message(k sender.DigestKind, custom map[string]string) sender.Digest {
	d := sender.Digest{Kind: k, From: t.from, To: t.to, Total: len(t.hashes), Namespaces: len(t.namespaces), CustomFields: custom}
	for _, c := range t.byStatus {
		d.ByStatus = append(d.ByStatus, sender.Count{Value: orNone(c.Value), N: c.N})
	}
	slices.SortFunc(d.ByStatus, func(a, b sender.Count) int {
		return cmp.Or(cmp.Compare(statusRank(v1alpha1.ResultStatus(b.Value)), statusRank(v1alpha1.ResultStatus(a.Value))), cmp.Compare(a.Value, b.Value))
	})
	for _, c := range t.bySeverity {
		d.BySeverity = append(d.BySeverity, sender.Count{Value: orNone(c.Value), N: c.N})
	}
	slices.SortFunc(d.BySeverity, func(a, b sender.Count) int {
		return cmp.Or(cmp.Compare(report.SeverityRank(v1alpha1.Severity(b.Value)), report.SeverityRank(v1alpha1.Severity(a.Value))), cmp.Compare(a.Value, b.Value))
	})
	return d
}

// orNone names a missing status or severity in counts.
func orNone(v string) string { return cmp.Or(v, "none") }

// statusRank orders statuses most serious first in messages about many results: fail, error,
// warn, then the rest.
func statusRank(s v1alpha1.ResultStatus) int {
	switch s {
	case v1alpha1.StatusFail:
		return 5
	case v1alpha1.StatusError:
		return 4
	case v1alpha1.StatusWarn:
		return 3
	case v1alpha1.StatusSkip:
		return 2
	case v1alpha1.StatusPass:
		return 1
	}
	return 0
}

// moreSevere tells whether a should be listed before b: higher severity, then more serious
// status.
func moreSevere(a, b *report.Result) bool {
	if ra, rb := report.SeverityRank(a.Severity), report.SeverityRank(b.Severity); ra != rb {
		return ra > rb
	}
	return statusRank(a.Status) > statusRank(b.Status)
}

// resultNamespace is the namespace a result of a batch is about: its resource's, else its
// report's (as report.Report.ResultNamespace).
func resultNamespace(ref sender.ReportRef, res *report.Result) string {
	if res.Resource != nil && res.Resource.Namespace != "" {
		return res.Resource.Namespace
	}
	return ref.Namespace
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
