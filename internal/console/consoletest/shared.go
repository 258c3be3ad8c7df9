package consoletest

import (
	"sync"
	"testing"
)

// Shared is what a package's tests share (its test cluster): started once, by the first test
// that needs it, and stopped after them all.
type Shared[T any] struct {
	once  sync.Once
	v     T
	err   error
	stops []func()
}

// Get starts it with start on the first call; t fails at once if it could not start.
func (s *Shared[T]) Get(t testing.TB, start func() (T, error)) T {
	t.Helper()
	s.once.Do(func() { s.v, s.err = start() })
	if s.err != nil {
		t.Fatalf("test cluster: %v", s.err)
	}
	return s.v
}

// OnStop has f run after the package's tests, the last given first.
func (s *Shared[T]) OnStop(f func()) { s.stops = append(s.stops, f) }

// Main runs the package's tests, then what OnStop was given, and returns the exit code:
// TestMain is os.Exit(shared.Main(m)).
func (s *Shared[T]) Main(m *testing.M) int {
	code := m.Run()
	for i := len(s.stops) - 1; i >= 0; i-- {
		s.stops[i]()
	}
	return code
}
