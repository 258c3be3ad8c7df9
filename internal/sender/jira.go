package sender

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/destination/descriptor"
	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/sender/render"
	"github.com/policyherald/policy-herald/internal/sender/transport"
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
	*transport.Target
	base       string // the URL without trailing slash; API paths are appended
	v3         bool
	project    string
	issueType  string
	labels     []string
	components []jiraNamed
	fields     map[string]json.RawMessage
	summary    *render.Template
	tmpl       *render.Template

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

func init() {
	register(newJira, descriptor.Descriptor{Type: v1alpha1.DestinationJira,
		Required: []string{"url", "projectKey"}, SecretKeys: []string{"url", "username", "password", "apiToken"},
		Endpoint: []string{"url", "projectKey"}, Credential: []string{"headers", "username", "password", "apiToken"},
		Other: []string{"issueType", "apiVersion", "summaryTemplate", "labels", "components", "fields", "resolveTransition"}, Template: true})
}

func newJira(cfg Config) (Sender, error) {
	inline := *cfg.Destination.Jira

	project := inline.ProjectKey
	if project == "" {
		return nil, errors.New("jira: projectKey is not set")
	}
	if !jiraProjectKey.MatchString(project) {
		return nil, errors.New("jira: projectKey must be upper-case letters, digits and _, starting with a letter")
	}
	var v3 bool
	switch inline.APIVersion {
	case "", "v3":
		v3 = true
	case "v2":
	default:
		return nil, errors.New("jira: apiVersion must be v2 or v3")
	}

	user, password, token := inline.Username, cfg.Settings["password"], cfg.Settings["apiToken"]
	var auth string
	switch {
	case user != "" && (token != "" || password != ""):
		auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+cmp.Or(token, password)))
	case token != "":
		auth = "Bearer " + token
	case password != "":
		return nil, errors.New("jira: a password needs a username")
	}
	if auth != "" && !transport.ValidHeaderValue(auth) {
		return nil, errors.New("jira: the credentials are not a valid header value (control characters or line breaks)")
	}
	target, err := newHTTPTarget("jira", cfg, inline.HTTPSettings, auth, user, password, token)
	if err != nil {
		return nil, err
	}
	if auth != "" {
		target.Headers.Set("Authorization", auth)
	}
	if target.Endpoint.URL.RawQuery != "" || target.Endpoint.URL.Fragment != "" {
		return nil, errors.New("jira: url must not have a query or fragment (API paths are appended to it)")
	}
	if target.Endpoint.URL.User != nil {
		return nil, errors.New("jira: url must not hold user info: set username and password or apiToken instead")
	}

	j := &jira{
		Target:    target,
		base:      strings.TrimRight(target.Endpoint.Raw, "/"),
		v3:        v3,
		project:   project,
		issueType: cmp.Or(inline.IssueType, "Task"),
		created:   map[string]string{},
	}
	search := "/rest/api/2/search"
	j.v2Search.Store(&search)
	for _, l := range inline.Labels {
		if l == "" || len(l) > jiraMaxLabel || strings.ContainsFunc(l, func(r rune) bool { return r == ' ' || render.IsStrippedControl(r) || r == '\n' || r == '\t' }) {
			return nil, fmt.Errorf("jira: label %q is not valid: labels are 1 to %d characters without spaces", render.CutBytes(l, 64), jiraMaxLabel)
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
	if j.summary, err = render.NewTemplate(inline.SummaryTemplate); err != nil {
		return nil, fmt.Errorf("jira: summaryTemplate: %s", strings.TrimPrefix(err.Error(), "messageTemplate: "))
	}
	if j.tmpl, err = render.NewTemplate(cfg.MessageTemplate); err != nil {
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
	return b.eachInOrder(func(r *report.Result) error { return j.sendOne(ctx, b.Report, r, b.CustomFields) })
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
