package api_test

import (
	"net/http"
	"net/url"
	"slices"
	"testing"

	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	"github.com/policyherald/policy-herald/internal/console/api"
	"github.com/policyherald/policy-herald/internal/console/health"
	"github.com/policyherald/policy-herald/internal/console/policies"
	"github.com/policyherald/policy-herald/internal/console/query"
	"github.com/policyherald/policy-herald/internal/report"
)

// policyReader reads the test cluster's Kyverno policies as the console does.
func policyReader(t *testing.T, w *world) *policies.Reader {
	t.Helper()
	hc, err := rest.HTTPClientFor(w.Cfg)
	if err != nil {
		t.Fatal(err)
	}
	mapper, err := apiutil.NewDynamicRESTMapper(w.Cfg, hc)
	if err != nil {
		t.Fatal(err)
	}
	mc, err := metadata.NewForConfig(w.Cfg)
	if err != nil {
		t.Fatal(err)
	}
	return policies.New(mc, mapper, policies.Options{})
}

// sees is which report namespaces each person sees ("" for cluster reports).
var sees = map[string]func(reportNamespace string) bool{
	"alice": func(ns string) bool { return ns == "team-a" },
	"bob":   func(string) bool { return false },
	"carol": func(string) bool { return true },
}

// visible returns the fixture results person sees that keep accepts.
func (w *world) visible(person string, keep func(rawResult) bool) []rawResult {
	var out []rawResult
	for _, r := range w.raw {
		if sees[person](r.reportNamespace) && keep(r) {
			out = append(out, r)
		}
	}
	return out
}

// statusCounts counts rs per status, as the tests count them.
func statusCounts(rs []rawResult) report.StatusCounts {
	var c report.StatusCounts
	for _, r := range rs {
		switch r.status {
		case "pass":
			c.Pass++
		case "fail":
			c.Fail++
		case "warn":
			c.Warn++
		case "error":
			c.Error++
		case "skip":
			c.Skip++
		default:
			c.None++
		}
	}
	return c
}

// byKey counts rs per key.
func byKey(rs []rawResult, key func(rawResult) string) map[string]report.StatusCounts {
	groups := map[string][]rawResult{}
	for _, r := range rs {
		groups[key(r)] = append(groups[key(r)], r)
	}
	out := map[string]report.StatusCounts{}
	for k, g := range groups {
		out[k] = statusCounts(g)
	}
	return out
}

func TestPoliciesIndex(t *testing.T) {
	w := cluster(t)
	base := console(t, w, tokenReviews(t, w), api.TokenOptions{})
	for person := range sees {
		want := byKey(w.visible(person, func(rawResult) bool { return true }), func(r rawResult) string { return r.policy })
		var got struct{ Policies []query.PolicySummary }
		getJSON(t, base, w.Tokens[person], "/api/v1/policies", &got)
		if len(got.Policies) != len(want) {
			t.Errorf("%s sees %d policies, want %d: %+v", person, len(got.Policies), len(want), got.Policies)
		}
		for _, p := range got.Policies {
			if c, ok := want[p.Name]; !ok || p.Statuses != c {
				t.Errorf("%s: policy %q counts %+v, want %+v", person, p.Name, p.Statuses, c)
			}
		}
	}
}

type policyBody struct {
	query.PolicyDetail
	Info     *policies.Info
	Warnings []string
}

