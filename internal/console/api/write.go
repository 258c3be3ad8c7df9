package api

import (
	"encoding/json"
	"net/http"
)

// errorAnswer is the body of every error.
type errorAnswer struct {
	Error string `json:"error"`
	// Parameters names the query parameters at fault, for a 400.
	Parameters []string `json:"parameters,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // a client that went away is not an error of the server
}

func writeError(w http.ResponseWriter, status int, msg string, params []string) {
	writeJSON(w, status, errorAnswer{Error: msg, Parameters: params})
}

func writeBadRequest(w http.ResponseWriter, err error) {
	writeError(w, http.StatusBadRequest, err.Error(), paramNames(err))
}
