package sender

import (
	"context"
	"slices"
	"testing"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/destination/descriptor"
)

// sampleSettings holds a valid value for each setting a descriptor may require.
var sampleSettings = descriptor.Settings{
	"url":    "https://receiver.example.com/hook",
	"token":  telegramTestToken,
	"chatID": "-1001234567890",
	// Slack's Web API takes a bot token and a channel.
	"channel": "#policy",
}

// required returns the sample values of d's required settings, and of its first alternative.
func required(t *testing.T, d descriptor.Descriptor) descriptor.Settings {
	t.Helper()
	s := descriptor.Settings{}
	need := slices.Clone(d.Required)
	if len(d.Alternatives) > 0 {
		need = append(need, d.Alternatives[0]...)
	}
	for _, k := range need {
		v, ok := sampleSettings[k]
		if !ok {
			t.Fatalf("%s requires %s: add a sample value to sampleSettings", d.Type, k)
		}
		s[k] = v
	}
	return s
}

// descriptorOf returns the descriptor of typ (TestNewUnsupportedAndMismatch holds every type to
// have one).
func descriptorOf(t *testing.T, typ v1alpha1.DestinationType) descriptor.Descriptor {
	t.Helper()
	i := slices.IndexFunc(Descriptors(), func(d descriptor.Descriptor) bool { return d.Type == typ })
	if i < 0 {
		t.Fatalf("%s has no descriptor", typ)
	}
	return Descriptors()[i]
}

// TestDescriptorsRequireWhatSendersNeed builds every sender from its descriptor's required
// settings alone (with each of its alternatives, if any), then without each of them:
// CheckComplete stalls on exactly what the sender cannot do without.
func TestDescriptorsRequireWhatSendersNeed(t *testing.T) {
	// The AWS senders of a platform object without keys take the operator's region, as the SDK
	// does, from its environment.
	t.Setenv("AWS_REGION", "eu-central-1")
	for _, d := range Descriptors() {
		s := required(t, d)
		// As a platform-namespace object: cloud destinations without keys use the operator's
		// identity there, and only there (a tenant's is refused without its keys).
		if _, err := New(context.Background(), Config{Type: d.Type, Settings: s, AmbientCredentials: true}); err != nil {
			t.Errorf("%s with its required settings %v: %v", d.Type, d.Required, err)
		}
		// Without any required setting, or any setting of the alternative given, it does not
		// build; each alternative alone (with the required settings) does.
		alts := d.Alternatives
		if len(alts) == 0 {
			alts = [][]string{nil}
		}
		for _, alt := range alts {
			with := descriptor.Settings{}
			for _, k := range append(slices.Clone(d.Required), alt...) {
				with[k] = sampleSettings[k]
			}
			if _, err := New(context.Background(), Config{Type: d.Type, Settings: with, AmbientCredentials: true}); err != nil {
				t.Errorf("%s with its required settings and alternative %v: %v", d.Type, alt, err)
			}
			for k := range with {
				less := descriptor.Settings{}
				for kk, v := range with {
					if kk != k {
						less[kk] = v
					}
				}
				if _, err := New(context.Background(), Config{Type: d.Type, Settings: less, AmbientCredentials: true}); err == nil {
					t.Errorf("%s builds without %s, which its descriptor requires", d.Type, k)
				}
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
	for _, d := range Descriptors() {
		_, err := New(context.Background(), Config{Type: d.Type, Settings: required(t, d), AmbientCredentials: true, MessageTemplate: "{{ .Policy "})
		if renders := err != nil; renders != d.Template {
			t.Errorf("%s: descriptor Template = %v, but building with a broken template returns %v", d.Type, d.Template, err)
		}
	}
}
