package delivery

import (
	"context"
	"sync"
	"testing"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/filter"
	"github.com/policyherald/policy-herald/internal/sender"
	"github.com/policyherald/policy-herald/internal/testing/wait"
)

// threader is a resolver that posts each batch as one message, thread "C1/<first result>",
// and records the thread and closedness each resolution got back, by result.
type threader struct {
	resolver
	tmu     sync.Mutex
	threads map[string]string // result → thread it was resolved with ("" none)
	closed  map[string]bool
}

func (r *threader) Send(ctx context.Context, b sender.Batch) error {
	if err := r.resolver.Send(ctx, b); err != nil {
		return err
	}
	if b.Posted != nil && len(b.Results) > 0 {
		b.Posted("C1/"+nameOf(&b.Results[0]), b.Results)
	}
	return nil
}

func (r *threader) Resolve(ctx context.Context, b sender.Batch) error {
	r.tmu.Lock()
	for i := range b.Results {
		th := b.Threads[b.Results[i].Hash]
		r.threads[nameOf(&b.Results[i])] = th
		r.closed[nameOf(&b.Results[i])] = b.Closed[th]
	}
	r.tmu.Unlock()
	return r.resolver.Resolve(ctx, b)
}

func newThreader() *threader {
	return &threader{resolver: resolver{recorder: recorder{max: 10}}, threads: map[string]string{}, closed: map[string]bool{}}
}

func (r *threader) threadOf(name string) (string, bool) {
	r.tmu.Lock()
	defer r.tmu.Unlock()
	return r.threads[name], r.closed[name]
}

// A resolution gets the thread its result was posted in, also after a restart (from the
// ledger), and is told when it closes the thread.
func TestResolutionsGetTheirThread(t *testing.T) {
	c := newClient()
	e1, stop1 := startEngine(t, c, testOptions())
	rec := newThreader()
	d := testConfig(t, rec, filter.Spec{}, "s")
	e1.Configure(d)
	p := e1.pipelineOf(t, d)
	e1.upsertReport(policyReport("team-a", "r", res("a", v1alpha1.StatusFail), res("b", v1alpha1.StatusFail)))
	settle(t, p)
	thread := "C1/" + rec.delivered()[0]
	e1.upsertReport(policyReport("team-a", "r", res("b", v1alpha1.StatusFail)))
	wait.For(t, patience, "a to be resolved", func() bool { return len(rec.resolvedIDs()) == 1 })
	if th, closed := rec.threadOf("a"); th != thread || closed {
		t.Errorf("a resolved in thread %q (closed %v), want %q, still open (b is in it)", th, closed, thread)
	}
	settle(t, p)
	stop1()

	// A new leader takes the thread from the ledger.
	e2, _ := startEngine(t, c, testOptions())
	e2.upsertReport(policyReport("team-a", "r", res("b", v1alpha1.StatusFail)))
	rec2 := newThreader()
	d.Sender = rec2
	e2.Configure(d)
	p2 := e2.pipelineOf(t, d)
	settle(t, p2)
	e2.upsertReport(policyReport("team-a", "r", res("b-passes", v1alpha1.StatusPass)))
	wait.For(t, patience, "b to be resolved", func() bool { return len(rec2.resolvedIDs()) == 1 })
	if th, closed := rec2.threadOf("b"); th != thread || !closed {
		t.Errorf("b resolved in thread %q (closed %v) after a restart, want %q, closed", th, closed, thread)
	}
	if n := p2.ledger.Threads(); n != 0 {
		t.Errorf("the ledger keeps %d threads once their results are resolved", n)
	}
}

// A sender that starts resolving (notifyResolved turned on) gets a pipeline that resolves
// what was delivered before.
func TestSenderThatStartsResolving(t *testing.T) {
	e, _ := startEngine(t, newClient(), testOptions())
	d := testConfig(t, &recorder{max: 10}, filter.Spec{}, "s")
	e.Configure(d)
	e.upsertReport(policyReport("team-a", "r", res("a", v1alpha1.StatusFail)))
	settle(t, e.pipelineOf(t, d))

	rec := newThreader()
	d.Sender, d.Fingerprint = rec, "s2"
	e.Configure(d)
	p := e.pipelineOf(t, d)
	settle(t, p)
	e.upsertReport(policyReport("team-a", "r"))
	wait.For(t, patience, "a to be resolved", func() bool { return len(rec.resolvedIDs()) == 1 })
	if th, _ := rec.threadOf("a"); th != "" {
		t.Errorf("a resolved in thread %q: it was posted by a sender that kept none", th)
	}
}
