package sender

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/addrguard"
	"github.com/policyherald/policy-herald/internal/destination/descriptor"
	"github.com/policyherald/policy-herald/internal/report"
)

// The registry tests build every sender from sample values of its required settings.
func init() { sampleSettings["projectKey"] = "OPS" }

const (
	jiraTestUser  = "alice@example.com"
	jiraTestToken = "SECRETTOKEN-jira-0123456789"
)

var jiraTestAuth = "Basic " + base64.StdEncoding.EncodeToString([]byte(jiraTestUser+":"+jiraTestToken))

// startJira serves a loopback Jira expecting basic authentication with the test user and token.
func startJira(t *testing.T) (*jiraServer, *httptest.Server) {
	t.Helper()
	js := newJiraServer(t, jiraTestAuth)
	srv := httptest.NewServer(js)
	t.Cleanup(srv.Close)
	return js, srv
}

// jiraConfig is a jira destination on url, with the test credentials, project OPS and the API
// version given, changed by mod.
func jiraConfig(url, version string, mod func(*v1alpha1.JiraDestination)) Config {
	d := &v1alpha1.JiraDestination{HTTPSettings: v1alpha1.HTTPSettings{URL: url}, ProjectKey: "OPS", APIVersion: version, Username: jiraTestUser}
	if mod != nil {
		mod(d)
	}
	return Config{Type: v1alpha1.DestinationJira, Name: "team-a/jira", Destination: &v1alpha1.Destinations{Jira: d},
		Settings: descriptor.Settings{"apiToken": jiraTestToken}}
}

func rawJSON(s string) apiextensionsv1.JSON { return apiextensionsv1.JSON{Raw: []byte(s)} }

func jiraBatch(results ...report.Result) Batch {
	return Batch{Report: testReport, Results: results, CustomFields: map[string]string{"cluster": "prod-eu"}}
}

func fieldString(t *testing.T, is jiraStoredIssue, name string) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(is.Fields[name], &s); err != nil {
		t.Fatalf("field %s is not a string: %s", name, is.Fields[name])
	}
	return s
}

func TestJiraOpensOneIssuePerResult(t *testing.T) {
	for _, version := range []string{"v3", "v2"} {
		t.Run(version, func(t *testing.T) {
			js, srv := startJira(t)
			cfg := jiraConfig(srv.URL, version, func(d *v1alpha1.JiraDestination) {
				d.Labels = []string{"kyverno", "team-a"}
				d.Components = []string{"Backend", "Policy"}
				d.Fields = map[string]apiextensionsv1.JSON{
					"customfield_10010": rawJSON(`{"value": "High"}`),
					"customfield_10020": rawJSON(`"owned by team-a"`),
					"priority":          rawJSON(`{"name": "High"}`),
				}
			})
			b := jiraBatch(fullResult())
			if err := newTestSender(t, cfg).Send(context.Background(), b); err != nil {
				t.Fatalf("Send: %v", err)
			}
			// The same result again, from a new sender (a restart): found by its label.
			if err := newTestSender(t, cfg).Send(context.Background(), b); err != nil {
				t.Fatalf("Send again: %v", err)
			}
			issues := js.issuesCopy()
			if len(issues) != 1 {
				t.Fatalf("%d issues, want 1", len(issues))
			}
			is := issues[0]
			v := strings.TrimPrefix(version, "v")
			search := "POST /rest/api/3/search/jql"
			if v == "2" {
				search = "POST /rest/api/2/search"
			}
			want := []string{search, "POST /rest/api/" + v + "/issue", search}
			if got := js.requests(); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("requests %v, want %v", got, want)
			}
			if is.Version != v {
				t.Errorf("created through v%s", is.Version)
			}
			if got := fieldString(t, is, "summary"); got != "[high] require-labels/check-app: Deployment test/nginx" {
				t.Errorf("summary %q", got)
			}
			if got := strings.Join(is.Labels, ","); got != "policy-herald,policy-herald-a1,kyverno,team-a" {
				t.Errorf("labels %s", got)
			}
			for field, want := range map[string]string{
				"project": `{"key":"OPS"}`, "issuetype": `{"name":"Task"}`, "components": `[{"name":"Backend"},{"name":"Policy"}]`,
				"customfield_10010": `{"value":"High"}`, "customfield_10020": `"owned by team-a"`, "priority": `{"name":"High"}`,
			} {
				if got := string(is.Fields[field]); got != want {
					t.Errorf("field %s = %s, want %s", field, got, want)
				}
			}
			var text string
			if v == "3" {
				text = adfPlain(t, is.Fields["description"])
			} else {
				text = fieldString(t, is, "description")
			}
			for _, want := range []string{"label app is required", "require-labels", "Deployment test/nginx", "prod-eu", "from-result"} {
				if !strings.Contains(text, want) {
					t.Errorf("description lacks %q:\n%s", want, text)
				}
			}
			if v == "2" && !strings.Contains(text, "*Policy:* require-labels") {
				t.Errorf("v2 description is not wiki markup:\n%s", text)
			}
		})
	}
}

