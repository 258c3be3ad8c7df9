package query

import (
	"cmp"
	"fmt"
	"strings"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/report"
)

// SortField is what results are sorted by.
type SortField string

// Sort fields. Strings sort byte by byte, a missing value ("") first.
const (
	SortNamespace SortField = "namespace" // the result's namespace; the default
	SortPolicy    SortField = "policy"
	SortRule      SortField = "rule"
	SortSeverity  SortField = "severity" // by rank: none < info < low < medium < high < critical
	SortStatus    SortField = "status"   // by rank: none < pass < skip < warn < fail < error
	SortKind      SortField = "kind"     // the resource's kind
	SortName      SortField = "name"     // the resource's name
	SortTime      SortField = "time"     // when the producer found the result; none first
)

// Sort orders a selection. Results equal on the field keep their order in the store (report
// kind, namespace and name, then the report's order), whatever the direction, so an order is
// deterministic and a page is the same every time it is asked for.
type Sort struct {
	By   SortField
	Desc bool
}

// ref is one selected result: its report's index in the snapshot, its index in the report, the
// rank of its group (0 when not grouped) and its rank on a ranked sort field. It is what a call
// keeps per selected result: 16 bytes, for the call only.
type ref struct {
	rep, idx, group, rank uint32
}

// fieldCompare compares two results on a sort field that is not ranked in ref.rank.
type fieldCompare func(ra *report.Report, a *report.Result, rb *report.Report, b *report.Result) int

// compiledSort is a checked Sort: rank fills ref.rank for ranked fields, compare compares the
// others.
type compiledSort struct {
	desc    bool
	rank    func(res *report.Result) uint32 // nil when the field is not ranked
	compare fieldCompare
}

func compileSort(s Sort) (compiledSort, error) {
	c := compiledSort{desc: s.Desc}
	switch s.By {
	case "", SortNamespace:
		c.compare = func(ra *report.Report, a *report.Result, rb *report.Report, b *report.Result) int {
			return strings.Compare(ra.ResultNamespace(a), rb.ResultNamespace(b))
		}
	case SortPolicy:
		c.compare = onResult(func(r *report.Result) string { return r.Policy })
	case SortRule:
		c.compare = onResult(func(r *report.Result) string { return r.Rule })
	case SortKind:
		c.compare = onResult(resourceKind)
	case SortName:
		c.compare = onResult(resourceName)
	case SortTime:
		c.compare = func(_ *report.Report, a *report.Result, _ *report.Report, b *report.Result) int {
			return cmp.Compare(a.Time, b.Time)
		}
	case SortSeverity:
		c.rank = func(r *report.Result) uint32 { return uint32(report.SeverityRank(r.Severity)) }
	case SortStatus:
		c.rank = func(r *report.Result) uint32 { return uint32(statusRank(r.Status)) }
	default:
		return c, fmt.Errorf("sort: unknown field %q", s.By)
	}
	return c, nil
}

func onResult(field func(*report.Result) string) fieldCompare {
	return func(_ *report.Report, a *report.Result, _ *report.Report, b *report.Result) int {
		return strings.Compare(field(a), field(b))
	}
}

// statusRank orders statuses from the least to the most in need of attention; a result without
// a (known) status ranks 0, as a missing severity does.
func statusRank(s v1alpha1.ResultStatus) int {
	switch s {
	case v1alpha1.StatusPass:
		return 1
	case v1alpha1.StatusSkip:
		return 2
	case v1alpha1.StatusWarn:
		return 3
	case v1alpha1.StatusFail:
		return 4
	case v1alpha1.StatusError:
		return 5
	}
	return 0
}

// order compares two refs of reps: group, then the sort field, then the store's order.
func (c compiledSort) order(reps []*report.Report) func(a, b ref) int {
	return func(a, b ref) int {
		if a.group != b.group {
			return cmp.Compare(a.group, b.group)
		}
		k := cmp.Compare(a.rank, b.rank)
		if k == 0 && c.compare != nil {
			ra, rb := reps[a.rep], reps[b.rep]
			k = c.compare(ra, &ra.Results[a.idx], rb, &rb.Results[b.idx])
		}
		if k != 0 {
			if c.desc {
				return -k
			}
			return k
		}
		return cmp.Or(cmp.Compare(a.rep, b.rep), cmp.Compare(a.idx, b.idx))
	}
}
