package api

import (
	_ "embed"
	"net/http"

	"github.com/policyherald/policy-herald/internal/console/access"
)

// openAPI is the OpenAPI 3 document of /api/v1, checked in next to the handlers it describes;
// the tests check that it describes exactly the routes served and every answer the envtest
// tests get.
//
//go:embed openapi.yaml
var openAPI []byte

func (h *Handler) openAPI(w http.ResponseWriter, r *http.Request, _ access.User) {
	if err := newParams(r.URL.Query()).done(); err != nil {
		writeBadRequest(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = w.Write(openAPI)
}
