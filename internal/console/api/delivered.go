package api

import (
	"context"

	"github.com/policyherald/policy-herald/internal/console/access"
	"github.com/policyherald/policy-herald/internal/console/health"
	"github.com/policyherald/policy-herald/internal/console/query"
)

// DeliveredTo returns, by result ID, the targets and channels that u may get and that deliver
// the page's stored results (nil without a lister), with warnings about the questions that
// failed. Only a page's results are asked about (at most 250). The resource and policy pages
// (package ui) show the same.
func DeliveredTo(ctx context.Context, lister HealthLister, u access.User, stored []query.Stored) (map[string][]health.Delivery, []string, error) {
	out := map[string][]health.Delivery{}
	if lister == nil || len(stored) == 0 {
		return out, nil, nil
	}
	items := make([]health.Item, len(stored))
	for i, s := range stored {
		items[i] = health.Item{Report: s.Report, Result: s.Result}
	}
	ds, warnings, err := lister.DeliveredTo(ctx, u, items)
	if err != nil {
		return nil, nil, err
	}
	for i, s := range stored {
		if len(ds[i]) > 0 {
			out[s.Result.ID()] = ds[i]
		}
	}
	return out, warnings, nil
}
