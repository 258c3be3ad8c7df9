package render

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestJSONTemplate(t *testing.T) {
	tmpl, err := NewJSONTemplate("bodyTemplate", `{"text": {{ json .Message }}, "labels": {{ json .Properties }}, "resource": {{ with .Resource }}{{ json .Name }}{{ else }}null{{ end }}, "all": {{ json . }}}`)
	if err != nil {
		t.Fatal(err)
	}
	d := &ResultDocument{Policy: "p", Message: `say "hi" <b> & \ bye` + "\n", Properties: map[string]string{"k": `"v"`}}
	out, err := tmpl.Render(d)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Text     string            `json:"text"`
		Labels   map[string]string `json:"labels"`
		Resource *string           `json:"resource"`
		All      ResultDocument    `json:"all"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	if got.Text != d.Message || got.Labels["k"] != `"v"` || got.Resource != nil || got.All.Policy != "p" || got.All.Message != d.Message {
		t.Errorf("rendered %s", out)
	}
	if !strings.Contains(string(out), "<b> &") {
		t.Errorf("json must not escape HTML characters in a body for programs: %s", out)
	}
	if tmpl, err := NewJSONTemplate("bodyTemplate", ""); tmpl != nil || err != nil {
		t.Error("an empty template must mean the sender's own document")
	}
}

func TestNewJSONTemplateRefuses(t *testing.T) {
	for name, c := range map[string]struct{ text, want string }{
		"not JSON":             {`policy {{ .Policy }}`, "bodyTemplate: the output is not JSON at byte 1: invalid character 'p' looking for beginning of value (write texts with json, as in {{ json .Message }})"},
		"empty output":         {`{{ if false }}{}{{ end }}`, "bodyTemplate: the output is not JSON at byte 0: unexpected end of JSON input"},
		"a text without json":  {`{"text": "{{ .Message }}"}`, "bodyTemplate: the output is not JSON at byte "},
		"a property unescaped": {`{"k": "{{ index .Properties "key" }}"}`, "not JSON"},
		"two documents":        {`{} {}`, "not JSON"},
		"broken":               {`{"a": {{ json .Policy }`, "bodyTemplate: template: body:1: "},
		"unknown field":        {`{{ json .Nope }}`, "bodyTemplate: template: body:1:"},
		"unbounded":            {`{{ range 1000000 }}{{ end }}{}`, "bodyTemplate: {{range}} only goes over a field"},
		"named template":       {`{{ define "a" }}{}{{ end }}{{ template "a" }}`, "bodyTemplate: {{define}}"},
		"too long":             {`{{ json (printf "%2000000s" .Message) }}`, "bodyTemplate: renders more than 1048576 bytes"},
	} {
		_, err := NewJSONTemplate("bodyTemplate", c.text)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", name, err, c.want)
		}
	}
	// A template that works on a complete result may fail on a result that lacks what it uses,
	// and a result whose texts it does not escape yields no body.
	tmpl, err := NewJSONTemplate("bodyTemplate", `{"r": {{ json .Resource.Name }}, "c": "{{ .Category }}"}`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tmpl.Render(&ResultDocument{}); err == nil || !strings.HasPrefix(err.Error(), "bodyTemplate: ") {
		t.Errorf("no resource: got %v", err)
	}
	if _, err := tmpl.Render(&ResultDocument{Resource: &DocumentResource{Name: "n"}, Category: `a"b`}); err == nil || !strings.Contains(err.Error(), "not JSON") {
		t.Errorf("unescaped quote: got %v", err)
	}
}

// FuzzNewJSONTemplate: a bodyTemplate is written by whoever may edit a NotificationTarget.
// NewJSONTemplate must never panic nor run long, and what it accepts renders JSON within the
// limit on a complete result.
func FuzzNewJSONTemplate(f *testing.F) {
	for _, s := range []string{
		`{"text": {{ json .Message }}, "all": {{ json . }}}`,
		`[{{ range $k, $v := .Properties }}{{ json $k }},{{ end }}null]`,
		`{{ json (printf "%2000000s" .Message) }}`,
		`{"t": "{{ .Message }}"}`,
		`{{ range 10 }}{{ . }}{{ end }}`,
		"{{ json .Message",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		start := time.Now()
		tmpl, err := NewJSONTemplate("bodyTemplate", text)
		if err != nil || tmpl == nil {
			return
		}
		out, err := tmpl.Render(jsonSample())
		if err != nil || !json.Valid(out) || len(out) > maxJSONOutput {
			t.Fatalf("accepted, then rendered %d bytes, %v", len(out), err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("took %v", d)
		}
	})
}
