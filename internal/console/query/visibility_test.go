package query_test

import (
	"github.com/policyherald/policy-herald/internal/console/access"
	"github.com/policyherald/policy-herald/internal/console/query"
)

// The access decision is what the console's pages pass as visibility.
var _ query.Visibility = (*access.Scope)(nil)
