package sender

import (
	"errors"
	"testing"

	"github.com/policyherald/policy-herald/internal/destination"
)

// sampleSettings holds a valid value for each setting a descriptor may require.
var sampleSettings = destination.Settings{
	"url":    "https://receiver.example.com/hook",
	"token":  telegramTestToken,
	"chatID": "-1001234567890",
}

// required returns the sample values of d's required settings.
func required(t *testing.T, d destination.Descriptor) destination.Settings {
	t.Helper()
	s := destination.Settings{}
	for _, k := range d.Required {
		v, ok := sampleSettings[k]
		if !ok {
			t.Fatalf("%s requires %s: add a sample value to sampleSettings", d.Type, k)
		}
		s[k] = v
	}
	return s
}

func TestEveryFactoryHasADescriptor(t *testing.T) {
	for typ := range factories {
		if _, ok := destination.Lookup(typ); !ok {
			t.Errorf("sender %s has no destination.Descriptor", typ)
		}
	}
	for _, d := range destination.Descriptors() {
		if _, ok := factories[d.Type]; ok {
			continue
		}
		if _, err := New(Config{Type: d.Type}); !errors.Is(err, ErrNotSupported) {
			t.Errorf("%s has no factory, but New returns %v", d.Type, err)
		}
	}
}

// TestDescriptorsRequireWhatSendersNeed builds every sender from its descriptor's required
// settings alone, then without each of them: CheckComplete stalls on exactly what the sender
// cannot do without.
func TestDescriptorsRequireWhatSendersNeed(t *testing.T) {
	// The AWS senders of a platform object without keys take the operator's region, as the SDK
	// does, from its environment.
	t.Setenv("AWS_REGION", "eu-central-1")
	for _, d := range destination.Descriptors() {
		if _, ok := factories[d.Type]; !ok {
			continue
		}
		s := required(t, d)
		// As a platform-namespace object: cloud destinations without keys use the operator's
		// identity there, and only there (a tenant's is refused without its keys).
		if _, err := New(Config{Type: d.Type, Settings: s, AmbientCredentials: true}); err != nil {
			t.Errorf("%s with its required settings %v: %v", d.Type, d.Required, err)
		}
		for _, k := range d.Required {
			less := destination.Settings{}
			for kk, v := range s {
				if kk != k {
					less[kk] = v
				}
			}
			if _, err := New(Config{Type: d.Type, Settings: less, AmbientCredentials: true}); err == nil {
				t.Errorf("%s builds without %s, which its descriptor requires", d.Type, k)
			}
		}
	}
}

// TestDescriptorsSayWhichSendersRenderTemplates: a sender that renders messageTemplate parses
// it when it is built, so a broken one fails; one that does not, ignores it. The controllers
// refuse a template where the descriptor says it would be ignored.
func TestDescriptorsSayWhichSendersRenderTemplates(t *testing.T) {
	// The AWS senders of a platform object without keys take the operator's region, as the SDK
	// does, from its environment.
	t.Setenv("AWS_REGION", "eu-central-1")
	for _, d := range destination.Descriptors() {
		if _, ok := factories[d.Type]; !ok {
			if d.Template {
				t.Errorf("%s says it renders messageTemplate but has no sender", d.Type)
			}
			continue
		}
		_, err := New(Config{Type: d.Type, Settings: required(t, d), AmbientCredentials: true, MessageTemplate: "{{ .Policy "})
		if renders := err != nil; renders != d.Template {
			t.Errorf("%s: descriptor Template = %v, but building with a broken template returns %v", d.Type, d.Template, err)
		}
	}
}
