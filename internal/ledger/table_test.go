package ledger

// get returns the gone time of m and whether m is there. Only tests read a gone time back: the
// ledger itself only asks has, and sweeps with each.
func (t *table) get(m uint64) (uint32, bool) {
	if m == 0 {
		return t.zeroGone, t.zero
	}
	if t.n == 0 {
		return 0, false
	}
	i, ok := t.find(m)
	if !ok {
		return 0, false
	}
	return t.gone[i], true
}
