package store

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
)

// TestStopWhileStartingSaysNothingAlarming: a store stopped at any moment of its start (the
// console or the operator shutting down, a replica replaced before it synced) returns without
// an error and logs, even at debug verbosity, nothing that says an installed API is missing or
// that something was cancelled: a cancelled start is not an API that is not installed.
func TestStopWhileStartingSaysNothingAlarming(t *testing.T) {
	for _, after := range []time.Duration{0, time.Millisecond, 5 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond} {
		logs := &logLines{}
		ctx, cancel := context.WithCancel(context.Background())
		s := newOnCluster(ctx, t, funcr.New(logs.add, funcr.Options{Verbosity: 10}))
		done := make(chan error, 1)
		go func() { done <- s.Start(ctx) }()
		time.Sleep(after)
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("stopped after %v: Start returned %v, want nil", after, err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("stopped after %v: Start did not return", after)
		}
		logs.mu.Lock()
		for _, line := range logs.lines {
			// The openreports.io CRDs are not installed here: saying so is right.
			if strings.Contains(line, "canceled") || strings.Contains(line, "not installed") && strings.Contains(line, "wgpolicyk8s.io") {
				t.Errorf("stopped after %v, logged: %s", after, line)
			}
		}
		logs.mu.Unlock()
	}
}
