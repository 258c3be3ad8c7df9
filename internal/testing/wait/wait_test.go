package wait

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestUntilPollsUntilTheConditionHolds(t *testing.T) {
	var calls atomic.Int32
	if !Until(5*time.Second, func() bool { return calls.Add(1) == 3 }) {
		t.Fatal("Until gave up on a condition that became true")
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("cond called %d times, want 3 (stop at the first true)", n)
	}
}

func TestUntilGivesUpAfterTheTimeout(t *testing.T) {
	start := time.Now()
	if Until(20*time.Millisecond, func() bool { return false }) {
		t.Fatal("Until reported a condition that never held")
	}
	if took := time.Since(start); took < 20*time.Millisecond {
		t.Errorf("gave up after %v, before the 20ms timeout", took)
	}
}
