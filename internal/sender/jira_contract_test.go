package sender

// A loopback Jira for the tests of the jira sender: it keeps issues, labels, statuses and
// comments, and checks every request against the Jira REST API contract (v2 and v3): paths,
// methods, the Authorization header, Accept and Content-Type, and request bodies decoded
// strictly (unknown members refused, as Jira's "Invalid request payload"), with descriptions and
// comments that must be valid Atlassian Document Format for v3 and strings for v2. It answers
// with Jira's shapes: 201 {"id","key","self"}, 204 for transitions, the ErrorCollection
// {"errorMessages":[],"errors":{}} for 400 and 404, a plain-text 401.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

type jiraStoredIssue struct {
	ID, Key  string
	Version  string // "2" or "3": the API that created it
	Fields   map[string]json.RawMessage
	Labels   []string
	Status   string
	Comments []json.RawMessage
}

// jiraServer is the loopback Jira. Its zero value is not usable: see newJiraServer.
type jiraServer struct {
	t *testing.T
	// auth is the Authorization header every request must carry.
	auth string
	// cloud makes /rest/api/2/search answer 410 Gone, as Jira Cloud does since the enhanced
	// search replaced it.
	cloud bool
	// fault, when it returns a status, answers the request with it (headers and body too)
	// before the contract is looked at.
	fault func(r *http.Request, n int) (int, map[string]string, string)
	// dropCreate, when set, stores the next created issue and then breaks the connection
	// without an answer, as a create that timed out.
	dropCreate bool
	// echoAuth puts the Authorization header into the field errors of a 400, as a hostile or
	// buggy server might.
	echoAuth bool

	mu     sync.Mutex
	next   int
	issues []*jiraStoredIssue
	log    []string // "METHOD path" of every request
	n      int
}

func newJiraServer(t *testing.T, auth string) *jiraServer {
	return &jiraServer{t: t, auth: auth, next: 10000}
}

// jiraWorkflow: To Do --Start Progress--> In Progress --Done--> Done --Reopen--> To Do; Done
// is also reachable from To Do.
var jiraWorkflow = map[string][]struct{ id, name, to string }{
	"To Do":       {{"21", "Start Progress", "In Progress"}, {"31", "Done", "Done"}},
	"In Progress": {{"11", "Stop Progress", "To Do"}, {"31", "Done", "Done"}},
	"Done":        {{"41", "Reopen", "To Do"}},
}

var jiraStatusCategory = map[string]string{"To Do": "new", "In Progress": "indeterminate", "Done": "done"}

// jiraComponents and jiraSelectOptions are what the project OPS has.
var (
	jiraComponents    = map[string]bool{"Backend": true, "Policy": true}
	jiraIssueTypes    = map[string]bool{"Task": true, "Bug": true}
	jiraSelectOptions = map[string]bool{"High": true, "Low": true}
	jiraJQL           = regexp.MustCompile(`^project = "([A-Z][A-Z0-9_]*)" AND labels = "([^"\s]+)"$`)
	jiraPath          = regexp.MustCompile(`^/rest/api/([23])/(.+)$`)
	jiraIssuePath     = regexp.MustCompile(`^issue/([A-Z][A-Z0-9_]*-[0-9]+)/(transitions|comment)$`)
)

func (s *jiraServer) issuesCopy() []jiraStoredIssue {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]jiraStoredIssue, len(s.issues))
	for i, is := range s.issues {
		out[i] = *is
	}
	return out
}

func (s *jiraServer) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.log...)
}

func (s *jiraServer) violation(w http.ResponseWriter, format string, args ...any) {
	s.t.Errorf("jira contract: "+format, args...)
	jiraAnswer(w, http.StatusBadRequest, map[string]any{"errorMessages": []string{"Invalid request payload. Refer to the REST API documentation and try again."}, "errors": map[string]string{}})
}

func jiraAnswer(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func jiraFieldErrors(w http.ResponseWriter, errs map[string]string) {
	jiraAnswer(w, http.StatusBadRequest, map[string]any{"errorMessages": []string{}, "errors": errs})
}

// decodeStrict decodes body into v, refusing unknown members and trailing data.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data")
	}
	return nil
}

