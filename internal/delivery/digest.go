package delivery

import (
	"context"
	"errors"
	"hash/fnv"
	"slices"
	"strconv"
	"sync"
	"time"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/sender"
)

// Step 3b: digests. With a digest, the gate takes every new result out of its batch into its
// group (groupBy's values: policy, namespace, resource, severity; none: one group). The results
// stay in flight (pending) and unrecorded; one interval after the group's first result, the
// digest loop sends the group as one sender.Digest, with the fast retries of a batch (send.go),
// and records its results as digested. Through an outage the group stays and is tried again
// every SlowRetryInterval (one attempt while the destination is down: the digest is the probe);
// its results are never sent one by one instead, nor dropped. The digests due after a failed
// one wait with it, untried, so a down destination gets one attempt per slow retry.
//
// A group keeps what its message needs, not its results: a tally (counts, namespaces, keys:
// 8 bytes a result), the top MaxItems results and its group values. At most maxDigestGroups
// groups are open; a result of a further group joins one overflow group without group values
// (a digest of every such result), so a groupBy of resource in a large cluster costs at most
// maxDigestGroups+1 messages per interval.
//
// Restarts: collected results are not in the ledger, so the next leader finds them new and
// collects them again. Each open group's window start is kept in the ledger header (by a hash
// of its group values), so the group's digest still goes one interval after its first result,
// not after the restart; a window already due waits until every report was looked at, so its
// digest is one. Once a digest is sent, the flush loop is woken and writes the ledger within a
// second (record.go): a crash repeats a digest only when it comes before that write (see
// docs/delivery.md).

// maxDigestGroups bounds the open digest groups of a pipeline; a variable for tests.
var maxDigestGroups = 1000

// overflowGroup is the key of the group of results beyond maxDigestGroups.
const overflowGroup = "\xff"

// digestTick is the longest the digest and summary loops sleep while something waits, so a
// changed clock or configuration is seen within it.
const digestTick = time.Second

// digestState is the open digest groups of a pipeline.
type digestState struct {
	mu     sync.Mutex
	groups map[string]*digestGroup // by group key (see groupKey)
	// restored are the windows the ledger held at start (window key → start) whose groups were
	// not collected again yet; forgotten one interval and a sweep after they were due.
	restored map[string]time.Time
	// until is when restored windows stop waiting for the first look at every report (see
	// sendDigests).
	until time.Time
	// windows is what the ledger keeps (window key → start, Unix seconds): the open groups',
	// those being sent and the restored ones; changed says the ledger has not been told yet.
	windows map[string]int64
	changed bool
	// due is when the first open group is due (zero: none open), under the digest interval
	// interval, so a look at the groups before then costs no walk over them.
	due      time.Time
	interval time.Duration
	wake     chan struct{}
}

// dueAt notes that a group is due at at. The caller holds s.mu.
func (s *digestState) dueAt(at time.Time) {
	if s.due.IsZero() || at.Before(s.due) {
		s.due = at
	}
}

// digestGroup is one group's digest in the making.
type digestGroup struct {
	key     string
	window  string // windowKey(key)
	values  []sender.GroupValue
	link    string // the console's page of the group
	start   time.Time
	retryAt time.Time // after a failed send: not before
	// restored says its window is from before a restart: its results are being found again.
	restored bool
	tally
	items []sender.DigestItem // the top results, most severe first
}

// init starts with no group and the windows the ledger kept, at now.
func (s *digestState) init(windows map[string]int64, now time.Time, sweep time.Duration) {
	s.until = now.Add(sweep)
	s.groups, s.wake, s.windows = map[string]*digestGroup{}, make(chan struct{}, 1), map[string]int64{}
	for k, start := range windows {
		s.windows[k] = start
		if s.restored == nil {
			s.restored = map[string]time.Time{}
		}
		s.restored[k] = time.Unix(start, 0)
	}
}

// wakeDigests makes the digest loop look at the groups now.
func (p *pipeline) wakeDigests() {
	select {
	case p.digests.wake <- struct{}{}:
	default:
	}
}

func isDigester(s sender.Sender) bool {
	_, ok := s.(sender.Digester)
	return ok
}

