package controllers

import (
	"errors"
	"fmt"
	"time"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/conditions"
	"github.com/policyherald/policy-herald/internal/filter"
)

// maxSilence is how far ahead a silence's until may be: a silence is for a known, bounded
// nuisance; a longer one is a filter.
const maxSilence = 90 * 24 * time.Hour

// checkSilences checks what the schema cannot: each silence's until at most maxSilence after
// now, and its patterns. Names are unique in one list (the schema's list map); a channel's
// silence replacing its target's of the same name is how channels override, not a conflict.
func checkSilences(list []v1alpha1.Silence, now time.Time) error {
	var errs []error
	latest := now.Add(maxSilence)
	for _, s := range list {
		if s.Until.After(latest) {
			errs = append(errs, fmt.Errorf("silence %q: until %s is more than 90 days ahead (at most %s): set an earlier until",
				s.Name, s.Until.UTC().Format(time.RFC3339), latest.UTC().Format(time.RFC3339)))
		}
		if _, err := filter.CompileSilence(s.Match); err != nil {
			errs = append(errs, fmt.Errorf("silence %q: %w", s.Name, err))
		}
	}
	if len(errs) > 0 {
		return conditions.Stalled(v1alpha1.ReasonInvalidSpec, errors.Join(errs...).Error())
	}
	return nil
}
