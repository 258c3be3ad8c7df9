package sender

import (
	"context"
	"time"

	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/sender/render"
)

// Digester is implemented by chat senders: they send one message about many results, a digest
// of a group of results collected over an interval, or the summary of the results a rate limit
// held back. The pipeline calls SendDigest with the same retries and accounting as Send.
type Digester interface {
	SendDigest(ctx context.Context, d Digest) error
}

// Digest is one message about many results.
type Digest struct {
	// Kind says what it is: a digest of an interval or a rate limit's summary.
	Kind DigestKind
	// Group names what the digest is about, in groupBy's order (for example
	// {Name: "policy", Value: "require-labels"}); empty for a digest of every result.
	Group []GroupValue
	// From and To bound when its results were found.
	From, To time.Time
	// Total counts its results; ByStatus and BySeverity split them (most serious first,
	// zero counts left out); Namespaces counts the distinct namespaces.
	Total      int
	ByStatus   []Count
	BySeverity []Count
	Namespaces int
	// Items are the results listed (at most the digest's maxItems, most severe first);
	// a summary lists none. Total - len(Items) are "and N more".
	Items []DigestItem
	// Link is the console's page of the group (a policy, a namespace or a resource), or of
	// the one result when there is one; "" without --console-url.
	Link         string
	CustomFields map[string]string
}

// DigestKind is what a Digest is.
type DigestKind int

// Kinds of Digest.
const (
	// KindDigest collects a group's results over an interval.
	KindDigest DigestKind = iota
	// KindSummary counts the results a rate limit held back ("412 more results: ...").
	KindSummary
)

// GroupValue is one value a digest is grouped by; Count is how many results have a value. Both
// are render's, which words them for every chat destination.
type (
	GroupValue = render.GroupValue
	Count      = render.Count
)

// DigestItem is one result listed in a digest, with its report and console link.
type DigestItem struct {
	Report ReportRef
	Result report.Result
	Link   string
}
