package sender

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/report"
)

// jira opens one Jira issue per result identity through the Jira REST API (v3, Jira Cloud, by
// default; v2 for Data Center and Server).
//
// Every issue carries the label policy-herald-<result ID>. Before an issue is created the
// project is searched for that label (JQL `project = "KEY" AND labels = "policy-herald-<id>"`,
// POST /rest/api/3/search/jql, or POST /rest/api/2/search for v2), so a result sent again after a
// restart or a timed-out create finds its issue instead of opening a second one.
//
// Settings: "url" (required): the site, for example https://example.atlassian.net, or a Data
// Center base URL with its context path; "projectKey" (required); "username", "password" and
// "apiToken" (Secret). Authentication: username with apiToken (Jira Cloud: email and API token)
// or with password is basic authentication, the apiToken winning over the password; an apiToken
// without username is a Data Center personal access token, sent as "Authorization: Bearer".
// Without any, configured headers may carry the credentials.
//
// The summary is summaryTemplate (over the ResultDocument) or "[severity] policy/rule: kind
// namespace/name", on one line, cut to 255 characters. The description is messageTemplate, taken
// as plain text, or a default layout; in Atlassian Document Format for v3, in wiki markup for v2
// with every markup character of the result escaped.
//
// With resolveTransition set the sender is a Resolver: when a result leaves the cluster or
// passes, its issues get a comment saying so and then the transition of that name.
type jira struct {
	*httpTarget
	base       string // the URL without trailing slash; API paths are appended
	v3         bool
	project    string
	issueType  string
	labels     []string
	components []jiraNamed
	fields     map[string]json.RawMessage
	summary    *Template
	tmpl       *Template

	// v2Search is the search path of v2: /rest/api/2/search, or /rest/api/2/search/jql once
	// Jira Cloud answered that the old one is gone.
	v2Search atomic.Pointer[string]

	// created remembers the issues this sender opened, by result ID: a search may not find an
	// issue for a few seconds after it was created (Jira Cloud's search is eventually consistent).
	mu      sync.Mutex
	created map[string]string
}

// jiraResolver is a jira sender that resolves: only it implements Resolver.
type jiraResolver struct {
	*jira
	transition string

	mu        sync.Mutex
	commented map[string]bool // issues whose resolve comment went out but not the transition yet
}

const (
	jiraLabelPrefix = "policy-herald-"
	jiraLabel       = "policy-herald"
	// jiraMaxSummary is the limit of the summary field.
	jiraMaxSummary = 255
	// jiraMaxText bounds a description or comment: Jira's text fields hold 32767 characters.
	jiraMaxText = 30000
	// jiraMaxValue bounds one value of the default layout, jiraMaxMessage the result's message.
	jiraMaxValue   = 1000
	jiraMaxMessage = 16000
	// jiraMaxLabel is the limit of a label.
	jiraMaxLabel = 255
	// jiraMaxFound is how many issues of one result a search returns; more than one exist only
	// when someone copied the label.
	jiraMaxFound = 10
	// jiraMaxResponse bounds the JSON answers that are read.
	jiraMaxResponse = 1 << 20
	// jiraMaxCreated bounds the memory of created issues; it is cleared when full.
	jiraMaxCreated = 4096
)

var (
	jiraProjectKey = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)
	jiraIssueKey   = regexp.MustCompile(`^[A-Z][A-Z0-9_]*-[0-9]+$`)
	// jiraOwnFields are the fields the sender sets itself; `fields` may not set them.
	jiraOwnFields = map[string]string{
		"project": "projectKey", "issuetype": "issueType", "summary": "summaryTemplate",
		"description": "messageTemplate", "labels": "labels", "components": "components",
	}
)

type jiraNamed struct {
	Name string `json:"name"`
}

