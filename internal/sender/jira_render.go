package sender

import (
	"fmt"
	"sort"
	"strings"

	"github.com/policyherald/policy-herald/internal/sender/render"
)

// issueFields are the fields of the issue of d: the configured ones, then the sender's own.
func (j *jira) issueFields(d *ResultDocument) (map[string]any, error) {
	summary, err := j.summaryOf(d)
	if err != nil {
		return nil, err
	}
	desc, err := j.description(d)
	if err != nil {
		return nil, err
	}
	f := make(map[string]any, len(j.fields)+6)
	for k, v := range j.fields {
		f[k] = v
	}
	f["project"] = map[string]string{"key": j.project}
	f["issuetype"] = jiraNamed{Name: j.issueType}
	f["summary"] = summary
	f["description"] = desc
	labels := append([]string{jiraLabel, jiraLabelPrefix + d.ID}, j.labels...)
	f["labels"] = labels
	if len(j.components) > 0 {
		f["components"] = j.components
	}
	return f, nil
}

// summaryOf is the rendered summaryTemplate, or the default, on one line and cut to the limit.
func (j *jira) summaryOf(d *ResultDocument) (string, error) {
	var s string
	if j.summary != nil {
		out, err := j.summary.Render(d)
		if err != nil {
			return "", fmt.Errorf("summaryTemplate: %s", strings.TrimPrefix(err.Error(), "messageTemplate: "))
		}
		s = collapsed(out)
	}
	if s == "" {
		s = jiraDefaultSummary(d)
	}
	return render.CutUnits(s, jiraMaxSummary), nil
}

// jiraDefaultSummary is "[severity] policy/rule: kind namespace/name".
func jiraDefaultSummary(d *ResultDocument) string {
	s := d.Policy
	if d.Rule != "" {
		s = render.JoinNonEmpty("/", d.Policy, d.Rule)
	}
	if s == "" {
		s = "Policy result"
	}
	if d.Severity != "" {
		s = "[" + string(d.Severity) + "] " + s
	}
	if res := d.Resource; res != nil {
		s += ": " + render.JoinNonEmpty(" ", res.Kind, render.JoinNonEmpty("/", res.Namespace, res.Name))
	}
	return collapsed(s)
}

// collapsed is s with runs of white space made one space, trimmed.
func collapsed(s string) string { return strings.Join(strings.Fields(render.PlainText(s)), " ") }

// jiraLine is one line of a description: a label shown strong, then a value.
type jiraLine struct{ label, value string }

// jiraSection is a paragraph of lines, under an optional title.
type jiraSection struct {
	title string
	lines []jiraLine
}

// description is the issue description: ADF for v3, wiki markup for v2.
func (j *jira) description(d *ResultDocument) (any, error) {
	var sections []jiraSection
	if j.tmpl != nil {
		out, err := j.tmpl.Render(d)
		if err != nil {
			return nil, err
		}
		if out = strings.TrimSpace(render.PlainText(out)); out != "" {
			sections = []jiraSection{textSection("", out)}
		}
	}
	if sections == nil {
		sections = jiraLayout(d)
	}
	return j.render(fitSections(sections, jiraMaxText)), nil
}

func textSection(title, text string) jiraSection {
	s := jiraSection{title: title}
	for _, l := range strings.Split(text, "\n") {
		s.lines = append(s.lines, jiraLine{value: l})
	}
	return s
}

