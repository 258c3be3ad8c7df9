package sender

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/consolelink"
	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/sender/render"
)

// Digests, summaries and console links in the chat destinations: golden files of each, read by
// the conformance entries' decode (the vendors' SDK types and documented limits), sent to the
// same loopback servers.

// testConsole is the console's address of the tests.
const testConsole = consolelink.Base("https://console.example/herald")

// chatTypes are the chat destinations: those that send digests, announce resolved results and
// link to the console.
var chatTypes = []v1alpha1.DestinationType{
	v1alpha1.DestinationSlack, v1alpha1.DestinationTeams, v1alpha1.DestinationDiscord,
	v1alpha1.DestinationGoogleChat, v1alpha1.DestinationTelegram,
}

// chatStart serves the conformance entry of typ and builds its sender with console as its
// console's address.
func chatStart(t *testing.T, typ v1alpha1.DestinationType, console consolelink.Base) (*testHook, Sender, *conformanceSender) {
	t.Helper()
	var c conformanceSender
	for i := range conformanceSenders {
		if conformanceSenders[i].typ == typ {
			c = conformanceSenders[i]
		}
	}
	config := c.config
	c.config = func(base, secret string) Config {
		cfg := config(base, secret)
		cfg.ConsoleURL = console
		return cfg
	}
	hook, s := conformanceStart(t, &c, "", c.okAnswer)
	return hook, s, &c
}

// testDigest is a digest of 37 results of a policy in a namespace, three of them listed.
func testDigest() Digest {
	b := teamsGChatBatch()
	d := Digest{
		Kind:       KindDigest,
		Group:      []GroupValue{{Name: "policy", Value: "require-labels"}, {Name: "namespace", Value: "team-a"}},
		From:       time.Date(2026, 8, 15, 10, 0, 0, 0, time.UTC),
		To:         time.Date(2026, 8, 15, 10, 15, 0, 0, time.UTC),
		Total:      37,
		ByStatus:   []Count{{Value: "fail", N: 30}, {Value: "warn", N: 7}},
		BySeverity: []Count{{Value: "high", N: 12}, {Value: "medium", N: 20}, {Value: "", N: 5}},
		Namespaces: 1,
		Link:       testConsole.Policy("require-labels"),
		// The target's custom fields.
		CustomFields: map[string]string{"cluster": "prod-eu", "owner": "team-a"},
	}
	for _, r := range b.Results {
		d.Items = append(d.Items, DigestItem{Report: b.Report, Result: r})
	}
	d.Items[0].Link = testConsole.Resource("team-a", "Deployment", "nginx") // as the pipeline sets it
	return d
}

// testSummary is a rate limit's summary of 412 results.
func testSummary() Digest {
	return Digest{
		Kind:       KindSummary,
		From:       time.Date(2026, 8, 15, 10, 0, 0, 0, time.UTC),
		To:         time.Date(2026, 8, 15, 10, 5, 0, 0, time.UTC),
		Total:      412,
		ByStatus:   []Count{{Value: "fail", N: 300}, {Value: "warn", N: 112}},
		BySeverity: []Count{{Value: "critical", N: 2}, {Value: "high", N: 110}, {Value: "medium", N: 300}},
		Namespaces: 9,
		Link:       testConsole.To("/"),
	}
}

// bigDigest is a digest of 5000 results listing n long ones: names, messages and links at the
// limits of what Kubernetes allows, in long group values and custom fields.
func bigDigest(n int) Digest {
	d := testDigest()
	d.Total = 5000
	d.Group = []GroupValue{{Name: "policy", Value: strings.Repeat("p", 253)}, {Name: "resource", Value: "Deployment " + strings.Repeat("r", 253)}}
	d.CustomFields = map[string]string{"cluster": strings.Repeat("c", 2000), "owner": "team-a"}
	d.Items = nil
	for i := range n {
		r := fullResult()
		r.Hash = uint64(0x5000 + i)
		r.Policy = fmt.Sprintf("digestpolicy%02d%s", i, strings.Repeat("p", 200))
		r.Rule = strings.Repeat("rule-", 40)
		r.Message = strings.Repeat("long message & <b> ", 400)
		r.Resource.Namespace = strings.Repeat("n", 63)
		r.Resource.Name = strings.Repeat("x", 253)
		d.Items = append(d.Items, DigestItem{Report: testReport, Result: r})
	}
	return d
}

