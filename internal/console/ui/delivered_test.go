package ui_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// deliveredLink is how "Delivered to" names an object, linked to its row on the health page.
func deliveredLink(kind, namespace, name string) string {
	label := map[string]string{"NotificationTarget": "target", "TargetChannel": "channel"}[kind]
	return `<a href="/health#` + kind + "-" + namespace + "-" + name + `">` + label + " " + namespace + "/" + name + `</a>`
}

var (
	findingRule = regexp.MustCompile(`</a> · (rule-[a-z])`)
	delivered   = regexp.MustCompile(`<p class="delivered">(.*?)</p>`)
)

// deliveredByRule returns each finding's "Delivered to" line of a resource page by its rule.
func deliveredByRule(page string) map[string]string {
	out := map[string]string{}
	for _, f := range strings.Split(page, `<li class="finding">`)[1:] {
		rule, line := findingRule.FindStringSubmatch(f), delivered.FindStringSubmatch(f)
		if rule != nil && line != nil {
			out[rule[1]] = line[1]
		}
	}
	return out
}

// TestDeliveredTo: the resource page names, for each result, the targets and channels that
// deliver it as the operator decides it (the platform namespace's target sees every namespace;
// team-a's only team-a; filters drop what they drop), only those the person may get, each
// linked to its health row and marked when suspended or not ready; the API answers the same.
func TestDeliveredTo(t *testing.T) {
	e := console(t)
	platform := deliveredLink("NotificationTarget", platformNamespace, "platform")
	hookA := deliveredLink("NotificationTarget", "team-a", "hook-a") + ` <span class="tag s-warn">not ready</span>`
	chanA := deliveredLink("TargetChannel", "team-a", "chan-a")
	passes := deliveredLink("NotificationTarget", "team-a", "passes-a") + ` <span class="tag s-warn">suspended</span>`
	// rule-a fails, rule-b passes: the default status filter drops passes, passes-a keeps only them.
	for person, want := range map[string]map[string]string{
		"carol": {"rule-a": "Delivered to: " + platform + ", " + hookA + ", " + chanA, "rule-b": "Delivered to: " + passes},
		// alice may get team-a's objects only: the platform's target is not named to her.
		"alice": {"rule-a": "Delivered to: " + hookA + ", " + chanA, "rule-b": "Delivered to: " + passes},
	} {
		got := deliveredByRule(e.wholePage(t, person, "/namespaces/team-a/resources/Pod/web"))
		for rule, line := range want {
			if got[rule] != line {
				t.Errorf("%s's page of Pod team-a/web, %s:\n got %s\nwant %s", person, rule, got[rule], line)
			}
		}
	}
	// The policy page's results say the same in a column: team-b's failing results go to the
	// platform's target and team-b's own.
	policy := e.wholePage(t, "carol", "/policies/require-labels")
	if want := `<td class="delivered">` + platform + ", " + deliveredLink("NotificationTarget", "team-b", "hook-b") + `</td>`; strings.Count(policy, want) != 2 {
		t.Errorf("carol's policy page does not name %s for team-b's warn and fail results:\n%s", want, policy)
	}
	checkDeliveredAPI(t, e)
}

// checkDeliveredAPI: the API's resource answer names the same objects, by result ID.
func checkDeliveredAPI(t *testing.T, e *env) {
	status, _, body := e.get(t, "alice", "/api/v1/namespaces/team-a/resources/Pod/web")
	var a struct {
		Rows []struct {
			ID   string `json:"id"`
			Rule string `json:"rule"`
		} `json:"rows"`
		DeliveredTo map[string][]struct{ Kind, Namespace, Name, Ready string } `json:"deliveredTo"`
	}
	if err := json.Unmarshal([]byte(body), &a); status != http.StatusOK || err != nil {
		t.Fatalf("GET the resource as alice: %d %v\n%s", status, err, body)
	}
	want := map[string][]string{"rule-a": {"team-a/hook-a False", "team-a/chan-a True"}, "rule-b": {"team-a/passes-a True"}}
	for _, r := range a.Rows {
		var got []string
		for _, d := range a.DeliveredTo[r.ID] {
			got = append(got, d.Namespace+"/"+d.Name+" "+d.Ready)
		}
		if !slices.Equal(got, want[r.Rule]) {
			t.Errorf("the API's deliveredTo of %s = %v, want %v", r.Rule, got, want[r.Rule])
		}
	}
}
