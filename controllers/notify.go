package controllers

import (
	"fmt"
	"slices"
	"strings"
	"time"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/conditions"
	"github.com/policyherald/policy-herald/internal/delivery"
	"github.com/policyherald/policy-herald/internal/destination"
)

// defaultDigestItems is how many results a digest lists when maxItems is unset.
const defaultDigestItems = 10

// effectiveNotifications lays a channel's notification settings over its target's, field by
// field; silences add up, a channel's silence replacing a target's of the same name. c is nil
// for a target.
func effectiveNotifications(t *v1alpha1.NotificationTarget, c *v1alpha1.TargetChannel) v1alpha1.Notifications {
	n := *t.Spec.Notifications.DeepCopy()
	if c == nil {
		return n
	}
	o := c.Spec.Notifications
	if o.ControlledResources != "" {
		n.ControlledResources = o.ControlledResources
	}
	if o.Digest != nil {
		n.Digest = o.Digest.DeepCopy()
	}
	if o.RateLimit != nil {
		n.RateLimit = o.RateLimit.DeepCopy()
	}
	if o.NotifyResolved != nil {
		n.NotifyResolved = o.NotifyResolved
	}
	for _, s := range o.Silences {
		n.Silences = slices.DeleteFunc(n.Silences, func(x v1alpha1.Silence) bool { return x.Name == s.Name })
		n.Silences = append(n.Silences, *s.DeepCopy())
	}
	return n
}

// notifyPolicy checks what the schema cannot (silences, chat-only settings on another destination) and
// returns the delivery engine's form of n. Errors are Problems for the object's conditions.
func notifyPolicy(n v1alpha1.Notifications, dest v1alpha1.DestinationType) (delivery.Notify, error) {
	if err := checkSilences(n.Silences, time.Now()); err != nil {
		return delivery.Notify{}, err
	}
	chat := slices.Contains(destination.ChatTypes(), dest)
	var chatOnly []string
	p := delivery.Notify{
		SkipControlled: n.ControlledResources != v1alpha1.ControlledResourcesInclude,
		NotifyResolved: n.NotifyResolved != nil && *n.NotifyResolved,
		Silences:       n.Silences,
	}
	if d := n.Digest; d != nil {
		chatOnly = append(chatOnly, "digest")
		items := int(d.MaxItems)
		if items == 0 {
			items = defaultDigestItems
		}
		p.Digest = &delivery.DigestPolicy{Interval: d.Interval.Duration, GroupBy: d.GroupBy, MaxItems: items}
	}
	if r := n.RateLimit; r != nil {
		chatOnly = append(chatOnly, "rateLimit")
		p.RateLimit = &delivery.RateLimitPolicy{Messages: int(r.Messages), Per: r.Per.Duration}
	}
	if p.NotifyResolved {
		chatOnly = append(chatOnly, "notifyResolved")
	}
	if !chat && len(chatOnly) > 0 {
		var names []string
		for _, t := range destination.ChatTypes() {
			names = append(names, string(t))
		}
		return p, conditions.Stalled(v1alpha1.ReasonInvalidSpec, fmt.Sprintf(
			"%s: only chat destinations (%s) take them, not %s: remove them", strings.Join(chatOnly, ", "), strings.Join(names, ", "), dest))
	}
	return p, nil
}

// mode is status.mode: how results become messages, in a few words.
func mode(p delivery.Notify) string {
	var parts []string
	if d := p.Digest; d != nil {
		s := "digest " + shortDuration(d.Interval)
		if len(d.GroupBy) > 0 {
			groups := make([]string, len(d.GroupBy))
			for i, g := range d.GroupBy {
				groups[i] = string(g)
			}
			s += " by " + strings.Join(groups, ",")
		}
		parts = append(parts, s)
	} else {
		parts = append(parts, "each")
	}
	if r := p.RateLimit; r != nil {
		parts = append(parts, fmt.Sprintf("max %d/%s", r.Messages, shortDuration(r.Per)))
	}
	if p.NotifyResolved {
		parts = append(parts, "resolved")
	}
	if !p.SkipControlled {
		parts = append(parts, "controlled included")
	}
	return strings.Join(parts, ", ")
}

// shortDuration writes 1h for 1h0m0s and 30m for 30m0s.
func shortDuration(d time.Duration) string {
	s := strings.TrimSuffix(d.String(), "0s")
	if s == "" {
		return "0s"
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
