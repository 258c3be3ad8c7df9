package render

import (
	"strings"
	"testing"
	"time"
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

func TestNewTemplateTriesTheTemplate(t *testing.T) {
	// A template that cannot work on any result is refused when it is parsed.
	for name, text := range map[string]string{
		"unknown field":          `{{ .Nope }}`,
		"field of a string":      `{{ .Policy.Nope }}`,
		"unknown resource field": `{{ with .Resource }}{{ .Nope }}{{ end }}`,
		"wrong type":             `{{ len .Scored }}`,
		"too long":               `{{ printf "%20000s" .Message }}`,
	} {
		if _, err := NewTemplate(text); err == nil || !strings.HasPrefix(err.Error(), "messageTemplate: ") {
			t.Errorf("%s: want a messageTemplate error, got %v", name, err)
		}
	}

	// One that works on a complete result is accepted, even if it fails on a result that lacks
	// what it uses: that result gets the error when it is sent.
	tmpl, err := NewTemplate(`{{ .Resource.Name }} {{ index .Properties "nope" }} {{ .CustomFields.nope }}`)
	if err != nil {
		t.Fatalf("a template that works on a complete result is refused: %v", err)
	}
	if _, err := tmpl.Render(&ResultDocument{Policy: "p"}); err == nil || !strings.Contains(err.Error(), "messageTemplate") {
		t.Errorf("rendering .Resource.Name without a resource: got %v", err)
	}
}

func TestNewTemplateRefusesUnboundedWork(t *testing.T) {
	// Each of these renders nothing for a long time (or forever): the output limit does not
	// stop them, so they are refused before they are ever run.
	for name, text := range map[string]string{
		"range over a number":          `{{ range 1000000000 }}{{ end }}`,
		"range over a variable":        `{{ $n := 100000 }}{{ range $n }}{{ range $n }}{{ end }}{{ end }}`,
		"range over a function":        `{{ range len .Message }}{{ end }}`,
		"nested range":                 `{{ range .Properties }}{{ range $.Properties }}{{ end }}{{ end }}`,
		"nested range in with":         `{{ range .Properties }}{{ with $.Message }}{{ range $.Properties }}{{ end }}{{ end }}{{ end }}`,
		"recursive template":           `{{ define "a" }}{{ template "a" . }}{{ template "a" . }}{{ end }}{{ template "a" . }}`,
		"block":                        `{{ block "b" . }}{{ .Message }}{{ end }}`,
		"range in the else of a range": `{{ range .Properties }}{{ else }}{{ range 100000 }}{{ range 100000 }}{{ end }}{{ end }}{{ end }}`,
	} {
		start := time.Now()
		if _, err := NewTemplate(text); err == nil || !strings.HasPrefix(err.Error(), "messageTemplate: ") {
			t.Errorf("%s: want a messageTemplate error, got %v", name, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("%s: took %v", name, d)
		}
	}
	// Ranging once over the result's maps stays possible.
	for _, text := range []string{
		`{{ range $k, $v := .Properties }}{{ $k }}={{ $v }} {{ end }}`,
		`{{ range .CustomFields }}{{ . }}{{ else }}none{{ end }} {{ range $.Properties }}{{ . }}{{ end }}`,
		`{{ with .Resource }}{{ range $.Properties }}{{ . }}{{ end }}{{ end }}`,
	} {
		tmpl, err := NewTemplate(text)
		if err != nil {
			t.Errorf("%s: %v", text, err)
			continue
		}
		if out, err := tmpl.Render(templateSample()); err != nil || !strings.Contains(out, "value") {
			t.Errorf("%s: rendered %q, %v", text, out, err)
		}
	}
}

// FuzzNewTemplate: a messageTemplate is written by whoever may edit a NotificationTarget.
// NewTemplate must never panic nor run long, and what it accepts must render within the limit.
func FuzzNewTemplate(f *testing.F) {
	for _, s := range []string{
		`{{ .Severity }} {{ .Policy }}{{ with .Resource }} on {{ .Namespace }}/{{ .Name }}{{ end }}`,
		`{{ range $k, $v := .Properties }}{{ $k }}={{ $v }}{{ end }}`,
		`{{ printf "%20000s" .Message }}`,
		`{{ range 10 }}{{ . }}{{ end }}`,
		`{{ define "a" }}x{{ end }}{{ template "a" }}`,
		`{{ index .CustomFields "k" | html | js | urlquery }}{{ slice .Message 1 }}`,
		`{{ if and .Scored (eq .Status "fail") }}!{{ else if .Rule }}?{{ end }}{{/* c */}}`,
		"{{ .Message",
	} {
		f.Add(s)
	}
	doc := templateSample()
	doc.Properties = map[string]string{"a": strings.Repeat("x", 100), "b": "y"}
	f.Fuzz(func(t *testing.T, text string) {
		start := time.Now()
		tmpl, err := NewTemplate(text)
		if err != nil || tmpl == nil {
			return
		}
		out, err := tmpl.Render(doc)
		if err == nil && len(out) > maxTemplateOutput {
			t.Fatalf("rendered %d bytes", len(out))
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("took %v", d)
		}
	})
}