func (s *jiraServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.n++
	n := s.n
	s.log = append(s.log, r.Method+" "+r.URL.Path)
	s.mu.Unlock()
	if s.fault != nil {
		if status, h, b := s.fault(r, n); status != 0 {
			for k, v := range h {
				w.Header().Set(k, v)
			}
			w.WriteHeader(status)
			_, _ = io.WriteString(w, b)
			return
		}
	}
	if got := r.Header.Get("Authorization"); got != s.auth {
		w.Header().Set("Content-Type", "text/plain;charset=UTF-8")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, "Client must be authenticated to access this resource.")
		return
	}
	if a := r.Header.Get("Accept"); a != "application/json" {
		s.violation(w, "%s %s: Accept %q", r.Method, r.URL.Path, a)
		return
	}
	if r.Header.Get("User-Agent") == "" || r.URL.RawQuery != "" {
		s.violation(w, "%s %s: no User-Agent, or a query %q", r.Method, r.URL.Path, r.URL.RawQuery)
		return
	}
	switch r.Method {
	case http.MethodPost:
		if ct := r.Header.Get("Content-Type"); ct != "application/json" || !json.Valid(body) {
			s.violation(w, "POST %s: Content-Type %q, body valid JSON: %v", r.URL.Path, ct, json.Valid(body))
			return
		}
		if r.Header.Get("X-Atlassian-Token") != "no-check" {
			s.violation(w, "POST %s without X-Atlassian-Token: no-check", r.URL.Path)
			return
		}
	case http.MethodGet:
		if len(body) != 0 || r.Header.Get("Content-Type") != "" {
			s.violation(w, "GET %s with a body or Content-Type", r.URL.Path)
			return
		}
	}
	m := jiraPath.FindStringSubmatch(r.URL.Path)
	if m == nil {
		s.notFound(w, r)
		return
	}
	version, rest := m[1], m[2]
	switch {
	case rest == "search/jql" && r.Method == http.MethodPost:
		s.searchJQL(w, body)
	case rest == "search" && r.Method == http.MethodPost:
		if s.cloud {
			jiraAnswer(w, http.StatusGone, map[string]any{"errorMessages": []string{"The requested API has been removed. Please migrate to the /rest/api/3/search/jql API."}, "errors": map[string]string{}})
			return
		}
		if version == "3" {
			s.notFound(w, r) // Data Center has no v3
			return
		}
		s.searchV2(w, body)
	case rest == "issue" && r.Method == http.MethodPost:
		s.create(w, r, version, body)
	default:
		im := jiraIssuePath.FindStringSubmatch(rest)
		if im == nil {
			s.notFound(w, r)
			return
		}
		s.mu.Lock()
		var is *jiraStoredIssue
		for _, x := range s.issues {
			if x.Key == im[1] {
				is = x
			}
		}
		s.mu.Unlock()
		if is == nil {
			jiraAnswer(w, http.StatusNotFound, map[string]any{"errorMessages": []string{"Issue does not exist or you do not have permission to see it."}, "errors": map[string]string{}})
			return
		}
		switch {
		case im[2] == "transitions" && r.Method == http.MethodGet:
			s.transitions(w, is)
		case im[2] == "transitions" && r.Method == http.MethodPost:
			s.transition(w, is, body)
		case im[2] == "comment" && r.Method == http.MethodPost:
			s.comment(w, is, version, body)
		default:
			s.notFound(w, r)
		}
	}
}

func (s *jiraServer) notFound(w http.ResponseWriter, r *http.Request) {
	s.t.Errorf("jira contract: no such resource: %s %s", r.Method, r.URL.Path)
	w.WriteHeader(http.StatusNotFound)
}

// jiraSearchJQLRequest is SearchAndReconcileRequestBean (POST search/jql).
type jiraSearchJQLRequest struct {
	JQL             string   `json:"jql"`
	MaxResults      *int     `json:"maxResults"`
	NextPageToken   *string  `json:"nextPageToken"`
	Fields          []string `json:"fields"`
	Expand          string   `json:"expand"`
	Properties      []string `json:"properties"`
	FieldsByKeys    bool     `json:"fieldsByKeys"`
	FailFast        bool     `json:"failFast"`
	ReconcileIssues []int64  `json:"reconcileIssues"`
}

// jiraSearchV2Request is SearchRequestBean (POST /rest/api/2/search of Data Center).
type jiraSearchV2Request struct {
	JQL           string   `json:"jql"`
	StartAt       *int     `json:"startAt"`
	MaxResults    *int     `json:"maxResults"`
	Fields        []string `json:"fields"`
	ValidateQuery *bool    `json:"validateQuery"`
	Expand        []string `json:"expand"`
	Properties    []string `json:"properties"`
	FieldsByKeys  bool     `json:"fieldsByKeys"`
}

