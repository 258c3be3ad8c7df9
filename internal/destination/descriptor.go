package destination

import (
	"slices"
	"strings"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
)

// Descriptor is what the operator knows about one destination type, in one place. Resolution,
// completeness, a channel's inheritance and the template check derive from it; the sender of
// the type is registered under the same type in package sender (which imports this one, so the
// factory cannot live here), and tests there and here hold the two and the API types together.
//
// Names are setting names: the JSON name of an inline field, or a Secret key; a Secret key wins
// over the inline field of the same name. Every JSON field of the type's block is in exactly one
// of Endpoint, Credential and Other (a test walks the API types), and so is every Secret key.
type Descriptor struct {
	Type v1alpha1.DestinationType
	// Required settings the destination cannot work without, inline or from the Secret.
	Required []string
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
}

// Setting classes shared by several destinations.
var (
	httpCredentials = []string{"headers"}
	awsEndpoint     = []string{"region", "endpoint"}
	awsKeys         = []string{"accessKeyID", "secretAccessKey"}
)

func chatWebhook(t v1alpha1.DestinationType) Descriptor {
	return Descriptor{Type: t, Required: []string{"url"}, SecretKeys: []string{"url"},
		Endpoint: []string{"url"}, Credential: httpCredentials, Template: true}
}

func aws(t v1alpha1.DestinationType, target string, other ...string) Descriptor {
	return Descriptor{Type: t, Required: []string{target}, SecretKeys: awsKeys,
		Endpoint: append([]string{target}, awsEndpoint...), Credential: awsKeys, Other: other}
}

// descriptors lists every destination type of the API. Add one with each new block.
var descriptors = map[v1alpha1.DestinationType]Descriptor{
	v1alpha1.DestinationWebhook: {Type: v1alpha1.DestinationWebhook,
		Required: []string{"url"}, SecretKeys: []string{"url", "token"},
		Endpoint: []string{"url"}, Credential: []string{"headers", "token"}, Other: []string{"keepalive"}},
	v1alpha1.DestinationSlack: {Type: v1alpha1.DestinationSlack,
		Required: []string{"url"}, SecretKeys: []string{"url", "channel"},
		Endpoint: []string{"url"}, Credential: httpCredentials, Other: []string{"channel"}, Template: true},
	v1alpha1.DestinationTeams:      chatWebhook(v1alpha1.DestinationTeams),
	v1alpha1.DestinationDiscord:    chatWebhook(v1alpha1.DestinationDiscord),
	v1alpha1.DestinationGoogleChat: chatWebhook(v1alpha1.DestinationGoogleChat),
	// The chat is the conversation the bot posts to, like Slack's channel: the token still only
	// goes to the Bot API, so choosing another chat is not a redirect.
	v1alpha1.DestinationTelegram: {Type: v1alpha1.DestinationTelegram,
		Required: []string{"token", "chatID"}, SecretKeys: []string{"token", "chatID"},
		Endpoint: []string{"apiURL"}, Credential: []string{"headers", "token"}, Other: []string{"chatID"}, Template: true},
	// tenantID picks the Loki tenant (X-Scope-OrgID) the lines are written to.
	v1alpha1.DestinationLoki: {Type: v1alpha1.DestinationLoki,
		Required: []string{"url"}, SecretKeys: []string{"url", "username", "password"},
		Endpoint: []string{"url", "tenantID"}, Credential: []string{"headers", "username", "password"}, Other: []string{"path"}, Template: true},
	v1alpha1.DestinationElasticsearch: {Type: v1alpha1.DestinationElasticsearch,
		Required: []string{"url"}, SecretKeys: []string{"url", "username", "password", "apiKey"},
		Endpoint: []string{"url", "index"}, Credential: []string{"headers", "username", "password", "apiKey"},
		Other: []string{"rotation", "typelessAPI"}},
	v1alpha1.DestinationSplunk: {Type: v1alpha1.DestinationSplunk,
		Required: []string{"url", "token"}, SecretKeys: []string{"url", "token"},
		Endpoint: []string{"url", "index"}, Credential: []string{"headers", "token"}, Other: []string{"source", "sourceType"}},
	v1alpha1.DestinationAlertManager: {Type: v1alpha1.DestinationAlertManager,
		Required: []string{"url"}, SecretKeys: []string{"url"},
		Endpoint: []string{"url", "additionalURLs"}, Credential: httpCredentials, Other: []string{"resendInterval"}, Template: true},
	v1alpha1.DestinationJira: {Type: v1alpha1.DestinationJira,
		Required: []string{"url", "projectKey"}, SecretKeys: []string{"url", "username", "password", "apiToken"},
		Endpoint: []string{"url", "projectKey"}, Credential: []string{"headers", "username", "password", "apiToken"},
		Other: []string{"issueType", "apiVersion", "summaryTemplate", "labels", "components", "fields", "resolveTransition"}, Template: true},
	// The routing key both authenticates and picks the service the incident is opened on.
	v1alpha1.DestinationPagerDuty: {Type: v1alpha1.DestinationPagerDuty,
		Required: []string{"routingKey"}, SecretKeys: []string{"url", "routingKey"},
		Endpoint: []string{"url"}, Credential: []string{"headers", "routingKey"}, Other: []string{"source"}, Template: true},
	v1alpha1.DestinationS3: aws(v1alpha1.DestinationS3, "bucket",
		"prefix", "pathStyle", "serverSideEncryption", "kmsKeyID", "bucketKeyEnabled"),
	v1alpha1.DestinationKinesis:     aws(v1alpha1.DestinationKinesis, "streamName"),
	v1alpha1.DestinationSecurityHub: aws(v1alpha1.DestinationSecurityHub, "accountID", "productName", "companyName", "synchronize"),
	v1alpha1.DestinationGCS: {Type: v1alpha1.DestinationGCS,
		Required: []string{"bucket"}, SecretKeys: []string{"credentials"},
		Endpoint: []string{"bucket"}, Credential: []string{"credentials"}, Other: []string{"prefix"}},
}

// Descriptors returns every descriptor, sorted by type.
func Descriptors() []Descriptor {
	out := make([]Descriptor, 0, len(descriptors))
	for _, d := range descriptors {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b Descriptor) int { return strings.Compare(string(a.Type), string(b.Type)) })
	return out
}

// TemplateTypes returns the types whose senders render messageTemplate, sorted.
func TemplateTypes() []v1alpha1.DestinationType {
	var out []v1alpha1.DestinationType
	for _, d := range Descriptors() {
		if d.Template {
			out = append(out, d.Type)
		}
	}
	return out
}