// collect keeps the results of it for their group's next digest, when the target or channel has
// a digest; it returns false when none is left to send now.
func (p *pipeline) collect(it *item) bool {
	d := p.config()
	pol := d.Notify.Digest
	if pol == nil || !isDigester(d.Sender) || len(it.hashes) == 0 {
		return len(it.hashes) > 0
	}
	now := p.now()
	ref := it.batch.Report
	s := &p.digests
	var space [256]byte
	buf := space[:0]
	var last *digestGroup // the group of the result before: a batch is of one report
	opened := false
	s.mu.Lock()
	for i := range it.batch.Results {
		res := &it.batch.Results[i]
		buf = appendGroupKey(buf[:0], pol.GroupBy, ref, res)
		g := last
		if g == nil || g.key != string(buf) {
			g = s.groups[string(buf)]
		}
		if g == nil && len(s.groups) >= maxDigestGroups {
			g = s.groups[overflowGroup]
			if g == nil {
				g = s.open(overflowGroup, nil, "", now)
				s.dueAt(g.start.Add(pol.Interval))
			}
		}
		if g == nil {
			values, link := groupValues(pol.GroupBy, ref, res, d)
			g = s.open(string(buf), values, link, now)
			s.dueAt(g.start.Add(pol.Interval))
			opened = true
		}
		g.add(ref, res, now)
		g.offer(ref, res, pol.MaxItems, d)
		last = g
	}
	p.tellWindowsLocked()
	s.mu.Unlock()
	if opened {
		p.wakeDigests()
	}
	it.hashes, it.batch.Results = nil, nil
	return false
}

// open opens group key, with the window the ledger kept for it if any. The caller holds s.mu.
func (s *digestState) open(key string, values []sender.GroupValue, link string, now time.Time) *digestGroup {
	g := &digestGroup{key: key, window: windowKey(key), values: values, link: link, start: now}
	if start, ok := s.restored[g.window]; ok {
		g.start, g.restored = start, true
		delete(s.restored, g.window)
	}
	s.groups[key] = g
	s.setWindow(g.window, g.start)
	return g
}

// setWindow notes that window k is open from start. The caller holds s.mu.
func (s *digestState) setWindow(k string, start time.Time) {
	if v, ok := s.windows[k]; !ok || v != start.Unix() {
		s.windows[k], s.changed = start.Unix(), true
	}
}

// closeWindow notes that the window of a sent group is closed, unless its group was opened
// again meanwhile. The caller holds s.mu.
func (s *digestState) closeWindow(g *digestGroup) {
	if again := s.groups[g.key]; again != nil {
		s.setWindow(g.window, again.start)
		return
	}
	delete(s.windows, g.window)
	s.changed = true
}

// tellWindowsLocked gives the ledger the windows when they changed. The caller holds
// p.digests.mu (the ledger takes only its own lock).
func (p *pipeline) tellWindowsLocked() {
	if s := &p.digests; s.changed {
		p.ledger.SetWindows(s.windows)
		s.changed = false
	}
}

// windowKey is the key of a group's window in the ledger: a hash of its group key, so the
// header stays small whatever the group values.
func windowKey(groupKey string) string {
	h := fnv.New64a()
	_, _ = h.Write([]byte(groupKey))
	return strconv.FormatUint(h.Sum64(), 16)
}

// appendGroupKey appends the key of the group of res: its groupBy values, each ended by 0.
func appendGroupKey(b []byte, by []v1alpha1.DigestGroup, ref sender.ReportRef, res *report.Result) []byte {
	for _, g := range by {
		switch g {
		case v1alpha1.DigestByPolicy:
			b = append(b, res.Policy...)
		case v1alpha1.DigestByNamespace:
			b = append(b, resultNamespace(ref, res)...)
		case v1alpha1.DigestByResource:
			if r := res.Resource; r != nil {
				b = append(append(append(append(append(b, r.Kind...), '/'), r.Namespace...), '/'), r.Name...)
			}
		case v1alpha1.DigestBySeverity:
			b = append(b, res.Severity...)
		}
		b = append(b, 0)
	}
	return b
}

