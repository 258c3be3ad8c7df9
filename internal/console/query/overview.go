package query

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/report"
)

// Overview sums up a selection for the console's first page.
type Overview struct {
	Statuses   StatusCounts   `json:"statuses"`
	Severities SeverityCounts `json:"severities"`
	// Sources counts per source, ordered by name; results without a source count under "".
	Sources []SourceCounts `json:"sources"`
	// FailingPolicies are the policies with the most failing results, AffectedNamespaces the
	// namespaces with the most; most first, then by name (a policy "" is results without one,
	// as Trivy writes some). A result fails when its status is fail or it has none (the Trivy
	// adapter's findings), as report.Result.Priority reads it.
	FailingPolicies    []Ranked `json:"failingPolicies"`
	AffectedNamespaces []Ranked `json:"affectedNamespaces"`
	// Cluster counts the cluster-scoped results (without a namespace).
	Cluster StatusCounts `json:"cluster"`
	// Recent are the results found last (by their time; results without one are left out),
	// most recent first.
	Recent []Row `json:"recent"`
}

// SourceCounts counts the results of one source, named as the store names it.
type SourceCounts struct {
	Name       string         `json:"name"`
	Statuses   StatusCounts   `json:"statuses"`
	Severities SeverityCounts `json:"severities"`
}

// Ranked is a policy or namespace with its failing results.
type Ranked struct {
	Name    string `json:"name"`
	Failing int    `json:"failing"`
}

// Sizes of the overview's lists.
const (
	DefaultTop = 10
	MaxTop     = 100
)

// Overview sums up the results of q that v sees; top is the length of its lists (0 means
// DefaultTop).
func (e *Engine) Overview(v Visibility, q Query, top int) (*Overview, error) {
	if top < 0 || top > MaxTop {
		return nil, fmt.Errorf("top %d is not between 1 and %d", top, MaxTop)
	}
	if top == 0 {
		top = DefaultTop
	}
	m, err := compile(q)
	if err != nil {
		return nil, err
	}
	names := e.src.SourceNames()
	t := newTally(names, top)
	reps := e.snapshot()
	visit(reps, v, m, t.add)
	return t.overview(reps), nil
}

// failing reports whether a result counts as a failure in the overview.
func failing(s v1alpha1.ResultStatus) bool { return statusRank(s) == 0 || s == v1alpha1.StatusFail }

// tally is an overview being counted.
type tally struct {
	o          Overview
	names      *report.SourceNames
	sources    map[string]*SourceCounts // by source key
	policies   counter
	namespaces counter
	recent     recent
	srcMemo    struct {
		spelling string
		counts   *SourceCounts
	}
}

func newTally(names *report.SourceNames, top int) *tally {
	return &tally{
		names: names, sources: map[string]*SourceCounts{},
		policies: counter{m: map[string]*int{}}, namespaces: counter{m: map[string]*int{}},
		recent: recent{max: top},
	}
}

func (t *tally) add(ri, i int, rep *report.Report, res *report.Result) {
	t.o.Statuses.Add(res.Status)
	t.o.Severities.add(res.Severity)
	src := t.source(res.Source)
	src.Statuses.Add(res.Status)
	src.Severities.add(res.Severity)
	ns := rep.ResultNamespace(res)
	if ns == "" {
		t.o.Cluster.Add(res.Status)
	}
	if failing(res.Status) {
		t.policies.add(res.Policy)
		if ns != "" {
			t.namespaces.add(ns)
		}
	}
	if res.Time != 0 {
		t.recent.add(ref{rep: uint32(ri), idx: uint32(i)}, res.Time)
	}
}

// source returns the counts of the source spelt s. A report's results mostly share one
// spelling, so the last one is remembered.
func (t *tally) source(s string) *SourceCounts {
	if t.srcMemo.counts != nil && s == t.srcMemo.spelling {
		return t.srcMemo.counts
	}
	key := t.names.Key(s)
	c := t.sources[key]
	if c == nil {
		c = &SourceCounts{Name: t.names.Name(s)}
		t.sources[key] = c
	}
	t.srcMemo.spelling, t.srcMemo.counts = s, c
	return c
}

func (t *tally) overview(reps []*report.Report) *Overview {
	o := t.o
	o.Sources = make([]SourceCounts, 0, len(t.sources))
	for _, c := range t.sources {
		o.Sources = append(o.Sources, *c)
	}
	slices.SortFunc(o.Sources, func(a, b SourceCounts) int { return strings.Compare(a.Name, b.Name) })
	o.FailingPolicies = t.policies.top(t.recent.max)
	o.AffectedNamespaces = t.namespaces.top(t.recent.max)
	o.Recent = make([]Row, 0, len(t.recent.refs))
	for _, r := range t.recent.refs {
		rep := reps[r.rep]
		o.Recent = append(o.Recent, newRow(rep, &rep.Results[r.idx], t.names))
	}
	return &o
}

// counter counts failing results per name.
type counter struct {
	m    map[string]*int
	last string
	n    *int // the count of last
}

func (c *counter) add(name string) {
	if c.n == nil || name != c.last {
		if c.n = c.m[name]; c.n == nil {
			c.n = new(int)
			c.m[name] = c.n
		}
		c.last = name
	}
	*c.n++
}

// top returns the n names counted most, most first, then by name.
func (c *counter) top(n int) []Ranked {
	out := make([]Ranked, 0, len(c.m))
	for name, k := range c.m {
		out = append(out, Ranked{Name: name, Failing: *k})
	}
	slices.SortFunc(out, func(a, b Ranked) int {
		return cmp.Or(cmp.Compare(b.Failing, a.Failing), strings.Compare(a.Name, b.Name))
	})
	return out[:min(n, len(out))]
}

// recent keeps the max most recent results seen, most recent first; of results found at the
// same time, those earlier in the store's order.
type recent struct {
	max   int
	refs  []ref
	times []int64
}

func (r *recent) add(x ref, t int64) {
	if len(r.refs) == r.max && t <= r.times[len(r.times)-1] {
		return // a later result of the same time comes after it in the store's order
	}
	i := len(r.times)
	for i > 0 && r.times[i-1] < t {
		i--
	}
	r.refs = slices.Insert(r.refs, i, x)
	r.times = slices.Insert(r.times, i, t)
	if len(r.refs) > r.max {
		r.refs, r.times = r.refs[:r.max], r.times[:r.max]
	}
}