func newJira(cfg Config) (Sender, error) {
	var inline v1alpha1.JiraDestination
	if d := cfg.Destination; d != nil && d.Jira != nil {
		inline = *d.Jira
	}
	set := func(key, fallback string) string { return cmp.Or(cfg.Settings[key], fallback) }

	project := set("projectKey", inline.ProjectKey)
	if project == "" {
		return nil, errors.New("jira: projectKey is not set")
	}
	if !jiraProjectKey.MatchString(project) {
		return nil, errors.New("jira: projectKey must be upper-case letters, digits and _, starting with a letter")
	}
	var v3 bool
	switch set("apiVersion", inline.APIVersion) {
	case "", "v3":
		v3 = true
	case "v2":
	default:
		return nil, errors.New("jira: apiVersion must be v2 or v3")
	}

	user, password, token := set("username", inline.Username), cfg.Settings["password"], cfg.Settings["apiToken"]
	var auth string
	switch {
	case user != "" && (token != "" || password != ""):
		auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+cmp.Or(token, password)))
	case token != "":
		auth = "Bearer " + token
	case password != "":
		return nil, errors.New("jira: a password needs a username")
	}
	if auth != "" && !validHeaderValue(auth) {
		return nil, errors.New("jira: the credentials are not a valid header value (control characters or line breaks)")
	}
	target, err := newHTTPTarget("jira", cfg, inline.HTTPSettings, auth, user, password, token)
	if err != nil {
		return nil, err
	}
	if auth != "" {
		target.headers.Set("Authorization", auth)
	}
	if target.ep.url.RawQuery != "" || target.ep.url.Fragment != "" {
		return nil, errors.New("jira: url must not have a query or fragment (API paths are appended to it)")
	}
	if target.ep.url.User != nil {
		return nil, errors.New("jira: url must not hold user info: set username and password or apiToken instead")
	}

	j := &jira{
		httpTarget: target,
		base:       strings.TrimRight(target.ep.raw, "/"),
		v3:         v3,
		project:    project,
		issueType:  set("issueType", cmp.Or(inline.IssueType, "Task")),
		created:    map[string]string{},
	}
	search := "/rest/api/2/search"
	j.v2Search.Store(&search)
	for _, l := range inline.Labels {
		if l == "" || len(l) > jiraMaxLabel || strings.ContainsFunc(l, func(r rune) bool { return r == ' ' || isStrippedControl(r) || r == '\n' || r == '\t' }) {
			return nil, fmt.Errorf("jira: label %q is not valid: labels are 1 to %d characters without spaces", cutBytes(l, 64), jiraMaxLabel)
		}
		j.labels = append(j.labels, l)
	}
	for _, c := range inline.Components {
		if strings.TrimSpace(c) == "" {
			return nil, errors.New("jira: a component name is empty")
		}
		j.components = append(j.components, jiraNamed{Name: c})
	}
	if len(inline.Fields) > 0 {
		j.fields = make(map[string]json.RawMessage, len(inline.Fields))
		for id, v := range inline.Fields {
			if setting, own := jiraOwnFields[strings.ToLower(id)]; own {
				return nil, fmt.Errorf("jira: fields may not set %q: use %s", id, setting)
			}
			if id == "" || !json.Valid(v.Raw) {
				return nil, fmt.Errorf("jira: the value of field %q is not valid JSON", id)
			}
			j.fields[id] = json.RawMessage(v.Raw)
		}
	}
	if j.summary, err = NewTemplate(inline.SummaryTemplate); err != nil {
		return nil, fmt.Errorf("jira: summaryTemplate: %s", strings.TrimPrefix(err.Error(), "messageTemplate: "))
	}
	if j.tmpl, err = NewTemplate(cfg.MessageTemplate); err != nil {
		return nil, fmt.Errorf("jira: %w", err)
	}
	if inline.ResolveTransition == "" {
		return j, nil
	}
	return &jiraResolver{jira: j, transition: inline.ResolveTransition, commented: map[string]bool{}}, nil
}

// MaxBatch is 1: one issue per result.
func (j *jira) MaxBatch() int { return 1 }

// Send opens an issue for each result that has none yet, in order, and stops at the first
// failure, whose Error says in Sent how many results were done before it.
func (j *jira) Send(ctx context.Context, b Batch) error {
	for i := range b.Results {
		if err := j.sendOne(ctx, b.Report, &b.Results[i], b.CustomFields); err != nil {
			return withSent(err, i)
		}
	}
	return nil
}

