package controllers

import (
	"context"
	"errors"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/conditions"
	"github.com/policyherald/policy-herald/internal/delivery"
)

// maxTestValue bounds the send-test value: it is echoed in the message and the status.
const maxTestValue = 253

// sendTests answers the send-test annotation of one kind's objects: each new value once.
type sendTests struct {
	mu sync.Mutex
	// answered holds answers the cache may not show yet (the status write is in flight or
	// failed), so a reconcile in between does not send the same value again.
	answered map[types.UID]v1alpha1.TestMessageStatus
}

// answer returns the object's status.lastTest once its send-test annotation is answered: a new
// value sends one test message through ds (or fails with the problem that keeps the object
// from delivering); a value already answered sends nothing. A problem that is not a
// *conditions.Problem is retried by the reconcile, so it answers nothing yet.
func (s *sendTests) answer(ctx context.Context, rec events.EventRecorder, obj client.Object, last *v1alpha1.TestMessageStatus,
	ds *destinationSpec, problem error) *v1alpha1.TestMessageStatus {
	value, asked := obj.GetAnnotations()[v1alpha1.AnnotationSendTest]
	if last != nil && last.Value == value {
		s.forget(obj.GetUID())
		return last
	}
	if !asked || value == "" {
		return last
	}
	if a, ok := s.recall(obj.GetUID(), value); ok {
		return &a
	}
	var p *conditions.Problem
	if problem != nil && !errors.As(problem, &p) {
		return last
	}
	a := v1alpha1.TestMessageStatus{Value: value, Outcome: v1alpha1.TestFailed}
	if err := s.send(ctx, obj, value, ds, p); err != nil {
		a.Reason = err.Error()
	} else {
		a.Outcome, a.Reason = v1alpha1.TestSucceeded, "the destination accepted the test message"
	}
	a.Time = metav1.Now()
	s.remember(obj.GetUID(), a)
	reportTest(ctx, rec, obj, a)
	return &a
}

// send sends the test message, or says why it cannot go. Errors are safe to show: a sender's
// reason is redacted by the sender (see delivery.FailureReason), problems are the operator's.
func (s *sendTests) send(ctx context.Context, obj client.Object, value string, ds *destinationSpec, p *conditions.Problem) error {
	switch {
	case len(value) > maxTestValue:
		return fmt.Errorf("not sent: the %s value is longer than %d characters", v1alpha1.AnnotationSendTest, maxTestValue)
	case p != nil:
		return fmt.Errorf("not sent: the %s is not ready: %s", objectKind(obj), p.Message)
	}
	snd, err := ds.newSender(ctx)
	if err != nil {
		return fmt.Errorf("not sent: %w", err)
	}
	defer closeSender(snd)
	err = delivery.SendTest(ctx, snd, delivery.TestRequest{
		Kind: ds.kind, Namespace: obj.GetNamespace(), Name: obj.GetName(), UID: string(obj.GetUID()),
		Value: value, CustomFields: ds.custom,
	})
	if err != nil {
		return errors.New(delivery.FailureReason(err))
	}
	return nil
}

func (s *sendTests) recall(uid types.UID, value string) (v1alpha1.TestMessageStatus, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.answered[uid]
	return a, ok && a.Value == value
}

func (s *sendTests) remember(uid types.UID, a v1alpha1.TestMessageStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.answered == nil {
		s.answered = map[types.UID]v1alpha1.TestMessageStatus{}
	}
	s.answered[uid] = a
}

// forget drops an answer the status shows: the memory holds only answers in flight.
func (s *sendTests) forget(uid types.UID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.answered, uid)
}

// closeSender releases a sender's connections, as the pipeline does when it stops.
func closeSender(s any) {
	if c, ok := s.(interface{ Close() }); ok {
		c.Close()
	}
}

// reportTest logs the answer and records it as an Event on the object.
func reportTest(ctx context.Context, rec events.EventRecorder, obj client.Object, a v1alpha1.TestMessageStatus) {
	ctrl.LoggerFrom(ctx).Info("answered a send-test request", "value", a.Value, "outcome", a.Outcome, "reason", a.Reason)
	if rec == nil {
		return
	}
	eventType := corev1.EventTypeNormal
	if a.Outcome != v1alpha1.TestSucceeded {
		eventType = corev1.EventTypeWarning
	}
	rec.Eventf(obj, nil, eventType, "Test"+string(a.Outcome), "SendTest", "test message %q: %s", a.Value, a.Reason)
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
