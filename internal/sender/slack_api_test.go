package sender

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/destination/descriptor"
	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/testing/slackapi"
)

const slackTestToken = "xoxb-1234-5678-SecretSlackToken"

// newSlackAPISender is a Slack sender of the Web API at api, posting to channel.
func newSlackAPISender(t *testing.T, api *slackapi.Server, channel string, notify bool) Sender {
	t.Helper()
	return newTestSender(t, Config{
		Type:        v1alpha1.DestinationSlack,
		Destination: &v1alpha1.Destinations{Slack: &v1alpha1.SlackDestination{Channel: channel}},
		Settings:    descriptor.Settings{"token": slackTestToken},
		Name:        "team-a/slack", NotifyResolved: notify,
		apiEndpoint: api.URL,
	})
}

// The Web API contract: JSON to chat.postMessage with the bot token, the channel, the same
// message as the webhook's; each message's channel and ts go back to the pipeline.
func TestSlackAPISendTellsThreads(t *testing.T) {
	api := slackapi.Start(t, slackTestToken)
	s := newSlackAPISender(t, api, "#policy", false)
	b := slackDiscordBatch()
	more := slackDiscordBigBatch(30) // several messages
	for i := range more {
		more[i].Hash += 0x1000 // apart from the batch's own
	}
	b.Results = append(b.Results, more...)
	posted := map[uint64]string{}
	b.Posted = func(thread string, results []report.Result) {
		for _, r := range results {
			posted[r.Hash] = thread
		}
	}
	if err := s.Send(context.Background(), b); err != nil {
		t.Fatalf("Send: %v", err)
	}
	calls := api.Calls()
	if len(calls) < 2 {
		t.Fatalf("%d calls, want several messages", len(calls))
	}
	for i, c := range calls {
		if c.Method != "chat.postMessage" || c.Error != "" {
			t.Errorf("call %d: %s answered %q", i, c.Method, c.Error)
		}
		if got := c.Header.Get("Authorization"); got != "Bearer "+slackTestToken {
			t.Errorf("Authorization %q", got)
		}
		if got := c.Header.Get("Content-Type"); got != "application/json; charset=utf-8" {
			t.Errorf("Content-Type %q", got)
		}
		msg := slackDecode(t, c.Body)
		slackCheckLimits(t, msg)
		if msg.Channel != "#policy" || msg.ThreadTimestamp != "" {
			t.Errorf("channel %q thread %q", msg.Channel, msg.ThreadTimestamp)
		}
	}
	// The same message as through the webhook.
	hook, srv := startHook(t, nil)
	wh := newSlackTestSender(t, srv.URL+"/hook", nil, &v1alpha1.SlackDestination{Channel: "#policy"}, "")
	if got := sendMessages(t, hook, wh, b, len(calls), len(calls)); string(got[0].Body) != string(calls[0].Body) {
		t.Errorf("the Web API's message differs from the webhook's:\n%s\n%s", calls[0].Body, got[0].Body)
	}
	if len(posted) != len(b.Results) {
		t.Fatalf("threads of %d results, want %d", len(posted), len(b.Results))
	}
	first, last := posted[b.Results[0].Hash], posted[b.Results[len(b.Results)-1].Hash]
	if first != "CPOLICY/"+calls[0].TS || last != "CPOLICY/"+calls[len(calls)-1].TS {
		t.Errorf("threads %q and %q, want each message's channel ID and ts", first, last)
	}
	threads := map[string]bool{}
	for _, th := range posted {
		threads[th] = true
	}
	if len(threads) != len(calls) {
		t.Errorf("%d threads for %d messages", len(threads), len(calls))
	}
}

// A resolved notice answers in the original message's thread; the original gets ✅ once none of
// its results is open. Results of no known thread get a notice of their own in the channel.
func TestSlackAPIResolveThreadsAndReacts(t *testing.T) {
	api := slackapi.Start(t, slackTestToken)
	s := newSlackAPISender(t, api, "#policy", true)
	b := slackDiscordBatch()
	thread := map[uint64]string{}
	b.Posted = func(th string, results []report.Result) {
		for _, r := range results {
			thread[r.Hash] = th
		}
	}
	if err := s.Send(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	original := api.Calls()[0].TS
	th := "CPOLICY/" + original

	// The first two results resolve: the thread stays open (the third is in it).
	r := b
	r.Posted = nil
	r.Results = b.Results[:2]
	r.Threads = map[uint64]string{b.Results[0].Hash: th, b.Results[1].Hash: th}
	r.Closed = map[string]bool{th: false}
	if err := s.(Resolver).Resolve(context.Background(), r); err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	calls := api.Calls()[1:]
	if len(calls) != 1 || calls[0].Method != "chat.postMessage" {
		t.Fatalf("calls %+v, want one threaded reply and no reaction", calls)
	}
	reply := slackDecode(t, calls[0].Body)
	if reply.Channel != "CPOLICY" || reply.ThreadTimestamp != original {
		t.Errorf("reply in %q thread %q, want CPOLICY thread %q", reply.Channel, reply.ThreadTimestamp, original)
	}
	checkGolden(t, "slack-api-resolved.json", calls[0].Body, *updateResolved)

	// The last one closes the thread: ✅ first, then the reply; a result of no known thread is
	// announced in the channel.
	unknown := fullResult()
	unknown.Hash = 0xbeef
	r.Results = []report.Result{unknown, b.Results[2]}
	r.Threads = map[uint64]string{b.Results[2].Hash: th}
	r.Closed = map[string]bool{th: true}
	if err := s.(Resolver).Resolve(context.Background(), r); err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	calls = api.Calls()[2:]
	var got []string
	for _, c := range calls {
		switch c.Method {
		case "reactions.add":
			got = append(got, "react "+c.Reaction.Channel+" "+c.Reaction.Timestamp+" "+c.Reaction.Name)
		default:
			m := slackDecode(t, c.Body)
			got = append(got, "post "+m.Channel+" "+m.ThreadTimestamp)
		}
	}
	// The sender answers runs as they come: the pipeline puts the threaded ones first.
	want := []string{"post #policy ", "react CPOLICY " + original + " white_check_mark", "post CPOLICY " + original}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("calls %q\n want %q", got, want)
	}

	// Again (a retry after the reply failed): already_reacted counts as done.
	r.Results = r.Results[1:]
	if err := s.(Resolver).Resolve(context.Background(), r); err != nil {
		t.Fatalf("Resolve again: %v", err)
	}
	if last := api.Calls()[len(api.Calls())-2]; last.Error != "already_reacted" {
		t.Errorf("the second reaction answered %q", last.Error)
	}
}