func (s *jiraServer) find(jql string, max *int) ([]map[string]any, bool) {
	m := jiraJQL.FindStringSubmatch(jql)
	if m == nil {
		return nil, false
	}
	limit := 50
	if max != nil {
		limit = *max
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []map[string]any{}
	for _, is := range s.issues {
		if !strings.HasPrefix(is.Key, m[1]+"-") {
			continue
		}
		for _, l := range is.Labels {
			if l == m[2] && len(out) < limit {
				out = append(out, map[string]any{"id": is.ID, "key": is.Key, "self": "http://jira/rest/api/3/issue/" + is.ID,
					"fields": map[string]any{"status": map[string]any{"name": is.Status, "statusCategory": map[string]any{"key": jiraStatusCategory[is.Status]}}}})
			}
		}
	}
	return out, true
}

func (s *jiraServer) searchJQL(w http.ResponseWriter, body []byte) {
	var req jiraSearchJQLRequest
	if err := decodeStrict(body, &req); err != nil {
		s.violation(w, "search/jql body: %v: %s", err, body)
		return
	}
	if len(req.Fields) != 1 || req.Fields[0] != "status" {
		s.t.Errorf("jira contract: search/jql asks for fields %v, want [status]", req.Fields)
	}
	issues, ok := s.find(req.JQL, req.MaxResults)
	if !ok {
		jiraAnswer(w, http.StatusBadRequest, map[string]any{"errorMessages": []string{"Error in the JQL Query: the query is not what the test server understands."}, "errors": map[string]string{}})
		s.t.Errorf("jira contract: JQL %q", req.JQL)
		return
	}
	jiraAnswer(w, http.StatusOK, map[string]any{"issues": issues, "isLast": true})
}

func (s *jiraServer) searchV2(w http.ResponseWriter, body []byte) {
	var req jiraSearchV2Request
	if err := decodeStrict(body, &req); err != nil {
		s.violation(w, "v2 search body: %v: %s", err, body)
		return
	}
	issues, ok := s.find(req.JQL, req.MaxResults)
	if !ok {
		jiraAnswer(w, http.StatusBadRequest, map[string]any{"errorMessages": []string{"Error in the JQL Query."}, "errors": map[string]string{}})
		s.t.Errorf("jira contract: JQL %q", req.JQL)
		return
	}
	jiraAnswer(w, http.StatusOK, map[string]any{"expand": "schema,names", "startAt": 0, "maxResults": len(issues), "total": len(issues), "issues": issues})
}

// jiraCreateRequest is IssueUpdateDetails.
type jiraCreateRequest struct {
	Fields          map[string]json.RawMessage `json:"fields"`
	Update          map[string]json.RawMessage `json:"update"`
	Transition      json.RawMessage            `json:"transition"`
	HistoryMetadata json.RawMessage            `json:"historyMetadata"`
	Properties      json.RawMessage            `json:"properties"`
}

func (s *jiraServer) create(w http.ResponseWriter, r *http.Request, version string, body []byte) {
	var req jiraCreateRequest
	if err := decodeStrict(body, &req); err != nil {
		s.violation(w, "create body: %v", err)
		return
	}
	labels, errs, descErr := jiraCreateErrors(version, &req)
	if descErr != nil {
		s.t.Errorf("jira contract: description: %v", descErr)
	}
	if len(errs) > 0 {
		if s.echoAuth {
			errs["reporter"] = "user " + r.Header.Get("Authorization") + " may not report"
		}
		jiraFieldErrors(w, errs)
		return
	}
	s.mu.Lock()
	s.next++
	is := &jiraStoredIssue{ID: strconv.Itoa(s.next), Key: fmt.Sprintf("OPS-%d", len(s.issues)+1), Version: version, Fields: req.Fields, Labels: labels, Status: "To Do"}
	s.issues = append(s.issues, is)
	drop := s.dropCreate
	s.dropCreate = false
	s.mu.Unlock()
	if drop {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
		s.t.Fatal("cannot break the connection")
	}
	jiraAnswer(w, http.StatusCreated, map[string]string{"id": is.ID, "key": is.Key, "self": "http://jira/rest/api/" + version + "/issue/" + is.ID})
}

// jiraCreateErrors checks the fields of a create request (POST issue of API version "2" or "3")
// as Jira and the project OPS do: it returns the labels, Jira's field errors, and the error of
// a description that is not the text of the version (which is also a field error).
func jiraCreateErrors(version string, req *jiraCreateRequest) (labels []string, errs map[string]string, descErr error) {
	errs = map[string]string{}
	var project struct {
		Key string `json:"key"`
	}
	if decodeStrict(req.Fields["project"], &project) != nil || project.Key != "OPS" {
		errs["project"] = "Specify a valid project ID or key"
	}
	var issueType struct {
		Name string `json:"name"`
	}
	if decodeStrict(req.Fields["issuetype"], &issueType) != nil || !jiraIssueTypes[issueType.Name] {
		errs["issuetype"] = "Specify an issue type"
	}
	var summary string
	switch err := json.Unmarshal(req.Fields["summary"], &summary); {
	case err != nil || strings.TrimSpace(summary) == "":
		errs["summary"] = "You must specify a summary of the issue."
	case utf8.RuneCountInString(summary) > 255:
		errs["summary"] = "Summary must be less than 255 characters."
	case strings.ContainsAny(summary, "\r\n"):
		errs["summary"] = "The summary is invalid because it contains newline characters."
	}
	if d, ok := req.Fields["description"]; ok {
		if descErr = checkJiraText(version, d); descErr != nil {
			errs["description"] = "Operation value must be " + map[string]string{"2": "a string", "3": "an Atlassian Document (see the Atlassian Document Format)"}[version]
		}
	}
	if l, ok := req.Fields["labels"]; ok {
		if err := decodeStrict(l, &labels); err != nil {
			errs["labels"] = "Labels must be an array of strings"
		}
		for _, x := range labels {
			if x == "" || strings.ContainsAny(x, " \t\n") || utf8.RuneCountInString(x) > 255 {
				errs["labels"] = "The label '" + x + "' contains spaces which is invalid."
			}
		}
	}
	if c, ok := req.Fields["components"]; ok {
		var comps []struct {
			Name string `json:"name"`
			ID   string `json:"id"`
		}
		if err := decodeStrict(c, &comps); err != nil {
			errs["components"] = "Please provide Component"
		}
		for _, x := range comps {
			if !jiraComponents[x.Name] {
				errs["components"] = "Component name '" + x.Name + "' is not valid"
			}
		}
	}
	for k, v := range req.Fields {
		switch k {
		case "project", "issuetype", "summary", "description", "labels", "components":
		case "customfield_10010": // a single select: {"value": "..."}
			var opt struct {
				Value string `json:"value"`
			}
			if err := decodeStrict(v, &opt); err != nil || !jiraSelectOptions[opt.Value] {
				errs[k] = fmt.Sprintf("Option value '%s' is not valid", opt.Value)
			}
		case "customfield_10020": // a text field
			var text string
			if json.Unmarshal(v, &text) != nil {
				errs[k] = "Operation value must be a string"
			}
		case "priority":
			var p struct {
				Name string `json:"name"`
			}
			if decodeStrict(v, &p) != nil || p.Name == "" {
				errs[k] = "Specify a valid priority"
			}
		default:
			errs[k] = fmt.Sprintf("Field '%s' cannot be set. It is not on the appropriate screen, or unknown.", k)
		}
	}
	return labels, errs, descErr
}

func (s *jiraServer) transitions(w http.ResponseWriter, is *jiraStoredIssue) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ts := []map[string]any{}
	for _, t := range jiraWorkflow[is.Status] {
		ts = append(ts, map[string]any{"id": t.id, "name": t.name, "hasScreen": false, "isGlobal": false, "isInitial": false, "isAvailable": true,
			"to": map[string]any{"name": t.to, "statusCategory": map[string]any{"key": jiraStatusCategory[t.to]}}})
	}
	jiraAnswer(w, http.StatusOK, map[string]any{"expand": "transitions", "transitions": ts})
}

