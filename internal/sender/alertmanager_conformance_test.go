package sender

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/destination/descriptor"
)

// amConformanceNow is the clock of the alertManager sender in the conformance suite: startsAt
// and endsAt come from it, so the golden files do not change with the time of the run.
var amConformanceNow = time.Date(2026, 9, 1, 8, 0, 0, 0, time.UTC)

// amConformanceUser is the basic-authentication user of the loopback Alertmanager; the
// Secret value is its password, in the url's user info (an Alertmanager behind a proxy).
const amConformanceUser = "policy-herald"

// The alertManager sender's entry in the conformance suite. A Send is one POST of every result
// of the batch (at most MaxBatch 50) to <url>/api/v2/alerts, a JSON array of postableAlert;
// decode checks it as amCheckAlerts (the loopback Alertmanager of alertmanager_test.go) does,
// and the sender's own bounds. One url only: additionalURLs get the same body, and
// alertmanager_test.go tests them.
func init() {
	conformanceSenders = append(conformanceSenders, conformanceSender{
		typ: v1alpha1.DestinationAlertManager,
		config: func(base, secret string) Config {
			return Config{
				Destination: &v1alpha1.Destinations{AlertManager: &v1alpha1.AlertManagerDestination{}},
				Settings:    descriptor.Settings{"url": strings.Replace(base, "://", "://"+amConformanceUser+":"+secret+"@", 1) + "/alertmanager"},
				now:         func() time.Time { return amConformanceNow },
			}
		},
		// POST /api/v2/alerts answers 200 without a body.
		ok: func(int) conformanceAnswer { return conformanceAnswer{status: http.StatusOK} },
		// Alertmanager's errors (400 and 500 alike) are the error text as a JSON string.
		fail: func(status, retryAfter int, text string) conformanceAnswer {
			a := conformanceAnswer{status: status, header: map[string]string{"Content-Type": "application/json"}, body: conformanceJSON(text)}
			if retryAfter > 0 {
				a.header["Retry-After"] = fmt.Sprint(retryAfter)
			}
			return a
		},
		decode:  amConformanceDecode,
		golden:  []conformanceGolden{{batch: slackDiscordBatch, files: []string{"alertmanager-batch.json"}}},
		hostile: amConformanceHostile,
		notApplicable: map[string]string{
			chkSplit: "a Send is one post of all its results (MaxBatch 50): Alertmanager takes arrays of any size, " +
				"the sender never splits a batch (Prometheus posts 256 alerts at a time)",
			chkPartial: "a Send is one post: the batch is accepted or not, there is no 2nd request to fail",
		},
	})
}

// amConformanceDecode checks one post against Alertmanager's v2 API and the sender's bounds and
// returns the summary of each alert ("<policy>/<rule>: <status> on ...").
func amConformanceDecode(t *testing.T, r recorded) []string {
	t.Helper()
	conformanceJSONPost(t, r)
	if r.Path != "/alertmanager/api/v2/alerts" || r.RawQuery != "" {
		t.Errorf("posted to %s?%s, want /alertmanager/api/v2/alerts", r.Path, r.RawQuery)
	}
	wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte(amConformanceUser+":"+conformanceSecret))
	if got := r.Header.Get("Authorization"); got != wantAuth {
		t.Errorf("Authorization %q, want the url's user info as basic authentication", got)
	}
	alerts, problem := amCheckAlerts(r.Body)
	if problem != "" {
		t.Fatalf("Alertmanager would refuse the post: %s\n%s", problem, firstBytes(r.Body))
	}
	if len(alerts) > alertManagerMaxBatch {
		t.Errorf("%d alerts in one post, over MaxBatch %d", len(alerts), alertManagerMaxBatch)
	}
	titles := make([]string, len(alerts))
	ids := map[string]bool{}
	for i, a := range alerts {
		l := a.Labels
		if l["alertname"] != alertManagerAlertName || l["policy"] == "" || l["result_id"] == "" || l["status"] == "" {
			t.Errorf("alert %d: labels %v, want alertname, policy, status and result_id", i, l)
		}
		if ids[l["result_id"]] {
			t.Errorf("alert %d: result_id %s twice in one post", i, l["result_id"])
		}
		ids[l["result_id"]] = true
		for k, v := range l {
			if len(v) > amMaxLabelValue {
				t.Errorf("alert %d: label %s of %d bytes", i, k, len(v))
			}
		}
		an := a.Annotations
		if len(an["summary"]) > amMaxSummary || len(an["description"]) > amMaxDescription || an["description"] == "" {
			t.Errorf("alert %d: summary of %d bytes, description of %d bytes", i, len(an["summary"]), len(an["description"]))
		}
		if !a.EndsAt.After(*a.StartsAt) || a.StartsAt.After(amConformanceNow) || !a.EndsAt.After(amConformanceNow) {
			t.Errorf("alert %d: startsAt %s endsAt %s, want a firing alert (now %s)", i, a.StartsAt, a.EndsAt, amConformanceNow)
		}
		if a.GeneratorURL != "" {
			t.Errorf("alert %d: generatorURL %q", i, a.GeneratorURL)
		}
		if !strings.HasPrefix(an["summary"], l["policy"]) {
			t.Errorf("alert %d: summary %q does not start with the policy %q", i, an["summary"], l["policy"])
		}
		titles[i] = an["summary"]
	}
	return titles
}

// amConformanceHostile checks a post of the hostile batch: summaries on one line, every label
// and annotation within its bound (the 1 MB message cut), the post small. Alertmanager does not
// render the texts; each receiver's template escapes them for its own format.
func amConformanceHostile(t *testing.T, body []byte, _ []string) {
	alerts, problem := amCheckAlerts(body)
	if problem != "" {
		t.Fatal(problem)
	}
	for i, a := range alerts {
		if s := a.Annotations["summary"]; strings.ContainsAny(s, "\r\n") {
			t.Errorf("alert %d: summary on several lines: %q", i, s)
		}
		for k, v := range a.Annotations {
			if len(v) > amMaxDescription {
				t.Errorf("alert %d: annotation %s of %d bytes", i, k, len(v))
			}
		}
	}
	if len(body) > 64<<10 {
		t.Errorf("body of %d bytes", len(body))
	}
}
