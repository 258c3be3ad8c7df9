package query

import (
	"slices"

	"github.com/policyherald/policy-herald/internal/report"
)

// PolicySummary is one policy of the policies index: its results a person sees, counted.
type PolicySummary struct {
	// Name is the result's policy ("" for results without one, as the Trivy adapter writes).
	Name string `json:"name"`
	// Sources are the sources of its results, by the store's names, sorted.
	Sources  []string     `json:"sources"`
	Statuses StatusCounts `json:"statuses"`
	// Namespaces counts the namespaces its results are about; cluster-scoped results count none.
	Namespaces int `json:"namespaces"`
}

// Breakdown is the status counts of one rule or namespace of a policy.
type Breakdown struct {
	// Key is the rule, or the namespace ("" for cluster-scoped results).
	Key      string       `json:"key"`
	Statuses StatusCounts `json:"statuses"`
}

// PolicyDetail is one policy's results across namespaces: the policy page.
type PolicyDetail struct {
	Name     string       `json:"name"`
	Sources  []string     `json:"sources"`
	Statuses StatusCounts `json:"statuses"`
	// Rules and Namespaces count every result of the policy per rule and per namespace, by key.
	Rules      []Breakdown `json:"rules"`
	Namespaces []Breakdown `json:"namespaces"`
	// Results is a page of the policy's results that the selection's query also matches, in
	// its order.
	Results *ResultPage `json:"results"`
}

// policyTally counts one policy's results, or every policy's.
type policyTally struct {
	names      *report.SourceNames
	statuses   StatusCounts
	sources    map[string]bool // by spelling; named once, at the end
	rules      map[string]*StatusCounts
	namespaces map[string]*StatusCounts
}

func newPolicyTally(names *report.SourceNames) *policyTally {
	return &policyTally{names: names, sources: map[string]bool{}, rules: map[string]*StatusCounts{}, namespaces: map[string]*StatusCounts{}}
}

func (t *policyTally) add(rep *report.Report, res *report.Result) {
	t.statuses.Add(res.Status)
	t.sources[res.Source] = true
	countIn(t.rules, res.Rule).Add(res.Status)
	countIn(t.namespaces, rep.ResultNamespace(res)).Add(res.Status)
}

func countIn(m map[string]*StatusCounts, key string) *StatusCounts {
	c := m[key]
	if c == nil {
		c = &StatusCounts{}
		m[key] = c
	}
	return c
}

// sortedKeys returns the keys of m, sorted.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func breakdowns(m map[string]*StatusCounts) []Breakdown {
	out := make([]Breakdown, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, Breakdown{Key: k, Statuses: *m[k]})
	}
	return out
}

// sourceNames returns the sources counted by the store's names, sorted.
func (t *policyTally) sourceNames() []string {
	named := make(map[string]bool, len(t.sources))
	for s := range t.sources {
		named[t.names.Name(s)] = true
	}
	return sortedKeys(named)
}

// namespaceCount counts the namespaces of a tally ("" is not one).
func (t *policyTally) namespaceCount() int {
	n := len(t.namespaces)
	if t.namespaces[""] != nil {
		n--
	}
	return n
}

// Policies returns every policy with results of q that v sees, counted, ordered by name.
func (e *Engine) Policies(v Visibility, q Query) ([]PolicySummary, error) {
	m, err := compile(q)
	if err != nil {
		return nil, err
	}
	names := e.src.SourceNames()
	tallies := map[string]*policyTally{}
	var last *policyTally // results in a row mostly share their policy
	var lastName string
	visit(e.snapshot(), v, m, func(_, _ int, rep *report.Report, res *report.Result) {
		if last == nil || res.Policy != lastName {
			if last = tallies[res.Policy]; last == nil {
				last = newPolicyTally(names)
				tallies[res.Policy] = last
			}
			lastName = res.Policy
		}
		last.add(rep, res)
	})
	out := make([]PolicySummary, 0, len(tallies))
	for _, name := range sortedKeys(tallies) {
		t := tallies[name]
		out = append(out, PolicySummary{Name: name, Sources: t.sourceNames(), Statuses: t.statuses, Namespaces: t.namespaceCount()})
	}
	return out, nil
}

// Policy returns the results of the policy named exactly name that v sees: counted per rule
// and namespace, and page p of those sel also matches. It returns nil when v sees no result of
// the policy.
func (e *Engine) Policy(v Visibility, name string, sel Selection, p Page) (*PolicyDetail, error) {
	p, err := p.check()
	if err != nil {
		return nil, err
	}
	only := func(_ *report.Report, res *report.Result) bool { return res.Policy == name }
	s, err := e.selectWhere(v, sel, only)
	if err != nil {
		return nil, err
	}
	page := s.resultPage(p)
	t := newPolicyTally(e.src.SourceNames())
	all, _ := compile(Query{})
	visit(e.snapshot(), v, all, func(_, _ int, rep *report.Report, res *report.Result) {
		if only(rep, res) {
			t.add(rep, res)
		}
	})
	if t.statuses.Total() == 0 {
		return nil, nil
	}
	return &PolicyDetail{
		Name: name, Sources: t.sourceNames(), Statuses: t.statuses,
		Rules: breakdowns(t.rules), Namespaces: breakdowns(t.namespaces), Results: page,
	}, nil
}

// NamespaceCounts is one namespace with the results a person sees there.
type NamespaceCounts struct {
	Name     string       `json:"name"`
	Statuses StatusCounts `json:"statuses"`
}

// Namespaces returns every namespace v sees a report in or a result of q about, ordered by
// name, with the results of q about it (report.Report.ResultNamespace) counted; a namespace
// whose reports hold no such result has zero counts.
func (e *Engine) Namespaces(v Visibility, q Query) ([]NamespaceCounts, error) {
	m, err := compile(q)
	if err != nil {
		return nil, err
	}
	counts := map[string]*StatusCounts{}
	reps := e.snapshot()
	for _, rep := range reps {
		if rep.Namespace != "" && v.Allows(rep.Kind, rep.Namespace) {
			countIn(counts, rep.Namespace)
		}
	}
	visit(reps, v, m, func(_, _ int, rep *report.Report, res *report.Result) {
		if ns := rep.ResultNamespace(res); ns != "" {
			countIn(counts, ns).Add(res.Status)
		}
	})
	out := make([]NamespaceCounts, 0, len(counts))
	for _, ns := range sortedKeys(counts) {
		out = append(out, NamespaceCounts{Name: ns, Statuses: *counts[ns]})
	}
	return out, nil
}
