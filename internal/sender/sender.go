// Package sender delivers new policy results to destinations. Every destination type is one
// file here implementing Sender (named after the type: webhook.go, slack.go, ...; a large one
// is split by concern, as jira*.go), which registers the type's descriptor and constructor
// together (registry.go); New builds a sender from a Config.
//
// Adding a destination is three steps:
//  1. The API: its block as a field of v1alpha1.Destinations (with its DestinationType
//     constant), listed in the one-destination CEL rules of NotificationTarget and
//     TargetChannel, with CEL rules for its required settings; then make generate manifests.
//  2. Its sender file, x.go: the sender, and in an init function
//     register(newX, descriptor.Descriptor{Type: ..., Required: ..., ...}), the descriptor
//     classifying every field of the block and every Secret key it reads (a chat webhook
//     block, v1alpha1.ChatWebhookDestination, registers with registerChat instead).
//  3. Its test entry: a conformanceSenders entry (conformance_test.go), next to its own x_test.go.
//
// Nothing else names destination types: DestinationType() reads the struct, and package
// destination resolves from the registered descriptors. Tests fail when a step is missing or
// incomplete: TestNewUnsupportedAndMismatch (a block without a registration),
// TestConformanceRegistry (a registration without a conformance entry), and in package
// destination TestDescriptorsCoverTheAPI, TestOneDestinationRulesListEveryBlock and
// TestRequiredSettingsHaveCELRules.
//
// What the senders share lives in packages of its own, so that this one holds senders:
//   - transport: the one HTTP client constructor (proxy, TLS, address guard, no redirects),
//     endpoints, posting JSON, and the *Error every sender returns;
//   - render: the texts of messages (cutting, cleaning, the severity palette, packing results
//     into messages, messageTemplate, the chat view of a result, the wording of digests,
//     summaries and console links);
//   - internal/addrguard: the networks a destination may not reach (Config.Guard);
//   - internal/redact: what errors must not show.
//
// Errors returned by senders are *Error values. Their text names the destination's host only:
// never a URL path or query, user info, header value or token, so callers may put it in status
// conditions, events and logs as is.
package sender

import (
	"context"
	"crypto/tls"
	"time"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/addrguard"
	"github.com/policyherald/policy-herald/internal/consolelink"
	"github.com/policyherald/policy-herald/internal/destination/descriptor"
	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/sender/transport"
)

// ReportRef names the report a batch of results comes from.
type ReportRef struct {
	// Kind is PolicyReport, ClusterPolicyReport, Report or ClusterReport.
	Kind      string
	Namespace string // empty for cluster-scoped reports
	Name      string
	Labels    map[string]string
}

// Batch is new results of one report for one destination.
type Batch struct {
	Report       ReportRef
	Results      []report.Result
	CustomFields map[string]string

	// Posted, when set, is told the thread id of each message a Send posted (the message's id at
	// the destination, which a reply can be threaded to: for Slack's Web API its channel and ts)
	// with the results it holds, as soon as it is posted. Senders that learn no such id never
	// call it.
	Posted func(thread string, results []report.Result)
	// Threads, in a Resolve, holds the thread id that Posted gave of each result whose id the
	// pipeline kept, by result hash; Closed says of each such thread whether no result of it
	// stays open once this batch is resolved.
	Threads map[uint64]string
	Closed  map[string]bool
}

// eachInOrder calls do with each result of b in order and stops at the first failure, whose
// *Error says in Sent how many results were done before it: the Send (or Resolve) of the
// destinations that take one result a request.
func (b *Batch) eachInOrder(do func(r *report.Result) error) error {
	for i := range b.Results {
		if err := do(&b.Results[i]); err != nil {
			return transport.WithSent(err, i)
		}
	}
	return nil
}

// Sender delivers batches to one destination. Implementations are safe for concurrent use.
type Sender interface {
	// Send delivers the batch. It returns nil, or an *Error saying whether a retry may succeed.
	Send(ctx context.Context, b Batch) error
	// MaxBatch is how many results one Send takes (1 for per-result destinations like webhook).
	MaxBatch() int
}

// Resolver is implemented by destinations that track a result's lifecycle (alerts that are
// resolved, findings that are archived, issues that are closed). The delivery pipeline calls
// Resolve, with the same retries and accounting as Send, when results it delivered leave the
// cluster or pass (a passing result has another identity, so the failing one leaves).
type Resolver interface {
	Resolve(ctx context.Context, b Batch) error
}

// Refresher is implemented by Resolvers whose destination forgets what it is not told again:
// Alertmanager resolves an alert by itself once its endsAt passes. The pipeline calls Refresh
// every RefreshInterval with every result the destination was sent and that is still open; a
// failed refresh is logged and tried again at the next interval, and counts in no status.
type Refresher interface {
	Resolver
	RefreshInterval() time.Duration
	Refresh(ctx context.Context, b Batch) error
}

// Runner is implemented by senders with background work (the webhook keepalive); Run blocks
// until ctx ends. Senders without background work do not implement it.
type Runner interface {
	Run(ctx context.Context)
}

// Config is what a sender is built from.
type Config struct {
	Type v1alpha1.DestinationType
	// Destination is the effective destination (one block set, a channel's overrides applied).
	Destination *v1alpha1.Destinations
	// Settings are the effective strings, Secret values included (url, token, ...). New writes
	// those that are fields of the block into it once (withSettings), so a sender reads its
	// block, and Settings only for what has no field there (a token, a password, keys).
	Settings descriptor.Settings
	// TLS is the client TLS configuration; nil means the system defaults.
	TLS *tls.Config
	// Guard, when set, refuses the addresses the sender may not connect to: New refuses a
	// destination whose host it refuses (an *addrguard.NotAllowedError), and every connection the
	// sender opens passes it. Nil means unrestricted.
	Guard *addrguard.Guard
	// Name is namespace/name of the custom resource, for logs.
	Name string
	// MessageTemplate, when set, is a Go text/template over a ResultDocument that replaces the
	// default text of each result in chat messages (see NewTemplate).
	MessageTemplate string
	// AmbientCredentials allows a cloud destination without keys in its Secret to use the
	// operator's own identity (IRSA, EKS Pod Identity, GKE workload identity, instance roles).
	// Only objects in the platform namespace get it: the identity is the operator's, not a
	// tenant's. Without it, such a destination needs its keys from the Secret.
	AmbientCredentials bool
	// NotifyResolved makes a chat sender a Resolver: it announces the results it delivered that
	// passed or left the cluster (notifyResolved).
	NotifyResolved bool
	// ConsoleURL, when set, is the console's address: messages link to the console's page of
	// each result's resource or policy (the operator's --console-url).
	ConsoleURL consolelink.Base

	// now, when set, is the clock of a sender that puts the time in what it sends (alertManager's
	// startsAt and endsAt); time.Now otherwise. Only tests set it.
	now func() time.Time
	// apiEndpoint, when set, is the endpoint of a sender whose service has no endpoint setting
	// (gcs: its JSON API, …/storage/v1/); the service's own otherwise. Only tests set it.
	apiEndpoint string
}

// WithTestAPIEndpoint is cfg with the endpoint of a service that has no endpoint setting (Slack's
// Web API, gcs's JSON API) set to endpoint. Only tests call it, to point a sender built
// elsewhere (by the controllers) at a loopback server.
func WithTestAPIEndpoint(cfg Config, endpoint string) Config {
	cfg.apiEndpoint = endpoint
	return cfg
}

// Factory builds the sender of one destination type.
type Factory func(Config) (Sender, error)