func TestJiraLostCreateAnswerOpensNoSecondIssue(t *testing.T) {
	js, srv := startJira(t)
	js.dropCreate = true
	s := newTestSender(t, jiraConfig(srv.URL, "v3", nil))
	b := jiraBatch(fullResult())
	err := s.Send(context.Background(), b)
	if !IsRetryable(err) {
		t.Fatalf("a lost answer must be retryable, got %v", err)
	}
	if err := s.Send(context.Background(), b); err != nil { // the pipeline's retry
		t.Fatalf("retry: %v", err)
	}
	if n := len(js.issuesCopy()); n != 1 {
		t.Fatalf("%d issues, want 1", n)
	}
}

func TestJiraSeveralResultsAndPartialFailure(t *testing.T) {
	js, srv := startJira(t)
	js.fault = func(r *http.Request, n int) (int, map[string]string, string) {
		if r.URL.Path == "/rest/api/3/issue" && len(js.issuesCopy()) == 1 {
			return http.StatusServiceUnavailable, map[string]string{"Retry-After": "3"}, ""
		}
		return 0, nil, ""
	}
	s := newTestSender(t, jiraConfig(srv.URL, "v3", nil))
	if s.MaxBatch() != 1 {
		t.Errorf("MaxBatch %d", s.MaxBatch())
	}
	err := s.Send(context.Background(), jiraBatch(fullResult(), bareResult()))
	var e *Error
	if !errors.As(err, &e) || e.Sent != 1 || !e.Retryable || e.RetryAfter != 3*time.Second {
		t.Fatalf("want Sent=1, retryable after 3s, got %#v", err)
	}
	if !strings.HasPrefix(e.Reason, "jira creating the issue: POST to 127.0.0.1:") {
		t.Errorf("reason %q", e.Reason)
	}
}

func TestJiraResolve(t *testing.T) {
	for _, version := range []string{"v3", "v2"} {
		t.Run(version, func(t *testing.T) {
			js, srv := startJira(t)
			cfg := jiraConfig(srv.URL, version, func(d *v1alpha1.JiraDestination) { d.ResolveTransition = "done" })
			s := newTestSender(t, cfg)
			r, ok := s.(Resolver)
			if !ok {
				t.Fatal("with resolveTransition the sender must be a Resolver")
			}
			b := jiraBatch(fullResult())
			if err := s.Send(context.Background(), b); err != nil {
				t.Fatal(err)
			}
			if err := r.Resolve(context.Background(), b); err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			// Resolved again (a retry, or from a sender built after a restart): already done.
			r2 := newTestSender(t, cfg).(Resolver)
			if err := r2.Resolve(context.Background(), b); err != nil {
				t.Fatalf("Resolve again: %v", err)
			}
			is := js.issuesCopy()[0]
			if is.Status != "Done" {
				t.Errorf("status %q, want Done", is.Status)
			}
			if len(is.Comments) != 1 {
				t.Fatalf("%d comments, want 1", len(is.Comments))
			}
			var text string
			if version == "v3" {
				text = adfPlain(t, is.Comments[0])
			} else if err := json.Unmarshal(is.Comments[0], &text); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(text, "no longer fails") || !strings.Contains(text, "Deployment test/nginx") {
				t.Errorf("comment %q", text)
			}
			v := strings.TrimPrefix(version, "v")
			got := strings.Join(js.requests(), ",")
			want := "POST /rest/api/" + v + "/issue/OPS-1/comment,POST /rest/api/" + v + "/issue/OPS-1/transitions"
			if !strings.Contains(got, "GET /rest/api/"+v+"/issue/OPS-1/transitions,"+want) {
				t.Errorf("requests %s", got)
			}
		})
	}
}

