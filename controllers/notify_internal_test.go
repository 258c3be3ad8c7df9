package controllers

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
)

// TestNotifyPolicyChatOnly: digests, rate limits and resolved notices are refused on a
// destination that is no chat, also on those that render messageTemplate (loki, jira), and
// accepted on every chat destination.
func TestNotifyPolicyChatOnly(t *testing.T) {
	n := v1alpha1.Notifications{
		Digest:         &v1alpha1.Digest{Interval: metav1.Duration{Duration: time.Hour}},
		RateLimit:      &v1alpha1.RateLimit{Messages: 10, Per: metav1.Duration{Duration: time.Minute}},
		NotifyResolved: ptr.To(true),
	}
	for _, typ := range []v1alpha1.DestinationType{v1alpha1.DestinationWebhook, v1alpha1.DestinationLoki, v1alpha1.DestinationJira, v1alpha1.DestinationAlertManager} {
		_, err := notifyPolicy(n, typ)
		if err == nil || !strings.Contains(err.Error(), "digest, rateLimit, notifyResolved: only chat destinations") {
			t.Errorf("%s: %v, want the chat-only refusal", typ, err)
		}
	}
	for _, typ := range []v1alpha1.DestinationType{v1alpha1.DestinationSlack, v1alpha1.DestinationTeams, v1alpha1.DestinationDiscord, v1alpha1.DestinationGoogleChat, v1alpha1.DestinationTelegram} {
		p, err := notifyPolicy(n, typ)
		if err != nil {
			t.Errorf("%s: %v", typ, err)
			continue
		}
		if p.Digest.MaxItems != defaultDigestItems || !p.SkipControlled || !p.NotifyResolved {
			t.Errorf("%s: %+v", typ, p)
		}
	}
}

// TestMode: status.mode in a few words.
func TestMode(t *testing.T) {
	n := v1alpha1.Notifications{}
	for _, c := range []struct {
		n    v1alpha1.Notifications
		want string
	}{
		{n, "each"},
		{v1alpha1.Notifications{ControlledResources: v1alpha1.ControlledResourcesInclude}, "each, controlled included"},
		{v1alpha1.Notifications{
			Digest:    &v1alpha1.Digest{Interval: metav1.Duration{Duration: 90 * time.Minute}, GroupBy: []v1alpha1.DigestGroup{"policy", "namespace"}},
			RateLimit: &v1alpha1.RateLimit{Messages: 10, Per: metav1.Duration{Duration: time.Hour}}, NotifyResolved: ptr.To(true),
		}, "digest 1h30m by policy,namespace, max 10/1h, resolved"},
	} {
		p, err := notifyPolicy(c.n, v1alpha1.DestinationSlack)
		if err != nil {
			t.Fatal(err)
		}
		if got := mode(p); got != c.want {
			t.Errorf("mode %q, want %q", got, c.want)
		}
	}
}