func TestPolicyPage(t *testing.T) {
	w := cluster(t)
	base := console(t, w, tokenReviews(t, w), api.TokenOptions{})
	cases := []struct {
		person, policy string
		info           string // the title expected, "" for none
	}{
		{"carol", "require-labels", "ClusterPolicy require-labels"},
		{"alice", "require-labels", "ClusterPolicy require-labels"},
		{"alice", "team-a/own-rule", "Policy own-rule"},
		{"alice", "team-b/team-b-only", ""}, // its results are in team-a; the Policy is team-b's
		{"carol", "team-b/team-b-only", "Policy team-b-only"},
		{"carol", "vpol-check", "ValidatingPolicy vpol-check"},
		{"carol", "busybox: invalid free or segmentation fault via malformed gzip data", ""}, // Trivy's
	}
	for _, c := range cases {
		mine := w.visible(c.person, func(r rawResult) bool { return r.policy == c.policy })
		var got policyBody
		getJSON(t, base, w.Tokens[c.person], "/api/v1/policies/"+pathEscape(c.policy)+"?status=fail&status=warn&limit=1", &got)
		rules, nss := byKey(mine, func(r rawResult) string { return r.rule }), byKey(mine, func(r rawResult) string { return r.namespace })
		if got.Name != c.policy || got.Statuses != statusCounts(mine) || len(got.Rules) != len(rules) || len(got.Namespaces) != len(nss) {
			t.Errorf("%s %s: %+v, want %+v per rule %v per namespace %v", c.person, c.policy, got.PolicyDetail, statusCounts(mine), rules, nss)
		}
		for _, b := range append(got.Rules, got.Namespaces...) {
			if b.Statuses != rules[b.Key] && b.Statuses != nss[b.Key] {
				t.Errorf("%s %s: breakdown %+v matches no rule or namespace counted", c.person, c.policy, b)
			}
		}
		failing := statusCounts(mine).Fail + statusCounts(mine).Warn
		if got.Results.Total != failing || len(got.Results.Rows) != min(1, failing) {
			t.Errorf("%s %s: %d failing results (%d rows), want %d", c.person, c.policy, got.Results.Total, len(got.Results.Rows), failing)
		}
		switch {
		case c.info == "" && got.Info != nil:
			t.Errorf("%s %s: annotations %+v shown", c.person, c.policy, got.Info)
		case c.info != "" && (got.Info == nil || got.Info.Title != c.info || got.Info.Category != "Best Practices" || got.Info.Severity != "medium"):
			t.Errorf("%s %s: info %+v, want the title %q", c.person, c.policy, got.Info, c.info)
		}
	}
	for _, c := range []struct{ person, policy string }{{"bob", "require-labels"}, {"alice", "require-ns-labels"}, {"carol", "no-such-policy"}} {
		if status, _, body := get(t, base, w.Tokens[c.person], "/api/v1/policies/"+c.policy); status != http.StatusNotFound {
			t.Errorf("%s %s: %d %s, want 404", c.person, c.policy, status, body)
		}
	}
}

// pathEscape escapes a policy for the path, "/" too, as the OpenAPI document says.
func pathEscape(policy string) string { return url.PathEscape(policy) }

func TestNamespacesList(t *testing.T) {
	w := cluster(t)
	base := console(t, w, tokenReviews(t, w), api.TokenOptions{})
	for person := range sees {
		want := byKey(w.visible(person, func(r rawResult) bool { return r.namespace != "" }), func(r rawResult) string { return r.namespace })
		for _, r := range w.raw { // a namespace seen holding reports is listed, results or not
			if _, ok := want[r.reportNamespace]; !ok && r.reportNamespace != "" && sees[person](r.reportNamespace) {
				want[r.reportNamespace] = report.StatusCounts{}
			}
		}
		var got struct{ Namespaces []query.NamespaceCounts }
		getJSON(t, base, w.Tokens[person], "/api/v1/namespaces", &got)
		if len(got.Namespaces) != len(want) {
			t.Errorf("%s sees namespaces %+v, want %v", person, got.Namespaces, want)
		}
		for _, n := range got.Namespaces {
			if c, ok := want[n.Name]; !ok || c != n.Statuses {
				t.Errorf("%s: namespace %s %+v, want %+v", person, n.Name, n.Statuses, c)
			}
		}
	}
}

type resourceBody struct {
	query.ResourceDetail
	DeliveredTo map[string][]health.Delivery
	Warnings    []string
}

// deliveredIn is what delivers a failing result of each namespace in this cluster (no
// platform namespace, no filter): the namespace's own targets and channels.
var deliveredIn = map[string][]string{
	"team-a": {"NotificationTarget team-a/hook-a", "TargetChannel team-a/chan-a"},
	"team-b": {"NotificationTarget team-b/hook-b", "NotificationTarget team-b/other-b"},
}

