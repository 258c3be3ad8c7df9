// Package destination resolves the effective settings of a destination: inline fields, values
// from the Secret, and a TargetChannel's overrides over its target's settings.
package destination

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/conditions"
	"github.com/policyherald/policy-herald/internal/secrets"
)

// Settings are the effective string settings of one destination: its inline fields, with the
// Secret's keys of the same name winning.
type Settings map[string]string

// Resolve returns the settings of the one destination set in d, overlaid with the Secret values.
func Resolve(d *v1alpha1.Destinations, secret secrets.Values) (v1alpha1.DestinationType, Settings, error) {
	t := d.DestinationType()
	if t == "" {
		return "", nil, conditions.Stalled(v1alpha1.ReasonInvalidSpec, "no destination is set")
	}
	inline, err := inlineStrings(d)
	if err != nil {
		return "", nil, err
	}
	s := Settings{}
	for k, v := range inline {
		s[k] = v
	}
	for k, v := range secret {
		if v != "" {
			s[k] = v
		}
	}
	return t, s, nil
}

// endpointKeys are the settings that say where a destination's requests go.
var endpointKeys = []string{"url", "apiURL", "endpoint"}

// ResolveChannel returns the effective type and settings of a TargetChannel. Later layers win:
// the target's inline fields, the target's Secret, the channel's inline fields, the channel's
// Secret. The target's Secret is left out when inheritCredentials is false.
func ResolveChannel(target, channel *v1alpha1.Destinations, targetSecret, channelSecret secrets.Values, inheritCredentials bool) (v1alpha1.DestinationType, Settings, error) {
	if _, err := Override(target, channel); err != nil {
		return "", nil, err
	}
	if !inheritCredentials {
		targetSecret = nil
	}
	t, s, err := Resolve(target, targetSecret)
	if err != nil {
		return "", nil, err
	}
	own, err := inlineStrings(channel)
	if err != nil {
		return "", nil, err
	}
	for _, layer := range []map[string]string{own, channelSecret} {
		for k, v := range layer {
			if v != "" {
				s[k] = v
			}
		}
	}
	return t, s, nil
}

// Redirects tells whether a channel's own fields or Secret change where requests go. A channel
// of another namespace that does so must not inherit the target's credentials, or a tenant could
// send the platform's tokens to an endpoint of its choosing.
func Redirects(channel *v1alpha1.Destinations, channelSecret secrets.Values) bool {
	own, err := inlineStrings(channel)
	if err != nil {
		return true
	}
	for _, k := range endpointKeys {
		if own[k] != "" || channelSecret[k] != "" {
			return true
		}
	}
	return false
}

// requiredSettings are the settings a destination cannot work without, whether they come from
// the object or its Secret.
var requiredSettings = map[v1alpha1.DestinationType][]string{
	v1alpha1.DestinationWebhook:       {"url"},
	v1alpha1.DestinationSlack:         {"url"},
	v1alpha1.DestinationTeams:         {"url"},
	v1alpha1.DestinationDiscord:       {"url"},
	v1alpha1.DestinationGoogleChat:    {"url"},
	v1alpha1.DestinationTelegram:      {"token", "chatID"},
	v1alpha1.DestinationLoki:          {"url"},
	v1alpha1.DestinationElasticsearch: {"url"},
	v1alpha1.DestinationSplunk:        {"url", "token"},
	v1alpha1.DestinationAlertManager:  {"url"},
	v1alpha1.DestinationJira:          {"url", "projectKey"},
	v1alpha1.DestinationS3:            {"bucket"},
	v1alpha1.DestinationKinesis:       {"streamName"},
	v1alpha1.DestinationSecurityHub:   {"accountID"},
	v1alpha1.DestinationGCS:           {"bucket"},
}

// CheckComplete returns a stalled problem naming the required settings that are neither set
// inline nor present in the Secret.
func CheckComplete(t v1alpha1.DestinationType, s Settings, secretName string) error {
	var missing []string
	for _, k := range requiredSettings[t] {
		if s[k] == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	sort.Strings(missing)
	where := "inline"
	if secretName != "" {
		where = fmt.Sprintf("inline or in Secret %q", secretName)
	}
	return conditions.Stalled(v1alpha1.ReasonSecretKeyMissing,
		fmt.Sprintf("%s destination needs %s: set it %s", t, strings.Join(missing, ", "), where))
}

// Override returns the target's destination with the channel's fields laid over it: fields the
// channel sets win, unset ones are inherited, and maps (headers, params) are merged key by key.
// The channel must not set a block of another type than the target's.
func Override(target, channel *v1alpha1.Destinations) (*v1alpha1.Destinations, error) {
	tt := target.DestinationType()
	if ct := channel.DestinationType(); ct != "" && ct != tt {
		return nil, conditions.Stalled(v1alpha1.ReasonDestinationMismatch,
			fmt.Sprintf("the channel sets %s fields but its target delivers to %s", ct, tt))
	}
	base, err := toMap(target)
	if err != nil {
		return nil, err
	}
	over, err := toMap(channel)
	if err != nil {
		return nil, err
	}
	merged := deepMerge(base, over)
	b, err := json.Marshal(merged)
	if err != nil {
		return nil, err
	}
	out := &v1alpha1.Destinations{}
	if err := json.Unmarshal(b, out); err != nil {
		return nil, err
	}
	return out, nil
}

// inlineStrings flattens the string fields of the one destination block, by JSON name.
func inlineStrings(d *v1alpha1.Destinations) (map[string]string, error) {
	m, err := toMap(d)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, block := range m {
		fields, _ := block.(map[string]any)
		for k, v := range fields {
			if s, ok := v.(string); ok {
				out[k] = s
			}
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
