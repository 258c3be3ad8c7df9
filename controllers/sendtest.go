package controllers

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/conditions"
	"github.com/policyherald/policy-herald/internal/delivery"
)

// maxTestValue bounds the send-test value: it is echoed in the message and the status.
const maxTestValue = 253

// sendTests answers the send-test annotation of one kind's objects: each new value once. The
// message goes out in its own goroutine, so a slow destination (up to delivery.TestTimeout)
// never holds up the reconciles of other objects; when it is answered, the object is
// reconciled again and the answer written to its status.
type sendTests struct {
	ctx  context.Context // the manager's: a test outlives the reconcile that starts it
	done chan event.GenericEvent

	mu sync.Mutex
	// tests holds each object's value being sent, then its answer until the status shows it
	// (the status write may fail, or the cache lag it), so no reconcile sends a value twice.
	tests map[types.UID]*testRun
}

// testRun is one value's test: in flight while answer is nil.
type testRun struct {
	value  string
	answer *v1alpha1.TestMessageStatus
}

// setup readies s to send for the manager's lifetime (ctx).
func (s *sendTests) setup(ctx context.Context) {
	s.ctx, s.done = ctx, make(chan event.GenericEvent, 16)
}

// source reconciles an object whose test was answered.
func (s *sendTests) source() source.Source {
	return source.Channel(s.done, &handler.EnqueueRequestForObject{})
}

// answer returns the object's status.lastTest: the answer to its send-test value once there is
// one. A new value starts one test through ds, or one that fails with the problem that keeps
// the object from delivering; a problem that is not a *conditions.Problem is retried by the
// reconcile, so it starts nothing yet.
func (s *sendTests) answer(ctx context.Context, rec events.EventRecorder, obj client.Object, last *v1alpha1.TestMessageStatus,
	ds *deliverySpec, problem error) *v1alpha1.TestMessageStatus {
	value, asked := obj.GetAnnotations()[v1alpha1.AnnotationSendTest]
	if last != nil && last.Value == value {
		s.forget(obj.GetUID())
		return last
	}
	var p *conditions.Problem
	if !asked || value == "" || (problem != nil && !errors.As(problem, &p)) {
		return last
	}
	run, started := s.start(obj.GetUID(), value)
	switch {
	case run.answer != nil:
		return run.answer
	case started:
		go s.run(newTest(ctx, rec, obj, value, ds, p))
	}
	return last
}

// test is what one test message needs.
type test struct {
	obj     client.Object
	value   string
	ds      *deliverySpec
	problem *conditions.Problem
	rec     events.EventRecorder
	log     logr.Logger
}

// newTest copies what the test reads of the object: the reconcile goes on writing to it.
func newTest(ctx context.Context, rec events.EventRecorder, obj client.Object, value string, ds *deliverySpec, p *conditions.Problem) *test {
	t := &test{obj: obj.DeepCopyObject().(client.Object), value: value, problem: p, rec: rec, log: ctrl.LoggerFrom(ctx)}
	if ds != nil {
		own := *ds
		own.obj, own.delivery = t.obj, nil
		t.ds = &own
	}
	return t
}

// run sends the test message, keeps the answer and wakes the controller to write it.
func (s *sendTests) run(t *test) {
	a := v1alpha1.TestMessageStatus{Value: t.value, Outcome: v1alpha1.TestFailed}
	if err := t.send(s.ctx); err != nil {
		a.Reason = err.Error()
	} else {
		a.Outcome, a.Reason = v1alpha1.TestSucceeded, "the destination accepted the test message"
	}
	a.Time = metav1.Now()
	s.finish(t.obj.GetUID(), &a)
	t.report(&a)
	select {
	case s.done <- event.GenericEvent{Object: t.obj}:
	case <-s.ctx.Done():
	}
}

// send sends the test message, or says why it cannot go. Errors are safe to show: a sender's
// reason is redacted by the sender (see delivery.FailureReason), problems are the operator's.
func (t *test) send(ctx context.Context) error {
	switch {
	case len(t.value) > maxTestValue:
		return fmt.Errorf("not sent: the %s value is longer than %d characters", v1alpha1.AnnotationSendTest, maxTestValue)
	case t.problem != nil:
		return fmt.Errorf("not sent: the %s is not ready: %s", objectKind(t.obj), t.problem.Message)
	}
	snd, err := t.ds.newSender(ctx)
	if err != nil {
		return fmt.Errorf("not sent: %w", err)
	}
	defer closeSender(snd)
	err = delivery.SendTest(ctx, snd, delivery.TestRequest{
		Kind: t.ds.kind, Namespace: t.obj.GetNamespace(), Name: t.obj.GetName(), UID: string(t.obj.GetUID()),
		Value: t.value, CustomFields: t.ds.custom,
	})
	if err != nil {
		return errors.New(delivery.FailureReason(err))
	}
	return nil
}

// report logs the answer and records it as an Event on the object.
func (t *test) report(a *v1alpha1.TestMessageStatus) {
	t.log.Info("answered a send-test request", "value", a.Value, "outcome", a.Outcome, "reason", a.Reason)
	if t.rec == nil {
		return
	}
	eventType := corev1.EventTypeNormal
	if a.Outcome != v1alpha1.TestSucceeded {
		eventType = corev1.EventTypeWarning
	}
	t.rec.Eventf(t.obj, nil, eventType, "Test"+string(a.Outcome), "SendTest", "test message %q: %s", a.Value, a.Reason)
}

// start returns the object's test of value, registering a new one (started) unless there is
// one; a new value replaces a test of another value.
func (s *sendTests) start(uid types.UID, value string) (run testRun, started bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.tests[uid]; ok && r.value == value {
		return *r, false
	}
	if s.tests == nil {
		s.tests = map[types.UID]*testRun{}
	}
	s.tests[uid] = &testRun{value: value}
	return testRun{value: value}, true
}

// finish keeps the answer, unless a newer value replaced the test meanwhile.
func (s *sendTests) finish(uid types.UID, a *v1alpha1.TestMessageStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.tests[uid]; ok && r.value == a.Value {
		r.answer = a
	}
}

// forget drops a test the status shows: the memory holds only tests in flight or not yet shown.
func (s *sendTests) forget(uid types.UID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tests, uid)
}

// closeSender releases a sender's connections, as the pipeline does when it stops.
func closeSender(s any) {
	if c, ok := s.(interface{ Close() }); ok {
		c.Close()
	}
}

func objectKind(obj client.Object) string {
	if _, ok := obj.(*v1alpha1.TargetChannel); ok {
		return "TargetChannel"
	}
	return "NotificationTarget"
}

// specOrTestChanged passes what specChanged passes and a new send-test value, an annotation
// change that leaves the generation alone.
func specOrTestChanged() predicate.Predicate {
	return predicate.Or(specChanged(), predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			return e.ObjectOld.GetAnnotations()[v1alpha1.AnnotationSendTest] != e.ObjectNew.GetAnnotations()[v1alpha1.AnnotationSendTest]
		},
		CreateFunc:  func(event.CreateEvent) bool { return false },
		DeleteFunc:  func(event.DeleteEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
	})
}
