package render

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"text/template"
	"text/template/parse"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
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
	// field is the setting the template comes from, which its errors name (messageTemplate).
	field string
	// limit is the most bytes one result may render.
	limit int
}

// NewTemplate parses text and renders it once over templateSample, a result with every field
// set, so that a template that cannot work (a field that does not exist, a function applied to
// the wrong type, an output over the size limit) is a configuration error when the sender is
// built rather than a failure at each delivery. A template may still fail on a result that
// lacks what it uses, such as .Resource.Name on a result without a resource. An empty text
// gives a nil *Template, which senders treat as "use the default layout".
func NewTemplate(text string) (*Template, error) {
	if text == "" {
		return nil, nil
	}
	tmpl, err := parseTemplate("messageTemplate", text, nil, maxTemplateOutput)
	if err != nil {
		return nil, err
	}
	if _, err := tmpl.Render(templateSample()); err != nil {
		return nil, err
	}
	return tmpl, nil
}

// parseTemplate parses text, the template of the setting field, with funcs besides the
// built-in functions, and checks that its work is bounded (checkBounded); one result may render
// at most limit bytes. Every kind of user template is parsed here, so that they all follow the
// same rules.
func parseTemplate(field, text string, funcs template.FuncMap, limit int) (*Template, error) {
	// The name shows in parse and execution errors, after the field: "template: message:1:3: …".
	t, err := template.New(strings.TrimSuffix(field, "Template")).Option("missingkey=zero").Funcs(funcs).Parse(text)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	if err := checkBounded(t); err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	return &Template{t: t, field: field, limit: limit}, nil
}

// checkBounded refuses what could make a template run long without writing (the output
// limit stops the rest): {{range}} over anything but a field of the result (a number, a
// variable, a function's result), {{range}} inside {{range}}, and named templates, which can
// recurse. Then a template does at most one pass over one of the result's maps.
func checkBounded(t *template.Template) error {
	if len(t.Templates()) > 1 {
		return errors.New("{{define}}, {{block}} and {{template}} are not supported")
	}
	var walk func(n parse.Node, inRange bool) error
	walk = func(n parse.Node, inRange bool) error {
		switch n := n.(type) {
		case *parse.ListNode:
			if n == nil {
				return nil
			}
			for _, c := range n.Nodes {
				if err := walk(c, inRange); err != nil {
					return err
				}
			}
		case *parse.IfNode:
			return walkBranch(walk, &n.BranchNode, inRange)
		case *parse.WithNode:
			return walkBranch(walk, &n.BranchNode, inRange)
		case *parse.RangeNode:
			if inRange {
				return errors.New("{{range}} inside {{range}} is not supported")
			}
			if !rangesOverField(n.Pipe) {
				return fmt.Errorf("{{range}} only goes over a field of the result, such as .Properties, not %s", n.Pipe)
			}
			if err := walk(n.List, true); err != nil {
				return err
			}
			return walk(n.ElseList, inRange)
		case *parse.TemplateNode:
			return errors.New("{{template}} is not supported")
		}
		return nil
	}
	return walk(t.Root, false)
}

func walkBranch(walk func(parse.Node, bool) error, b *parse.BranchNode, inRange bool) error {
	if err := walk(b.List, inRange); err != nil {
		return err
	}
	return walk(b.ElseList, inRange)
}

// rangesOverField tells whether p is a field of the data and nothing else: .Properties, or
// $.CustomFields from inside a {{with}}.
func rangesOverField(p *parse.PipeNode) bool {
	if p == nil || len(p.Cmds) != 1 || len(p.Cmds[0].Args) != 1 {
		return false
	}
	switch a := p.Cmds[0].Args[0].(type) {
	case *parse.FieldNode:
		return true
	case *parse.VariableNode:
		return len(a.Ident) > 1 && a.Ident[0] == "$"
	}
	return false
}

// templateSample is the complete result NewTemplate tries a template on.
func templateSample() *ResultDocument {
	return &ResultDocument{
		ID: "id", Policy: "policy", Rule: "rule", Status: v1alpha1.StatusFail, Severity: v1alpha1.SeverityHigh,
		Category: "category", Message: "message", Scored: true, Source: "source", Timestamp: "2006-01-02T15:04:05Z",
		Priority:   v1alpha1.PriorityError,
		Resource:   &DocumentResource{APIVersion: "v1", Kind: "Pod", Namespace: "default", Name: "name", UID: "uid"},
		Report:     DocumentReport{Kind: "PolicyReport", Namespace: "default", Name: "report"},
		Properties: map[string]string{"key": "value"}, CustomFields: map[string]string{"key": "value"},
	}
}

// Render executes the template for one result.
func (t *Template) Render(d *ResultDocument) (string, error) {
	b, err := t.render(d)
	return string(b), err
}

func (t *Template) render(d *ResultDocument) ([]byte, error) {
	var b bytes.Buffer
	if err := t.t.Execute(&limitedWriter{w: &b, n: t.limit, limit: t.limit}, d); err != nil {
		return nil, fmt.Errorf("%s: %w", t.field, err)
	}
	return b.Bytes(), nil
}

type limitedWriter struct {
	w        *bytes.Buffer
	n, limit int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if len(p) > l.n {
		return 0, fmt.Errorf("renders more than %d bytes", l.limit)
	}
	l.n -= len(p)
	return l.w.Write(p)
}
