package delivery

import (
	"sync"

	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/sender"
	"github.com/policyherald/policy-herald/internal/store"
)

// lifecycle tracks, for a target or channel whose sender is a sender.Resolver, the results it
// delivered that are still in the cluster, per report, so it can be told when one leaves the
// cluster or passes (a passing result has another identity, so the failing one leaves).
// It costs a copy of each open result, and only for such targets and channels.
//
// After a restart it is seeded from the current results that the ledger holds; results that
// left while no replica ran cannot be resolved (their content is gone).
type lifecycle struct {
	mu   sync.Mutex
	open map[string]*openReport // report key → its open results
}

type openReport struct {
	ref       sender.ReportRef
	results   map[uint64]report.Result
	resolving map[uint64]struct{} // queued for resolution
}

// resolution is the open results of one report that it no longer has.
type resolution struct {
	ref     sender.ReportRef
	results []report.Result
}

func newLifecycle() *lifecycle { return &lifecycle{open: map[string]*openReport{}} }

// seed opens the handled results the target or channel sees now.
func (l *lifecycle) seed(p *pipeline, reports []*report.Report) {
	d := p.config()
	for _, rep := range reports {
		if !d.visible(rep) {
			continue
		}
		var open []report.Result
		for i := range rep.Results {
			res := &rep.Results[i]
			if p.ledger.Has(res.Hash) && d.Filter.Match(rep, res, p.store.NamespaceLabels) {
				open = append(open, *res)
			}
		}
		l.add(rep.Key(), refOf(rep), open)
	}
}

func (l *lifecycle) add(key string, ref sender.ReportRef, results []report.Result) {
	if len(results) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	o := l.open[key]
	if o == nil {
		o = &openReport{ref: ref, results: map[uint64]report.Result{}, resolving: map[uint64]struct{}{}}
		l.open[key] = o
	}
	for _, r := range results {
		o.results[r.Hash] = r
	}
}

// delivered opens the results of a delivered batch.
func (l *lifecycle) delivered(it *item) {
	r := it.batch.Report
	l.add(report.Key(r.Kind, r.Namespace, r.Name), r, it.batch.Results)
}

// tallied opens the results of a delivered digest or summary, as their reports hold them now
// (one that left meanwhile is not opened: its content is gone).
func (l *lifecycle) tallied(st *store.Store, t *tally) {
	keys := make(map[uint64]struct{}, len(t.hashes))
	for _, k := range t.hashes {
		keys[k] = struct{}{}
	}
	for key := range t.reports {
		rep := st.Get(key)
		if rep == nil {
			continue
		}
		var open []report.Result
		for i := range rep.Results {
			if _, ok := keys[rep.Results[i].Hash]; ok {
				open = append(open, rep.Results[i])
			}
		}
		l.add(key, refOf(rep), open)
	}
}

// resolved closes the results of a resolution batch, delivered or given up on.
func (l *lifecycle) resolved(it *item) {
	r := it.batch.Report
	key := report.Key(r.Kind, r.Namespace, r.Name)
	l.mu.Lock()
	defer l.mu.Unlock()
	o := l.open[key]
	if o == nil {
		return
	}
	for _, k := range it.hashes {
		delete(o.results, k)
		delete(o.resolving, k)
	}
	if len(o.results) == 0 {
		delete(l.open, key)
	}
}

// gone returns the open results of report key that rep (nil: deleted) no longer has and that
// are not queued for resolution yet, and marks them queued.
func (l *lifecycle) gone(key string, rep *report.Report) (resolution, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	o := l.open[key]
	if o == nil {
		return resolution{}, false
	}
	present := map[uint64]struct{}{}
	if rep != nil {
		for i := range rep.Results {
			present[rep.Results[i].Hash] = struct{}{}
		}
	}
	var out []report.Result
	for k, r := range o.results {
		_, here := present[k]
		_, queued := o.resolving[k]
		if !here && !queued {
			out = append(out, r)
			o.resolving[k] = struct{}{}
		}
	}
	return resolution{ref: o.ref, results: out}, len(out) > 0
}

// reports returns the keys of reports with open results.
func (l *lifecycle) reports() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.open))
	for k := range l.open {
		out = append(out, k)
	}
	return out
}

// openResults returns, by report, the open results that are not queued for resolution: what a
// sender.Refresher is told again.
func (l *lifecycle) openResults() []resolution {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]resolution, 0, len(l.open))
	for _, o := range l.open {
		r := resolution{ref: o.ref, results: make([]report.Result, 0, len(o.results))}
		for k, res := range o.results {
			if _, queued := o.resolving[k]; !queued {
				r.results = append(r.results, res)
			}
		}
		if len(r.results) > 0 {
			out = append(out, r)
		}
	}
	return out
}