func TestJiraResolveRetryDoesNotCommentTwice(t *testing.T) {
	js, srv := startJira(t)
	failed := false
	js.fault = func(r *http.Request, n int) (int, map[string]string, string) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/transitions") && !failed {
			failed = true
			return http.StatusBadGateway, nil, "<html>bad gateway</html>"
		}
		return 0, nil, ""
	}
	s := newTestSender(t, jiraConfig(srv.URL, "v3", func(d *v1alpha1.JiraDestination) { d.ResolveTransition = "Done" }))
	b := jiraBatch(fullResult())
	if err := s.Send(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if err := s.(Resolver).Resolve(context.Background(), b); !IsRetryable(err) {
		t.Fatalf("a 502 must be retryable, got %v", err)
	}
	if err := s.(Resolver).Resolve(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	is := js.issuesCopy()[0]
	if is.Status != "Done" || len(is.Comments) != 1 {
		t.Fatalf("status %s, %d comments; want Done and 1", is.Status, len(is.Comments))
	}
}

func TestJiraResolveMissingTransitionIsPermanent(t *testing.T) {
	js, srv := startJira(t)
	s := newTestSender(t, jiraConfig(srv.URL, "v3", func(d *v1alpha1.JiraDestination) { d.ResolveTransition = "Close Issue" }))
	b := jiraBatch(fullResult())
	if err := s.Send(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	err := s.(Resolver).Resolve(context.Background(), b)
	var e *Error
	if !errors.As(err, &e) || e.Retryable {
		t.Fatalf("want a permanent error, got %#v", err)
	}
	for _, want := range []string{"OPS-1", `"Close Issue"`, "Start Progress, Done"} {
		if !strings.Contains(e.Reason, want) {
			t.Errorf("reason %q lacks %q", e.Reason, want)
		}
	}
	if is := js.issuesCopy()[0]; len(is.Comments) != 0 || is.Status != "To Do" {
		t.Errorf("the issue was changed: %s, %d comments", is.Status, len(is.Comments))
	}
}

func TestJiraResolveWithoutIssueIsDone(t *testing.T) {
	js, srv := startJira(t)
	s := newTestSender(t, jiraConfig(srv.URL, "v3", func(d *v1alpha1.JiraDestination) { d.ResolveTransition = "Done" }))
	if err := s.(Resolver).Resolve(context.Background(), jiraBatch(bareResult())); err != nil {
		t.Fatal(err)
	}
	if got := js.requests(); len(got) != 1 || got[0] != "POST /rest/api/3/search/jql" {
		t.Errorf("requests %v", got)
	}
}

func TestJiraWithoutResolveTransitionIsNoResolver(t *testing.T) {
	s := newTestSender(t, jiraConfig("https://jira.example.com", "v3", nil))
	if _, ok := s.(Resolver); ok {
		t.Fatal("without resolveTransition the sender must not be a Resolver")
	}
	if _, ok := s.(dialer); !ok {
		t.Fatal("the jira sender must say where it connects (dialer)")
	}
}

func TestJiraFieldErrorIsPermanentAndHidesSecrets(t *testing.T) {
	js, srv := startJira(t)
	js.echoAuth = true
	s := newTestSender(t, jiraConfig(srv.URL, "v3", func(d *v1alpha1.JiraDestination) {
		d.Fields = map[string]apiextensionsv1.JSON{"customfield_10010": rawJSON(`{"value": "Urgent"}`)}
	}))
	err := s.Send(context.Background(), jiraBatch(fullResult()))
	var e *Error
	if !errors.As(err, &e) || e.Retryable || e.StatusCode != http.StatusBadRequest {
		t.Fatalf("want a permanent 400, got %#v", err)
	}
	if !strings.Contains(e.Reason, "customfield_10010: Option value 'Urgent' is not valid") {
		t.Errorf("the reason should name the field and Jira's message: %q", e.Reason)
	}
	enc := base64.StdEncoding.EncodeToString([]byte(jiraTestUser + ":" + jiraTestToken))
	for _, secret := range []string{jiraTestToken, jiraTestUser, enc, "SECRETTOKEN"} {
		if strings.Contains(err.Error(), secret) || strings.Contains(fmt.Sprintf("%+v", err), secret) {
			t.Errorf("error leaks %q: %v", secret, err)
		}
	}
	if len(js.issuesCopy()) != 0 {
		t.Error("an issue was stored")
	}
}

func TestJiraErrorClasses(t *testing.T) {
	cases := []struct {
		name      string
		status    int
		headers   map[string]string
		retryable bool
		after     time.Duration
		reason    string
	}{
		{"429", http.StatusTooManyRequests, map[string]string{"Retry-After": "7"}, true, 7 * time.Second, "429 Too Many Requests"},
		{"500", http.StatusInternalServerError, nil, true, 0, "500 Internal Server Error"},
		{"408", http.StatusRequestTimeout, nil, true, 0, "408"},
		{"403", http.StatusForbidden, nil, false, 0, "403 Forbidden: You do not have permission (the user may not do this in the project)"},
		{"404", http.StatusNotFound, nil, false, 0, "404 Not Found: You do not have permission"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			js, srv := startJira(t)
			js.fault = func(*http.Request, int) (int, map[string]string, string) {
				return c.status, c.headers, `{"errorMessages":["You do not have permission"],"errors":{}}`
			}
			err := newTestSender(t, jiraConfig(srv.URL, "v3", nil)).Send(context.Background(), jiraBatch(fullResult()))
			var e *Error
			if !errors.As(err, &e) || e.Retryable != c.retryable || e.RetryAfter != c.after || !strings.Contains(e.Reason, c.reason) {
				t.Fatalf("got %#v, want retryable=%v after %s with %q", err, c.retryable, c.after, c.reason)
			}
		})
	}
	t.Run("401", func(t *testing.T) {
		_, srv := startJira(t)
		cfg := jiraConfig(srv.URL, "v3", nil)
		cfg.Settings["apiToken"] = "wrong-token-value"
		err := newTestSender(t, cfg).Send(context.Background(), jiraBatch(fullResult()))
		var e *Error
		if !errors.As(err, &e) || e.Retryable || !strings.Contains(e.Reason, "401 Unauthorized: Client must be authenticated") ||
			!strings.Contains(e.Reason, "check username") || strings.Contains(e.Reason, "wrong-token-value") {
			t.Fatalf("got %#v", err)
		}
	})
	t.Run("network", func(t *testing.T) {
		err := newTestSender(t, jiraConfig("http://"+closedAddr(t), "v3", nil)).Send(context.Background(), jiraBatch(fullResult()))
		if !IsRetryable(err) || !strings.HasPrefix(err.Error(), "jira searching for the issue: POST to 127.0.0.1:") {
			t.Fatalf("got %v", err)
		}
	})
}

func TestJiraAuthentication(t *testing.T) {
	cases := []struct {
		name     string
		user     string
		settings descriptor.Settings
		want     string
	}{
		{"cloud email and API token", "alice@example.com", descriptor.Settings{"apiToken": "tok", "password": "pw"}, "Basic " + base64.StdEncoding.EncodeToString([]byte("alice@example.com:tok"))},
		{"data center user and password", "alice", descriptor.Settings{"password": "pw"}, "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:pw"))},
		{"data center personal access token", "", descriptor.Settings{"apiToken": "pat-123"}, "Bearer pat-123"},
		{"username from the Secret", "", descriptor.Settings{"username": "bob", "password": "pw"}, "Basic " + base64.StdEncoding.EncodeToString([]byte("bob:pw"))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			js := newJiraServer(t, c.want)
			srv := httptest.NewServer(js)
			defer srv.Close()
			cfg := jiraConfig(srv.URL, "v3", func(d *v1alpha1.JiraDestination) { d.Username = c.user })
			cfg.Settings = c.settings
			if err := newTestSender(t, cfg).Send(context.Background(), jiraBatch(fullResult())); err != nil {
				t.Fatalf("Send: %v", err)
			}
			if len(js.issuesCopy()) != 1 {
				t.Fatal("no issue")
			}
		})
	}
}

