package query

import (
	"slices"
	"sync"

	"github.com/policyherald/policy-herald/internal/report"
)

// selected is a selection as one call computed it: the refs of its results, its groups, and
// the order they are listed in.
type selected struct {
	reps   []*report.Report
	names  *report.SourceNames
	refs   []ref
	groups []Group
	order  func(a, b ref) int
}

// keep narrows a selection beyond what a Query says: a policy or resource page's exact match
// (a Query's patterns have wildcards and no escapes). nil keeps every result.
type keep func(rep *report.Report, res *report.Result) bool

// selectAll scans the snapshot once: it keeps a ref per selected result and counts the groups.
func (e *Engine) selectAll(v Visibility, sel Selection) (*selected, error) {
	return e.selectWhere(v, sel, nil)
}

// selectWhere is selectAll of the results k keeps.
func (e *Engine) selectWhere(v Visibility, sel Selection, k keep) (*selected, error) {
	m, err := compile(sel.Query)
	if err != nil {
		return nil, err
	}
	srt, err := compileSort(sel.Sort)
	if err != nil {
		return nil, err
	}
	names := e.src.SourceNames()
	g, err := newGrouper(sel.GroupBy, names)
	if err != nil {
		return nil, err
	}
	s := &selected{reps: e.snapshot(), names: names, refs: (*refPool.Get().(*[]ref))[:0]}
	visit(s.reps, v, m, func(ri, i int, rep *report.Report, res *report.Result) {
		if k != nil && !k(rep, res) {
			return
		}
		r := ref{rep: uint32(ri), idx: uint32(i), group: g.add(rep, res)}
		if srt.rank != nil {
			r.rank = srt.rank(res)
		}
		s.refs = append(s.refs, r)
	})
	var rank []uint32
	s.groups, rank = g.finish()
	if rank != nil {
		for i := range s.refs {
			s.refs[i].group = rank[s.refs[i].group]
		}
	}
	s.order = srt.order(s.reps)
	return s, nil
}

// refPool keeps the refs of finished calls: a selection of every result is 16 bytes per result,
// and growing it anew on every call would make the console's garbage several times that.
var refPool = sync.Pool{New: func() any { return new([]ref) }}

// release gives the selection's refs back for the next call; s is not used after it.
func (s *selected) release() {
	refs := s.refs[:0]
	s.refs = nil
	refPool.Put(&refs)
}

// page returns the refs of rows [offset, offset+limit) in order.
func (s *selected) page(offset, limit int) []ref {
	if offset >= len(s.refs) {
		return nil
	}
	end := min(offset+limit, len(s.refs))
	partialSort(s.refs, offset, end, s.order)
	return s.refs[offset:end]
}

// resultPage returns page p of the selection, which it releases.
func (s *selected) resultPage(p Page) *ResultPage {
	defer s.release()
	out := &ResultPage{Total: len(s.refs), Offset: p.Offset, Limit: p.Limit, Groups: s.groups, Rows: []Row{}}
	for _, r := range s.page(p.Offset, p.Limit) {
		out.Rows = append(out.Rows, s.row(r))
		rep := s.reps[r.rep]
		out.stored = append(out.stored, Stored{rep, &rep.Results[r.idx]})
	}
	return out
}

// all returns every ref in order.
func (s *selected) all() []ref {
	slices.SortFunc(s.refs, s.order)
	return s.refs
}

func (s *selected) row(r ref) Row {
	rep := s.reps[r.rep]
	return newRow(rep, &rep.Results[r.idx], s.names)
}