func (j *jira) sendOne(ctx context.Context, rep ReportRef, r *report.Result, custom map[string]string) error {
	id := r.ID()
	if j.remembered(id) != "" {
		return nil
	}
	found, err := j.search(ctx, id)
	if err != nil {
		return err
	}
	if len(found) > 0 {
		j.remember(id, found[0].Key)
		return nil // the issue exists: opened before a restart, or by a create whose answer was lost
	}
	doc := NewResultDocument(rep, r, custom)
	fields, err := j.issueFields(&doc)
	if err != nil {
		return &Error{Reason: "jira: " + err.Error()}
	}
	var created jiraCreated
	if err := j.call(ctx, "creating the issue", http.MethodPost, j.path("issue"), map[string]any{"fields": fields}, &created); err != nil {
		return err
	}
	if jiraIssueKey.MatchString(created.Key) {
		j.remember(id, created.Key)
	}
	return nil
}

// jiraCreated is the answer of POST issue (201 Created).
type jiraCreated struct {
	ID   string `json:"id"`
	Key  string `json:"key"`
	Self string `json:"self"`
}

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
	return cutUnits(s, jiraMaxSummary), nil
}

// jiraDefaultSummary is "[severity] policy/rule: kind namespace/name".
func jiraDefaultSummary(d *ResultDocument) string {
	s := d.Policy
	if d.Rule != "" {
		s = joinNonEmpty("/", d.Policy, d.Rule)
	}
	if s == "" {
		s = "Policy result"
	}
	if d.Severity != "" {
		s = "[" + string(d.Severity) + "] " + s
	}
	if res := d.Resource; res != nil {
		s += ": " + joinNonEmpty(" ", res.Kind, joinNonEmpty("/", res.Namespace, res.Name))
	}
	return collapsed(s)
}