// groupValues returns the group values of res, as the digest names them, and the console's
// page of the group: its resource's, else its policy's, else its namespace's.
func groupValues(by []v1alpha1.DigestGroup, ref sender.ReportRef, res *report.Result, d *Config) ([]sender.GroupValue, string) {
	values := make([]sender.GroupValue, 0, len(by))
	var resource, policy, namespace string
	for _, g := range by {
		v := sender.GroupValue{Name: string(g)}
		switch g {
		case v1alpha1.DigestByPolicy:
			v.Value = res.Policy
			policy = d.ConsoleURL.Policy(res.Policy)
		case v1alpha1.DigestByNamespace:
			v.Value = resultNamespace(ref, res)
			namespace = d.ConsoleURL.Namespace(v.Value)
		case v1alpha1.DigestByResource:
			if r := res.Resource; r != nil {
				v.Value = r.Kind + " " + r.Name
				if r.Namespace != "" {
					v.Value = r.Kind + " " + r.Namespace + "/" + r.Name
				}
				resource = d.ConsoleURL.Resource(r.Namespace, r.Kind, r.Name)
			}
		case v1alpha1.DigestBySeverity:
			v.Value = orNone(string(res.Severity))
		}
		values = append(values, v)
	}
	for _, l := range []string{resource, policy, namespace} {
		if l != "" {
			return values, l
		}
	}
	return values, ""
}

// itemLink is the console's page of a result: its resource's, else its policy's.
func itemLink(d *Config, res *report.Result) string {
	if r := res.Resource; r != nil {
		if l := d.ConsoleURL.Resource(r.Namespace, r.Kind, r.Name); l != "" {
			return l
		}
	}
	return d.ConsoleURL.Policy(res.Policy)
}

// offer lists res among the group's top max results if it is severe enough.
func (g *digestGroup) offer(ref sender.ReportRef, res *report.Result, max int, d *Config) {
	if i := rank(g.items, res, max); i >= 0 {
		g.items = listAt(g.items, i, sender.DigestItem{Report: ref, Result: *res, Link: itemLink(d, res)}, max)
	}
}

// merge takes o's results into g (o came later).
func (g *digestGroup) merge(o *digestGroup, max int) {
	g.tally.merge(&o.tally)
	for _, it := range o.items {
		if i := rank(g.items, &it.Result, max); i >= 0 {
			g.items = listAt(g.items, i, it, max)
		}
	}
}

// rank returns where res goes among items (most severe first, after the equally severe), -1
// when not among the top max.
func rank(items []sender.DigestItem, res *report.Result, max int) int {
	i := len(items)
	for i > 0 && moreSevere(res, &items[i-1].Result) {
		i--
	}
	if i >= itemsMax(max) {
		return -1
	}
	return i
}

// listAt inserts it at i, keeping at most max items.
func listAt(items []sender.DigestItem, i int, it sender.DigestItem, max int) []sender.DigestItem {
	if len(items) >= itemsMax(max) {
		items = items[:itemsMax(max)-1]
	}
	return slices.Insert(items, i, it)
}

// itemsMax is a digest's MaxItems, at least 1.
func itemsMax(n int) int { return max(1, n) }

// digestLoop sends each group's digest when it is due, until ctx ends.
func (p *pipeline) digestLoop(ctx context.Context) { lookAgain(ctx, p.digests.wake, p.sendDigests) }

// lookAgain calls look when woken or when the time it returned last passed, until ctx ends.
func lookAgain(ctx context.Context, wake <-chan struct{}, look func() time.Duration) {
	t := time.NewTimer(digestTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-wake:
		}
		t.Reset(look())
	}
}