func TestJiraHeadersTLSAndProxy(t *testing.T) {
	b := jiraBatch(fullResult())
	t.Run("headers", func(t *testing.T) {
		js, srv := startJira(t)
		seen := map[string]bool{}
		js.fault = func(r *http.Request, _ int) (int, map[string]string, string) {
			seen[r.Header.Get("X-Env")+"|"+r.Header.Get("User-Agent")] = true
			return 0, nil, ""
		}
		cfg := jiraConfig(srv.URL, "v3", func(d *v1alpha1.JiraDestination) { d.Headers = map[string]string{"x-env": "prod"} })
		if err := newTestSender(t, cfg).Send(context.Background(), b); err != nil {
			t.Fatal(err)
		}
		if len(seen) != 1 || !seen["prod|policy-herald"] {
			t.Errorf("headers seen %v", seen)
		}
	})
	t.Run("context path", func(t *testing.T) {
		js := newJiraServer(t, jiraTestAuth)
		mux := http.NewServeMux()
		mux.Handle("/jira/", http.StripPrefix("/jira", js))
		srv := httptest.NewServer(mux)
		defer srv.Close()
		if err := newTestSender(t, jiraConfig(srv.URL+"/jira/", "v2", nil)).Send(context.Background(), b); err != nil {
			t.Fatal(err)
		}
		if len(js.issuesCopy()) != 1 {
			t.Fatal("no issue")
		}
	})
	t.Run("TLS", func(t *testing.T) {
		js := newJiraServer(t, jiraTestAuth)
		srv := newTLSServer(t, js)
		cfg := jiraConfig(srv.URL, "v3", nil)
		cfg.TLS = trustingTLS(srv)
		if err := newTestSender(t, cfg).Send(context.Background(), b); err != nil {
			t.Fatalf("with the server's CA: %v", err)
		}
		cfg.TLS = nil
		assertTLSRejected(t, newTestSender(t, cfg).Send(context.Background(), jiraBatch(bareResult())))
		if n := len(js.issuesCopy()); n != 1 {
			t.Errorf("%d issues", n)
		}
	})
	t.Run("proxy", func(t *testing.T) {
		js, psrv := startJira(t)
		useProxy(t, psrv.URL)
		if err := newTestSender(t, jiraConfig("http://jira.invalid", "v3", nil)).Send(context.Background(), b); err != nil {
			t.Fatalf("through the proxy: %v", err)
		}
		if len(js.issuesCopy()) != 1 {
			t.Fatal("the proxy got no create")
		}
	})
	t.Run("guard", func(t *testing.T) {
		js, srv := startJira(t)
		_, err := newGuarded(context.Background(), jiraConfig(srv.URL, "v3", nil), defaultGuard())
		var na *addrguard.NotAllowedError
		if !errors.As(err, &na) {
			t.Fatalf("newGuarded = %v, want a refusal", err)
		}
		port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
		s, err := newGuarded(context.Background(), jiraConfig("http://localhost:"+port, "v3", nil), unresolvable(defaultGuard()))
		if err != nil {
			t.Fatal(err)
		}
		assertNotAllowed(t, s.Send(context.Background(), b))
		if len(js.requests()) != 0 {
			t.Fatal("the server got a request")
		}
	})
}