func TestSlackAPIErrors(t *testing.T) {
	b := Batch{Report: testReport, Results: []report.Result{fullResult(), bareResult()}}
	for name, tc := range map[string]struct {
		code       string
		status     int
		header     map[string]string
		retryable  bool
		retryAfter time.Duration
		hint       string
	}{
		"bad token":                  {code: "invalid_auth", hint: "check the bot token"},
		"not in":                     {code: "not_in_channel", hint: "member"},
		"scope":                      {code: "missing_scope", hint: "chat:write"},
		"rate limited":               {code: "ratelimited", status: http.StatusTooManyRequests, header: map[string]string{"Retry-After": "7"}, retryable: true, retryAfter: 7 * time.Second, hint: "429"},
		"rate limited in the answer": {code: "ratelimited", header: map[string]string{"Retry-After": "3"}, retryable: true, retryAfter: 3 * time.Second},
		"internal":                   {code: "internal_error", retryable: true},
		"unknown error":              {code: "msg_too_long"},
	} {
		t.Run(name, func(t *testing.T) {
			api := slackapi.Start(t, slackTestToken)
			api.Fail = func(string, int) (string, int, map[string]string) { return tc.code, tc.status, tc.header }
			err := newSlackAPISender(t, api, "C0123", false).Send(context.Background(), b)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("got %v", err)
			}
			if e.Retryable != tc.retryable || e.RetryAfter != tc.retryAfter || e.Sent != 0 {
				t.Errorf("retryable %v after %s sent %d: %v", e.Retryable, e.RetryAfter, e.Sent, e)
			}
			if (tc.status == 0 && !strings.Contains(e.Reason, tc.code)) || !strings.Contains(e.Reason, tc.hint) {
				t.Errorf("reason %q", e.Reason)
			}
			if strings.Contains(e.Reason, slackTestToken) {
				t.Errorf("the reason shows the token: %s", e.Reason)
			}
		})
	}
	t.Run("a reaction refused for good is left out", func(t *testing.T) {
		api := slackapi.Start(t, slackTestToken)
		s := newSlackAPISender(t, api, "C0123", true)
		r := b
		r.Threads = map[uint64]string{b.Results[0].Hash: "C0123/1.1"} // never posted
		r.Closed = map[string]bool{"C0123/1.1": true}
		err := s.(Resolver).Resolve(context.Background(), r)
		var e *Error
		// The thread does not exist here either: the reply is refused, and says so.
		if !errors.As(err, &e) || e.Retryable || !strings.Contains(e.Reason, "thread_not_found") {
			t.Fatalf("got %v", err)
		}
		if calls := api.Calls(); len(calls) != 2 || calls[0].Error != "message_not_found" {
			t.Errorf("calls %+v", calls)
		}
	})
}

func TestSlackAPIConfiguration(t *testing.T) {
	for name, tc := range map[string]struct {
		settings descriptor.Settings
		dest     v1alpha1.SlackDestination
		want     string
	}{
		"nothing":           {want: "set url (an incoming webhook), or a bot token"},
		"token, no channel": {settings: descriptor.Settings{"token": slackTestToken}, want: "set the channel"},
		"token with a line break": {settings: descriptor.Settings{"token": "xoxb-1\r\nX-Evil: 1"},
			dest: v1alpha1.SlackDestination{Channel: "C1"}, want: "the bot token holds characters"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := New(context.Background(), Config{Type: v1alpha1.DestinationSlack,
				Destination: &v1alpha1.Destinations{Slack: &tc.dest}, Settings: tc.settings})
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "Secret"+"SlackToken") {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
	// The Web API's host is what the address guard checks.
	api := slackapi.Start(t, slackTestToken)
	s := newSlackAPISender(t, api, "C1", true)
	hosts, err := s.(dialer).DialHosts()
	if err != nil || len(hosts) != 1 || hosts[0] != "127.0.0.1" {
		t.Errorf("DialHosts = %v, %v", hosts, err)
	}
}

// A 2xx without a Web API body (a proxy's) counts as delivered, as for every HTTP destination;
// the message's thread is not known then.
func TestSlackAPIAnswerWithoutBody(t *testing.T) {
	hook, srv := startHook(t, nil)
	s := newTestSender(t, Config{
		Type:        v1alpha1.DestinationSlack,
		Destination: &v1alpha1.Destinations{Slack: &v1alpha1.SlackDestination{Channel: "C1"}},
		Settings:    descriptor.Settings{"token": slackTestToken}, apiEndpoint: srv.URL + "/api",
	})
	b := Batch{Report: testReport, Results: []report.Result{fullResult()}}
	b.Posted = func(string, []report.Result) { t.Error("a thread without a Web API answer") }
	if err := s.Send(context.Background(), b); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if reqs := hook.requests(); len(reqs) != 1 || reqs[0].Path != "/api/chat.postMessage" {
		t.Errorf("requests %+v", reqs)
	}
}