// sendDigestOnce sends d with s and returns its one request, decoded by c (which checks it).
func sendDigestOnce(t *testing.T, hook *testHook, s Sender, c *conformanceSender, d Digest) recorded {
	t.Helper()
	dg, ok := s.(Digester)
	if !ok {
		t.Fatalf("%s is not a Digester", c.typ)
	}
	if err := dg.SendDigest(context.Background(), d); err != nil {
		t.Fatalf("SendDigest: %v", err)
	}
	reqs := hook.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want one message", len(reqs))
	}
	c.decode(t, reqs[0])
	return reqs[0]
}

// TestDigestGolden: a digest (with its listed results and "and N more") and a summary, per
// chat destination.
func TestDigestGolden(t *testing.T) {
	for _, typ := range chatTypes {
		t.Run(string(typ), func(t *testing.T) {
			for name, d := range map[string]Digest{"digest": testDigest(), "summary": testSummary()} {
				hook, s, c := chatStart(t, typ, testConsole)
				body := sendDigestOnce(t, hook, s, c, d).Body
				checkGolden(t, strings.ToLower(string(typ))+"-"+name+".json", body, *updateConformance)
				text := string(body)
				if name == "digest" {
					for _, want := range []string{"Digest", "37 results since 10:00 UTC", "and 34 more results",
						"30 fail, 7 warn", "12 high, 20 medium, 5 not set", "/namespaces/team-a/resources/Deployment/nginx",
						"/policies/check-image-tag", "/namespaces/team-a/resources/Pod/nginx-7d9c", "cluster"} {
						if !strings.Contains(text, want) {
							t.Errorf("no %q in %s", want, body)
						}
					}
				} else {
					for _, want := range []string{"412 more results: 300 fail, 112 warn in 9 namespaces", "rate limit", "2 critical, 110 high, 300 medium"} {
						if !strings.Contains(text, want) {
							t.Errorf("no %q in %s", want, body)
						}
					}
					if strings.Contains(text, "nginx") || strings.Contains(text, "and 412") {
						t.Errorf("a summary lists no result: %s", body)
					}
				}
			}
		})
	}
}

// TestDigestWithinLimits: a digest of 50 long results is one message within every limit of
// each destination (the decode of its conformance entry checks them), listing as many as fit
// and counting the rest in "and N more".
func TestDigestWithinLimits(t *testing.T) {
	listed := regexp.MustCompile(`digestpolicy(\d\d)`)
	for _, typ := range chatTypes {
		t.Run(string(typ), func(t *testing.T) {
			hook, s, c := chatStart(t, typ, testConsole)
			d := bigDigest(50)
			body := string(sendDigestOnce(t, hook, s, c, d).Body)
			seen := map[string]bool{}
			for _, m := range listed.FindAllStringSubmatch(body, -1) {
				seen[m[1]] = true
			}
			if len(seen) == 0 {
				t.Fatalf("no result listed: %.2000s", body)
			}
			for i := range len(seen) { // the first ones, most severe first as the pipeline gives them
				if !seen[fmt.Sprintf("%02d", i)] {
					t.Errorf("result %d is not listed but %d are", i, len(seen))
				}
			}
			if more := render.MoreLine(d.Total - len(seen)); !strings.Contains(body, more) {
				t.Errorf("%d listed, no %q", len(seen), more)
			}
			t.Logf("%d of 50 results listed, %d bytes", len(seen), len(body))
		})
	}
}

// TestChatLinksGolden: with a console, each result of a chat message links to the console's
// page of its resource, or of its policy when it names none. Without one the messages are those
// of the conformance golden files.
func TestChatLinksGolden(t *testing.T) {
	for _, typ := range chatTypes {
		t.Run(string(typ), func(t *testing.T) {
			hook, s, c := chatStart(t, typ, testConsole)
			b := c.golden[0].batch() // Telegram's: a result with a resource and one without, a message each
			if err := s.Send(context.Background(), b); err != nil {
				t.Fatal(err)
			}
			reqs := hook.requests()
			var all strings.Builder
			for i, r := range reqs {
				c.decode(t, r)
				name := strings.ToLower(string(typ)) + "-links.json"
				if i > 0 {
					name = fmt.Sprintf("%s-links-%d.json", strings.ToLower(string(typ)), i+1)
				}
				checkGolden(t, name, r.Body, *updateConformance)
				all.Write(r.Body)
			}
			for _, r := range b.Results {
				doc := NewResultDocument(b.Report, &r, nil)
				if link := resultLink(testConsole, &doc); !strings.Contains(all.String(), link) {
					t.Errorf("no link %s", link)
				}
			}
		})
	}
}

