package sender

// Packing a batch's results into messages under a destination's limits.

// span is the items [start, end) of a batch that go into one message. over marks an item
// that does not fit in a message even alone: the sender sends it in a compact form, or as it
// is when its own layout already keeps it under the service's limit.
type span struct {
	start, end int
	over       bool
}

// packLimit is one bound of a message, in any unit (bytes, characters, blocks): a message
// holds at most max, of which base is taken by what every message holds besides its items
// (the frame, a summary).
type packLimit struct {
	base, max int
}

// pack groups n items, in order, into as few messages as the limits allow. A message takes the
// next item while it holds fewer than maxItems (no bound when 0) and, for every limit d, base
// plus the costs cost(i)[d] of its items stays at most max. An item that does not fit in an
// empty message gets one of its own, marked over. Every item is in exactly one span.
func pack(n, maxItems int, limits []packLimit, cost func(i int) []int) []span {
	var out []span
	used := make([]int, len(limits))
	start := 0
	reset := func() {
		for d := range limits {
			used[d] = limits[d].base
		}
	}
	reset()
	for i := 0; i < n; i++ {
		c := cost(i)
		fits := maxItems <= 0 || i-start < maxItems
		for d := range limits {
			if used[d]+c[d] > limits[d].max {
				fits = false
			}
		}
		if !fits && i > start {
			out = append(out, span{start: start, end: i, over: overAlone(i-start, limits, used)})
			start = i
			reset()
		}
		for d := range limits {
			used[d] += c[d]
		}
	}
	if n > start {
		out = append(out, span{start: start, end: n, over: overAlone(n-start, limits, used)})
	}
	return out
}

// overAlone tells whether a message of count items using used is over a limit: only a single
// item can be.
func overAlone(count int, limits []packLimit, used []int) bool {
	if count != 1 {
		return false
	}
	for d := range limits {
		if used[d] > limits[d].max {
			return true
		}
	}
	return false
}