// jiraTransitionRequest is IssueUpdateDetails with a transition.
type jiraTransitionRequest struct {
	Transition *struct {
		ID     string `json:"id"`
		Looped bool   `json:"looped"`
	} `json:"transition"`
	Fields          map[string]json.RawMessage `json:"fields"`
	Update          map[string]json.RawMessage `json:"update"`
	HistoryMetadata json.RawMessage            `json:"historyMetadata"`
	Properties      json.RawMessage            `json:"properties"`
}

func (s *jiraServer) transition(w http.ResponseWriter, is *jiraStoredIssue, body []byte) {
	var req jiraTransitionRequest
	if err := decodeStrict(body, &req); err != nil || req.Transition == nil {
		s.violation(w, "transition body: %v: %s", err, body)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range jiraWorkflow[is.Status] {
		if t.id == req.Transition.ID {
			is.Status = t.to
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	jiraAnswer(w, http.StatusBadRequest, map[string]any{"errorMessages": []string{"Transition id '" + req.Transition.ID + "' is not valid for this issue."}, "errors": map[string]string{}})
}

// jiraCommentRequest is Comment as POST comment takes it.
type jiraCommentRequest struct {
	Body       json.RawMessage `json:"body"`
	Visibility json.RawMessage `json:"visibility"`
	Properties json.RawMessage `json:"properties"`
}

func (s *jiraServer) comment(w http.ResponseWriter, is *jiraStoredIssue, version string, body []byte) {
	var req jiraCommentRequest
	if err := decodeStrict(body, &req); err != nil || req.Body == nil {
		s.violation(w, "comment body: %v: %s", err, body)
		return
	}
	if err := checkJiraText(version, req.Body); err != nil {
		s.t.Errorf("jira contract: comment: %v", err)
		jiraFieldErrors(w, map[string]string{"comment": "Comment body is not valid"})
		return
	}
	s.mu.Lock()
	is.Comments = append(is.Comments, req.Body)
	id := len(is.Comments)
	s.mu.Unlock()
	jiraAnswer(w, http.StatusCreated, map[string]any{"id": strconv.Itoa(10000 + id), "body": req.Body, "self": "http://jira/rest/api/" + version + "/issue/" + is.ID + "/comment/" + strconv.Itoa(10000+id)})
}

// checkJiraText checks a description or comment body: a string of at most 32767 characters for
// v2, an ADF document for v3.
func checkJiraText(version string, raw json.RawMessage) error {
	if version == "2" {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return fmt.Errorf("v2 wants a string: %v", err)
		}
		if utf8.RuneCountInString(s) > 32767 {
			return fmt.Errorf("%d characters", utf8.RuneCountInString(s))
		}
		return nil
	}
	var doc adfCheckNode
	if err := decodeStrict(raw, &doc); err != nil {
		return fmt.Errorf("not an ADF node: %v", err)
	}
	if doc.Type != "doc" || doc.Version == nil || *doc.Version != 1 || doc.Content == nil {
		return fmt.Errorf(`the root must be {"type":"doc","version":1,"content":[...]}`)
	}
	chars := 0
	for _, b := range *doc.Content {
		if err := b.checkBlock(&chars); err != nil {
			return err
		}
	}
	if chars > 32767 {
		return fmt.Errorf("%d characters of text", chars)
	}
	return nil
}

// adfCheckNode is an ADF node decoded strictly: the members of the nodes the sender may send.
type adfCheckNode struct {
	Type    string          `json:"type"`
	Version *int            `json:"version"`
	Text    *string         `json:"text"`
	Marks   []adfCheckMark  `json:"marks"`
	Attrs   json.RawMessage `json:"attrs"`
	Content *[]adfCheckNode `json:"content"`
}

type adfCheckMark struct {
	Type  string          `json:"type"`
	Attrs json.RawMessage `json:"attrs"`
}

// checkBlock checks a top-level block node: a paragraph of inline nodes (text with a
// non-empty text and known marks, hardBreak).
func (n *adfCheckNode) checkBlock(chars *int) error {
	if n.Version != nil || n.Text != nil {
		return fmt.Errorf("%s: version and text belong to doc and text nodes", n.Type)
	}
	switch n.Type {
	case "paragraph":
	default:
		return fmt.Errorf("block node %q is not one the sender should send", n.Type)
	}
	if n.Content == nil {
		return nil
	}
	for _, c := range *n.Content {
		switch c.Type {
		case "text":
			if c.Text == nil || *c.Text == "" {
				return fmt.Errorf("a text node must have a non-empty text")
			}
			if c.Content != nil || c.Version != nil {
				return fmt.Errorf("a text node has no content")
			}
			for _, m := range c.Marks {
				switch m.Type {
				case "strong", "em", "code":
				default:
					return fmt.Errorf("mark %q", m.Type)
				}
			}
			*chars += utf8.RuneCountInString(*c.Text)
		case "hardBreak":
			if c.Text != nil || c.Content != nil || c.Marks != nil {
				return fmt.Errorf("hardBreak has no text, content or marks")
			}
		default:
			return fmt.Errorf("inline node %q is not allowed in a paragraph", c.Type)
		}
	}
	return nil
}

// adfPlain is the text of an ADF document, hard breaks and paragraphs as new lines.
func adfPlain(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var doc adfCheckNode
	if err := json.Unmarshal(raw, &doc); err != nil || doc.Content == nil {
		t.Fatalf("not ADF: %s", raw)
	}
	var b strings.Builder
	for _, p := range *doc.Content {
		if p.Content != nil {
			for _, c := range *p.Content {
				if c.Text != nil {
					b.WriteString(*c.Text)
				} else {
					b.WriteByte('\n')
				}
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}