// TestChatLinksWithinLimits: a result whose link is as long as Kubernetes names allow still fits
// each destination's limits, its text cut to leave the link room.
func TestChatLinksWithinLimits(t *testing.T) {
	for _, typ := range chatTypes {
		t.Run(string(typ), func(t *testing.T) {
			hook, s, c := chatStart(t, typ, testConsole)
			r := fullResult()
			r.Resource.Namespace, r.Resource.Name = strings.Repeat("n", 63), strings.Repeat("x", 253)
			r.Message = strings.Repeat("long & <message> ", 2000)
			if err := s.Send(context.Background(), Batch{Report: testReport, Results: []report.Result{r}}); err != nil {
				t.Fatal(err)
			}
			doc := NewResultDocument(testReport, &r, nil)
			link := resultLink(testConsole, &doc)
			for _, req := range hook.requests() {
				c.decode(t, req)
				if !strings.Contains(string(req.Body), link) {
					t.Errorf("the link is lost: %.500s", req.Body)
				}
			}
		})
	}
}

// TestChatDestinationsAreDigesters: the chat destinations (descriptor Chat, which the
// controllers check digests, rate limits and notifyResolved against) send digests; no other
// sender does (alertManager, jira, loki and pagerDuty take a messageTemplate too, but are not
// chats).
func TestChatDestinationsAreDigesters(t *testing.T) {
	for _, d := range Descriptors() {
		_, s, _ := chatStart(t, d.Type, "")
		_, ok := s.(Digester)
		if want := slices.Contains(chatTypes, d.Type); ok != want || d.Chat != want {
			t.Errorf("%s: Digester %v, descriptor Chat %v, want %v", d.Type, ok, d.Chat, want)
		}
	}
}

// TestDigestHostile: a digest whose group, listed results and custom fields are written to
// abuse a chat (mentions, masked links, HTML, control and invisible characters) passes each
// destination's hostile check of the conformance suite.
func TestDigestHostile(t *testing.T) {
	b := hostileBatch()
	d := testDigest()
	d.Link = ""
	d.Group = []GroupValue{{Name: "policy", Value: hostileText}}
	d.Items = []DigestItem{{Report: b.Report, Result: b.Results[0]}, {Report: b.Report, Result: b.Results[1]}}
	d.CustomFields = map[string]string{"env": hostileText}
	for _, typ := range chatTypes {
		t.Run(string(typ), func(t *testing.T) {
			hook, s, c := chatStart(t, typ, "")
			r := sendDigestOnce(t, hook, s, c, d)
			var texts []string
			for _, s := range c.textsOf(t, r) {
				if hasBadControl(s) {
					t.Errorf("control or invisible character in %q", firstBytes([]byte(s)))
				}
				// A card header is plain text in Google Chat: shown as written, never parsed.
				if typ == v1alpha1.DestinationGoogleChat && strings.HasPrefix(s, "Digest: policy") {
					continue
				}
				texts = append(texts, s)
			}
			c.hostile(t, r.Body, texts)
		})
	}
}

// TestDigestGroupLink: a digest without a link of its own links to its group's page.
func TestDigestGroupLink(t *testing.T) {
	d := testDigest()
	d.Link = ""
	gv := func(name, value string) GroupValue { return GroupValue{Name: name, Value: value} }
	for _, c := range []struct {
		group []GroupValue
		want  string
	}{
		{[]GroupValue{gv("namespace", "team-a"), gv("policy", "require-labels")}, testConsole.Policy("require-labels")},
		{[]GroupValue{gv("resource", "Deployment team-a/nginx")}, testConsole.Resource("team-a", "Deployment", "nginx")},
		{[]GroupValue{gv("namespace", "team-a"), gv("severity", "high")}, testConsole.Namespace("team-a")},
		{[]GroupValue{gv("severity", "high")}, ""},
		{nil, ""},
	} {
		d.Group = c.group
		if v := newDigestView(&d, testConsole); v.Link != c.want {
			t.Errorf("%v: link %q, want %q", c.group, v.Link, c.want)
		}
		if v := newDigestView(&d, ""); v.Link != "" || v.Entries[1].Link != "" {
			t.Errorf("%v: links without a console: %+v", c.group, v)
		}
	}
}
