package sender

import (
	"strings"
	"testing"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/destination"
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

	// Every sender with a messageTemplate refuses such a template when it is built.
	for typ, settings := range map[v1alpha1.DestinationType]destination.Settings{
		v1alpha1.DestinationSlack:      {"url": "https://h/"},
		v1alpha1.DestinationDiscord:    {"url": "https://h/"},
		v1alpha1.DestinationTeams:      {"url": "https://h/"},
		v1alpha1.DestinationGoogleChat: {"url": "https://h/"},
		v1alpha1.DestinationTelegram:   {"token": telegramTestToken, "chatID": "1"},
	} {
		_, err := New(Config{Type: typ, Settings: settings, MessageTemplate: `{{ .Resource.Nope }}`})
		if want := string(typ) + ": messageTemplate: "; err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: got %v, want an error starting with %q", typ, err, want)
		}
	}
}
