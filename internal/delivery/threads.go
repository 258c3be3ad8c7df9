package delivery

import (
	"cmp"
	"slices"

	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/sender"
)

// Threads: a chat sender that learns the id of each message it posts (Slack's Web API: its
// channel and ts) tells the pipeline, which keeps it per result in the ledger (so it survives a
// restart), and hands it back when the result is resolved, so the resolved notice answers in
// that message's thread. Only a pipeline that resolves (lc set) keeps them.

// withThreads returns the batch to send for it: for a new delivery, with Posted set; for a
// resolution, with the thread ids of its results, taken from the ledger at its first attempt
// (and its results put in thread order, so one notice answers each thread).
func (p *pipeline) withThreads(it *item) sender.Batch {
	if p.lc == nil {
		return it.batch
	}
	if !it.resolve {
		b := it.batch
		b.Posted = p.posted
		return b
	}
	if it.batch.Threads == nil {
		ids, closed := p.ledger.TakeThreads(it.hashes)
		if ids != nil {
			it.batch.Threads, it.batch.Closed = ids, closed
			byThread(it)
		}
	}
	return it.batch
}

// posted keeps the thread of results a sender posted.
func (p *pipeline) posted(thread string, results []report.Result) {
	for i := range results {
		p.ledger.SetThread(results[i].Hash, thread)
	}
}

// byThread orders the results of a resolution by thread (unthreaded last), keeping their order
// otherwise: a sender answers each run of one thread at once.
func byThread(it *item) {
	idx := make([]int, len(it.hashes))
	for i := range idx {
		idx[i] = i
	}
	th := it.batch.Threads
	slices.SortStableFunc(idx, func(a, b int) int {
		ta, tb := th[it.hashes[a]], th[it.hashes[b]]
		if (ta == "") != (tb == "") {
			if ta == "" {
				return 1
			}
			return -1
		}
		return cmp.Compare(ta, tb)
	})
	hashes := make([]uint64, len(idx))
	results := make([]report.Result, len(idx))
	for i, j := range idx {
		hashes[i], results[i] = it.hashes[j], it.batch.Results[j]
	}
	it.hashes, it.batch.Results = hashes, results
}
