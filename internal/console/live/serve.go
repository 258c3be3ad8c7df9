package live

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/policyherald/policy-herald/internal/console/api"
)

// ServeHTTP serves the person's event stream (GET /api/v1/events): authenticated and scoped as
// the API is, then one "change" event per coalesced change they may see.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if len(r.URL.Query()) > 0 {
		writeError(w, http.StatusBadRequest, "the event stream takes no parameters")
		return
	}
	u, err := h.opts.Authenticator.Authenticate(r)
	switch {
	case errors.Is(err, api.ErrUnauthenticated):
		w.Header().Set("WWW-Authenticate", `Bearer realm="policy-herald"`)
		writeError(w, http.StatusUnauthorized, err.Error())
		return
	case err != nil:
		h.opts.Log.Error(err, "authenticating an event stream")
		writeError(w, http.StatusServiceUnavailable, "could not check your credentials with the Kubernetes API server; try again")
		return
	}
	scope, err := h.opts.Scoper.Scope(r.Context(), u, api.Holdings(h.opts.Source.Snapshot()))
	if err != nil {
		h.opts.Log.Error(err, "deciding what a user may see", "user", u.Name)
		writeError(w, http.StatusInternalServerError, "could not decide what you may see")
		return
	}
	s, err := h.add(scope)
	if err != nil {
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	defer h.remove(s)
	h.stream(w, r, s)
}

// stream writes s's events until its lifetime ends, the client leaves or the Hub stops.
func (h *Hub) stream(w http.ResponseWriter, r *http.Request, s *stream) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no") // nginx would buffer the stream otherwise
	w.WriteHeader(http.StatusOK)
	send := func(format string, args ...any) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(h.opts.WriteTimeout))
		if _, err := fmt.Fprintf(w, format, args...); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	// The browser waits retry ms before it reconnects after the stream ends.
	if !send("retry: %d\n: stream open\n\n", 2000) {
		return
	}
	heartbeat := time.NewTicker(h.opts.Heartbeat)
	defer heartbeat.Stop()
	lifetime := time.NewTimer(h.opts.Lifetime)
	defer lifetime.Stop()
	for id := 1; ; {
		select {
		case <-s.signal:
			if !send("id: %d\nevent: change\ndata: {}\n\n", id) {
				return
			}
			id++
			if !h.pause(r, lifetime.C) {
				return
			}
		case <-heartbeat.C:
			if !send(": ping\n\n") {
				return
			}
		case <-lifetime.C:
			return
		case <-r.Context().Done():
			return
		case <-h.done:
			return
		}
	}
}

// pause waits the Interval after an event, so a burst of changes becomes one more event at
// most; it says whether the stream goes on.
func (h *Hub) pause(r *http.Request, lifetime <-chan time.Time) bool {
	t := time.NewTimer(h.opts.Interval)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-lifetime:
	case <-r.Context().Done():
	case <-h.done:
	}
	return false
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Error string `json:"error"`
	}{msg})
}
