package api

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// TestOpenAPIDocument: the checked-in document is valid OpenAPI 3 and describes exactly the
// routes the handler serves (besides those another part of the console serves, marked
// x-served-by).
func TestOpenAPIDocument(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(openAPI)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml is not valid: %v", err)
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		if _, elsewhere := item.Extensions["x-served-by"]; !elsewhere {
			documented[path] = true
		}
		if item.Get == nil || len(item.Operations()) != 1 {
			t.Errorf("%s: want exactly a GET operation", path)
		}
	}
	served := map[string]bool{}
	for _, rt := range (&Handler{}).routes() {
		served[strings.ReplaceAll(rt.pattern, "...}", "}")] = true
	}
	if !maps.Equal(documented, served) {
		t.Errorf("documented %v,\nserved %v", slices.Sorted(maps.Keys(documented)), slices.Sorted(maps.Keys(served)))
	}
}
