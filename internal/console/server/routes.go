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

// routes mounts the parts on one mux.
func routes(h handlers) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/api/", h.api)
	mux.Handle("GET "+eventsPath, h.events)
	// The login mounts here: /login, /login/callback, /logout and /login/token.
	mux.Handle("/", h.pages)
	return mux
}