func TestJiraV2OnCloudUsesTheNewSearch(t *testing.T) {
	js, srv := startJira(t)
	js.cloud = true
	s := newTestSender(t, jiraConfig(srv.URL, "v2", nil))
	for i := 0; i < 2; i++ {
		if err := s.Send(context.Background(), jiraBatch(fullResult())); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Join(js.requests(), ","); got != "POST /rest/api/2/search,POST /rest/api/2/search/jql,POST /rest/api/2/issue" {
		t.Errorf("requests %s", got)
	}
	// A new sender for the same issue: the remembered issue is gone, the search finds it.
	if err := newTestSender(t, jiraConfig(srv.URL, "v2", nil)).Send(context.Background(), jiraBatch(fullResult())); err != nil {
		t.Fatal(err)
	}
	if n := len(js.issuesCopy()); n != 1 {
		t.Errorf("%d issues", n)
	}
}

func TestJiraTemplates(t *testing.T) {
	for _, version := range []string{"v3", "v2"} {
		t.Run(version, func(t *testing.T) {
			js, srv := startJira(t)
			cfg := jiraConfig(srv.URL, version, func(d *v1alpha1.JiraDestination) {
				d.SummaryTemplate = "{{ .Policy }}\n{{ with .Resource }}{{ .Name }}{{ end }} " + strings.Repeat("x", 300)
			})
			cfg.MessageTemplate = "Policy {{ .Policy }} failed on {{ .Resource.Name }}.\n\nSee [runbook|https://evil.example] {code}x{code}"
			if err := newTestSender(t, cfg).Send(context.Background(), jiraBatch(fullResult())); err != nil {
				t.Fatal(err)
			}
			is := js.issuesCopy()[0]
			summary := fieldString(t, is, "summary")
			if !strings.HasPrefix(summary, "require-labels nginx xxx") || countUTF16(summary) != 255 || !strings.HasSuffix(summary, "…") {
				t.Errorf("summary %q (%d)", summary, countUTF16(summary))
			}
			var text string
			if version == "v3" {
				text = adfPlain(t, is.Fields["description"])
				if !strings.Contains(text, "Policy require-labels failed on nginx.\n\nSee [runbook|https://evil.example] {code}x{code}") {
					t.Errorf("description %q", text)
				}
			} else {
				text = fieldString(t, is, "description")
				if !strings.Contains(text, `See \[runbook\|https://evil.example\] \{code\}x\{code\}`) {
					t.Errorf("wiki markup of the template must be escaped: %q", text)
				}
			}
			if strings.Contains(text, "label app is required") {
				t.Error("the template should replace the default layout")
			}
		})
	}
}

func TestJiraHostileAndHugeResults(t *testing.T) {
	for _, version := range []string{"v3", "v2"} {
		t.Run(version, func(t *testing.T) {
			js, srv := startJira(t)
			s := newTestSender(t, jiraConfig(srv.URL, version, nil))
			hb := hostileBatch()
			hb.Results[0].Message += " [~accountid:5b10a2844c20165700ede21g] !https://evil.example/track.png!"
			if err := s.Send(context.Background(), hb); err != nil { // the contract server checks sizes and ADF
				t.Fatal(err)
			}
			issues := js.issuesCopy()
			if len(issues) != 2 {
				t.Fatalf("%d issues", len(issues))
			}
			for _, is := range issues {
				for _, f := range []string{"summary", "description"} {
					if hasBadControl(string(is.Fields[f])) || strings.Contains(string(is.Fields[f]), `\u0000`) {
						t.Errorf("%s carries control characters", f)
					}
				}
				if version == "v2" {
					d := fieldString(t, is, "description")
					if strings.Contains(d, "[~") || strings.Contains(d, " !https") || strings.Contains(d, "[x](") && !strings.Contains(d, `\[x\](`) {
						t.Errorf("unescaped markup in %q", firstBytes([]byte(d)))
					}
				}
			}
		})
	}
}

func TestJiraConfigErrors(t *testing.T) {
	base := func(mod func(*v1alpha1.JiraDestination), settings descriptor.Settings) Config {
		d := &v1alpha1.JiraDestination{HTTPSettings: v1alpha1.HTTPSettings{URL: "https://jira.example.com"}, ProjectKey: "OPS"}
		if mod != nil {
			mod(d)
		}
		return Config{Destination: &v1alpha1.Destinations{Jira: d}, Settings: settings}
	}
	secret := descriptor.Settings{"password": "SECRETPW"}
	assertConfigErrors(t, v1alpha1.DestinationJira, "SECRETPW", map[string]Config{
		"no project":            base(func(d *v1alpha1.JiraDestination) { d.ProjectKey = "" }, nil),
		"bad project":           base(func(d *v1alpha1.JiraDestination) { d.ProjectKey = `OPS" OR project != "X` }, nil),
		"no url":                base(func(d *v1alpha1.JiraDestination) { d.URL = "" }, nil),
		"bad version":           base(func(d *v1alpha1.JiraDestination) { d.APIVersion = "v4" }, nil),
		"password without user": base(nil, secret),
		"label with space":      base(func(d *v1alpha1.JiraDestination) { d.Labels = []string{"two words"} }, nil),
		"own field": base(func(d *v1alpha1.JiraDestination) {
			d.Fields = map[string]apiextensionsv1.JSON{"summary": rawJSON(`"x"`)}
		}, nil),
		"invalid field JSON": base(func(d *v1alpha1.JiraDestination) {
			d.Fields = map[string]apiextensionsv1.JSON{"customfield_1": rawJSON(`{`)}
		}, nil),
		"broken summaryTemplate": base(func(d *v1alpha1.JiraDestination) { d.SummaryTemplate = "{{ .Nope }}" }, nil),
		"user info in url":       base(func(d *v1alpha1.JiraDestination) { d.URL = "https://bob:SECRETPW@jira.example.com" }, nil),
		"query in url":           base(func(d *v1alpha1.JiraDestination) { d.URL = "https://jira.example.com/?SECRETPW" }, nil),
		"empty component":        base(func(d *v1alpha1.JiraDestination) { d.Components = []string{" "} }, nil),
		"token with line break":  base(nil, descriptor.Settings{"apiToken": "SECRETPW\n"}),
	})
}

func TestJiraDescriptionIsBounded(t *testing.T) {
	for _, version := range []string{"v3", "v2"} {
		t.Run(version, func(t *testing.T) {
			js, srv := startJira(t)
			r := fullResult()
			r.Properties = map[string]string{}
			for i := 0; i < 200; i++ {
				r.Properties[fmt.Sprintf("prop-%03d", i)] = strings.Repeat("v", 2000)
			}
			if err := newTestSender(t, jiraConfig(srv.URL, version, nil)).Send(context.Background(), jiraBatch(r)); err != nil {
				t.Fatal(err) // the contract server refuses more than 32767 characters
			}
			is := js.issuesCopy()[0]
			var text string
			if version == "v3" {
				text = adfPlain(t, is.Fields["description"])
			} else {
				text = fieldString(t, is, "description")
			}
			if !strings.Contains(text, "prop-000") || !strings.Contains(text, "(cut: the description is limited in size)") {
				t.Errorf("want the first properties and the cut notice, got %d characters", len(text))
			}
			if n := countUTF16(text); n > jiraMaxText+200 {
				t.Errorf("%d characters", n)
			}
		})
	}
}
