package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"text/template"
)

// maxJSONOutput bounds what a JSON template may render for one result. A request body carries
// a whole result, whose message alone may be long, so it is larger than a message text's bound.
const maxJSONOutput = 1 << 20

// JSONTemplate renders a request body, a JSON document, from a user's Go text/template over one
// result's ResultDocument (the webhook's bodyTemplate). Its data and the rules that keep its work
// bounded are Template's. Besides text/template's own functions it has json, which writes any
// value as JSON: a text quoted and escaped, so that a message with quotes or line breaks stays
// valid JSON (`{"text": {{ json .Message }}}`); `{{ json . }}` is the whole result document.
type JSONTemplate struct {
	t *Template
}

// jsonFuncs are the functions of JSON templates.
var jsonFuncs = template.FuncMap{"json": jsonValue}

// jsonValue encodes v as JSON without escaping <, > and & (a body for programs, not for HTML).
func jsonValue(v any) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return string(bytes.TrimSuffix(b.Bytes(), []byte("\n"))), nil
}

// NewJSONTemplate parses text, the template of the setting field, and renders it once over
// jsonSample, a result with every field set whose texts hold quotes, a backslash and a line
// break: a template that cannot work, or whose output is not JSON (such as a text put between
// quotes without json), is a configuration error when the sender is built rather than a
// failure at each delivery. An empty text gives a nil *JSONTemplate: the sender's own document.
func NewJSONTemplate(field, text string) (*JSONTemplate, error) {
	if text == "" {
		return nil, nil
	}
	t, err := parseTemplate(field, text, jsonFuncs, maxJSONOutput)
	if err != nil {
		return nil, err
	}
	tmpl := &JSONTemplate{t: t}
	if _, err := tmpl.Render(jsonSample()); err != nil {
		return nil, err
	}
	return tmpl, nil
}

// Render executes the template for one result and checks that the output is one JSON value.
func (t *JSONTemplate) Render(d *ResultDocument) ([]byte, error) {
	out, err := t.t.render(d)
	if err != nil {
		return nil, err
	}
	if json.Valid(out) {
		return out, nil
	}
	var v json.RawMessage
	err = json.Unmarshal(out, &v) // for the reason Valid does not give
	where := ""
	var se *json.SyntaxError
	if errors.As(err, &se) {
		where = fmt.Sprintf(" at byte %d", se.Offset)
	}
	return nil, fmt.Errorf("%s: the output is not JSON%s: %v (write texts with json, as in {{ json .Message }})", t.t.field, where, err)
}

// jsonSample is the complete result NewJSONTemplate tries a template on: templateSample with
// the characters JSON must escape in the texts a report's producer writes.
func jsonSample() *ResultDocument {
	d := templateSample()
	d.Message = "a \"quoted\" message\\ on\ntwo lines"
	d.Properties = map[string]string{"key": "a \"quoted\" value"}
	return d
}
