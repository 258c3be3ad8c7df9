package sender

import (
	"context"
	"fmt"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
)

// factories lists every destination that is implemented, keyed by the type of its
// destination.Descriptor (which says what it reads and requires; the factory cannot sit in the
// descriptor, as package destination cannot import this one). Add a line here with each new
// file; registry_test.go holds each factory to its descriptor.
var factories = map[v1alpha1.DestinationType]Factory{
	v1alpha1.DestinationWebhook:       newWebhook,
	v1alpha1.DestinationSlack:         newSlack,
	v1alpha1.DestinationDiscord:       newDiscord,
	v1alpha1.DestinationTeams:         newTeams,
	v1alpha1.DestinationGoogleChat:    newGoogleChat,
	v1alpha1.DestinationTelegram:      newTelegram,
	v1alpha1.DestinationJira:          newJira,
	v1alpha1.DestinationLoki:          newLoki,
	v1alpha1.DestinationElasticsearch: newElasticsearch,
	v1alpha1.DestinationSplunk:        newSplunk,
	v1alpha1.DestinationAlertManager:  newAlertManager,
	v1alpha1.DestinationPagerDuty:     newPagerDuty,
	v1alpha1.DestinationS3:            newS3,
	v1alpha1.DestinationKinesis:       newKinesis,
	v1alpha1.DestinationSecurityHub:   newSecurityHub,
	v1alpha1.DestinationGCS:           newGCS,
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
	f, ok := factories[cfg.Type]
	if !ok {
		return nil, fmt.Errorf("destination %s is unknown", cfg.Type)
	}
	s, err := f(cfg)
	if err != nil || cfg.Guard == nil {
		return s, err
	}
	if err := checkHosts(ctx, s, cfg.Type, cfg.Guard); err != nil {
		return nil, err
	}
	return s, nil
}
