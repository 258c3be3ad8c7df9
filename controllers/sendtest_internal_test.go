package controllers

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/destination"
	"github.com/policyherald/policy-herald/internal/tlsconfig"
)

// A value is sent once however often the object is reconciled before its cache shows the
// answer: while the message is in flight, and after it was answered but before the status
// write reached the cache. (envtest cannot hold the cache back; this drives the reconciler's
// part directly, against a real webhook sender and a loopback server.)
func TestSendTestOncePerValueWhileTheCacheLags(t *testing.T) {
	var hits atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		<-release
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	obj := &v1alpha1.NotificationTarget{ObjectMeta: metav1.ObjectMeta{
		Namespace: "team-a", Name: "hook", UID: "uid-1", Annotations: map[string]string{v1alpha1.AnnotationSendTest: "v1"},
	}}
	obj.Spec.Webhook = &v1alpha1.WebhookDestination{HTTPSettings: v1alpha1.HTTPSettings{URL: srv.URL + "/hook"}}
	res, err := destination.Resolve(&obj.Spec.Destinations, nil)
	if err != nil {
		t.Fatal(err)
	}
	ds := &deliverySpec{obj: obj, kind: "NotificationTarget", destType: res.Type, dest: res.Destination, settings: res.Settings,
		tls: &tlsconfig.Config{Config: &tls.Config{MinVersion: tls.VersionTLS12}}}
	var s sendTests
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.setup(ctx)

	for range 3 { // in flight: the cache shows no answer
		if got := s.answer(ctx, nil, obj, nil, ds, nil); got != nil {
			t.Fatalf("answered before the destination did: %+v", got)
		}
	}
	close(release)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the answer never woke the controller")
	}
	var answer *v1alpha1.TestMessageStatus
	for range 3 { // answered, the status write not in the cache yet
		answer = s.answer(ctx, nil, obj, nil, ds, nil)
		if answer == nil || answer.Value != "v1" || answer.Outcome != v1alpha1.TestSucceeded {
			t.Fatalf("answer = %+v, want v1 Succeeded", answer)
		}
	}
	if got := s.answer(ctx, nil, obj, answer, ds, nil); got != answer {
		t.Fatalf("with the answer in the status: %+v", got)
	}
	if n := hits.Load(); n != 1 {
		t.Fatalf("the destination got %d requests, want 1", n)
	}
	if len(s.tests) != 0 {
		t.Fatalf("an answer the status shows is still remembered: %v", s.tests)
	}
}
