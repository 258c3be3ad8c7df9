package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/policyherald/policy-herald/internal/sender"
	"github.com/policyherald/policy-herald/internal/textcut"
)

// startReceiver serves a webhook endpoint that prints each result it receives.
func startReceiver(addr string) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("starting the webhook receiver: %w", err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/slack/") {
			printSlack(w, r)
			return
		}
		var d sender.ResultDocument
		if err := json.NewDecoder(r.Body).Decode(&d); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if d.ID == "" {
			fmt.Printf("receiver: %s\n", "heartbeat")
			return
		}
		where := d.Report.Namespace + "/" + d.Report.Name
		if d.Resource != nil {
			where = d.Resource.Kind + " " + d.Resource.Namespace + "/" + d.Resource.Name
		}
		fmt.Printf("receiver: %-5s %-8s %-7s %s on %s %s\n", or(string(d.Status), "-"), or(string(d.Severity), "-"), d.Source,
			textcut.Cut(strings.Trim(d.Policy+"/"+d.Rule, "/"), 60), where, textcut.Cut(d.Message, 60))
		w.WriteHeader(http.StatusNoContent)
	})}
	go func() { _ = srv.Serve(ln) }()
	fmt.Printf("webhook receiver listening on http://%s\n", addr)
	return func() { _ = srv.Close() }, nil
}

// printSlack prints the notification text of a Slack message, as a phone would show it.
func printSlack(w http.ResponseWriter, r *http.Request) {
	var m struct {
		Channel string `json:"channel"`
		Text    string `json:"text"`
	}
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	for _, line := range strings.Split(m.Text, "\n") {
		fmt.Printf("receiver: slack %s%s %s\n", strings.TrimPrefix(r.URL.Path, "/slack/"), m.Channel, textcut.Cut(line, 120))
	}
	_, _ = w.Write([]byte("ok"))
}

func or(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}
