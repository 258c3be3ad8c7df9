package delivery

import (
	"context"
	"sync"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
)

// Health is what the engine knows about the delivery of one target or channel.
type Health struct {
	// Running says its pipeline runs.
	Running bool
	// StartError says why its pipeline could not start (for example its ledger is unreadable
	// or the operator may not read it).
	StartError error
	// Failing says the last FailingAfter or more attempts in a row failed.
	Failing bool
	// LastFailureReason says why the last attempt failed, without credentials.
	LastFailureReason string
	// Paused says sending waits because the ledger could not be written for PauseAfter.
	Paused bool
}

// Health returns the delivery health of target or channel k.
func (e *Engine) Health(k ObjectRef) Health {
	e.mu.RLock()
	p, ok := e.pipelines[k]
	err := e.failed[k]
	e.mu.RUnlock()
	if !ok {
		return Health{StartError: err}
	}
	h := Health{Running: true, Paused: p.paused()}
	h.Failing, h.LastFailureReason = p.stats.failing()
	return h
}

// HealthEvents returns the channel on which the engine names targets and channels of kind whose health
// changed, for a controller's source.Channel; call it before the manager starts.
func (e *Engine) HealthEvents(kind string) <-chan event.GenericEvent {
	return e.health.channel(kind)
}

// healthNotifier forwards health changes to the controllers without ever blocking a pipeline:
// changes are collected in a set and sent by one goroutine.
type healthNotifier struct {
	mu      sync.Mutex
	changed map[ObjectRef]struct{}
	chans   map[string]chan event.GenericEvent
	wake    chan struct{}
}

func newHealthNotifier() *healthNotifier {
	return &healthNotifier{changed: map[ObjectRef]struct{}{}, chans: map[string]chan event.GenericEvent{}, wake: make(chan struct{}, 1)}
}

func (h *healthNotifier) channel(kind string) chan event.GenericEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, ok := h.chans[kind]
	if !ok {
		c = make(chan event.GenericEvent, 64)
		h.chans[kind] = c
	}
	return c
}

func (h *healthNotifier) notify(k ObjectRef) {
	h.mu.Lock()
	h.changed[k] = struct{}{}
	h.mu.Unlock()
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// run sends the collected changes until ctx ends.
func (h *healthNotifier) run(ctx context.Context, newObject func(kind string) (client.Object, error)) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.wake:
		}
		h.mu.Lock()
		refs := h.changed
		h.changed = map[ObjectRef]struct{}{}
		h.mu.Unlock()
		for k := range refs {
			obj, err := newObject(k.Kind)
			if err != nil {
				continue
			}
			obj.SetNamespace(k.Namespace)
			obj.SetName(k.Name)
			h.mu.Lock()
			c, ok := h.chans[k.Kind]
			h.mu.Unlock()
			if !ok {
				continue // no controller listens
			}
			select {
			case c <- event.GenericEvent{Object: obj}:
			case <-ctx.Done():
				return
			}
		}
	}
}