// collapsed is s with runs of white space made one space, trimmed.
func collapsed(s string) string { return strings.Join(strings.Fields(plainText(s)), " ") }

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
		if out = strings.TrimSpace(plainText(out)); out != "" {
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
	value := func(s string) string { return cutUnits(collapsed(s), jiraMaxValue) }
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
		add("Resource", joinNonEmpty(" ", res.APIVersion, res.Kind, joinNonEmpty("/", res.Namespace, res.Name)))
		add("UID", res.UID)
	}
	add("Report", joinNonEmpty(" ", d.Report.Kind, joinNonEmpty("/", d.Report.Namespace, d.Report.Name)))
	add("Time", d.Timestamp)
	add("Result ID", d.ID)
	sections := []jiraSection{{lines: facts}}
	if msg := strings.TrimSpace(d.Message); msg != "" {
		sections = append(sections, textSection("Message", cutUnits(msg, jiraMaxMessage)))
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
	budget := max - utf16Len(more)
	var out []jiraSection
	for _, s := range in {
		budget -= utf16Len(s.title) + 2
		if budget < 0 {
			break
		}
		kept := jiraSection{title: s.title}
		for _, l := range s.lines {
			budget -= utf16Len(l.label) + utf16Len(l.value) + 3
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

// jiraIssue is an issue of a search answer, with the status field asked for.
type jiraIssue struct {
	ID     string `json:"id"`
	Key    string `json:"key"`
	Fields struct {
		Status *struct {
			Name           string `json:"name"`
			StatusCategory *struct {
				Key string `json:"key"`
			} `json:"statusCategory"`
		} `json:"status"`
	} `json:"fields"`
}

// done tells that the issue's status is in the Done category.
func (i *jiraIssue) done() bool {
	s := i.Fields.Status
	return s != nil && s.StatusCategory != nil && s.StatusCategory.Key == "done"
}

// jiraSearchResult is the answer of both searches: v3's search/jql (issues, isLast,
// nextPageToken) and v2's search (startAt, maxResults, total, issues).
type jiraSearchResult struct {
	Issues []jiraIssue `json:"issues"`
}

// search returns the issues of the project with the label of result id.
func (j *jira) search(ctx context.Context, id string) ([]jiraIssue, error) {
	jql := fmt.Sprintf(`project = "%s" AND labels = "%s%s"`, j.project, jiraLabelPrefix, id)
	body := map[string]any{"jql": jql, "maxResults": jiraMaxFound, "fields": []string{"status"}}
	var res jiraSearchResult
	if j.v3 {
		if err := j.call(ctx, "searching for the issue", http.MethodPost, "/rest/api/3/search/jql", body, &res); err != nil {
			return nil, err
		}
	} else {
		path := *j.v2Search.Load()
		err := j.call(ctx, "searching for the issue", http.MethodPost, path, body, &res)
		var e *Error
		if errors.As(err, &e) && path == "/rest/api/2/search" && (e.StatusCode == http.StatusGone || e.StatusCode == http.StatusNotFound) {
			// Jira Cloud removed the old search (410 Gone): use its successor from now on.
			path = "/rest/api/2/search/jql"
			j.v2Search.Store(&path)
			res = jiraSearchResult{}
			err = j.call(ctx, "searching for the issue", http.MethodPost, path, body, &res)
		}
		if err != nil {
			return nil, err
		}
	}
	out := res.Issues[:0]
	for _, is := range res.Issues {
		if jiraIssueKey.MatchString(is.Key) {
			out = append(out, is)
		}
	}
	return out, nil
}

func (j *jira) remembered(id string) string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.created[id]
}

func (j *jira) remember(id, key string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if len(j.created) >= jiraMaxCreated {
		clear(j.created)
	}
	j.created[id] = key
}

func (j *jira) forget(id string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	delete(j.created, id)
}

// path is the API path of the version: path("issue") is /rest/api/3/issue.
func (j *jira) path(p string) string {
	if j.v3 {
		return "/rest/api/3/" + p
	}
	return "/rest/api/2/" + p
}

// issuePath is the path of one issue's resource, for example /rest/api/3/issue/OPS-1/comment.
func (j *jira) issuePath(key, p string) string {
	return j.path("issue/" + url.PathEscape(key) + "/" + p)
}

// jiraErrors is Jira's ErrorCollection: {"errorMessages":[...],"errors":{"field":"message"}}.
type jiraErrors struct {
	ErrorMessages []string          `json:"errorMessages"`
	Errors        map[string]string `json:"errors"`
}

// text is the messages and field errors on one line, fields sorted.
func (e *jiraErrors) text() string {
	parts := append([]string(nil), e.ErrorMessages...)
	keys := make([]string, 0, len(e.Errors))
	for k := range e.Errors {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, k+": "+e.Errors[k])
	}
	return strings.Join(parts, "; ")
}

// call sends one request to the API path with the target's client (TLS, proxy, guard, no
// redirects) and headers, and decodes a 2xx answer into out when out is not nil. what says in
// an error what the request was for. Errors name the host only; Jira's error messages and field
// errors are in the Reason, redacted.
func (j *jira) call(ctx context.Context, what, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		data, err := marshalJSON(in)
		if err != nil {
			return &Error{Reason: fmt.Sprintf("jira %s: encoding the request: %v", what, err)}
		}
		body = bytes.NewReader(data)
	}
	host := j.ep.host
	req, err := http.NewRequestWithContext(ctx, method, j.base+path, body)
	if err != nil {
		return &Error{Reason: fmt.Sprintf("jira %s: %s to %s: the request could not be built", what, method, host)}
	}
	req.Header = make(http.Header, len(j.headers)+3)
	for k, vs := range j.headers {
		req.Header[k] = vs
	}
	req.Header.Set("Accept", contentTypeJSON)
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", userAgent)
	}
	if in != nil {
		req.Header.Set("Content-Type", contentTypeJSON)
	} else {
		req.Header.Del("Content-Type")
	}
	// Jira refuses state-changing requests it takes for cross-site ones without this.
	req.Header.Set("X-Atlassian-Token", "no-check")
	resp, err := j.post.client.Do(req)
	if e := notAllowedError(method, host, err); e != nil {
		e.Reason = "jira " + what + ": " + e.Reason
		return e
	}
	if err != nil {
		e := transportError(method, host, err, j.post.red)
		e.Reason = "jira " + what + ": " + e.Reason
		return e
	}
	defer drainAndClose(resp)
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		if out == nil || resp.StatusCode == http.StatusNoContent {
			return nil
		}
		if err := json.NewDecoder(io.LimitReader(resp.Body, jiraMaxResponse)).Decode(out); err != nil {
			// The request went through; an answer that cannot be read does not undo it.
			if _, ok := out.(*jiraCreated); ok {
				return nil
			}
			return &Error{Reason: fmt.Sprintf("jira %s: %s to %s: the answer is not the JSON of the Jira API", what, method, host), Retryable: true, StatusCode: resp.StatusCode}
		}
		return nil
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, excerptRead))
	e := responseError(method, host, resp, nil, j.post.red, j.post.now())
	if !e.Retryable && resp.StatusCode >= 400 && resp.StatusCode <= 499 {
		var je jiraErrors
		detail := ""
		if json.Unmarshal(data, &je) == nil {
			detail = excerpt([]byte(je.text()), j.post.red)
		} else {
			detail = excerpt(data, j.post.red)
		}
		if detail != "" {
			e.Reason += ": " + detail
		}
		switch resp.StatusCode {
		case http.StatusUnauthorized:
			e.Reason += " (check username and apiToken or password)"
		case http.StatusForbidden:
			e.Reason += " (the user may not do this in the project)"
		}
	}
	e.Reason = "jira " + what + ": " + e.Reason
	return e
}

