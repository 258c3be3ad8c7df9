// Package live tells the console's pages when to refresh (issue 19): a Hub subscribes to the
// report store and serves each person a stream of server-sent events, one "change" event when a
// report their Scope allows was added, changed or deleted. A change nobody may see reaches
// nobody, not even as a bare signal, so a stream says nothing about other namespaces.
//
// Memory per stream is fixed (a one-slot signal, whatever the rate of changes): bursts are
// coalesced into at most one event per Options.Interval. A stream ends after
// Options.Lifetime (the browser reconnects, authenticated and authorized anew, so a revoked
// token or RoleBinding is noticed), when its client leaves, or when the Hub stops.
package live

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/policyherald/policy-herald/internal/console/access"
	"github.com/policyherald/policy-herald/internal/console/api"
	"github.com/policyherald/policy-herald/internal/console/query"
	"github.com/policyherald/policy-herald/internal/report"
)

// Options are what a Hub serves with; zero durations take the defaults.
type Options struct {
	Source        query.Source // for the Scope's holdings
	Authenticator api.Authenticator
	Scoper        api.Scoper
	Log           logr.Logger
	// Interval is the least time between two events of a stream (default 1s).
	Interval time.Duration
	// Heartbeat is how often an idle stream sends a comment, so proxies keep it (default 25s).
	Heartbeat time.Duration
	// Lifetime is how long a stream lasts before the browser reconnects (default 5m).
	Lifetime time.Duration
	// MaxStreams bounds the streams open at once (default 10,000); more are refused with 503.
	MaxStreams int
	// WriteTimeout bounds one write to a client (default 10s): a stalled client is dropped.
	WriteTimeout time.Duration
}

func (o Options) withDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.Interval, time.Second)
	def(&o.Heartbeat, 25*time.Second)
	def(&o.Lifetime, 5*time.Minute)
	def(&o.WriteTimeout, 10*time.Second)
	if o.MaxStreams <= 0 {
		o.MaxStreams = 10000
	}
	return o
}

// Hub fans the store's changes out to the streams allowed to see them. It is a
// store.Subscriber, an http.Handler (the stream) and a manager Runnable (Start ends every
// stream on shutdown).
type Hub struct {
	opts    Options
	mu      sync.Mutex
	streams map[*stream]struct{}
	stopped bool
	done    chan struct{}
}

// stream is one open event stream: whose Scope, and whether a change waits to be sent.
type stream struct {
	scope  *access.Scope
	signal chan struct{} // one slot: a pending change
}

// New returns a Hub; subscribe it to the store (store.Subscribe) and add it to the manager.
func New(o Options) *Hub {
	return &Hub{opts: o.withDefaults(), streams: map[*stream]struct{}{}, done: make(chan struct{})}
}

// ReportChanged signals every stream whose Scope allows the report with key. It never blocks:
// a stream with a change pending already needs no second one.
func (h *Hub) ReportChanged(key string) {
	kind, namespace, _ := report.SplitKey(key)
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.streams {
		if s.scope.Allows(kind, namespace) {
			select {
			case s.signal <- struct{}{}:
			default:
			}
		}
	}
}

// Start waits for ctx to end, then ends every stream, so the HTTP server's shutdown does not
// wait for them.
func (h *Hub) Start(ctx context.Context) error {
	<-ctx.Done()
	h.mu.Lock()
	h.stopped = true
	h.mu.Unlock()
	close(h.done)
	return nil
}

// NeedLeaderElection is false: every replica serves its own streams.
func (h *Hub) NeedLeaderElection() bool { return false }

// Streams returns the number of open streams.
func (h *Hub) Streams() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.streams)
}

var errFull = errors.New("too many event streams are open")

// add registers a stream for scope.
func (h *Hub) add(scope *access.Scope) (*stream, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.stopped:
		return nil, errors.New("the console is shutting down")
	case len(h.streams) >= h.opts.MaxStreams:
		return nil, errFull
	}
	s := &stream{scope: scope, signal: make(chan struct{}, 1)}
	h.streams[s] = struct{}{}
	return s, nil
}

func (h *Hub) remove(s *stream) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.streams, s)
}
