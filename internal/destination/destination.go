// Package destination resolves the effective settings of a destination: inline fields, values
// from the Secret, and a TargetChannel's overrides over its target's settings, as the
// destination's Descriptor says.
package destination

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/conditions"
	"github.com/policyherald/policy-herald/internal/secrets"
	"github.com/policyherald/policy-herald/internal/sender"
)

// Resolved is the effective destination of a NotificationTarget or a TargetChannel.
type Resolved struct {
	Type v1alpha1.DestinationType
	// Destination has the one block of Type set, a channel's overrides applied.
	Destination *v1alpha1.Destinations
	// Settings are the effective strings, Secret values included.
	Settings Settings
	// Withheld tells that a channel did not inherit its target's credentials.
	Withheld bool
}

// Resolve returns the destination set in d, its settings overlaid with the Secret's values of
// the keys the destination reads.
func Resolve(d *v1alpha1.Destinations, secret secrets.Values) (Resolved, error) {
	desc, err := describe(d.DestinationType())
	if err != nil {
		return Resolved{}, err
	}
	inline, err := inlineStrings(d)
	if err != nil {
		return Resolved{}, err
	}
	s := Settings(inline)
	overlay(s, secretValues(desc, secret))
	return Resolved{Type: desc.Type, Destination: d, Settings: s}, nil
}

// Layers are what a TargetChannel's destination is resolved from.
type Layers struct {
	Target, Channel             *v1alpha1.Destinations
	TargetSecret, ChannelSecret secrets.Values
	// SameNamespace tells that the channel is in its target's namespace.
	SameNamespace bool
}

// ResolveChannel returns the effective destination of a TargetChannel. Later layers win: the
// target's inline fields, the target's Secret, the channel's inline fields, the channel's
// Secret. A channel of another namespace that redirects (see Redirects) inherits
// none of the target's credentials: neither its Secret nor any Credential field of its block,
// nor user info in its endpoint URLs, or a tenant could send the platform's credentials to an
// endpoint of its choosing.
func ResolveChannel(l Layers) (Resolved, error) {
	desc, err := describe(l.Target.DestinationType())
	if err != nil {
		return Resolved{}, err
	}
	if ct := l.Channel.DestinationType(); ct != "" && ct != desc.Type {
		return Resolved{}, conditions.Stalled(v1alpha1.ReasonDestinationMismatch,
			fmt.Sprintf("the channel sets %s fields but its target delivers to %s", ct, desc.Type))
	}
	target, targetSecret := l.Target, l.TargetSecret
	redirects := Redirects(desc, l.Channel, l.ChannelSecret)
	if redirects {
		if target, err = withoutEndpointLists(desc, target, l.Channel); err != nil {
			return Resolved{}, err
		}
	}
	withheld := !l.SameNamespace && redirects
	if withheld {
		if target, err = withoutCredentials(desc, target); err != nil {
			return Resolved{}, err
		}
		targetSecret = nil
	}
	r, err := Resolve(target, targetSecret)
	if err != nil {
		return Resolved{}, err
	}
	if r.Destination, err = override(target, l.Channel); err != nil {
		return Resolved{}, err
	}
	own, err := inlineStrings(l.Channel)
	if err != nil {
		return Resolved{}, err
	}
	overlay(r.Settings, own)
	overlay(r.Settings, secretValues(desc, l.ChannelSecret))
	r.Withheld = withheld
	return r, nil
}

// Redirects tells whether the own fields or Secret of a channel of a destination described by
// d set an Endpoint setting, that is change where requests go.
func Redirects(d Descriptor, channel *v1alpha1.Destinations, channelSecret secrets.Values) bool {
	block, err := blockOf(channel)
	if err != nil {
		return true // cannot tell: assume the worst
	}
	own := secretValues(d, channelSecret)
	for _, k := range d.Endpoint {
		if _, set := block[k]; set || own[k] != "" {
			return true
		}
	}
	return false
}

