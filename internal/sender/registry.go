package sender

import (
	"context"
	"fmt"
	"slices"
	"strings"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/destination/descriptor"
)

// registration is one destination type, in one place: its descriptor (the type, and the
// settings it reads and requires) and the constructor of its sender. Each sender file registers
// its own in an init function.
type registration struct {
	descriptor.Descriptor
	New Factory
}

// registry holds every registration by type.
var registry = map[v1alpha1.DestinationType]registration{}

// register adds the registration of d.Type; a type registered twice is a programming error.
func register(f Factory, d descriptor.Descriptor) {
	if _, dup := registry[d.Type]; dup || d.Type == "" || f == nil {
		panic(fmt.Sprintf("sender: destination type %q registered twice, or without a type or constructor", d.Type))
	}
	registry[d.Type] = registration{Descriptor: d, New: f}
}

// Describe returns the descriptor of the destination type t.
func Describe(t v1alpha1.DestinationType) (descriptor.Descriptor, bool) {
	r, ok := registry[t]
	return r.Descriptor, ok
}

// Descriptors returns the descriptor of every registered destination type, sorted by type.
func Descriptors() []descriptor.Descriptor {
	out := make([]descriptor.Descriptor, 0, len(registry))
	for _, r := range registry {
		out = append(out, r.Descriptor)
	}
	slices.SortFunc(out, func(a, b descriptor.Descriptor) int { return strings.Compare(string(a.Type), string(b.Type)) })
	return out
}

// New builds the sender for cfg.Type; with cfg.Guard, only if the guard allows every host the
// sender connects to (ctx bounds their name resolution). Its errors are configuration errors:
// retrying with the same configuration cannot succeed. They never contain URLs, tokens or
// header values.
func New(ctx context.Context, cfg Config) (Sender, error) {
	if cfg.Type == "" {
		return nil, fmt.Errorf("no destination type is set")
	}
	if cfg.Destination != nil {
		if t := cfg.Destination.DestinationType(); t != cfg.Type {
			return nil, fmt.Errorf("destination type %q does not match the destination block set (%q)", cfg.Type, t)
		}
	}
	r, ok := registry[cfg.Type]
	if !ok {
		return nil, fmt.Errorf("destination %s is unknown", cfg.Type)
	}
	s, err := r.New(withSettings(cfg))
	if err != nil {
		return nil, err
	}
	if cfg.Guard != nil {
		if err := checkHosts(ctx, s, cfg.Type, cfg.Guard); err != nil {
			return nil, err
		}
	}
	return withResolved(s, cfg.NotifyResolved), nil
}
