package api_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

var (
	routerOnce sync.Once
	router     routers.Router
	routerErr  error
)

// apiRouter finds the documented operation of a request, from the checked-in document.
func apiRouter(t *testing.T) routers.Router {
	t.Helper()
	routerOnce.Do(func() {
		for _, ct := range []string{"text/csv", "application/yaml", "text/event-stream"} {
			openapi3filter.RegisterBodyDecoder(ct, openapi3filter.FileBodyDecoder)
		}
		data, err := os.ReadFile("openapi.yaml")
		if err != nil {
			routerErr = err
			return
		}
		doc, err := openapi3.NewLoader().LoadFromData(data)
		if err != nil {
			routerErr = err
			return
		}
		router, routerErr = gorillamux.NewRouter(doc)
	})
	if routerErr != nil {
		t.Fatal(routerErr)
	}
	return router
}

// checkAgainstOpenAPI validates an answer of the API against the document: every answer the
// envtest tests get goes through it. A 404 of a path the document does not know is the API's
// answer to an unknown endpoint.
func checkAgainstOpenAPI(t *testing.T, req *http.Request, status int, header http.Header, body []byte) {
	t.Helper()
	route, params, err := apiRouter(t).FindRoute(req)
	if err != nil {
		if status != http.StatusNotFound {
			t.Errorf("GET %s: %d, but the OpenAPI document has no such operation: %v", req.URL, status, err)
		}
		return
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 status,
		Header:                 header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		t.Errorf("GET %s: the answer (%d) does not match the OpenAPI document: %v", req.URL, status, err)
	}
}
