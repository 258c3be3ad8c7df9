package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/testing/wait"
)

// testObject is the sample NotificationTarget or TargetChannel name, typed.
func testObject(kind, name string) client.Object {
	meta := metav1.ObjectMeta{Namespace: samplesNS, Name: name}
	if kind == "TargetChannel" {
		return &v1alpha1.TargetChannel{ObjectMeta: meta}
	}
	return &v1alpha1.NotificationTarget{ObjectMeta: meta}
}

// setLastTest sets status.lastTest of a NotificationTarget or TargetChannel.
func setLastTest(obj client.Object, last *v1alpha1.TestMessageStatus) {
	switch o := obj.(type) {
	case *v1alpha1.NotificationTarget:
		o.Status.LastTest = last
	case *v1alpha1.TargetChannel:
		o.Status.LastTest = last
	}
}

// operator plays the operator's side of one test message on the sample kind/name: it waits for
// a new send-test value and records outcome and reason for it in status.lastTest.
func operator(t *testing.T, kind, name, before string, outcome v1alpha1.TestOutcome, reason string) <-chan string {
	answered := make(chan string, 1)
	go func() {
		defer close(answered)
		ctx := context.Background()
		// Until returns true to stop on an error too; t.Error has said it.
		wait.Until(20*time.Second, func() bool {
			obj := testObject(kind, name)
			if err := world.K8s.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
				t.Error(err)
				return true
			}
			v := obj.GetAnnotations()[v1alpha1.AnnotationSendTest]
			if v == "" || v == before {
				return false
			}
			setLastTest(obj, &v1alpha1.TestMessageStatus{Value: v, Time: metav1.Now(), Outcome: outcome, Reason: reason})
			if err := world.K8s.Status().Update(ctx, obj); err != nil {
				t.Error(err)
				return true
			}
			answered <- v
			return true
		})
	}()
	return answered
}

func annotation(t *testing.T, kind, name string) string {
	obj := testObject(kind, name)
	if err := world.K8s.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
		t.Fatal(err)
	}
	return obj.GetAnnotations()[v1alpha1.AnnotationSendTest]
}

// TestSendTest: test sets a new send-test value and prints the outcome the operator records
// for that value (the status is written here as the operator would; test/e2e runs the real operator).
func TestSendTest(t *testing.T) {
	applySamples(t)
	ctx := context.Background()
	for _, c := range []struct {
		kind, name       string
		args             []string
		outcome          v1alpha1.TestOutcome
		reason           string
		wantOut, wantErr string
	}{
		{"NotificationTarget", "platform-webhook", []string{"test", "platform-webhook"}, v1alpha1.TestSucceeded, "HTTP 200",
			"notificationtarget/platform-webhook: test message Succeeded: HTTP 200\n", ""},
		{"TargetChannel", "team-a", []string{"test", "channel", "team-a"}, v1alpha1.TestFailed, "POST: 404 Not Found",
			"", "targetchannel/team-a: test message Failed: POST: 404 Not Found"},
	} {
		answered := operator(t, c.kind, c.name, annotation(t, c.kind, c.name), c.outcome, c.reason)
		out, _, err := herald(t, ctx, "admin", append(c.args, "-n", samplesNS)...)
		value := <-answered
		if out != c.wantOut || (err == nil) != (c.wantErr == "") || (err != nil && err.Error() != c.wantErr) {
			t.Errorf("%v: printed %q, err %v; want %q, %q", c.args, out, err, c.wantOut, c.wantErr)
		}
		if value == "" || annotation(t, c.kind, c.name) != value {
			t.Errorf("%v: the operator saw value %q", c.args, value)
		}
	}
	// A second test is a new value: an old answer is not taken for it.
	_, _, err := herald(t, ctx, "admin", "test", "platform-webhook", "-n", samplesNS, "--timeout", "1s")
	if err == nil || !strings.Contains(err.Error(), "still pending after 1s") || !strings.Contains(err.Error(), "the last recorded is") {
		t.Errorf("unanswered: %v; want it to say what is pending", err)
	}
}

// TestSendTestErrors: a missing target, and a person without permission to patch it.
func TestSendTestErrors(t *testing.T) {
	applySamples(t)
	for _, c := range []struct {
		user string
		args []string
		want string
	}{
		{"admin", []string{"test", "nothing-here"}, `notificationtarget/nothing-here not found in namespace "policy-herald-system"`},
		{"bob", []string{"test", "platform-webhook"}, `no permission to patch notificationtargets.reporting.policyherald.io in namespace "policy-herald-system"`},
		{"bob", []string{"test", "channel", "team-a"}, `no permission to patch targetchannels.reporting.policyherald.io`},
	} {
		_, _, err := herald(t, context.Background(), c.user, append(c.args, "-n", samplesNS)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %v: %v; want %q", c.user, c.args, err, c.want)
		}
	}
}
