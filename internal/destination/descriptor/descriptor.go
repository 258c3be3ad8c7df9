// Package descriptor says what the operator knows about a destination type: the settings it
// reads, requires and takes from a Secret, and which of them choose the endpoint or
// authenticate. It is a leaf, so that the sender of a type can register its descriptor and
// its constructor together (see package sender) and package destination can resolve from them.
package descriptor

import v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"

// Settings are the effective string settings of one destination: its inline fields, with the
// Secret's keys of the same name winning.
type Settings map[string]string

// Descriptor is what the operator knows about one destination type, in one place. Resolution,
// completeness, a channel's inheritance and the template check (package destination) derive
// from it; each sender registers its descriptor with its constructor (sender.Registration).
//
// Names are setting names: the JSON name of an inline field, or a Secret key; a Secret key wins
// over the inline field of the same name. Every JSON field of the type's block is in exactly one
// of Endpoint, Credential and Other (a test walks the API types), and so is every Secret key.
type Descriptor struct {
	Type v1alpha1.DestinationType
	// Required settings the destination cannot work without, inline or from the Secret.
	Required []string
	// Alternatives, when set, are sets of settings of which the destination needs one complete
	// set besides Required (Slack: url for its incoming webhook, or token and channel for its
	// Web API).
	Alternatives [][]string
	// SecretKeys are the keys read from the Secret; others in it are ignored.
	SecretKeys []string
	// Endpoint settings decide where data goes: the server, and the account, tenant, bucket,
	// stream, index or project on it the credentials write into.
	Endpoint []string
	// Credential settings authenticate to the endpoint (tokens, passwords, keys, headers, basic
	// auth user). They are never handed to an endpoint a tenant of another namespace chose.
	Credential []string
	// Other settings neither choose the endpoint nor authenticate: formatting, paths and prefixes
	// under the same endpoint, the conversation a chat identity posts to, keepalives.
	Other []string
	// Template tells that the sender renders messageTemplate.
	Template bool
	// Chat tells that the destination is a chat people read: it takes digests, rate limits and
	// resolved notices (the sender is a sender.Digester and announces resolved results).
	Chat bool
}

// HTTPCredentials are the credentials of an HTTP destination without a token of its own.
var HTTPCredentials = []string{"headers"}

// ChatWebhook is the descriptor of a chat service reached by an incoming-webhook URL, whose URL
// is its only setting besides headers.
func ChatWebhook(t v1alpha1.DestinationType) Descriptor {
	return Descriptor{Type: t, Required: []string{"url"}, SecretKeys: []string{"url"},
		Endpoint: []string{"url"}, Credential: HTTPCredentials, Template: true, Chat: true}
}

// AWS is the descriptor of an AWS service writing into target (a bucket, a stream, an
// account), with the keys from the Secret and the other settings given.
func AWS(t v1alpha1.DestinationType, target string, other ...string) Descriptor {
	keys := []string{"accessKeyID", "secretAccessKey"}
	return Descriptor{Type: t, Required: []string{target}, SecretKeys: keys,
		Endpoint: []string{target, "region", "endpoint"}, Credential: keys, Other: other}
}
