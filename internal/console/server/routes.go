package server

import "net/http"

// eventsPath is the live updates' event stream.
const eventsPath = "/api/v1/events"

// handlers are the parts of the console that share its port.
type handlers struct {
	api    http.Handler // /api/: the JSON API
	events http.Handler // the pages' live updates
	pages  http.Handler // everything else: the pages and their assets
}

// routes mounts the parts on one mux. The login's routes are not here: they are served before
// the store has synced (syncedHandler).
func routes(h handlers) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/api/", h.api)
	mux.Handle("GET "+eventsPath, h.events)
	mux.Handle("/", h.pages)
	return mux
}
