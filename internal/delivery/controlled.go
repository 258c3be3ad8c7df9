package delivery

import (
	"github.com/policyherald/policy-herald/internal/report"
)

// skipControlled skips the results of it about resources a controller owns, when the target or
// channel skips controlled resources; it returns false when none is left. The resource is the
// result's, else its report's owner (the Trivy adapter's results name none). The lookups run
// outside p.mu: they may ask the API server.
func (p *pipeline) skipControlled(it *item) bool {
	if !p.config().Notify.SkipControlled || p.opts.Owners == nil {
		return len(it.hashes) > 0
	}
	ctx := p.workers.ctx
	var owner *report.Resource
	ownerRead := false
	controlled := make([]bool, len(it.hashes))
	skipped := 0
	var last *report.Resource // a batch's results mostly share one Resource
	var lastControlled bool
	for i := range it.batch.Results {
		r := it.batch.Results[i].Resource
		if r == nil {
			if !ownerRead {
				ref := it.batch.Report
				if rep := p.store.Get(report.Key(ref.Kind, ref.Namespace, ref.Name)); rep != nil {
					owner = rep.Owner
				}
				ownerRead = true
			}
			r = owner
		}
		if r == nil {
			continue
		}
		if r != last {
			last, lastControlled = r, p.opts.Owners.Controlled(ctx, r)
		}
		if controlled[i] = lastControlled; lastControlled {
			skipped++
		}
	}
	if ctx.Err() != nil {
		// Stopping while looking up: nothing recorded, so the results are offered again by
		// whichever replica leads next (as deliver does).
		p.release(it, outcomeNone)
		return false
	}
	if skipped == 0 {
		return len(it.hashes) > 0
	}
	return p.take(it, outcomeSkipped, func(i int) bool { return controlled[i] })
}
