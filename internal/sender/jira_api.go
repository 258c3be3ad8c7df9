package sender

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/policyherald/policy-herald/internal/sender/transport"
)

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
		data, err := transport.MarshalJSON(in)
		if err != nil {
			return &Error{Reason: fmt.Sprintf("jira %s: encoding the request: %v", what, err)}
		}
		body = bytes.NewReader(data)
	}
	host := j.Endpoint.Host
	req, err := http.NewRequestWithContext(ctx, method, j.base+path, body)
	if err != nil {
		return &Error{Reason: fmt.Sprintf("jira %s: %s to %s: the request could not be built", what, method, host)}
	}
	req.Header = make(http.Header, len(j.Headers)+3)
	for k, vs := range j.Headers {
		req.Header[k] = vs
	}
	req.Header.Set("Accept", transport.ContentTypeJSON)
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", transport.UserAgent)
	}
	if in != nil {
		req.Header.Set("Content-Type", transport.ContentTypeJSON)
	} else {
		req.Header.Del("Content-Type")
	}
	// Jira refuses state-changing requests it takes for cross-site ones without this.
	req.Header.Set("X-Atlassian-Token", "no-check")
	resp, err := j.Poster.Client.Do(req)
	if e := transport.NotAllowed(method, host, err); e != nil {
		e.Reason = "jira " + what + ": " + e.Reason
		return e
	}
	if err != nil {
		e := transport.TransportError(method, host, err, j.Poster.Red)
		e.Reason = "jira " + what + ": " + e.Reason
		return e
	}
	defer transport.DrainAndClose(resp)
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
	data, _ := io.ReadAll(io.LimitReader(resp.Body, transport.ExcerptRead))
	e := transport.ResponseError(method, host, resp, nil, j.Poster.Red, j.Poster.Now())
	if !e.Retryable && resp.StatusCode >= 400 && resp.StatusCode <= 499 {
		var je jiraErrors
		detail := ""
		if json.Unmarshal(data, &je) == nil {
			detail = transport.Excerpt([]byte(je.text()), j.Poster.Red)
		} else {
			detail = transport.Excerpt(data, j.Poster.Red)
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
