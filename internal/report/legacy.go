package report

import (
	"strconv"
)

// LegacyIDs returns the IDs the results of rep had in ledgers of format 1, in the order of
// rep.Results: properties.resultID, else a hash of the resource (uid, name), policy, rule,
// status, category and message, with the properties too for results that shared an ID within
// the report. Those IDs left out the report and the resource's kind and namespace, so identical
// findings of different reports collided; ledgers are migrated by matching them once.
func LegacyIDs(rep *Report) []string {
	ids := make([]string, len(rep.Results))
	seen := make(map[string]int, len(rep.Results))
	for i := range rep.Results {
		ids[i] = legacyID(&rep.Results[i], false)
		seen[ids[i]]++
	}
	for i := range rep.Results {
		if seen[ids[i]] > 1 && rep.Results[i].Properties[ResultIDProperty] == "" {
			ids[i] = legacyID(&rep.Results[i], true)
		}
	}
	return ids
}

func legacyID(r *Result, withProperties bool) string {
	if id := r.Properties[ResultIDProperty]; id != "" {
		return id
	}
	h := newHasher()
	if r.Resource != nil {
		h.write(r.Resource.UID)
		h.write(r.Resource.Name)
	} else {
		h.write("")
		h.write("")
	}
	writeFinding(h, r, withProperties)
	return strconv.FormatUint(h.sum(), 16)
}
