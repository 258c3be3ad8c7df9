// Package wait polls for what a test waits for, instead of sleeping a fixed time: a test
// waits only as long as the thing takes, and a slow machine only makes it slower, not flaky.
package wait

import (
	"testing"
	"time"
)

// maxInterval caps the polling interval; polls start at a millisecond and double, so a quick
// condition is seen at once and a slow one (a query to a real server) is not hammered.
const maxInterval = 50 * time.Millisecond

// Until polls cond until it returns true or timeout has passed, and says whether it returned
// true. Use it where the caller reports the failure itself.
func Until(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for interval := time.Millisecond; ; interval = min(2*interval, maxInterval) {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(interval)
	}
}

// For polls cond until it returns true, and fails t, naming what it waited for, when timeout
// passes first.
func For(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Until(timeout, cond) {
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
}
