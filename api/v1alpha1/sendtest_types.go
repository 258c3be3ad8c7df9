package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AnnotationSendTest on a NotificationTarget or TargetChannel asks the operator for one test
// message through its destination: each new value is answered once, in status.lastTest.
// `kubectl herald test` writes it.
const AnnotationSendTest = "reporting.policyherald.io/send-test"

// TestOutcome says whether the destination accepted a test message.
// +kubebuilder:validation:Enum=Succeeded;Failed
type TestOutcome string

// Values of TestOutcome.
const (
	TestSucceeded TestOutcome = "Succeeded"
	TestFailed    TestOutcome = "Failed"
)

// TestMessageStatus is the answer to the last test message requested with the annotation
// reporting.policyherald.io/send-test (for example by `kubectl herald test`). A test message is
// one synthetic result of the policy policy-herald-test, sent once per annotation value with a
// single attempt through the object's own destination; it passes no filter and counts in no
// delivery status.
type TestMessageStatus struct {
	// Value is the annotation value this answers; a new value sends a new test message.
	Value string `json:"value"`

	// Time is when the test message was answered.
	Time metav1.Time `json:"time"`

	// Outcome is Succeeded when the destination accepted the test message, Failed otherwise.
	Outcome TestOutcome `json:"outcome"`

	// Reason says what the destination answered, or why nothing was sent (the object is not
	// ready); without credentials or full URLs.
	// +optional
	Reason string `json:"reason,omitempty"`
}
