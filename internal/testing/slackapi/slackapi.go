// Package slackapi is a loopback Slack Web API for tests: chat.postMessage and reactions.add,
// checking the contract a bot-token client must keep (POST, JSON, "Authorization: Bearer
// <token>", a channel, a thread_ts of a message it posted, a reaction to one) and answering as
// Slack does: {"ok":true,"channel":"C…","ts":"…"}, or {"ok":false,"error":"<code>"}. Request
// bodies are decoded strictly with slack-go's own types. It records every call.
package slackapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"

	"github.com/slack-go/slack"
)

// Call is one request the server answered.
type Call struct {
	Method string // chat.postMessage or reactions.add
	Header http.Header
	Body   []byte
	// Message is a chat.postMessage body, decoded.
	Message slack.WebhookMessage
	// Reaction is a reactions.add body, decoded.
	Reaction Reaction
	// Error is the error code answered ("" for ok).
	Error string
	// TS is the ts a posted message got.
	TS string
}

// Reaction is the body of reactions.add.
type Reaction struct {
	Channel   string `json:"channel"`
	Timestamp string `json:"timestamp"`
	Name      string `json:"name"`
}

// Server is a loopback Slack Web API.
type Server struct {
	// URL is its base URL, ending in "/api/": what a client's Web API base is set to.
	URL   string
	token string
	// Fail, when set, answers call n (from 1) of method with an error code instead, and an HTTP
	// status and headers (0: 200); "" lets it through.
	Fail func(method string, n int) (code string, status int, header map[string]string)

	mu        sync.Mutex
	calls     []Call
	posted    map[string]bool // "<channel>/<ts>" of posted messages
	reactions map[string]bool // "<channel>/<ts>/<name>"
	seq       int
}

// Cleaner is what Start needs of a test (testing.TB and Ginkgo's GinkgoT() have it).
type Cleaner interface{ Cleanup(func()) }

// Start runs a server that takes token, until the test ends.
func Start(t Cleaner, token string) *Server {
	s := &Server{token: token, posted: map[string]bool{}, reactions: map[string]bool{}}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	s.URL = srv.URL + "/api/"
	return s
}

// Calls returns the calls so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// ChannelID is the ID the server gives the channel name (as Slack answers with IDs): C and the
// name's letters and digits, upper case.
func ChannelID(name string) string {
	if strings.HasPrefix(name, "C") && strings.ToUpper(name) == name {
		return name
	}
	var b strings.Builder
	b.WriteByte('C')
	for _, r := range strings.ToUpper(name) {
		if r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	c := Call{Method: method, Header: r.Header.Clone(), Body: body}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 1
	for _, old := range s.calls {
		if old.Method == method {
			n++
		}
	}
	answer := func(status int, header map[string]string, v map[string]any) {
		for k, val := range header {
			w.Header().Set(k, val)
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
		s.calls = append(s.calls, c)
	}
	fail := func(code string) {
		c.Error = code
		answer(http.StatusOK, nil, map[string]any{"ok": false, "error": code})
	}
	if s.Fail != nil {
		if code, status, header := s.Fail(method, n); code != "" {
			c.Error = code
			answer(max(status, http.StatusOK), header, map[string]any{"ok": false, "error": code})
			return
		}
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch auth := r.Header.Get("Authorization"); {
	case r.Method != http.MethodPost:
		fail("invalid_request")
	case auth == "":
		fail("not_authed")
	case auth != "Bearer "+s.token:
		fail("invalid_auth")
	case ct != "application/json":
		fail("invalid_form_data") // this client sends JSON only
	case method == "chat.postMessage":
		s.postMessage(&c, fail, answer)
	case method == "reactions.add":
		s.react(&c, fail, answer)
	default:
		fail("unknown_method")
	}
}

func (s *Server) postMessage(c *Call, fail func(string), answer func(int, map[string]string, map[string]any)) {
	if err := strictDecode(c.Body, &c.Message); err != nil {
		fail("invalid_arguments")
		return
	}
	m := c.Message
	if m.Channel == "" {
		fail("channel_not_found")
		return
	}
	if m.Text == "" && m.Blocks == nil && len(m.Attachments) == 0 {
		fail("no_text")
		return
	}
	channel := ChannelID(m.Channel)
	if m.ThreadTimestamp != "" && !s.posted[channel+"/"+m.ThreadTimestamp] {
		fail("thread_not_found")
		return
	}
	s.seq++
	c.TS = fmt.Sprintf("1700000000.%06d", s.seq)
	s.posted[channel+"/"+c.TS] = true
	answer(http.StatusOK, nil, map[string]any{"ok": true, "channel": channel, "ts": c.TS})
}

func (s *Server) react(c *Call, fail func(string), answer func(int, map[string]string, map[string]any)) {
	if err := strictDecode(c.Body, &c.Reaction); err != nil || c.Reaction.Name == "" {
		fail("invalid_arguments")
		return
	}
	msg := c.Reaction.Channel + "/" + c.Reaction.Timestamp
	switch {
	case !s.posted[msg]:
		fail("message_not_found")
	case s.reactions[msg+"/"+c.Reaction.Name]:
		fail("already_reacted")
	default:
		s.reactions[msg+"/"+c.Reaction.Name] = true
		answer(http.StatusOK, nil, map[string]any{"ok": true})
	}
}

// strictDecode decodes body into v, refusing fields v does not know.
func strictDecode(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
