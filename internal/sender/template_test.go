package sender

import (
	"context"
	"strings"
	"testing"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/destination/descriptor"
)

// TestSendersRefuseAnUnusableTemplate: every sender with a messageTemplate refuses one that
// cannot work on any result when it is built.
func TestSendersRefuseAnUnusableTemplate(t *testing.T) {
	// Every sender with a messageTemplate refuses such a template when it is built.
	for typ, settings := range map[v1alpha1.DestinationType]descriptor.Settings{
		v1alpha1.DestinationSlack:      {"url": "https://h/"},
		v1alpha1.DestinationDiscord:    {"url": "https://h/"},
		v1alpha1.DestinationTeams:      {"url": "https://h/"},
		v1alpha1.DestinationGoogleChat: {"url": "https://h/"},
		v1alpha1.DestinationTelegram:   {"token": telegramTestToken, "chatID": "1"},
	} {
		_, err := New(context.Background(), Config{Type: typ, Settings: settings, MessageTemplate: `{{ .Resource.Nope }}`})
		if want := string(typ) + ": messageTemplate: "; err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: got %v, want an error starting with %q", typ, err, want)
		}
	}
}