// CheckComplete returns a stalled problem naming the required settings that are neither set
// inline nor present in the Secret.
func CheckComplete(t v1alpha1.DestinationType, s Settings, secretName string) error {
	desc, err := describe(t)
	if err != nil {
		return err
	}
	var missing []string
	for _, k := range desc.Required {
		if s[k] == "" {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	if alt := missingAlternatives(desc.Alternatives, s); alt != "" {
		missing = append(missing, alt)
	}
	if len(missing) == 0 {
		return nil
	}
	where := "inline"
	if secretName != "" {
		where = fmt.Sprintf("inline or in Secret %q", secretName)
	}
	return conditions.Stalled(v1alpha1.ReasonSecretKeyMissing,
		fmt.Sprintf("%s destination needs %s: set it %s", t, strings.Join(missing, ", "), where))
}

// missingAlternatives names the alternatives ("url, or token and channel") when none is
// complete in s; "" when one is, or there are none.
func missingAlternatives(alts [][]string, s Settings) string {
	var names []string
	for _, alt := range alts {
		complete := true
		for _, k := range alt {
			complete = complete && s[k] != ""
		}
		if complete {
			return ""
		}
		names = append(names, strings.Join(alt, " and "))
	}
	return strings.Join(names, ", or ")
}

// CheckTemplate refuses a messageTemplate on a destination whose sender does not render it:
// accepted, it would be silently ignored.
func CheckTemplate(t v1alpha1.DestinationType, template string) error {
	if template == "" {
		return nil
	}
	if desc, err := describe(t); err != nil || desc.Template {
		return err
	}
	var names []string
	for _, tt := range TemplateTypes() {
		names = append(names, string(tt))
	}
	return conditions.Stalled(v1alpha1.ReasonInvalidSpec,
		fmt.Sprintf("the %s destination does not render messageTemplate, only %s do: remove it", t, strings.Join(names, ", ")))
}

func describe(t v1alpha1.DestinationType) (Descriptor, error) {
	if t == "" {
		return Descriptor{}, conditions.Stalled(v1alpha1.ReasonInvalidSpec, "no destination is set")
	}
	d, ok := sender.Describe(t)
	if !ok {
		return Descriptor{}, conditions.Stalled(v1alpha1.ReasonInvalidSpec, fmt.Sprintf("destination %s is unknown", t))
	}
	return d, nil
}

// secretValues returns the non-empty values of the keys d reads from a Secret.
func secretValues(d Descriptor, secret secrets.Values) map[string]string {
	out := map[string]string{}
	for _, k := range d.SecretKeys {
		if v := secret[k]; v != "" {
			out[k] = v
		}
	}
	return out
}

// withoutCredentials returns dest without the Credential fields of its block, and without user
// info in its Endpoint URLs (user info is basic authentication).
func withoutCredentials(d Descriptor, dest *v1alpha1.Destinations) (*v1alpha1.Destinations, error) {
	m, err := toMap(dest)
	if err != nil {
		return nil, err
	}
	block, _ := m[string(d.Type)].(map[string]any)
	for _, k := range d.Credential {
		delete(block, k)
	}
	for _, k := range d.Endpoint {
		switch v := block[k].(type) {
		case string:
			block[k] = withoutUserInfo(v)
		case []any:
			for i, e := range v {
				if s, ok := e.(string); ok {
					v[i] = withoutUserInfo(s)
				}
			}
		}
	}
	return fromMap(m)
}

// withoutEndpointLists returns the target's dest without the list-valued Endpoint settings
// (Alertmanager's additionalURLs) that the channel does not set: a channel that sends elsewhere
// must not also send to the rest of the target's endpoints, which a list would otherwise add.
func withoutEndpointLists(d Descriptor, dest, channel *v1alpha1.Destinations) (*v1alpha1.Destinations, error) {
	m, err := toMap(dest)
	if err != nil {
		return nil, err
	}
	own, err := blockOf(channel)
	if err != nil {
		return nil, err
	}
	block, _ := m[string(d.Type)].(map[string]any)
	for _, k := range d.Endpoint {
		if _, list := block[k].([]any); list {
			if _, set := own[k]; !set {
				delete(block, k)
			}
		}
	}
	return fromMap(m)
}

func withoutUserInfo(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	u.User = nil
	return u.String()
}

// override returns the target's destination with the channel's fields laid over it: fields the
// channel sets win, unset ones are inherited, and maps (headers, params) are merged key by key.
func override(target, channel *v1alpha1.Destinations) (*v1alpha1.Destinations, error) {
	base, err := toMap(target)
	if err != nil {
		return nil, err
	}
	over, err := toMap(channel)
	if err != nil {
		return nil, err
	}
	return fromMap(deepMerge(base, over))
}

func overlay(s Settings, layer map[string]string) {
	for k, v := range layer {
		if v != "" {
			s[k] = v
		}
	}
}

// blockOf returns the one destination block set in d by JSON name, or an empty map.
func blockOf(d *v1alpha1.Destinations) (map[string]any, error) {
	m, err := toMap(d)
	if err != nil {
		return nil, err
	}
	for _, block := range m {
		if fields, ok := block.(map[string]any); ok {
			return fields, nil
		}
	}
	return map[string]any{}, nil
}

// inlineStrings flattens the string fields of the one destination block, by JSON name.
func inlineStrings(d *v1alpha1.Destinations) (map[string]string, error) {
	block, err := blockOf(d)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for k, v := range block {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out, nil
}

func toMap(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	m := map[string]any{}
	return m, json.Unmarshal(b, &m)
}

func fromMap(m map[string]any) (*v1alpha1.Destinations, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	out := &v1alpha1.Destinations{}
	if err := json.Unmarshal(b, out); err != nil {
		return nil, err
	}
	return out, nil
}

func deepMerge(base, over map[string]any) map[string]any {
	out := make(map[string]any, len(base))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		bm, bok := out[k].(map[string]any)
		om, ook := v.(map[string]any)
		if bok && ook {
			out[k] = deepMerge(bm, om)
			continue
		}
		out[k] = v
	}
	return out
}
