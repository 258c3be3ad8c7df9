package cli

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/policyherald/policy-herald/internal/console/consoletest/reportgen"
)

// Benchmark size: 1,000 Kyverno-like PolicyReports of 100 results in 20 namespaces.
const (
	benchReports    = 1000
	benchResults    = 100
	benchNamespaces = 20
)

var benchOnce sync.Once

// createBenchReports creates the benchmark's reports once (they stay for the package's other
// benchmarks; tests do not run with them: they run before, or without -bench).
func createBenchReports(b *testing.B) {
	benchOnce.Do(func() {
		ctx := context.Background()
		for i := range benchNamespaces {
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("team-%d", i)}}
			if err := world.K8s.Create(ctx, ns); err != nil {
				b.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		errs := make(chan error, benchReports)
		sem := make(chan struct{}, 16)
		for i := range benchReports {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				if err := world.K8s.Create(ctx, reportgen.KyvernoReport(i, benchResults, benchNamespaces, 3)); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
		// One unmeasured list, so no run measures the API server still settling the creates.
		root := newRoot(genericiooptions.IOStreams{Out: io.Discard, ErrOut: io.Discard})
		root.SetArgs([]string{"--kubeconfig", kubeconfigs["admin"], "results", "list", "-A"})
		if err := root.ExecuteContext(ctx); err != nil {
			b.Fatal(err)
		}
	})
}

// firstWrite records when the first byte is written.
type firstWrite struct {
	at atomic.Int64
}

func (f *firstWrite) Write(p []byte) (int, error) {
	f.at.CompareAndSwap(0, time.Now().UnixNano())
	return len(p), nil
}

// heapPeak samples the heap's objects (live and not yet collected) every millisecond until
// stopped, and returns the largest sample.
func heapPeak() (stop func() uint64) {
	done := make(chan struct{})
	peak := make(chan uint64)
	go func() {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		var max uint64
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			max = maxOf(max, s[0].Value.Uint64())
			select {
			case <-done:
				peak <- max
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(done); return <-peak }
}

func maxOf(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}

// BenchmarkListAll is `kubectl herald results list -A` over 100,000 results on a real API
// server: time to the first row printed, and the process's peak heap while it runs.
//
//	go test ./internal/cli/ -run '^$' -bench ListAll -benchtime 5x
func BenchmarkListAll(b *testing.B) {
	createBenchReports(b)
	for _, size := range []int64{100, 250, 500} {
		b.Run(fmt.Sprintf("page=%d", size), func(b *testing.B) { benchList(b, size) })
	}
}

func benchList(b *testing.B, pageSize int64) {
	var first, total time.Duration
	var peak uint64
	for b.Loop() {
		runtime.GC()
		out := &firstWrite{}
		root := newRoot(genericiooptions.IOStreams{In: nil, Out: out, ErrOut: io.Discard}, func(o *Options) { o.PageSize = pageSize })
		root.SetArgs([]string{"--kubeconfig", kubeconfigs["admin"], "results", "list", "-A"})
		stop := heapPeak()
		start := time.Now()
		if err := root.ExecuteContext(context.Background()); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		peak = maxOf(peak, stop())
		first += time.Unix(0, out.at.Load()).Sub(start)
	}
	n := float64(b.N)
	b.ReportMetric(first.Seconds()/n, "s-first-row")
	b.ReportMetric(total.Seconds()/n, "s-total")
	b.ReportMetric(float64(peak)/(1<<20), "MiB-peak-heap")
}