func TestResourcePage(t *testing.T) {
	w := cluster(t)
	base := console(t, w, tokenReviews(t, w), api.TokenOptions{})
	var trivyPod string
	for _, r := range w.raw {
		if r.reportNamespace == "team-b" && r.kind == "Pod" && r.policy != "require-labels" {
			trivyPod = r.name
		}
	}
	for _, c := range []struct{ person, namespace, name string }{
		{"alice", "team-a", "web"}, {"carol", "team-a", "web"}, {"carol", "team-b", trivyPod},
	} {
		mine := w.visible(c.person, func(r rawResult) bool { return r.kind == "Pod" && r.namespace == c.namespace && r.name == c.name })
		var got resourceBody
		getJSON(t, base, w.Tokens[c.person], "/api/v1/namespaces/"+c.namespace+"/resources/Pod/"+c.name+"?limit=1000", &got)
		if got.Total != len(mine) || len(got.Rows) != len(mine) || got.Statuses != statusCounts(mine) || got.Resource.Name != c.name {
			t.Errorf("%s %s/%s: %d results %+v, want %d %+v", c.person, c.namespace, c.name, got.Total, got.Statuses, len(mine), statusCounts(mine))
		}
		for _, r := range got.Rows {
			failing := r.Status == "fail" || r.Status == "warn" || r.Status == "error"
			if want := r.Source == "kyverno" && failing; want != (r.PolicyException != "") {
				t.Errorf("%s: row %s/%s: exception %q", c.person, r.Policy, r.Rule, r.PolicyException)
			}
			var names, want []string
			for _, d := range got.DeliveredTo[r.ID] {
				names = append(names, d.Kind+" "+d.Namespace+"/"+d.Name)
			}
			if r.Status != "pass" && r.Status != "skip" { // the default status filter drops those
				want = deliveredIn[c.namespace]
			}
			if !slices.Equal(names, want) {
				t.Errorf("%s: row %s/%s (%s) is delivered to %v, want %v", c.person, r.Policy, r.Rule, r.Status, names, want)
			}
		}
	}
	for _, c := range []struct{ person, path string }{
		{"bob", "/api/v1/namespaces/team-a/resources/Pod/web"},
		{"alice", "/api/v1/namespaces/team-b/resources/Pod/" + trivyPod},
		{"carol", "/api/v1/resources/Pod/web"}, // not a cluster-scoped resource
	} {
		if status, _, body := get(t, base, w.Tokens[c.person], c.path); status != http.StatusNotFound {
			t.Errorf("%s %s: %d %s, want 404", c.person, c.path, status, body)
		}
	}
}

func TestHealthPage(t *testing.T) {
	w := cluster(t)
	base := console(t, w, tokenReviews(t, w), api.TokenOptions{})
	want := map[string][]string{
		"alice": {"NotificationTarget team-a/hook-a", "TargetChannel team-a/chan-a", "MetricsProfile team-a/default"},
		"bob":   {},
		"carol": {"NotificationTarget team-a/hook-a", "NotificationTarget team-b/hook-b", "NotificationTarget team-b/other-b", "TargetChannel team-a/chan-a", "MetricsProfile team-a/default"},
		"dave":  {"NotificationTarget team-b/hook-b"},
	}
	for person, names := range want {
		var got health.Answer
		getJSON(t, base, w.Tokens[person], "/api/v1/health", &got)
		var seen []string
		for _, o := range got.Objects {
			seen = append(seen, o.Kind+" "+o.Namespace+"/"+o.Name)
		}
		if !slices.Equal(seen, names) || len(got.Warnings) > 0 {
			t.Errorf("%s sees %v (warnings %v), want %v", person, seen, got.Warnings, names)
		}
		if person != "alice" {
			continue
		}
		hook := got.Objects[0]
		if hook.Ready != "False" || hook.Reason != "DeliveryFailing" || hook.ObservedGeneration != 1 || hook.Destination != "webhook" ||
			hook.Delivery == nil || hook.Delivery.Sent != 7 || hook.Delivery.Failed != 2 || hook.Delivery.Pending != 3 ||
			hook.Delivery.LastFailureReason != "HTTP 500 from the webhook" || hook.Delivery.LastFailureTime == nil {
			t.Errorf("hook-a = %+v (delivery %+v)", hook, hook.Delivery)
		}
		if ch := got.Objects[1]; ch.Target != "team-a/hook-a" || ch.Ready != "True" {
			t.Errorf("chan-a = %+v", ch)
		}
		if p := got.Objects[2]; p.Counts["series"] != 42 {
			t.Errorf("profile = %+v", p)
		}
	}
}

// TestDetailParameters: the new endpoints refuse what they do not know, as the others do.
func TestDetailParameters(t *testing.T) {
	w := cluster(t)
	base := console(t, w, tokenReviews(t, w), api.TokenOptions{})
	for _, path := range []string{
		"/api/v1/policies?bogus=1", "/api/v1/policies/require-labels?limit=x", "/api/v1/namespaces?status=maybe",
		"/api/v1/namespaces/team-a/resources/Pod/web?uid=a&uid=b", "/api/v1/health?namespace=team-a",
	} {
		status, _, body := get(t, base, w.Tokens["carol"], path)
		if status != http.StatusBadRequest {
			t.Errorf("GET %s: %d %s, want 400", path, status, body)
		}
	}
}
