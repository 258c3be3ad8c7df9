package render

// Packing a batch's results into messages under a destination's limits.

// Span is the items [start, end) of a batch that go into one message. over marks an item
// that does not fit in a message even alone: the sender sends it in a compact form, or as it
// is when its own layout already keeps it under the service's limit.
type Span struct {
	Start, End int
	Over       bool
}

// Limit is one bound of a message, in any unit (bytes, characters, blocks): a message
// holds at most max, of which base is taken by what every message holds besides its items
// (the frame, a summary).
type Limit struct {
	Base, Max int
}

// Pack groups n items, in order, into as few messages as the limits allow. A message takes the
// next item while it holds fewer than maxItems (no bound when 0) and, for every limit d, base
// plus the costs cost(i)[d] of its items stays at most max. An item that does not fit in an
// empty message gets one of its own, marked over. Every item is in exactly one Span.
func Pack(n, maxItems int, limits []Limit, cost func(i int) []int) []Span {
	var out []Span
	used := make([]int, len(limits))
	start := 0
	reset := func() {
		for d := range limits {
			used[d] = limits[d].Base
		}
	}
	reset()
	for i := 0; i < n; i++ {
		c := cost(i)
		fits := maxItems <= 0 || i-start < maxItems
		for d := range limits {
			if used[d]+c[d] > limits[d].Max {
				fits = false
			}
		}
		if !fits && i > start {
			out = append(out, Span{Start: start, End: i, Over: overAlone(i-start, limits, used)})
			start = i
			reset()
		}
		for d := range limits {
			used[d] += c[d]
		}
	}
	if n > start {
		out = append(out, Span{Start: start, End: n, Over: overAlone(n-start, limits, used)})
	}
	return out
}

// overAlone tells whether a message of count items using used is over a limit: only a single
// item can be.
func overAlone(count int, limits []Limit, used []int) bool {
	if count != 1 {
		return false
	}
	for d := range limits {
		if used[d] > limits[d].Max {
			return true
		}
	}
	return false
}
