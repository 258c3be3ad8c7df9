package main

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestExitCode(t *testing.T) {
	running := context.Background()
	stopped, cancel := context.WithCancel(context.Background())
	cancel()
	failure := errors.New("listen tcp 127.0.0.1:8080: bind: address already in use")
	for _, tc := range []struct {
		name string
		ctx  context.Context
		err  error
		want int
	}{
		{"a clean stop after Ctrl-C", stopped, nil, 0},
		{"Ctrl-C while the samples were applied", stopped, fmt.Errorf("applying config/samples: %w", context.Canceled), 0},
		{"the operator's shutdown, canceled by Ctrl-C", stopped, context.Canceled, 0},
		{"a failure", running, failure, 1},
		{"a failure during the shutdown", stopped, fmt.Errorf("failed waiting for all runnables to end within grace period: %w", context.DeadlineExceeded), 1},
		{"a cancellation nobody asked for", running, context.Canceled, 1},
		{"a second Ctrl-C", stopped, errForced, 130},
	} {
		if got := exitCode(tc.ctx, tc.err); got != tc.want {
			t.Errorf("%s: exit code %d, want %d", tc.name, got, tc.want)
		}
	}
}
