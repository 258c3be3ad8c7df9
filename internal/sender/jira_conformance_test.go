package sender

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/destination/descriptor"
)

// The jira sender's entry in the conformance suite. Each Send of one result (MaxBatch 1) is a
// search for the result's issue (POST /rest/api/3/search/jql) and, as the loopback Jira finds
// none, a create (POST /rest/api/3/issue): a check's new sender makes request 2k-1 a search and
// 2k a create, which is how ok answers them. decode checks both against the contract the
// loopback Jira of jira_contract_test.go enforces; the searches are lookups, carrying no result.
func init() {
	conformanceSenders = append(conformanceSenders, conformanceSender{
		typ: v1alpha1.DestinationJira,
		config: func(base, secret string) Config {
			return Config{
				Destination: &v1alpha1.Destinations{Jira: &v1alpha1.JiraDestination{
					HTTPSettings: v1alpha1.HTTPSettings{URL: base}, ProjectKey: "OPS", Username: jiraTestUser,
				}},
				Settings: descriptor.Settings{"apiToken": secret},
			}
		},
		ok: func(n int) conformanceAnswer {
			h := map[string]string{"Content-Type": "application/json;charset=UTF-8"}
			if n%2 == 1 { // search/jql: nothing found
				return conformanceAnswer{status: http.StatusOK, header: h, body: `{"issues":[],"isLast":true}`}
			}
			id := fmt.Sprint(10000 + n/2)
			return conformanceAnswer{status: http.StatusCreated, header: h,
				body: conformanceJSON(map[string]string{"id": id, "key": fmt.Sprintf("OPS-%d", n/2), "self": "https://example.atlassian.net/rest/api/3/issue/" + id})}
		},
		// Jira's errors: the ErrorCollection {"errorMessages":[...],"errors":{}}; a plain-text 401.
		fail: func(status, retryAfter int, text string) conformanceAnswer {
			a := conformanceAnswer{status: status, header: map[string]string{"Content-Type": "application/json;charset=UTF-8"},
				body: conformanceJSON(map[string]any{"errorMessages": []string{text}, "errors": map[string]string{}})}
			if status == http.StatusUnauthorized {
				a.header["Content-Type"], a.body = "text/plain;charset=UTF-8", text
			}
			if retryAfter > 0 {
				a.header["Retry-After"] = fmt.Sprint(retryAfter)
			}
			return a
		},
		decode:  jiraConformanceDecode,
		lookup:  func(r recorded) bool { return r.Path == "/rest/api/3/search/jql" },
		golden:  []conformanceGolden{{batch: func() Batch { return jiraBatch(fullResult()) }, files: []string{"jira-search.json", "jira-issue.json"}}},
		hostile: jiraConformanceHostile,
		notApplicable: map[string]string{
			chkSplit:   "MaxBatch is 1: every result is an issue of its own (a search, then a create)",
			chkPartial: "MaxBatch is 1: a batch is one result, opened or not (TestJiraSeveralResultsAndPartialFailure covers Sent)",
		},
	})
}

// jiraConformanceDecode checks one request of the v3 sender against the Jira REST API and
// returns the summary of a created issue, nothing for a search.
func jiraConformanceDecode(t *testing.T, r recorded) []string {
	t.Helper()
	conformanceJSONPost(t, r)
	wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte(jiraTestUser+":"+conformanceSecret))
	if got := r.Header.Get("Authorization"); got != wantAuth {
		t.Errorf("Authorization %q, want basic authentication with the user and API token", got)
	}
	if a := r.Header.Get("Accept"); a != "application/json" {
		t.Errorf("Accept %q", a)
	}
	if r.Header.Get("X-Atlassian-Token") != "no-check" {
		t.Error("POST without X-Atlassian-Token: no-check")
	}
	if r.RawQuery != "" {
		t.Errorf("query %q", r.RawQuery)
	}
	switch r.Path {
	case "/rest/api/3/search/jql":
		var req jiraSearchJQLRequest
		conformanceStrict(t, r.Body, &req)
		m := jiraJQL.FindStringSubmatch(req.JQL)
		if m == nil || m[1] != "OPS" || !strings.HasPrefix(m[2], jiraLabelPrefix) || len(m[2]) > jiraMaxLabel {
			t.Errorf("JQL %q, want the project OPS and a label policy-herald-<id>", req.JQL)
		}
		if len(req.Fields) != 1 || req.Fields[0] != "status" || req.MaxResults == nil || *req.MaxResults < 1 || *req.MaxResults > 5000 {
			t.Errorf("search asks for fields %v, maxResults %v", req.Fields, req.MaxResults)
		}
		return nil
	case "/rest/api/3/issue":
		var req jiraCreateRequest
		conformanceStrict(t, r.Body, &req)
		labels, errs, descErr := jiraCreateErrors("3", &req)
		if len(errs) > 0 {
			t.Errorf("Jira would refuse the issue: %v (description: %v)", errs, descErr)
		}
		own := 0
		for _, l := range labels {
			if l == jiraLabel || strings.HasPrefix(l, jiraLabelPrefix) {
				own++
			}
		}
		if own != 2 || req.Update != nil || req.Transition != nil {
			t.Errorf("labels %v (want policy-herald and policy-herald-<id>), update or transition set: %s", labels, firstBytes(r.Body))
		}
		var summary string
		if err := json.Unmarshal(req.Fields["summary"], &summary); err != nil {
			t.Fatalf("summary: %v", err)
		}
		return []string{summary}
	default:
		t.Errorf("posted to %s, want /rest/api/3/search/jql or /rest/api/3/issue", r.Path)
		return nil
	}
}

// jiraConformanceHostile checks a create of the hostile batch: a summary on one line within
// 255 units, a description of paragraphs, text and hard breaks only (no links, mentions or
// other nodes), within Jira's limit of 32767 characters.
func jiraConformanceHostile(t *testing.T, body []byte, _ []string) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil {
		t.Fatal(err)
	}
	if _, search := members["jql"]; search {
		return // decode checked its JQL
	}
	var req jiraCreateRequest
	if err := json.Unmarshal(body, &req); err != nil {
		t.Fatal(err)
	}
	var summary string
	if err := json.Unmarshal(req.Fields["summary"], &summary); err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(summary, "\r\n\t") || countUTF16(summary) > jiraMaxSummary {
		t.Errorf("summary %q (%d units)", summary, countUTF16(summary))
	}
	if err := checkJiraText("3", req.Fields["description"]); err != nil {
		t.Errorf("description: %v", err)
	}
	if text := adfPlain(t, req.Fields["description"]); countUTF16(text) > jiraMaxText+200 {
		t.Errorf("description of %d characters", countUTF16(text))
	}
	if len(body) > 256<<10 {
		t.Errorf("body of %d bytes", len(body))
	}
}