// sendDigests sends the digests that are due and returns how long to wait for the next.
func (p *pipeline) sendDigests() time.Duration {
	d := p.config()
	pol := d.Notify.Digest
	s := &p.digests
	if pol == nil || !isDigester(d.Sender) {
		p.dropDigests()
		return time.Hour
	}
	now := p.now()
	next := time.Hour
	var due []*digestGroup
	s.mu.Lock()
	if len(s.restored) == 0 && pol.Interval == s.interval && (s.due.IsZero() || now.Before(s.due)) {
		if !s.due.IsZero() {
			next = min(s.due.Sub(now), digestTick)
		}
		s.mu.Unlock()
		return next
	}
	s.due, s.interval = time.Time{}, pol.Interval
	// A window from before a restart may be due as its first results are found again: it waits
	// until every report was looked at (for at most a sweep interval), so its digest is one.
	finding := now.Before(s.until) && p.finding()
	for k, g := range s.groups {
		at := maxTime(g.start.Add(pol.Interval), g.retryAt)
		if g.restored && finding && !at.After(now) {
			s.dueAt(now) // looked at again at the next tick
			next = min(next, digestTick)
			continue
		}
		if at.After(now) {
			s.dueAt(at)
			next = min(next, at.Sub(now), digestTick)
			continue
		}
		due = append(due, g)
		delete(s.groups, k)
	}
	for k, start := range s.restored {
		// Its results would have been found again by now: the window was closed by a digest
		// whose recording the restart preceded by a moment, or its results left.
		if now.After(start.Add(pol.Interval + p.opts.SweepInterval)) {
			delete(s.restored, k)
			delete(s.windows, k)
			s.changed = true
		} else {
			next = min(next, digestTick)
		}
	}
	p.tellWindowsLocked()
	s.mu.Unlock()
	slices.SortFunc(due, func(a, b *digestGroup) int { return a.start.Compare(b.start) })
	failed := false // a digest failed: the rest of the pass waits with it, untried
	for _, g := range due {
		sent := !failed && p.sendGroup(d, g, now)
		if !sent && p.workers.ctx.Err() != nil {
			return time.Hour // stopping: the results stay unrecorded, found again by the next leader
		}
		failed = !sent
		s.mu.Lock()
		if sent {
			s.closeWindow(g)
		} else {
			g.retryAt = p.now().Add(p.opts.SlowRetryInterval)
			next = min(next, p.opts.SlowRetryInterval, digestTick)
			if later := s.groups[g.key]; later != nil {
				g.merge(later, pol.MaxItems)
			}
			s.groups[g.key] = g
			s.setWindow(g.window, g.start)
			s.dueAt(g.retryAt)
		}
		p.tellWindowsLocked()
		s.mu.Unlock()
	}
	return max(next, time.Millisecond)
}

// finding tells whether the pipeline is still finding results: reports wait to be looked at,
// or results to be taken off the queue.
func (p *pipeline) finding() bool { return p.dirty.busy() || len(p.queue) > 0 }

// sendGroup sends one group's digest, or hands its results to the rate limit's summary when
// the limit allows no message now; it returns false when the digest could not be sent.
func (p *pipeline) sendGroup(d *Config, g *digestGroup, now time.Time) bool {
	if !p.allowMessage(d, now) {
		p.summarise(&g.tally)
		return true
	}
	msg := g.message(sender.KindDigest, d.CustomFields)
	msg.Group, msg.Items, msg.Link = g.values, g.items, g.link
	msg.From = g.start // the window's start, also when a restart found its results again
	if msg.Total == 1 && len(g.items) == 1 && g.items[0].Link != "" {
		msg.Link = g.items[0].Link
	}
	return p.sendMessage(&msg, &g.tally, outcomeDigested)
}

// dropDigests gives up collecting (the digest was turned off): the collected results are no
// longer in flight, so they are found again and sent as they are.
func (p *pipeline) dropDigests() {
	s := &p.digests
	s.mu.Lock()
	groups := s.groups
	s.groups, s.restored = map[string]*digestGroup{}, nil
	if len(s.windows) > 0 {
		s.windows, s.changed = map[string]int64{}, true
	}
	p.tellWindowsLocked()
	s.mu.Unlock()
	if len(groups) == 0 {
		return
	}
	for _, g := range groups {
		p.release(&item{hashes: g.hashes}, outcomeNone)
	}
	p.markAll()
}

// sendMessage sends a message about many results (a digest or a summary) with the fast retries
// of a batch, one attempt while the destination is down, and records its results with outcome o
// once sent (or failed for good), writing the ledger at once. It returns false when the message
// is to be sent again later.
func (p *pipeline) sendMessage(msg *sender.Digest, t *tally, o outcome) bool {
	hashes := t.hashes
	it := item{digest: msg, hashes: hashes, probe: p.stats.outage()}
	err := p.send(&it)
	switch {
	case err == nil:
	case p.workers.ctx.Err() != nil:
		return false
	case !sender.IsRetryable(err) && !errors.Is(err, errOutage):
		p.log.Error(err, "the destination refused a message about many results for good", "kind", kindName(msg.Kind), "results", len(hashes))
		o = outcomeFailed
	default:
		p.log.Error(err, "sending a message about many results; tried again at the next slow retry", "kind", kindName(msg.Kind), "results", len(hashes))
		return false
	}
	p.release(&it, o)
	if o.delivered() && p.lc != nil {
		p.lc.tallied(p.store, t)
	}
	p.wakeFlush()
	return true
}

func kindName(k sender.DigestKind) string {
	if k == sender.KindSummary {
		return "summary"
	}
	return "digest"
}
