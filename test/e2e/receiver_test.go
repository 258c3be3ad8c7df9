package e2e_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/policyherald/policy-herald/internal/sender"
)

// receiver is a webhook destination on loopback: it reads each request as the webhook wire
// format (one JSON document, no field unknown to it) and answers with status.
type receiver struct {
	*httptest.Server
	status atomic.Int32
	mu     sync.Mutex
	docs   map[string][]sender.ResultDocument // by request path
	bad    []string                           // what was wrong with a request
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{docs: map[string][]sender.ResultDocument{}}
	r.status.Store(http.StatusNoContent)
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	d, err := decode(req)
	r.mu.Lock()
	if err != nil {
		r.bad = append(r.bad, err.Error())
	} else {
		r.docs[req.URL.Path] = append(r.docs[req.URL.Path], d)
	}
	r.mu.Unlock()
	status := int(r.status.Load())
	w.WriteHeader(status)
	if status >= 300 {
		// A careless destination echoes the request's path, which holds a secret here.
		_, _ = io.WriteString(w, "refused "+req.URL.Path)
	}
}

// decode reads a request as the webhook sends one result.
func decode(req *http.Request) (sender.ResultDocument, error) {
	var d sender.ResultDocument
	if req.Method != http.MethodPost || !strings.HasPrefix(req.Header.Get("Content-Type"), "application/json") {
		return d, fmt.Errorf("%s with Content-Type %q", req.Method, req.Header.Get("Content-Type"))
	}
	dec := json.NewDecoder(req.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return d, fmt.Errorf("not a webhook document: %w", err)
	}
	if dec.More() {
		return d, fmt.Errorf("more than one document")
	}
	return d, nil
}

// received returns the documents received on path, and what was wrong with any request.
func (r *receiver) received(path string) ([]sender.ResultDocument, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sender.ResultDocument(nil), r.docs[path]...), append([]string(nil), r.bad...)
}