// jiraLayout is the default description: the result's fields, its message, its properties and
// the target's custom fields.
func jiraLayout(d *ResultDocument) []jiraSection {
	value := func(s string) string { return render.CutUnits(collapsed(s), jiraMaxValue) }
	var facts []jiraLine
	add := func(label, v string) {
		if v = value(v); v != "" {
			facts = append(facts, jiraLine{label: label, value: v})
		}
	}
	add("Policy", d.Policy)
	add("Rule", d.Rule)
	add("Status", string(d.Status))
	add("Severity", string(d.Severity))
	add("Category", d.Category)
	add("Source", d.Source)
	if res := d.Resource; res != nil {
		add("Resource", render.JoinNonEmpty(" ", res.APIVersion, res.Kind, render.JoinNonEmpty("/", res.Namespace, res.Name)))
		add("UID", res.UID)
	}
	add("Report", render.JoinNonEmpty(" ", d.Report.Kind, render.JoinNonEmpty("/", d.Report.Namespace, d.Report.Name)))
	add("Time", d.Timestamp)
	add("Result ID", d.ID)
	sections := []jiraSection{{lines: facts}}
	if msg := strings.TrimSpace(d.Message); msg != "" {
		sections = append(sections, textSection("Message", render.CutUnits(msg, jiraMaxMessage)))
	}
	list := func(title string, m map[string]string) {
		if len(m) == 0 {
			return
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		s := jiraSection{title: title}
		for _, k := range keys {
			s.lines = append(s.lines, jiraLine{label: value(k), value: value(m[k])})
		}
		sections = append(sections, s)
	}
	list("Properties", d.Properties)
	list("Custom fields", d.CustomFields)
	return sections
}

// fitSections keeps whole lines while the text fits in max UTF-16 units, then one last line
// saying the rest was cut.
func fitSections(in []jiraSection, max int) []jiraSection {
	const more = "… (cut: the description is limited in size)"
	budget := max - render.UTF16Len(more)
	var out []jiraSection
	for _, s := range in {
		budget -= render.UTF16Len(s.title) + 2
		if budget < 0 {
			break
		}
		kept := jiraSection{title: s.title}
		for _, l := range s.lines {
			budget -= render.UTF16Len(l.label) + render.UTF16Len(l.value) + 3
			if budget < 0 {
				break
			}
			kept.lines = append(kept.lines, l)
		}
		out = append(out, kept)
		if budget < 0 {
			break
		}
	}
	if budget < 0 {
		out = append(out, jiraSection{lines: []jiraLine{{value: more}}})
	}
	return out
}

// render turns sections into the description or comment body of the API version.
func (j *jira) render(sections []jiraSection) any {
	if j.v3 {
		return adfDocument(sections)
	}
	return wikiText(sections)
}

// adfNode is a node of the Atlassian Document Format.
type adfNode struct {
	Type    string    `json:"type"`
	Version int       `json:"version,omitempty"`
	Text    string    `json:"text,omitempty"`
	Marks   []adfMark `json:"marks,omitempty"`
	Content []adfNode `json:"content,omitempty"`
}

type adfMark struct {
	Type string `json:"type"`
}

// adfDocument is {"type":"doc","version":1,"content":[paragraphs]}: a strong title paragraph and
// a paragraph of lines separated by hard breaks per section. Text nodes are never empty.
func adfDocument(sections []jiraSection) adfNode {
	doc := adfNode{Type: "doc", Version: 1, Content: []adfNode{}}
	strong := []adfMark{{Type: "strong"}}
	for _, s := range sections {
		if s.title != "" {
			doc.Content = append(doc.Content, adfNode{Type: "paragraph", Content: []adfNode{{Type: "text", Text: s.title, Marks: strong}}})
		}
		p := adfNode{Type: "paragraph"}
		for i, l := range s.lines {
			if i > 0 {
				p.Content = append(p.Content, adfNode{Type: "hardBreak"})
			}
			if l.label != "" {
				p.Content = append(p.Content, adfNode{Type: "text", Text: l.label + ": ", Marks: strong})
			}
			if l.value != "" {
				p.Content = append(p.Content, adfNode{Type: "text", Text: l.value})
			}
		}
		if len(p.Content) > 0 {
			doc.Content = append(doc.Content, p)
		}
	}
	return doc
}

// wikiEscaper escapes the characters that start Jira wiki markup: links and mentions ([...]),
// macros ({...}), images (!...!), tables (|), text effects and lists.
var wikiEscaper = strings.NewReplacer(`\`, `\\`, "[", `\[`, "]", `\]`, "{", `\{`, "}", `\}`, "!", `\!`,
	"|", `\|`, "*", `\*`, "_", `\_`, "^", `\^`, "~", `\~`, "+", `\+`, "?", `\?`, "#", `\#`)

// wikiText is sections in wiki markup: "*Title*", then "*label:* value" lines, every text of
// the result escaped.
func wikiText(sections []jiraSection) string {
	var b strings.Builder
	for i, s := range sections {
		if i > 0 {
			b.WriteString("\n\n")
		}
		if s.title != "" {
			b.WriteString("*" + wikiEscaper.Replace(s.title) + "*\n")
		}
		for k, l := range s.lines {
			if k > 0 {
				b.WriteByte('\n')
			}
			if l.label != "" {
				b.WriteString("*" + wikiEscaper.Replace(l.label) + ":* ")
			}
			b.WriteString(wikiEscaper.Replace(l.value))
		}
	}
	return b.String()
}