// Resolve comments on and transitions the issues of each result, in order, and stops at the
// first failure, whose Error says in Sent how many results were done before it. An issue already
// in a Done status is left as it is; a result without an issue (deleted, or never opened) has
// nothing to resolve. An issue without the transition is a permanent error naming the
// transitions it has.
func (j *jiraResolver) Resolve(ctx context.Context, b Batch) error {
	for i := range b.Results {
		if err := j.resolveOne(ctx, b.Report, &b.Results[i], b.CustomFields); err != nil {
			return withSent(err, i)
		}
	}
	return nil
}

func (j *jiraResolver) resolveOne(ctx context.Context, rep ReportRef, r *report.Result, custom map[string]string) error {
	id := r.ID()
	issues, err := j.search(ctx, id)
	if err != nil {
		return err
	}
	if len(issues) == 0 {
		if key := j.remembered(id); key != "" {
			issues = []jiraIssue{{Key: key}} // created moments ago: not searchable yet
		}
	}
	doc := NewResultDocument(rep, r, custom)
	for i := range issues {
		if issues[i].done() {
			continue
		}
		if err := j.resolveIssue(ctx, issues[i].Key, &doc); err != nil {
			return err
		}
	}
	j.forget(id)
	return nil
}

// jiraTransitions is the answer of GET transitions.
type jiraTransitions struct {
	Transitions []struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"transitions"`
}

func (j *jiraResolver) resolveIssue(ctx context.Context, key string, d *ResultDocument) error {
	var ts jiraTransitions
	if err := j.call(ctx, "reading the transitions of "+key, http.MethodGet, j.issuePath(key, "transitions"), nil, &ts); err != nil {
		return err
	}
	id := ""
	names := make([]string, 0, len(ts.Transitions))
	for _, t := range ts.Transitions {
		if strings.EqualFold(strings.TrimSpace(t.Name), strings.TrimSpace(j.transition)) && t.ID != "" {
			id = t.ID
			break
		}
		names = append(names, collapsed(t.Name))
	}
	if id == "" {
		avail := "none"
		if len(names) > 0 {
			avail = strings.Join(names, ", ")
		}
		return &Error{Reason: fmt.Sprintf("jira: issue %s has no transition named %q in its current status (available: %s): set resolveTransition to one of them",
			key, collapsed(j.transition), cutBytes(avail, 200))}
	}
	if !j.wasCommented(key) {
		comment := j.render([]jiraSection{{lines: []jiraLine{{value: jiraResolveText(d)}}}})
		if err := j.call(ctx, "commenting on "+key, http.MethodPost, j.issuePath(key, "comment"), map[string]any{"body": comment}, nil); err != nil {
			return err
		}
		j.setCommented(key, true)
	}
	body := map[string]any{"transition": map[string]string{"id": id}}
	if err := j.call(ctx, "transitioning "+key, http.MethodPost, j.issuePath(key, "transitions"), body, nil); err != nil {
		return err
	}
	j.setCommented(key, false)
	return nil
}

// jiraResolveText is the comment of a resolved result.
func jiraResolveText(d *ResultDocument) string {
	what := joinNonEmpty("/", d.Policy, d.Rule)
	if res := d.Resource; res != nil {
		what += " on " + joinNonEmpty(" ", res.Kind, joinNonEmpty("/", res.Namespace, res.Name))
	}
	return cutUnits(collapsed("Resolved by Policy Herald: the result "+what+" no longer fails; it passed, or its resource or report left the cluster."), jiraMaxText)
}

func (j *jiraResolver) wasCommented(key string) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.commented[key]
}

func (j *jiraResolver) setCommented(key string, on bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !on {
		delete(j.commented, key)
		return
	}
	if len(j.commented) >= jiraMaxCreated {
		clear(j.commented)
	}
	j.commented[key] = true
}
