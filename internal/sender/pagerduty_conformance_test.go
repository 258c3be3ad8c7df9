package sender

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/destination/descriptor"
)

// The pagerDuty sender's entry in the conformance suite. Each result is one Events API v2
// trigger (MaxBatch 1), POST /v2/enqueue; the Secret value is the routing key, in the body.
// decode checks each event as pdCheckEvent (the loopback Events API of pagerduty_test.go) does.
func init() {
	conformanceSenders = append(conformanceSenders, conformanceSender{
		typ: v1alpha1.DestinationPagerDuty,
		config: func(base, secret string) Config {
			return Config{
				Destination: &v1alpha1.Destinations{PagerDuty: &v1alpha1.PagerDutyDestination{}},
				Settings:    descriptor.Settings{"url": base + "/v2/enqueue", "routingKey": secret},
			}
		},
		ok: func(n int) conformanceAnswer {
			return conformanceAnswer{status: http.StatusAccepted, header: map[string]string{"Content-Type": "application/json"},
				body: conformanceJSON(pdResponse{Status: "success", Message: "Event processed", DedupKey: fmt.Sprintf("conformance-%d", n)})}
		},
		// The Events API's errors: 400 an invalid event with its errors; 429 "Request Limit
		// Exceeded" (usually without Retry-After); 5xx, to be retried.
		fail: func(status, retryAfter int, text string) conformanceAnswer {
			resp := pdResponse{Status: "error", Message: text}
			switch status {
			case http.StatusBadRequest:
				resp = pdResponse{Status: "invalid event", Message: "Event object is invalid", Errors: []string{text}}
			case http.StatusTooManyRequests:
				resp = pdResponse{Status: "throttle event", Message: "Request Limit Exceeded", Errors: []string{text}}
			}
			a := conformanceAnswer{status: status, header: map[string]string{"Content-Type": "application/json"}, body: conformanceJSON(resp)}
			if retryAfter > 0 {
				a.header["Retry-After"] = fmt.Sprint(retryAfter)
			}
			return a
		},
		decode: pdConformanceDecode,
		golden: []conformanceGolden{{
			batch: slackDiscordBatch,
			files: []string{"pagerduty-full.json", "pagerduty-warn.json", "pagerduty-pass.json"},
		}},
		hostile: pdConformanceHostile,
		notApplicable: map[string]string{
			chkSplit:   "MaxBatch is 1: every result is an event of its own",
			chkPartial: "MaxBatch is 1: a batch is one event, accepted or not (TestPagerDutyErrors covers Sent)",
		},
	})
}

// pdConformanceDecode checks one request against the Events API v2 and returns the trigger's
// payload.summary ("[<status>] <policy>/<rule> on ...", or the messageTemplate's text).
func pdConformanceDecode(t *testing.T, r recorded) []string {
	t.Helper()
	conformanceJSONPost(t, r)
	if r.Path != "/v2/enqueue" || r.RawQuery != "" {
		t.Errorf("posted to %s?%s, want /v2/enqueue", r.Path, r.RawQuery)
	}
	if r.Header.Get("Authorization") != "" {
		t.Error("an Authorization header: the routing key goes in the body only")
	}
	ev, errs, err := pdCheckEvent(r.Body)
	if err != nil {
		t.Fatalf("PagerDuty would not read the event: %v\n%s", err, firstBytes(r.Body))
	}
	if len(errs) > 0 {
		t.Fatalf("PagerDuty would refuse the event: %v\n%s", errs, firstBytes(r.Body))
	}
	if *ev.RoutingKey != conformanceSecret || *ev.EventAction != "trigger" || ev.Client != pagerDutyClient || ev.ClientURL != "" {
		t.Errorf("event %s", firstBytes(r.Body))
	}
	if ev.DedupKey == "" || !strings.HasPrefix(ev.DedupKey, pdConformanceDetailsID(t, ev)) {
		t.Errorf("dedup_key %q, want the result's ID first", ev.DedupKey)
	}
	p := ev.Payload
	if strings.ContainsAny(p.Summary, "\r\n\t") {
		t.Errorf("summary on several lines: %q", p.Summary)
	}
	for what, v := range map[string]string{"source": p.Source, "component": p.Component, "group": p.Group, "class": p.Class} {
		if utf8.RuneCountInString(v) > pagerDutyMaxSource {
			t.Errorf("%s of %d characters", what, utf8.RuneCountInString(v))
		}
	}
	return []string{p.Summary}
}

// pdConformanceDetailsID is the result ID in the custom_details of trigger ev, decoded
// strictly as the sender's pagerDutyDetails: the bounded ResultDocument and the template's
// error.
func pdConformanceDetailsID(t *testing.T, ev pdEvent) string {
	t.Helper()
	var d pagerDutyDetails
	dec := json.NewDecoder(bytes.NewReader(ev.Payload.CustomDetails))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("custom_details is not the result document: %v\n%s", err, firstBytes(ev.Payload.CustomDetails))
	}
	if d.ID == "" || d.Policy == "" || len(d.Message) > pagerDutyMaxMessage || len(d.Properties) > pagerDutyMaxProperties {
		t.Errorf("custom_details: id %q policy %q, message of %d bytes, %d properties", d.ID, d.Policy, len(d.Message), len(d.Properties))
	}
	return d.ID
}

// pdConformanceHostile checks an event of the hostile batch: the 1 MB message cut in
// custom_details, the event far below the Events API's 512 KB. PagerDuty shows the texts as
// plain text.
func pdConformanceHostile(t *testing.T, body []byte, _ []string) {
	if len(body) > 64<<10 {
		t.Errorf("event of %d bytes", len(body))
	}
}
