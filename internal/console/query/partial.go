package query

import (
	"math/rand/v2"
	"slices"
)

// partialSort orders x[lo:hi] as a full sort of x would, leaving the rest of x in no particular
// order: a page of 100 costs about three comparisons per selected result (two quickselects)
// instead of the log2(n) ≈ 17 of sorting all of them, whatever the page's depth. cmp must be a
// strict total order (the refs' order is: every tie is broken by the result's position).
func partialSort(x []ref, lo, hi int, cmp func(a, b ref) int) {
	if hi-lo >= len(x)/2 {
		slices.SortFunc(x, cmp)
		return
	}
	nth(x, lo, cmp)
	nth(x[lo+1:], hi-lo-1, cmp) // a no-op when hi-lo is 1
	slices.SortFunc(x[lo:hi], cmp)
}

// nth rearranges x so x[k] is the element a sort would put there, with none greater before it
// and none smaller after it (k == len(x) only partitions nothing). Pivots are random, so no
// input order (the store's order often is the sort's) makes it quadratic.
func nth(x []ref, k int, cmp func(a, b ref) int) {
	lo, hi := 0, len(x) // x[k] lies in x[lo:hi]
	for hi-lo > 1 && k < hi {
		p := partition(x[lo:hi], rand.IntN(hi-lo), cmp) + lo
		switch {
		case k < p:
			hi = p
		case k > p:
			lo = p + 1
		default:
			return
		}
	}
}

// partition moves x[pivot] to where it belongs, the smaller elements before it and the greater
// after, and returns its index (Lomuto's scheme: the order is strict, there are no equal keys).
func partition(x []ref, pivot int, cmp func(a, b ref) int) int {
	last := len(x) - 1
	x[pivot], x[last] = x[last], x[pivot]
	p := x[last]
	i := 0
	for j := range last {
		if cmp(x[j], p) < 0 {
			x[i], x[j] = x[j], x[i]
			i++
		}
	}
	x[i], x[last] = x[last], x[i]
	return i
}
