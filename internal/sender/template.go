package sender

import (
	"bytes"
	"fmt"
	"text/template"
)

// maxTemplateOutput bounds what one result's template may render, so a runaway template cannot
// build an oversized message.
const maxTemplateOutput = 16 << 10

// Template renders the text of one result from a user's Go text/template. The template's data
// is the result's ResultDocument: .ID, .Policy, .Rule, .Status, .Severity, .Category, .Message,
// .Scored, .Source, .Timestamp, .Priority, .Resource (.APIVersion, .Kind, .Namespace, .Name,
// .UID; nil when the result names no resource), .Report (.Kind, .Namespace, .Name),
// .Properties and .CustomFields (maps).
type Template struct {
	t *template.Template
}

// NewTemplate parses text; an empty text gives a nil *Template, which senders treat as "use the
// default layout".
func NewTemplate(text string) (*Template, error) {
	if text == "" {
		return nil, nil
	}
	t, err := template.New("message").Option("missingkey=zero").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("messageTemplate: %w", err)
	}
	return &Template{t: t}, nil
}

// Render executes the template for one result.
func (t *Template) Render(d *ResultDocument) (string, error) {
	var b bytes.Buffer
	if err := t.t.Execute(&limitedWriter{w: &b, n: maxTemplateOutput}, d); err != nil {
		return "", fmt.Errorf("messageTemplate: %w", err)
	}
	return b.String(), nil
}

type limitedWriter struct {
	w *bytes.Buffer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if len(p) > l.n {
		return 0, fmt.Errorf("renders more than %d bytes", maxTemplateOutput)
	}
	l.n -= len(p)
	return l.w.Write(p)
}
