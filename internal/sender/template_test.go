package sender

import (
	"strings"
	"testing"
)

func TestTemplate(t *testing.T) {
	tmpl, err := NewTemplate(`{{ .Severity }} {{ .Policy }}{{ with .Resource }} on {{ .Namespace }}/{{ .Name }}{{ end }}: {{ .Message }} [{{ index .CustomFields "cluster" }}]`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tmpl.Render(&ResultDocument{
		Policy: "require-labels", Severity: "high", Message: "label app is required",
		Resource: &DocumentResource{Namespace: "team-a", Name: "nginx"}, CustomFields: map[string]string{"cluster": "prod"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := "high require-labels on team-a/nginx: label app is required [prod]"; got != want {
		t.Errorf("Render = %q, want %q", got, want)
	}
	if tmpl, _ := NewTemplate(""); tmpl != nil {
		t.Error("an empty template must mean the default layout")
	}
	if _, err := NewTemplate("{{ .Policy "); err == nil || !strings.Contains(err.Error(), "messageTemplate") {
		t.Errorf("a broken template must be refused naming the field, got %v", err)
	}
	loop, _ := NewTemplate(`{{ range .Properties }}{{ $.Message }}{{ end }}`)
	props := map[string]string{}
	for i := 0; i < 100; i++ {
		props[strings.Repeat("k", i+1)] = "v"
	}
	if _, err := loop.Render(&ResultDocument{Message: strings.Repeat("x", 1000), Properties: props}); err == nil {
		t.Error("a template rendering more than the limit must fail")
	}
}
