package ui_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestPolicyPages: the policies index and a policy's page, with its annotations, per rule and
// per namespace, as each person sees them.
func TestPolicyPages(t *testing.T) {
	e := console(t)
	index := e.wholePage(t, "carol", "/policies")
	for _, want := range []string{`<a href="/policies/require-labels">require-labels</a>`, `<a href="/policies/policy-` + secret + `">`} {
		if !strings.Contains(index, want) {
			t.Errorf("carol's policies index has no %s", want)
		}
	}
	if a := e.wholePage(t, "alice", "/policies"); strings.Contains(a, secret) || !strings.Contains(a, "require-labels") {
		t.Errorf("alice's policies index shows team-b's policy, or not her own")
	}
	carol := e.wholePage(t, "carol", "/policies/require-labels")
	for _, want := range []string{
		"<title>Require Labels · Policy Herald</title>", "Best Practices", `<span class="tag s-medium">medium</span>`, "Pod, Label",
		`&lt;script&gt;alert(&#34;description&#34;)&lt;/script&gt;`,  // the description is text
		`<th scope="row">rule-a</th>`, `<th scope="row">rule-c</th>`, // rule-c: only team-b's report has it
		`<a href="/namespaces/team-a">team-a</a>`, `<a href="/namespaces/team-b">team-b</a>`,
		`<a href="/namespaces/team-a/resources/Pod/web">Pod/web</a>`,
	} {
		if !strings.Contains(carol, want) {
			t.Errorf("carol's policy page has no %s", want)
		}
	}
	alice := e.wholePage(t, "alice", "/policies/require-labels")
	if strings.Contains(alice, "team-b") || strings.Contains(alice, `<th scope="row">rule-c</th>`) || !strings.Contains(alice, "Require Labels") {
		t.Errorf("alice's policy page shows team-b, or not the policy's title:\n%s", alice)
	}
	if hidden := e.wholePage(t, "alice", "/policies/policy-"+secret); strings.Contains(hidden, "message-"+secret) || !strings.Contains(hidden, "You see no result of this policy") {
		t.Errorf("alice's page of team-b's policy:\n%s", hidden)
	}
	if status, _, body := e.get(t, "carol", "/policies/require-labels?bogus=1"); status != http.StatusBadRequest || !strings.Contains(body, "bogus") {
		t.Errorf("a bad parameter: %d", status)
	}
}

// TestResourcePages: every result about one resource, the PolicyException of a Kyverno
// result with its copy button, the Trivy adapter's results by the report's owner with their
// advisory links.
func TestResourcePages(t *testing.T) {
	e := console(t)
	web := e.wholePage(t, "alice", "/namespaces/team-a/resources/Pod/web")
	for _, want := range []string{
		`<script src="/static/copy.js?v=`, "kind: PolicyException", "apiVersion: kyverno.io/v2", "policyName: require-labels",
		"- rule-a", `<button type="button" class="copy" data-copy-from="prev">Copy</button>`,
		`<a href="/policies/require-labels">require-labels</a>`,
	} {
		if !strings.Contains(web, want) {
			t.Errorf("alice's page of Pod team-a/web has no %s", want)
		}
	}
	if strings.Contains(web, "- rule-b") {
		t.Errorf("a passing result (rule-b) has a PolicyException")
	}
	zipkin := e.wholePage(t, "carol", "/namespaces/team-b/resources/Pod/"+trivyPod)
	for _, want := range []string{
		`<a href="https://avd.aquasec.com/nvd/CVE-2021-30139" rel="noopener noreferrer">`, `<strong>2</strong> results`,
		"961887ae-c2bf-46c5-828c-40ceb2e7e303",
	} {
		if !strings.Contains(zipkin, want) {
			t.Errorf("the Trivy Pod's page has no %s", want)
		}
	}
	if strings.Contains(zipkin, "PolicyException") {
		t.Errorf("a Trivy result has a PolicyException")
	}
	if results := e.wholePage(t, "carol", "/results?source=trivy&namespace=team-b"); !strings.Contains(results, `<a href="/namespaces/team-b/resources/Pod/`+trivyPod+`" title="Named by the report's owner">`) {
		t.Errorf("the results page does not link a Trivy result to its Pod:\n%s", results)
	}
	for _, path := range []string{"/namespaces/team-b/resources/Pod/pod-" + secret, "/namespaces/team-b/resources/Pod/" + trivyPod} {
		if hidden := e.wholePage(t, "alice", path); strings.Contains(hidden, "message-"+secret) || strings.Contains(hidden, "CVE-") || !strings.Contains(hidden, "You see no result about this resource") {
			t.Errorf("alice's page of a team-b Pod:\n%s", hidden)
		}
	}
}

// TestHealthPages: the Policy Herald objects each person may get, with Ready and deliveries.
func TestHealthPages(t *testing.T) {
	e := console(t)
	carol := e.wholePage(t, "carol", "/health")
	for _, want := range []string{"hook-a", "hook-b", "chan-a", `<span class="tag r-False">False</span>`, "DeliveryFailing",
		"HTTP 503 from hooks.example.com", "1,207", `of <a href="#NotificationTarget-team-a-hook-a">team-a/hook-a</a>`, "<strong>5</strong> objects",
		"digest 1h by policy, resolved", "80 in digests", "12 skipped", "3 muted"} {
		if !strings.Contains(carol, want) {
			t.Errorf("carol's health page has no %s", want)
		}
	}
	alice := e.wholePage(t, "alice", "/health")
	if strings.Contains(alice, "hook-b") || !strings.Contains(alice, "hook-a") || !strings.Contains(alice, "chan-a") {
		t.Errorf("alice's health page:\n%s", alice)
	}
	if bob := e.wholePage(t, "bob", "/health"); strings.Contains(bob, "hook-") {
		t.Errorf("bob's health page shows objects")
	}
	if !strings.Contains(e.wholePage(t, "carol", "/"), `<a href="/health">Health</a>`) {
		t.Errorf("the navigation has no Health")
	}
}

// TestDetailPagesXSSInert: the payloads of the XSS report stay text on the detail pages.
func TestDetailPagesXSSInert(t *testing.T) {
	e := console(t)
	for _, path := range []string{
		"/policies", "/policies/" + url.PathEscape(xss["policy"]),
		"/namespaces/team-a/resources/" + url.PathEscape(xss["kind"]) + "/" + url.PathEscape(xss["name"]),
	} {
		body := e.wholePage(t, "carol", path)
		for _, p := range unsafeParts(t, body) {
			t.Errorf("GET %s: %s", path, p)
		}
		if !strings.Contains(body, "&lt;") {
			t.Errorf("GET %s shows no payload (as text):\n%s", path, body)
		}
	}
}

// wholePage is page, and wants the page whole: a template that fails half-way through ends
// the answer early (its status is sent), which only the missing end shows.
func (e *env) wholePage(t *testing.T, person, path string) string {
	t.Helper()
	body := e.page(t, person, path)
	if !strings.HasSuffix(strings.TrimSpace(body), "</html>") {
		t.Errorf("GET %s as %s: the page stops early:\n%s", path, person, body[max(0, len(body)-400):])
	}
	return body
}
