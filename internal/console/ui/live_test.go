package ui_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	wgpolicyv1alpha2 "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
	"github.com/policyherald/policy-herald/internal/console/consoletest/run"
)

// events is a person's open event stream: each "change" event arrives on the channel.
type events struct {
	changes chan string
	open    chan struct{} // closed at the stream's first line: the console has registered it
	closed  chan struct{}
	cancel  func()
}

// subscribe opens person's event stream at base.
func subscribe(t *testing.T, base, token string) *events {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		cancel()
		t.Fatalf("the event stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	ev := &events{changes: make(chan string, 100), open: make(chan struct{}), closed: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(ev.closed)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var id string
		for first := true; sc.Scan(); first = false {
			line := sc.Text()
			if first {
				close(ev.open)
			}
			switch {
			case strings.HasPrefix(line, "id: "):
				id = strings.TrimPrefix(line, "id: ")
			case line == "event: change":
				ev.changes <- id
			}
		}
	}()
	t.Cleanup(cancel)
	select {
	case <-ev.open:
	case <-ev.closed:
		t.Fatal("the event stream ended before its first line")
	case <-time.After(10 * time.Second):
		t.Fatal("the event stream sent no first line in 10 s")
	}
	return ev
}

// next says whether an event arrives within d.
func (ev *events) next(d time.Duration) bool {
	select {
	case <-ev.changes:
		return true
	case <-time.After(d):
		return false
	}
}

// count returns the events that arrive within d.
func (ev *events) count(d time.Duration) int {
	n := 0
	deadline := time.After(d)
	for {
		select {
		case <-ev.changes:
			n++
		case <-deadline:
			return n
		}
	}
}

// touch adds a result to the report ns/name, so the store sees it change.
func (e *env) touch(t *testing.T, ns, name string) {
	t.Helper()
	e.addResult(t, ns, name, wgpolicyv1alpha2.PolicyReportResult{Policy: "touched", Result: "pass", Source: "test"})
}

// addResult adds result to the report ns/name.
func (e *env) addResult(t *testing.T, ns, name string, result wgpolicyv1alpha2.PolicyReportResult) {
	t.Helper()
	var r wgpolicyv1alpha2.PolicyReport
	if err := e.K8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &r); err != nil {
		t.Fatal(err)
	}
	r.Results = append(r.Results, result)
	if err := e.K8s.Update(context.Background(), &r); err != nil {
		t.Fatal(err)
	}
	e.Results[ns]++
}

// TestLiveUpdates: a change reaches the streams of the people who may see it, and only
// theirs; a burst of changes is one event, or two, not one per change.
func TestLiveUpdates(t *testing.T) {
	e := console(t)
	alice, carol, bob := subscribe(t, e.base, e.Tokens["alice"]), subscribe(t, e.base, e.Tokens["carol"]), subscribe(t, e.base, e.Tokens["bob"])

	e.touch(t, "team-b", "secret")
	if !carol.next(5 * time.Second) {
		t.Error("carol got no event for a change in team-b")
	}
	if n := alice.count(200 * time.Millisecond); n != 0 {
		t.Errorf("alice got %d events for a change in team-b, which she may not see", n)
	}

	for range 5 {
		e.touch(t, "team-a", "xss")
	}
	if !alice.next(5 * time.Second) {
		t.Error("alice got no event for changes in team-a")
	}
	if n := alice.count(1500 * time.Millisecond); n > 1 {
		t.Errorf("alice got %d more events for a burst of 5 changes in team-a, want 1 at most", n)
	}
	if n := bob.count(100 * time.Millisecond); n != 0 {
		t.Errorf("bob, who may see nothing, got %d events", n)
	}
	if status, _, _ := e.get(t, "", "/api/v1/events"); status != http.StatusUnauthorized {
		t.Errorf("an event stream without a token: %d, want 401", status)
	}
}

// TestLiveShutdown: stopping the console ends its open streams at once, so the HTTP server's
// shutdown does not wait for them.
func TestLiveShutdown(t *testing.T) {
	e := console(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base, stopped, err := run.Console(ctx, e.Cfg, zap.New(zap.WriteTo(io.Discard)))
	if err != nil {
		t.Fatal(err)
	}
	ev := subscribe(t, base, e.Tokens["carol"])
	start := time.Now()
	cancel()
	select {
	case <-ev.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream did not end on shutdown")
	}
	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("the console stopped with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the console did not stop")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the console took %s to stop with a stream open", d)
	}
}
