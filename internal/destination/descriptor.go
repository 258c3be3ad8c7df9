package destination

import (
	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/destination/descriptor"
	"github.com/policyherald/policy-herald/internal/sender"
)

// Descriptor and Settings are package descriptor's; every sender registers the descriptor of its
// type (see package sender), and resolution reads them from there.
type (
	Descriptor = descriptor.Descriptor
	Settings   = descriptor.Settings
)

// Descriptors returns every descriptor, sorted by type.
func Descriptors() []Descriptor { return sender.Descriptors() }

// TemplateTypes returns the types whose senders render messageTemplate, sorted.
func TemplateTypes() []v1alpha1.DestinationType {
	return typesWhere(func(d Descriptor) bool { return d.Template })
}

// ChatTypes returns the chat destinations (digests, rate limits, resolved notices).
func ChatTypes() []v1alpha1.DestinationType {
	return typesWhere(func(d Descriptor) bool { return d.Chat })
}

func typesWhere(ok func(Descriptor) bool) []v1alpha1.DestinationType {
	var out []v1alpha1.DestinationType
	for _, d := range Descriptors() {
		if ok(d) {
			out = append(out, d.Type)
		}
	}
	return out
}
