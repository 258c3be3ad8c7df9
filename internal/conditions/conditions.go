// Package conditions sets the Ready, Reconciling and Stalled conditions the way kstatus and
// Argo CD read them, so every kind reports health the same way.
package conditions

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
)

// Object is a Policy Herald object with status conditions.
type Object interface {
	client.Object
	GetConditions() *[]metav1.Condition
	SetObservedGeneration(int64)
}

// Problem is why an object is not Ready. Stalled problems need a person to change the object or
// something it references; the others may clear up on their own.
type Problem struct {
	Reason  string
	Message string
	Stalled bool
	// Progressing problems are work under way: Reconciling is set.
	Progressing bool
	// RetryAfter, when set, has the object looked at again after it: for problems that clear
	// up without any event that would wake its controller.
	RetryAfter time.Duration
}

// Error makes a Problem usable as an error.
func (p *Problem) Error() string { return p.Reason + ": " + p.Message }

// Stalled returns a Problem that needs a person to act.
func Stalled(reason, message string) *Problem {
	return &Problem{Reason: reason, Message: message, Stalled: true}
}

// Transient returns a Problem expected to clear up without a change to the object.
func Transient(reason, message string) *Problem {
	return &Problem{Reason: reason, Message: message}
}

// Progressing returns a Problem for work under way.
func Progressing(reason, message string) *Problem {
	return &Problem{Reason: reason, Message: message, Progressing: true}
}

// MarkReady records that the object works as specified.
func MarkReady(obj Object, message string) {
	markTrue(obj, v1alpha1.ReasonReady, message)
}

// MarkSuspended records that the object is valid and paused by its owner. Ready stays True:
// a suspension is what the owner asked for, not a fault, and must not fail an Argo CD sync.
func MarkSuspended(obj Object, message string) {
	markTrue(obj, v1alpha1.ReasonSuspended, message)
}

func markTrue(obj Object, reason, message string) {
	set(obj, v1alpha1.ConditionReady, metav1.ConditionTrue, reason, message)
	meta.RemoveStatusCondition(obj.GetConditions(), v1alpha1.ConditionStalled)
	meta.RemoveStatusCondition(obj.GetConditions(), v1alpha1.ConditionReconciling)
	obj.SetObservedGeneration(obj.GetGeneration())
}

// MarkNotReady records why the object does not work. A stalled problem also sets Stalled, so
// kstatus reports the object as failed instead of in progress.
func MarkNotReady(obj Object, p *Problem) {
	set(obj, v1alpha1.ConditionReady, metav1.ConditionFalse, p.Reason, p.Message)
	if p.Progressing {
		set(obj, v1alpha1.ConditionReconciling, metav1.ConditionTrue, p.Reason, p.Message)
	} else {
		meta.RemoveStatusCondition(obj.GetConditions(), v1alpha1.ConditionReconciling)
	}
	if p.Stalled {
		set(obj, v1alpha1.ConditionStalled, metav1.ConditionTrue, p.Reason, p.Message)
	} else {
		meta.RemoveStatusCondition(obj.GetConditions(), v1alpha1.ConditionStalled)
	}
	obj.SetObservedGeneration(obj.GetGeneration())
}

// Ready returns the Ready condition, or nil if it is not set.
func Ready(obj Object) *metav1.Condition {
	return meta.FindStatusCondition(*obj.GetConditions(), v1alpha1.ConditionReady)
}

// IsReady tells whether the Ready condition is True.
func IsReady(obj Object) bool {
	return meta.IsStatusConditionTrue(*obj.GetConditions(), v1alpha1.ConditionReady)
}

func set(obj Object, condType string, status metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(obj.GetConditions(), metav1.Condition{
		Type:               condType,
		Status:             status,
		Reason:             reason,
		Message:            message,
		ObservedGeneration: obj.GetGeneration(),
	})
}
