package controllers_test

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
)

// API validation exercises the OpenAPI schema and the CEL rules of the five CRDs against the real
// kube-apiserver: each rule has an object that is admitted and one that is refused. It is about
// admission only and never waits for a controller.
var _ = Describe("API validation", func() {
	type (
		ntSpec  = v1alpha1.NotificationTargetSpec
		tcSpec  = v1alpha1.TargetChannelSpec
		ersSpec = v1alpha1.EmailReportScheduleSpec
		mpSpec  = v1alpha1.MetricsProfileSpec
		brpSpec = v1alpha1.BlockReportPolicySpec
		dests   = v1alpha1.Destinations
		obj     = map[string]any
	)

	// Messages of the CEL rules, exactly as the API declares them.
	const (
		msgExactlyOne  = "set exactly one destination: webhook, slack, teams, discord, googleChat, telegram, loki, elasticsearch, splunk, alertManager, jira, s3, kinesis, securityHub, gcs or pagerDuty"
		msgNeedsURL    = "the destination needs a url: set it inline or put it under the key 'url' in the Secret named by secretRef (Slack's Web API takes a bot token under the key 'token' in that Secret instead)"
		msgNeedsSecret = "telegram and splunk need secretRef: the bot token or HEC token is read from the Secret key 'token'"
		msgJiraProject = "jira.projectKey is required"
		msgS3Bucket    = "s3.bucket is required"
		msgGCSBucket   = "gcs.bucket is required"
		msgKinesis     = "kinesis.streamName is required"
		msgAccountID   = "securityHub.accountID is required"
		msgHTTPURL     = "url must be an absolute http:// or https:// URL"
		msgAPIURL      = "apiURL must be an absolute http:// or https:// URL"
		msgEndpoint    = "endpoint must be an absolute http:// or https:// URL with a host"
		msgKeepalive   = "keepalive interval must be at least 10s"
		msgTLS         = "set either caSecretRef or insecureSkipVerify, not both: a CA is pointless when verification is skipped"
		msgSelector    = "selector is required when from is Selector, and only then"
		msgAtMostOne   = "set at most one destination block, of the target's destination type, to override its fields"
		msgSMTP        = "smtp needs host and from: set them inline or in the Secret named by smtp.secretRef"
		msgSMTPOrGraph = "set exactly one of smtp and graph: smtp sends through an SMTP server, graph through Microsoft Graph (Exchange Online)"
		msgCustom      = "customLabels is required with mode custom and allowed only then"
		msgRetention   = "retention must not be negative"

		// Fragments of the OpenAPI schema errors.
		unsupported = "Unsupported value"
		mustMatch   = "should match"
		tooLong     = "Too long"
		tooShort    = "should be at least"
		tooMany     = "Too many"
		required    = "Required value"
		duplicate   = "Duplicate value"
		lessOrEqual = "should be less than or equal to"
		greaterOrEq = "should be greater than or equal to"
	)

	const okURL = "https://hooks.example.com/services/T000/B000"

	var ns string
	BeforeEach(func() {
		ns = newNamespace(nil)
	})

	// expectAdmission asserts that err is nil when want is empty, and otherwise that the API
	// server refused the object as Invalid with every want in its message.
	expectAdmission := func(err error, want ...string) {
		GinkgoHelper()
		if len(want) == 0 {
			Expect(err).NotTo(HaveOccurred(), "the API server refused a valid object")
			return
		}
		Expect(err).To(HaveOccurred(), "the API server admitted an object that breaks: %q", want)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want an Invalid error, got: %v", err)
		for _, w := range want {
			Expect(err.Error()).To(ContainSubstring(w))
		}
	}

	objMeta := func(prefix string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Namespace: ns, GenerateName: prefix}
	}

	// Builders. Each call returns fresh values, so entries never share pointers.
	repeat := func(n int) string { return strings.Repeat("a", n) }
	stringMap := func(n int) map[string]string {
		m := make(map[string]string, n)
		for i := range n {
			m[fmt.Sprintf("key%02d", i)] = "value"
		}
		return m
	}
	stringList := func(n int) []string {
		l := make([]string, n)
		for i := range l {
			l[i] = fmt.Sprintf("item-%03d", i)
		}
		return l
	}
	creds := func() *v1alpha1.LocalSecretReference { return &v1alpha1.LocalSecretReference{Name: "creds"} }
	httpAt := func(url string) v1alpha1.HTTPSettings { return v1alpha1.HTTPSettings{URL: url} }
	chatAt := func(url string) *v1alpha1.ChatWebhookDestination {
		return &v1alpha1.ChatWebhookDestination{HTTPSettings: httpAt(url)}
	}
	webhook := func(url string) dests {
		return dests{Webhook: &v1alpha1.WebhookDestination{HTTPSettings: httpAt(url)}}
	}
	slack := func(url string) dests {
		return dests{Slack: &v1alpha1.SlackDestination{HTTPSettings: httpAt(url)}}
	}
	keepalive := func(d time.Duration) dests {
		return dests{Webhook: &v1alpha1.WebhookDestination{
			HTTPSettings: httpAt(okURL),
			Keepalive:    &v1alpha1.Keepalive{Interval: metav1.Duration{Duration: d}},
		}}
	}
	s3 := func(d v1alpha1.S3Destination) dests { return dests{S3: &d} }
	elastic := func(d v1alpha1.ElasticsearchDestination) dests {
		if d.URL == "" {
			d.URL = "https://elasticsearch.logging:9200"
		}
		return dests{Elasticsearch: &d}
	}
	jira := func(d v1alpha1.JiraDestination) dests {
		if d.URL == "" {
			d.URL = "https://example.atlassian.net"
		}
		return dests{Jira: &d}
	}
	caRef := func() *v1alpha1.SecretKeySelector {
		return &v1alpha1.SecretKeySelector{Name: "ca", Key: "ca.crt"}
	}
	// nt is a valid webhook target changed by mod.
	nt := func(mod func(*ntSpec)) ntSpec {
		s := ntSpec{Destinations: webhook(okURL)}
		mod(&s)
		return s
	}
	withFilter := func(f v1alpha1.ResultFilter) ntSpec {
		return nt(func(s *ntSpec) { s.Filter = &f })
	}
	channels := func(c v1alpha1.ChannelNamespaces) ntSpec {
		return nt(func(s *ntSpec) { s.AllowedChannels = &v1alpha1.AllowedChannels{Namespaces: &c} })
	}

	// The destinations whose url is required unless secretRef is set, each built with a url.
	urlDestinations := []struct {
		name string
		make func(url string) dests
	}{
		{"webhook", webhook},
		{"slack", slack},
		{"teams", func(u string) dests { return dests{Teams: chatAt(u)} }},
		{"discord", func(u string) dests { return dests{Discord: chatAt(u)} }},
		{"googleChat", func(u string) dests { return dests{GoogleChat: chatAt(u)} }},
		{"loki", func(u string) dests { return dests{Loki: &v1alpha1.LokiDestination{HTTPSettings: httpAt(u)}} }},
		{"elasticsearch", func(u string) dests {
			return dests{Elasticsearch: &v1alpha1.ElasticsearchDestination{HTTPSettings: httpAt(u)}}
		}},
		{"alertManager", func(u string) dests {
			return dests{AlertManager: &v1alpha1.AlertManagerDestination{HTTPSettings: httpAt(u)}}
		}},
		{"jira", func(u string) dests {
			return dests{Jira: &v1alpha1.JiraDestination{HTTPSettings: httpAt(u), ProjectKey: "OPS"}}
		}},
	}
	var urlEntries []TableEntry
	for _, d := range urlDestinations {
		urlEntries = append(urlEntries,
			Entry(d.name+" with an inline url is accepted", ntSpec{Destinations: d.make(okURL)}),
			Entry(d.name+" without url and without secretRef is refused", ntSpec{Destinations: d.make("")}, msgNeedsURL),
			Entry(d.name+" without url but with secretRef is accepted", ntSpec{Destinations: d.make(""), SecretRef: creds()}),
			Entry(d.name+" with an ftp:// url is refused", ntSpec{Destinations: d.make("ftp://files.example.com/x")}, msgHTTPURL),
		)
	}

	createRaw := func(kind string, spec obj) error {
		u := &unstructured.Unstructured{Object: obj{
			"apiVersion": v1alpha1.GroupVersion.String(),
			"kind":       kind,
			"metadata":   obj{"namespace": ns, "generateName": "raw-"},
		}}
		if spec != nil {
			u.Object["spec"] = spec
		}
		return k8sClient.Create(ctx, u)
	}

	// updateSpec re-reads o, applies mutate and updates it, retrying on conflicts with the
	// controllers' status writes. It returns the error of the last update.
	updateSpec := func(o client.Object, mutate func()) error {
		key := client.ObjectKeyFromObject(o)
		return retry.RetryOnConflict(retry.DefaultRetry, func() error {
			// Start from a zero object: decoding into a used one keeps fields the server dropped.
			v := reflect.ValueOf(o).Elem()
			v.Set(reflect.Zero(v.Type()))
			if err := k8sClient.Get(ctx, key, o); err != nil {
				return err
			}
			mutate()
			return k8sClient.Update(ctx, o)
		})
	}

	Describe("NotificationTarget", func() {
		DescribeTable("create",
			func(spec ntSpec, want ...string) {
				expectAdmission(k8sClient.Create(ctx, &v1alpha1.NotificationTarget{ObjectMeta: objMeta("nt-"), Spec: spec}), want...)
			},

			// Exactly one destination, and each one with its minimal configuration.
			Entry("no destination is refused", ntSpec{SecretRef: creds()}, msgExactlyOne),
			Entry("two destinations are refused", ntSpec{Destinations: dests{
				Webhook: webhook(okURL).Webhook, Slack: slack(okURL).Slack,
			}}, msgExactlyOne),
			Entry("three destinations are refused", ntSpec{Destinations: dests{
				S3: &v1alpha1.S3Destination{Bucket: "results"}, GCS: &v1alpha1.GCSDestination{Bucket: "results"},
				Kinesis: &v1alpha1.KinesisDestination{StreamName: "results"},
			}}, msgExactlyOne),
			Entry("a webhook is accepted", ntSpec{Destinations: webhook(okURL)}),
			Entry("slack with a channel is accepted", ntSpec{Destinations: dests{Slack: &v1alpha1.SlackDestination{
				HTTPSettings: httpAt(okURL), Channel: "#team-a",
			}}}),
			Entry("teams is accepted", ntSpec{Destinations: dests{Teams: chatAt(okURL)}}),
			Entry("discord is accepted", ntSpec{Destinations: dests{Discord: chatAt(okURL)}}),
			Entry("googleChat is accepted", ntSpec{Destinations: dests{GoogleChat: chatAt(okURL)}}),
			Entry("telegram with secretRef is accepted", ntSpec{Destinations: dests{Telegram: &v1alpha1.TelegramDestination{
				ChatID: "-1001234567890",
			}}, SecretRef: creds()}),
			Entry("loki is accepted", ntSpec{Destinations: dests{Loki: &v1alpha1.LokiDestination{
				HTTPSettings: httpAt("http://loki.monitoring:3100"), Path: "/loki/api/v1/push", TenantID: "team-a",
			}}}),
			Entry("elasticsearch is accepted", ntSpec{Destinations: elastic(v1alpha1.ElasticsearchDestination{
				Index: "policy-herald", Rotation: "daily",
			})}),
			Entry("splunk with secretRef is accepted", ntSpec{Destinations: dests{Splunk: &v1alpha1.SplunkDestination{
				HTTPSettings: httpAt("https://splunk.example.com:8088"),
			}}, SecretRef: creds()}),
			Entry("alertManager is accepted", ntSpec{Destinations: dests{AlertManager: &v1alpha1.AlertManagerDestination{
				HTTPSettings: httpAt("http://alertmanager.monitoring:9093"),
			}}}),
			Entry("jira is accepted", ntSpec{Destinations: jira(v1alpha1.JiraDestination{ProjectKey: "OPS", APIVersion: "v3"})}),
			Entry("s3 is accepted", ntSpec{Destinations: s3(v1alpha1.S3Destination{
				Bucket: "policy-results", AWSSettings: v1alpha1.AWSSettings{Region: "eu-west-1"},
			})}),
			Entry("kinesis is accepted", ntSpec{Destinations: dests{Kinesis: &v1alpha1.KinesisDestination{StreamName: "policy-results"}}}),
			Entry("securityHub is accepted", ntSpec{Destinations: dests{SecurityHub: &v1alpha1.SecurityHubDestination{
				AccountID: "123456789012", AWSSettings: v1alpha1.AWSSettings{Region: "us-east-1"},
			}}}),
			Entry("gcs is accepted", ntSpec{Destinations: dests{GCS: &v1alpha1.GCSDestination{Bucket: "policy-results"}}}),

			// url needed unless secretRef, and url must be http(s): one group per destination.
			urlEntries,
			Entry("a url without a scheme is refused", ntSpec{Destinations: webhook("hooks.example.com/x")}, msgHTTPURL),
			Entry("a url that is not a URL is refused", ntSpec{Destinations: webhook("not a url")}, msgHTTPURL),
			Entry("an http:// url is accepted", ntSpec{Destinations: webhook("http://receiver.default.svc:8080/hook")}),
			Entry("a url of 2049 bytes is refused", ntSpec{Destinations: webhook(okURL + "/" + repeat(2048-len(okURL)))},
				"spec.webhook.url", tooLong),
			Entry("33 headers are refused", nt(func(s *ntSpec) { s.Webhook.Headers = stringMap(33) }), "spec.webhook.headers", tooMany),
			Entry("32 headers are accepted", nt(func(s *ntSpec) { s.Webhook.Headers = stringMap(32) })),

			// telegram and splunk need secretRef.
			Entry("telegram without secretRef is refused", ntSpec{Destinations: dests{Telegram: &v1alpha1.TelegramDestination{
				ChatID: "-1001234567890",
			}}}, msgNeedsSecret),
			Entry("splunk without secretRef is refused", ntSpec{Destinations: dests{Splunk: &v1alpha1.SplunkDestination{
				HTTPSettings: httpAt("https://splunk.example.com:8088"),
			}}}, msgNeedsSecret),
			Entry("splunk without url but with secretRef is accepted", ntSpec{Destinations: dests{Splunk: &v1alpha1.SplunkDestination{}},
				SecretRef: creds()}),
			Entry("telegram with an https apiURL is accepted", ntSpec{Destinations: dests{Telegram: &v1alpha1.TelegramDestination{
				APIURL: "https://telegram-proxy.example.com",
			}}, SecretRef: creds()}),
			Entry("telegram with an ftp apiURL is refused", ntSpec{Destinations: dests{Telegram: &v1alpha1.TelegramDestination{
				APIURL: "ftp://telegram-proxy.example.com",
			}}, SecretRef: creds()}, msgAPIURL),
			Entry("telegram with a chatID of 257 bytes is refused", ntSpec{Destinations: dests{Telegram: &v1alpha1.TelegramDestination{
				ChatID: repeat(257),
			}}, SecretRef: creds()}, "spec.telegram.chatID", tooLong),
			Entry("telegram with 33 headers is refused", ntSpec{Destinations: dests{Telegram: &v1alpha1.TelegramDestination{
				Headers: stringMap(33),
			}}, SecretRef: creds()}, "spec.telegram.headers", tooMany),
			Entry("a slack channel of 257 bytes is refused", ntSpec{Destinations: dests{Slack: &v1alpha1.SlackDestination{
				HTTPSettings: httpAt(okURL), Channel: repeat(257),
			}}}, "spec.slack.channel", tooLong),

			// pagerDuty: the routing key comes from the Secret; the url has a default.
			Entry("pagerDuty without secretRef is refused", ntSpec{Destinations: dests{PagerDuty: &v1alpha1.PagerDutyDestination{}}},
				"pagerDuty needs secretRef: the routing key is read from the Secret key 'routingKey'"),
			Entry("pagerDuty with secretRef and no url is accepted", ntSpec{Destinations: dests{PagerDuty: &v1alpha1.PagerDutyDestination{}},
				SecretRef: creds()}),
			Entry("pagerDuty with an ftp url is refused", ntSpec{Destinations: dests{PagerDuty: &v1alpha1.PagerDutyDestination{
				HTTPSettings: httpAt("ftp://events.pagerduty.com/v2/enqueue")}}, SecretRef: creds()}, msgHTTPURL),

			// alertManager: further instances and the resend interval.
			Entry("alertManager with additionalURLs is accepted", ntSpec{Destinations: dests{AlertManager: &v1alpha1.AlertManagerDestination{
				HTTPSettings: httpAt("https://am-0.monitoring:9093"), AdditionalURLs: []string{"https://am-1.monitoring:9093", "http://am-2.monitoring:9093"},
				ResendInterval: &metav1.Duration{Duration: time.Minute}}}}),
			Entry("an additionalURL without a scheme is refused", ntSpec{Destinations: dests{AlertManager: &v1alpha1.AlertManagerDestination{
				HTTPSettings: httpAt("https://am-0.monitoring:9093"), AdditionalURLs: []string{"am-1.monitoring:9093"}}}},
				"spec.alertManager.additionalURLs[0]"),
			Entry("nine additionalURLs are refused", ntSpec{Destinations: dests{AlertManager: &v1alpha1.AlertManagerDestination{
				HTTPSettings: httpAt("https://am-0.monitoring:9093"), AdditionalURLs: []string{
					"https://a", "https://b", "https://c", "https://d", "https://e", "https://f", "https://g", "https://h", "https://i"}}}},
				"spec.alertManager.additionalURLs", tooMany),
			Entry("a resendInterval under 10s is refused", ntSpec{Destinations: dests{AlertManager: &v1alpha1.AlertManagerDestination{
				HTTPSettings: httpAt("https://am-0.monitoring:9093"), ResendInterval: &metav1.Duration{Duration: time.Second}}}},
				"resendInterval must be between 10s and 24h"),

			// splunk's event metadata.
			Entry("splunk index, source and sourceType are accepted", ntSpec{Destinations: dests{Splunk: &v1alpha1.SplunkDestination{
				Index: "security", Source: "policy-herald", SourceType: "_json"}}, SecretRef: creds()}),
			Entry("a splunk index of 81 bytes is refused", ntSpec{Destinations: dests{Splunk: &v1alpha1.SplunkDestination{
				Index: repeat(81)}}, SecretRef: creds()}, "spec.splunk.index", tooLong),

			// jira.
			Entry("jira without projectKey is refused", ntSpec{Destinations: jira(v1alpha1.JiraDestination{})}, msgJiraProject),
			Entry("jira without url or projectKey but with secretRef is refused", ntSpec{
				Destinations: dests{Jira: &v1alpha1.JiraDestination{}}, SecretRef: creds(),
			}, msgJiraProject),
			Entry("a lower-case jira projectKey is refused", ntSpec{Destinations: jira(v1alpha1.JiraDestination{ProjectKey: "ops"})},
				"spec.jira.projectKey", mustMatch),
			Entry("jira projectKey SEC_OPS2 is accepted", ntSpec{Destinations: jira(v1alpha1.JiraDestination{ProjectKey: "SEC_OPS2"})}),
			Entry("jira fields of any JSON shape and a resolveTransition are accepted", ntSpec{Destinations: jira(v1alpha1.JiraDestination{
				ProjectKey: "OPS", ResolveTransition: "Done", Fields: map[string]apiextensionsv1.JSON{
					"customfield_10010": {Raw: []byte(`{"value":"High"}`)}, "customfield_10011": {Raw: []byte(`"text"`)},
					"customfield_10012": {Raw: []byte(`[{"name":"a"}]`)}, "customfield_10013": {Raw: []byte(`3`)}}})}),
			Entry("jira apiVersion v2 is accepted", ntSpec{Destinations: jira(v1alpha1.JiraDestination{ProjectKey: "OPS", APIVersion: "v2"})}),
			Entry("jira apiVersion v4 is refused", ntSpec{Destinations: jira(v1alpha1.JiraDestination{ProjectKey: "OPS", APIVersion: "v4"})},
				"spec.jira.apiVersion", unsupported),
			Entry("a jira summaryTemplate of 1025 bytes is refused", ntSpec{Destinations: jira(v1alpha1.JiraDestination{
				ProjectKey: "OPS", SummaryTemplate: repeat(1025),
			})}, "spec.jira.summaryTemplate", tooLong),

			// s3, gcs, kinesis, securityHub and the AWS settings.
			Entry("s3 without bucket is refused", ntSpec{Destinations: s3(v1alpha1.S3Destination{
				AWSSettings: v1alpha1.AWSSettings{Region: "eu-west-1"},
			})}, msgS3Bucket),
			Entry("an s3 bucket of 2 bytes is refused", ntSpec{Destinations: s3(v1alpha1.S3Destination{Bucket: "ab"})},
				"spec.s3.bucket", tooShort),
			Entry("an s3 bucket of 64 bytes is refused", ntSpec{Destinations: s3(v1alpha1.S3Destination{Bucket: repeat(64)})},
				"spec.s3.bucket", tooLong),
			Entry("s3 serverSideEncryption aws:kms is accepted", ntSpec{Destinations: s3(v1alpha1.S3Destination{
				Bucket: "results", ServerSideEncryption: "aws:kms", KMSKeyID: "alias/herald",
			})}),
			Entry("s3 serverSideEncryption AES256 is accepted", ntSpec{Destinations: s3(v1alpha1.S3Destination{
				Bucket: "results", ServerSideEncryption: "AES256",
			})}),
			Entry("s3 serverSideEncryption AES128 is refused", ntSpec{Destinations: s3(v1alpha1.S3Destination{
				Bucket: "results", ServerSideEncryption: "AES128",
			})}, "spec.s3.serverSideEncryption", unsupported),
			Entry("an upper-case region is refused", ntSpec{Destinations: s3(v1alpha1.S3Destination{
				Bucket: "results", AWSSettings: v1alpha1.AWSSettings{Region: "EU_WEST_1"},
			})}, "spec.s3.region", mustMatch),
			Entry("an https endpoint is accepted", ntSpec{Destinations: s3(v1alpha1.S3Destination{
				Bucket: "results", PathStyle: true, AWSSettings: v1alpha1.AWSSettings{Endpoint: "https://minio.storage:9000"},
			})}),
			Entry("an endpoint that is not a URL is refused", ntSpec{Destinations: s3(v1alpha1.S3Destination{
				Bucket: "results", AWSSettings: v1alpha1.AWSSettings{Endpoint: "minio storage"},
			})}, msgEndpoint),
			Entry("a kinesis endpoint that is not a URL is refused", ntSpec{Destinations: dests{Kinesis: &v1alpha1.KinesisDestination{
				StreamName: "results", AWSSettings: v1alpha1.AWSSettings{Endpoint: "not a url"},
			}}}, msgEndpoint),
			Entry("gcs without bucket is refused", ntSpec{Destinations: dests{GCS: &v1alpha1.GCSDestination{Prefix: "herald"}}}, msgGCSBucket),
			Entry("a gcs bucket of 223 bytes is refused", ntSpec{Destinations: dests{GCS: &v1alpha1.GCSDestination{Bucket: repeat(223)}}},
				"spec.gcs.bucket", tooLong),
			Entry("a gcs bucket of 2 bytes is refused", ntSpec{Destinations: dests{GCS: &v1alpha1.GCSDestination{Bucket: "ab"}}},
				"spec.gcs.bucket", tooShort),
			Entry("kinesis without streamName is refused", ntSpec{Destinations: dests{Kinesis: &v1alpha1.KinesisDestination{
				AWSSettings: v1alpha1.AWSSettings{Region: "eu-west-1"},
			}}}, msgKinesis),
			Entry("a kinesis streamName of 129 bytes is refused", ntSpec{Destinations: dests{Kinesis: &v1alpha1.KinesisDestination{
				StreamName: repeat(129),
			}}}, "spec.kinesis.streamName", tooLong),
			Entry("securityHub without accountID is refused", ntSpec{Destinations: dests{SecurityHub: &v1alpha1.SecurityHubDestination{
				Synchronize: true,
			}}}, msgAccountID),
			Entry("a securityHub accountID of 11 digits is refused", ntSpec{Destinations: dests{SecurityHub: &v1alpha1.SecurityHubDestination{
				AccountID: "12345678901",
			}}}, "spec.securityHub.accountID", mustMatch),
			Entry("a securityHub accountID of 13 digits is refused", ntSpec{Destinations: dests{SecurityHub: &v1alpha1.SecurityHubDestination{
				AccountID: "1234567890123",
			}}}, "spec.securityHub.accountID", mustMatch),
			Entry("a securityHub accountID with letters is refused", ntSpec{Destinations: dests{SecurityHub: &v1alpha1.SecurityHubDestination{
				AccountID: "12345678901a",
			}}}, "spec.securityHub.accountID", mustMatch),

			// loki and elasticsearch.
			Entry("a loki path without a leading slash is refused", ntSpec{Destinations: dests{Loki: &v1alpha1.LokiDestination{
				HTTPSettings: httpAt("http://loki:3100"), Path: "loki/api/v1/push",
			}}}, "spec.loki.path", mustMatch),
			Entry("elasticsearch rotation monthly is accepted", ntSpec{Destinations: elastic(v1alpha1.ElasticsearchDestination{Rotation: "monthly"})}),
			Entry("elasticsearch rotation none is accepted", ntSpec{Destinations: elastic(v1alpha1.ElasticsearchDestination{Rotation: "none"})}),
			Entry("elasticsearch rotation annually is accepted", ntSpec{Destinations: elastic(v1alpha1.ElasticsearchDestination{Rotation: "annually"})}),
			Entry("elasticsearch rotation weekly is refused", ntSpec{Destinations: elastic(v1alpha1.ElasticsearchDestination{Rotation: "weekly"})},
				"spec.elasticsearch.rotation", unsupported),
			Entry("an upper-case elasticsearch index is refused", ntSpec{Destinations: elastic(v1alpha1.ElasticsearchDestination{Index: "Policy"})},
				"spec.elasticsearch.index", mustMatch),
			Entry("an elasticsearch index of 201 bytes is refused", ntSpec{Destinations: elastic(v1alpha1.ElasticsearchDestination{Index: repeat(201)})},
				"spec.elasticsearch.index", tooLong),

			// Keepalive.
			Entry("a keepalive interval of 10s is accepted", ntSpec{Destinations: keepalive(10 * time.Second)}),
			Entry("a keepalive interval of 5m is accepted", ntSpec{Destinations: keepalive(5 * time.Minute)}),
			Entry("a keepalive interval of 9s is refused", ntSpec{Destinations: keepalive(9 * time.Second)}, msgKeepalive),
			Entry("a keepalive interval of 9.999s is refused", ntSpec{Destinations: keepalive(9999 * time.Millisecond)}, msgKeepalive),
			Entry("33 keepalive params are refused", nt(func(s *ntSpec) {
				s.Webhook.Keepalive = &v1alpha1.Keepalive{Interval: metav1.Duration{Duration: time.Minute}, Params: stringMap(33)}
			}), "spec.webhook.keepalive.params", tooMany),

			// TLS: caSecretRef and insecureSkipVerify exclude each other.
			Entry("tls with caSecretRef is accepted", nt(func(s *ntSpec) { s.TLS = &v1alpha1.TLSConfig{CASecretRef: caRef()} })),
			Entry("tls with insecureSkipVerify is accepted", nt(func(s *ntSpec) { s.TLS = &v1alpha1.TLSConfig{InsecureSkipVerify: true} })),
			Entry("tls with both is refused", nt(func(s *ntSpec) {
				s.TLS = &v1alpha1.TLSConfig{CASecretRef: caRef(), InsecureSkipVerify: true}
			}), msgTLS),
			Entry("tls caSecretRef without key is refused", nt(func(s *ntSpec) {
				s.TLS = &v1alpha1.TLSConfig{CASecretRef: &v1alpha1.SecretKeySelector{Name: "ca"}}
			}), "spec.tls.caSecretRef.key", tooShort),

			// secretRef.
			Entry("a secretRef with an empty name is refused", nt(func(s *ntSpec) { s.SecretRef = &v1alpha1.LocalSecretReference{} }),
				"spec.secretRef.name", tooShort),
			Entry("a secretRef name of 254 bytes is refused", nt(func(s *ntSpec) {
				s.SecretRef = &v1alpha1.LocalSecretReference{Name: repeat(254)}
			}), "spec.secretRef.name", tooLong),

			// allowedChannels.namespaces: selector iff from is Selector.
			Entry("from Same is accepted", channels(v1alpha1.ChannelNamespaces{From: "Same"})),
			Entry("from All is accepted", channels(v1alpha1.ChannelNamespaces{From: "All"})),
			Entry("from Selector with a selector is accepted", channels(v1alpha1.ChannelNamespaces{
				From: "Selector", Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}},
			})),
			Entry("from Selector without a selector is refused", channels(v1alpha1.ChannelNamespaces{From: "Selector"}), msgSelector),
			Entry("from All with a selector is refused", channels(v1alpha1.ChannelNamespaces{
				From: "All", Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}},
			}), msgSelector),
			Entry("a selector with the default from (Same) is refused", channels(v1alpha1.ChannelNamespaces{
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}},
			}), msgSelector),
			Entry("from Everyone is refused", channels(v1alpha1.ChannelNamespaces{From: "Everyone"}),
				"spec.allowedChannels.namespaces.from", unsupported),

			// Minimums and sources.
			Entry("minimumSeverity high is accepted", nt(func(s *ntSpec) { s.MinimumSeverity = "high" })),
			Entry("minimumSeverity urgent is refused", nt(func(s *ntSpec) { s.MinimumSeverity = "urgent" }),
				"spec.minimumSeverity", unsupported),
			Entry("minimumPriority warning is accepted", nt(func(s *ntSpec) { s.MinimumPriority = "warning" })),
			Entry("minimumPriority warn is refused", nt(func(s *ntSpec) { s.MinimumPriority = "warn" }),
				"spec.minimumPriority", unsupported),
			Entry("64 sources are accepted", nt(func(s *ntSpec) { s.Sources = stringList(64) })),
			Entry("65 sources are refused", nt(func(s *ntSpec) { s.Sources = stringList(65) }), "spec.sources", tooMany),
			Entry("an empty source is refused", nt(func(s *ntSpec) { s.Sources = []string{"kyverno", ""} }),
				"spec.sources[1]", tooShort),

			// customFields.
			Entry("32 customFields are accepted", nt(func(s *ntSpec) { s.CustomFields = stringMap(32) })),
			Entry("33 customFields are refused", nt(func(s *ntSpec) { s.CustomFields = stringMap(33) }),
				"spec.customFields", tooMany, "32"),

			// filter.
			Entry("a filter with every rule is accepted", withFilter(v1alpha1.ResultFilter{
				Namespaces:        &v1alpha1.MatchList{Include: []string{"team-*"}, Exclude: []string{"team-test"}},
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "prod"}},
				Policies:          &v1alpha1.MatchList{Include: []string{"require-*"}},
				Sources:           &v1alpha1.MatchList{Include: []string{"kyverno"}},
				Categories:        &v1alpha1.MatchList{Exclude: []string{"Best Practices"}},
				Severities:        &v1alpha1.SeverityList{Include: []v1alpha1.Severity{"high", "critical"}, Exclude: []v1alpha1.Severity{"info"}},
				Statuses:          &v1alpha1.StatusList{Include: []v1alpha1.ResultStatus{"fail", "error", "pass"}, Exclude: []v1alpha1.ResultStatus{"skip"}},
				ReportLabels:      &v1alpha1.MatchList{Include: []string{"app.kubernetes.io/managed-by:kyverno"}},
			})),
			Entry("filter.severities.include severe is refused", withFilter(v1alpha1.ResultFilter{
				Severities: &v1alpha1.SeverityList{Include: []v1alpha1.Severity{"high", "severe"}},
			}), "spec.filter.severities.include[1]", unsupported),
			Entry("filter.severities.exclude none is refused", withFilter(v1alpha1.ResultFilter{
				Severities: &v1alpha1.SeverityList{Exclude: []v1alpha1.Severity{"none"}},
			}), "spec.filter.severities.exclude[0]", unsupported),
			Entry("duplicate filter.severities are refused", withFilter(v1alpha1.ResultFilter{
				Severities: &v1alpha1.SeverityList{Include: []v1alpha1.Severity{"high", "high"}},
			}), "spec.filter.severities.include[1]", duplicate),
			Entry("filter.statuses.include failed is refused", withFilter(v1alpha1.ResultFilter{
				Statuses: &v1alpha1.StatusList{Include: []v1alpha1.ResultStatus{"failed"}},
			}), "spec.filter.statuses.include[0]", unsupported),
			Entry("filter.statuses.exclude PASS is refused", withFilter(v1alpha1.ResultFilter{
				Statuses: &v1alpha1.StatusList{Exclude: []v1alpha1.ResultStatus{"PASS"}},
			}), "spec.filter.statuses.exclude[0]", unsupported),
			Entry("duplicate filter.statuses are refused", withFilter(v1alpha1.ResultFilter{
				Statuses: &v1alpha1.StatusList{Include: []v1alpha1.ResultStatus{"fail", "fail"}},
			}), "spec.filter.statuses.include[1]", duplicate),
			Entry("an empty filter.namespaces pattern is refused", withFilter(v1alpha1.ResultFilter{
				Namespaces: &v1alpha1.MatchList{Include: []string{""}},
			}), "spec.filter.namespaces.include[0]", tooShort),
			Entry("129 filter.policies patterns are refused", withFilter(v1alpha1.ResultFilter{
				Policies: &v1alpha1.MatchList{Exclude: stringList(129)},
			}), "spec.filter.policies.exclude", tooMany),

			// Secret names are DNS subdomains: a name the API server would never accept for a
			// Secret (with "/", upper case) is refused here, not left to fail every reconcile.
			Entry("a dotted secretRef.name is accepted", nt(func(s *ntSpec) {
				s.SecretRef = &v1alpha1.LocalSecretReference{Name: "slack.team-a"}
			})),
			Entry("a secretRef.name with / is refused", nt(func(s *ntSpec) {
				s.SecretRef = &v1alpha1.LocalSecretReference{Name: "a/b"}
			}), "spec.secretRef.name", mustMatch),
			Entry("an upper-case secretRef.name is refused", nt(func(s *ntSpec) {
				s.SecretRef = &v1alpha1.LocalSecretReference{Name: "Creds"}
			}), "spec.secretRef.name", mustMatch),
			Entry("a secretRef.name ending in - is refused", nt(func(s *ntSpec) {
				s.SecretRef = &v1alpha1.LocalSecretReference{Name: "creds-"}
			}), "spec.secretRef.name", mustMatch),
			Entry("a secretRef.name of 254 bytes is refused", nt(func(s *ntSpec) {
				s.SecretRef = &v1alpha1.LocalSecretReference{Name: repeat(254)}
			}), "spec.secretRef.name", tooLong),
			Entry("a tls.caSecretRef.name with / is refused", nt(func(s *ntSpec) {
				s.TLS = &v1alpha1.TLSConfig{CASecretRef: &v1alpha1.SecretKeySelector{Name: "ca/x", Key: "ca.crt"}}
			}), "spec.tls.caSecretRef.name", mustMatch),
		)

		// CEL's isURL is url.ParseRequestURI, which alone accepts a scheme without a host
		// ("http://"), an absolute path ("/minio") and host:port read as scheme:opaque
		// ("minio.storage:9000"); the rules also require a scheme and a host.
		DescribeTable("URLs that isURL alone would accept",
			func(spec ntSpec, want ...string) {
				expectAdmission(k8sClient.Create(ctx, &v1alpha1.NotificationTarget{ObjectMeta: objMeta("nt-"), Spec: spec}), want...)
			},
			Entry("an http url without a host is refused", ntSpec{Destinations: webhook("http://")}, msgHTTPURL),
			Entry("an https url without a host is refused", ntSpec{Destinations: webhook("https://")}, msgHTTPURL),
			Entry("an endpoint that is only a path is refused", ntSpec{Destinations: s3(v1alpha1.S3Destination{
				Bucket: "results", AWSSettings: v1alpha1.AWSSettings{Endpoint: "/minio"},
			})}, msgEndpoint),
			Entry("an endpoint of host:port without a scheme is refused", ntSpec{Destinations: s3(v1alpha1.S3Destination{
				Bucket: "results", AWSSettings: v1alpha1.AWSSettings{Endpoint: "minio.storage:9000"},
			})}, msgEndpoint),
		)

		It("defaults skipExistingOnStartup to true and allowedChannels.namespaces.from to Same", func() {
			t := &v1alpha1.NotificationTarget{ObjectMeta: objMeta("nt-"), Spec: ntSpec{
				Destinations:    webhook(okURL),
				AllowedChannels: &v1alpha1.AllowedChannels{Namespaces: &v1alpha1.ChannelNamespaces{}},
			}}
			Expect(k8sClient.Create(ctx, t)).To(Succeed())

			var got v1alpha1.NotificationTarget
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(t), &got)).To(Succeed())
			Expect(got.Spec.SkipExistingOnStartup).To(HaveValue(BeTrue()))
			Expect(got.Spec.AllowedChannels.Namespaces.From).To(Equal(v1alpha1.NamespacesFromSame))
		})

		It("keeps an explicit skipExistingOnStartup false", func() {
			skip := false
			t := &v1alpha1.NotificationTarget{ObjectMeta: objMeta("nt-"), Spec: ntSpec{
				Destinations: webhook(okURL), SkipExistingOnStartup: &skip,
			}}
			Expect(k8sClient.Create(ctx, t)).To(Succeed())

			var got v1alpha1.NotificationTarget
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(t), &got)).To(Succeed())
			Expect(got.Spec.SkipExistingOnStartup).To(HaveValue(BeFalse()))
			Expect(got.Spec.AllowedChannels).To(BeNil(), "no allowedChannels block is invented")
		})

		It("applies the rules on update", func() {
			t := &v1alpha1.NotificationTarget{ObjectMeta: objMeta("nt-"), Spec: ntSpec{Destinations: webhook(okURL)}}
			Expect(k8sClient.Create(ctx, t)).To(Succeed())

			By("accepting a valid change")
			Expect(updateSpec(t, func() { t.Spec.MinimumSeverity = v1alpha1.SeverityHigh })).To(Succeed())

			By("refusing a second destination")
			expectAdmission(updateSpec(t, func() { t.Spec.Slack = slack(okURL).Slack }), msgExactlyOne)

			By("refusing the removal of the only destination")
			expectAdmission(updateSpec(t, func() { t.Spec.Webhook = nil }), msgExactlyOne)

			By("refusing the removal of the url without secretRef")
			expectAdmission(updateSpec(t, func() { t.Spec.Webhook.URL = "" }), msgNeedsURL)

			By("refusing both caSecretRef and insecureSkipVerify")
			expectAdmission(updateSpec(t, func() {
				t.Spec.TLS = &v1alpha1.TLSConfig{CASecretRef: caRef(), InsecureSkipVerify: true}
			}), msgTLS)

			By("refusing from Selector without a selector")
			expectAdmission(updateSpec(t, func() {
				t.Spec.AllowedChannels = &v1alpha1.AllowedChannels{Namespaces: &v1alpha1.ChannelNamespaces{From: "Selector"}}
			}), msgSelector)

			By("accepting a switch to another destination")
			Expect(updateSpec(t, func() {
				t.Spec.Webhook = nil
				t.Spec.Telegram = &v1alpha1.TelegramDestination{ChatID: "42"}
				t.Spec.SecretRef = creds()
			})).To(Succeed())
			Expect(t.Spec.DestinationType()).To(Equal(v1alpha1.DestinationTelegram))
			Expect(t.Spec.MinimumSeverity).To(Equal(v1alpha1.SeverityHigh))

			By("refusing the removal of secretRef from telegram")
			expectAdmission(updateSpec(t, func() { t.Spec.SecretRef = nil }), msgNeedsSecret)
		})
	})

	Describe("TargetChannel", func() {
		ref := func() v1alpha1.TargetReference { return v1alpha1.TargetReference{Name: "platform-slack"} }

		DescribeTable("create",
			func(spec tcSpec, want ...string) {
				expectAdmission(k8sClient.Create(ctx, &v1alpha1.TargetChannel{ObjectMeta: objMeta("tc-"), Spec: spec}), want...)
			},
			Entry("only a targetRef is accepted", tcSpec{TargetRef: ref()}),
			Entry("a targetRef into another namespace is accepted", tcSpec{TargetRef: v1alpha1.TargetReference{
				Name: "platform-slack", Namespace: "policy-herald",
			}}),
			Entry("one override block without url is accepted", tcSpec{TargetRef: ref(), Destinations: dests{
				Slack: &v1alpha1.SlackDestination{Channel: "#team-a"},
			}}),
			Entry("one override block with a url is accepted", tcSpec{TargetRef: ref(), Destinations: slack(okURL), SecretRef: creds()}),
			Entry("a telegram override without secretRef is accepted", tcSpec{TargetRef: ref(), Destinations: dests{
				Telegram: &v1alpha1.TelegramDestination{ChatID: "42"},
			}}),
			Entry("a secretRef.name with / is refused", tcSpec{TargetRef: ref(), SecretRef: &v1alpha1.LocalSecretReference{Name: "a/b"}},
				"spec.secretRef.name", mustMatch),
			Entry("two override blocks are refused", tcSpec{TargetRef: ref(), Destinations: dests{
				Slack: &v1alpha1.SlackDestination{Channel: "#team-a"}, Teams: chatAt(okURL),
			}}, msgAtMostOne),
			Entry("three override blocks are refused", tcSpec{TargetRef: ref(), Destinations: dests{
				S3: &v1alpha1.S3Destination{Prefix: "a"}, GCS: &v1alpha1.GCSDestination{Prefix: "b"},
				Kinesis: &v1alpha1.KinesisDestination{StreamName: "c"},
			}}, msgAtMostOne),
			Entry("an empty targetRef.name is refused", tcSpec{TargetRef: v1alpha1.TargetReference{}},
				"spec.targetRef.name", tooShort),
			Entry("a targetRef.name of 254 bytes is refused", tcSpec{TargetRef: v1alpha1.TargetReference{Name: repeat(254)}},
				"spec.targetRef.name", tooLong),
			Entry("a targetRef.namespace of 64 bytes is refused", tcSpec{TargetRef: v1alpha1.TargetReference{
				Name: "platform-slack", Namespace: repeat(64),
			}}, "spec.targetRef.namespace", tooLong),
			Entry("an ftp url in the override block is refused", tcSpec{TargetRef: ref(), Destinations: webhook("ftp://x.example.com")},
				msgHTTPURL),
			Entry("a keepalive interval of 5s in the override block is refused", tcSpec{TargetRef: ref(), Destinations: keepalive(5 * time.Second)},
				msgKeepalive),
			Entry("a lower-case jira projectKey in the override block is refused", tcSpec{TargetRef: ref(), Destinations: dests{
				Jira: &v1alpha1.JiraDestination{ProjectKey: "team"},
			}}, "spec.jira.projectKey", mustMatch),
			Entry("32 customFields are accepted", tcSpec{TargetRef: ref(), CustomFields: stringMap(32)}),
			Entry("33 customFields are refused", tcSpec{TargetRef: ref(), CustomFields: stringMap(33)}, "spec.customFields", tooMany),
			Entry("a valid filter is accepted", tcSpec{TargetRef: ref(), Filter: &v1alpha1.ResultFilter{
				Statuses: &v1alpha1.StatusList{Include: []v1alpha1.ResultStatus{"fail", "warn"}},
			}}),
			Entry("filter.statuses.include failed is refused", tcSpec{TargetRef: ref(), Filter: &v1alpha1.ResultFilter{
				Statuses: &v1alpha1.StatusList{Include: []v1alpha1.ResultStatus{"failed"}},
			}}, "spec.filter.statuses.include[0]", unsupported),
			Entry("a secretRef with an empty name is refused", tcSpec{TargetRef: ref(), SecretRef: &v1alpha1.LocalSecretReference{}},
				"spec.secretRef.name", tooShort),
		)

		It("applies the at-most-one rule on update", func() {
			c := &v1alpha1.TargetChannel{ObjectMeta: objMeta("tc-"), Spec: tcSpec{TargetRef: ref(), Destinations: dests{
				Slack: &v1alpha1.SlackDestination{Channel: "#team-a"},
			}}}
			Expect(k8sClient.Create(ctx, c)).To(Succeed())
			expectAdmission(updateSpec(c, func() { c.Spec.Discord = chatAt(okURL) }), msgAtMostOne)
			expectAdmission(updateSpec(c, func() { c.Spec.TargetRef.Name = "" }), "spec.targetRef.name", tooShort)
			Expect(updateSpec(c, func() { c.Spec.Slack.Channel = "#team-b" })).To(Succeed())
		})
	})

	Describe("EmailReportSchedule", func() {
		// ers is a valid schedule changed by mod.
		ers := func(mod func(*ersSpec)) ersSpec {
			s := ersSpec{
				Schedule:   "0 7 * * 1",
				ReportType: v1alpha1.EmailReportSummary,
				Recipients: []string{"ops@example.com"},
				SMTP:       &v1alpha1.SMTPSettings{Host: "smtp.example.com", From: "herald@example.com"},
			}
			mod(&s)
			return s
		}
		smtp := func(settings v1alpha1.SMTPSettings) ersSpec { return ers(func(s *ersSpec) { s.SMTP = &settings }) }
		graphSettings := func() *v1alpha1.GraphSettings {
			return &v1alpha1.GraphSettings{TenantID: "contoso.onmicrosoft.com", ClientID: "6731de76-14a6-49ae-97bc-6eba6914391e",
				User: "reports@contoso.com", ClientSecretRef: v1alpha1.SecretKeySelector{Name: "graph", Key: "client-secret"}}
		}
		graph := func(mod func(*v1alpha1.GraphSettings)) ersSpec {
			return ers(func(s *ersSpec) {
				s.SMTP, s.Graph = nil, graphSettings()
				mod(s.Graph)
			})
		}

		DescribeTable("create",
			func(spec ersSpec, want ...string) {
				expectAdmission(k8sClient.Create(ctx, &v1alpha1.EmailReportSchedule{ObjectMeta: objMeta("ers-"), Spec: spec}), want...)
			},
			Entry("a complete schedule is accepted", ers(func(s *ersSpec) {
				s.TimeZone = "Europe/Berlin"
				s.ClusterName = "prod-eu"
				s.Filter = &v1alpha1.ResultFilter{Severities: &v1alpha1.SeverityList{Include: []v1alpha1.Severity{"critical"}}}
			})),
			Entry("a macro schedule is accepted", ers(func(s *ersSpec) { s.Schedule = "@daily" })),

			// schedule, timeZone, clusterName.
			Entry("an empty schedule is refused", ers(func(s *ersSpec) { s.Schedule = "" }), "spec.schedule", tooShort),
			Entry("a schedule of 129 bytes is refused", ers(func(s *ersSpec) { s.Schedule = repeat(129) }), "spec.schedule", tooLong),
			Entry("a timeZone of 65 bytes is refused", ers(func(s *ersSpec) { s.TimeZone = repeat(65) }), "spec.timeZone", tooLong),
			Entry("a clusterName of 129 bytes is refused", ers(func(s *ersSpec) { s.ClusterName = repeat(129) }), "spec.clusterName", tooLong),
			Entry("an smtp.secretRef.name with / is refused", ers(func(s *ersSpec) {
				s.SMTP.SecretRef = &v1alpha1.LocalSecretReference{Name: "a/b"}
			}), "spec.smtp.secretRef.name", mustMatch),

			// reportType.
			Entry("reportType violations is accepted", ers(func(s *ersSpec) { s.ReportType = v1alpha1.EmailReportViolations })),
			Entry("reportType weekly is refused", ers(func(s *ersSpec) { s.ReportType = "weekly" }), "spec.reportType", unsupported),
			Entry("an empty reportType is refused", ers(func(s *ersSpec) { s.ReportType = "" }), "spec.reportType", unsupported),

			// recipients.
			Entry("no recipients are refused", ers(func(s *ersSpec) { s.Recipients = []string{} }), "spec.recipients", "should have at least 1 items"),
			Entry("100 recipients are accepted", ers(func(s *ersSpec) { s.Recipients = stringList(100) })),
			Entry("101 recipients are refused", ers(func(s *ersSpec) { s.Recipients = stringList(101) }), "spec.recipients", tooMany),
			Entry("a recipient of 2 bytes is refused", ers(func(s *ersSpec) { s.Recipients = []string{"ops@example.com", "a@"} }),
				"spec.recipients[1]", tooShort),
			Entry("a recipient of 321 bytes is refused", ers(func(s *ersSpec) { s.Recipients = []string{repeat(309) + "@example.com"} }),
				"spec.recipients[0]", tooLong),
			Entry("duplicate recipients are refused", ers(func(s *ersSpec) { s.Recipients = []string{"ops@example.com", "ops@example.com"} }),
				"spec.recipients[1]", duplicate),

			// smtp: host and from unless secretRef.
			Entry("smtp with only secretRef is accepted", smtp(v1alpha1.SMTPSettings{SecretRef: creds()})),
			Entry("smtp with host but no from is refused", smtp(v1alpha1.SMTPSettings{Host: "smtp.example.com"}), msgSMTP),
			Entry("smtp with from but no host is refused", smtp(v1alpha1.SMTPSettings{From: "herald@example.com"}), msgSMTP),
			Entry("empty smtp is refused", smtp(v1alpha1.SMTPSettings{}), msgSMTP),
			Entry("smtp without host and from but with secretRef is accepted", smtp(v1alpha1.SMTPSettings{
				Username: "herald", SecretRef: creds(),
			})),
			Entry("an smtp host of 254 bytes is refused", smtp(v1alpha1.SMTPSettings{Host: repeat(254), From: "h@example.com"}),
				"spec.smtp.host", tooLong),
			Entry("an smtp from of 321 bytes is refused", smtp(v1alpha1.SMTPSettings{Host: "smtp", From: repeat(321)}),
				"spec.smtp.from", tooLong),

			// exactly one of smtp and graph; graph's fields.
			Entry("graph instead of smtp is accepted", graph(func(*v1alpha1.GraphSettings) {})),
			Entry("a graph user by object ID and a tenant GUID are accepted", graph(func(g *v1alpha1.GraphSettings) {
				g.User, g.TenantID = "2f4c1e0a-7b3d-4a5e-9c8f-1d2e3f4a5b6c", "0c3a5e2f-4d6b-4f1e-9a7c-2b8d1e6f0a93"
			})),
			Entry("smtp and graph together are refused", ers(func(s *ersSpec) { s.Graph = graphSettings() }), msgSMTPOrGraph),
			Entry("neither smtp nor graph is refused", ers(func(s *ersSpec) { s.SMTP = nil }), msgSMTPOrGraph),
			Entry("graph without tenantID is refused", graph(func(g *v1alpha1.GraphSettings) { g.TenantID = "" }), "spec.graph.tenantID"),
			Entry("a graph tenantID with / is refused", graph(func(g *v1alpha1.GraphSettings) { g.TenantID = "contoso/x" }),
				"spec.graph.tenantID", mustMatch),
			Entry("graph without clientID is refused", graph(func(g *v1alpha1.GraphSettings) { g.ClientID = "" }), "spec.graph.clientID"),
			Entry("graph without user is refused", graph(func(g *v1alpha1.GraphSettings) { g.User = "" }), "spec.graph.user"),
			Entry("a graph user of 321 bytes is refused", graph(func(g *v1alpha1.GraphSettings) { g.User = repeat(321) }), "spec.graph.user", tooLong),
			Entry("graph without the secret's key is refused", graph(func(g *v1alpha1.GraphSettings) { g.ClientSecretRef.Key = "" }),
				"spec.graph.clientSecretRef.key"),

			// smtp port.
			Entry("port 1 is accepted", ers(func(s *ersSpec) { s.SMTP.Port = 1 })),
			Entry("port 587 is accepted", ers(func(s *ersSpec) { s.SMTP.Port = 587 })),
			Entry("port 65535 is accepted", ers(func(s *ersSpec) { s.SMTP.Port = 65535 })),
			Entry("port 65536 is refused", ers(func(s *ersSpec) { s.SMTP.Port = 65536 }), "spec.smtp.port", lessOrEqual),
			Entry("port -1 is refused", ers(func(s *ersSpec) { s.SMTP.Port = -1 }), "spec.smtp.port", greaterOrEq),

			// smtp encryption.
			Entry("encryption ssl/tls is accepted", ers(func(s *ersSpec) { s.SMTP.Encryption = v1alpha1.SMTPEncryptionTLS })),
			Entry("encryption starttls is accepted", ers(func(s *ersSpec) { s.SMTP.Encryption = v1alpha1.SMTPEncryptionStartTLS })),
			Entry("encryption none is accepted", ers(func(s *ersSpec) { s.SMTP.Encryption = v1alpha1.SMTPEncryptionNone })),
			Entry("encryption tls is refused", ers(func(s *ersSpec) { s.SMTP.Encryption = "tls" }), "spec.smtp.encryption", unsupported),

			// smtp tls and the shared filter.
			Entry("smtp tls with both caSecretRef and insecureSkipVerify is refused", ers(func(s *ersSpec) {
				s.SMTP.TLS = &v1alpha1.TLSConfig{CASecretRef: caRef(), InsecureSkipVerify: true}
			}), msgTLS),
			Entry("smtp tls with insecureSkipVerify is accepted", ers(func(s *ersSpec) {
				s.SMTP.TLS = &v1alpha1.TLSConfig{InsecureSkipVerify: true}
			})),
			Entry("filter.severities.include urgent is refused", ers(func(s *ersSpec) {
				s.Filter = &v1alpha1.ResultFilter{Severities: &v1alpha1.SeverityList{Include: []v1alpha1.Severity{"urgent"}}}
			}), "spec.filter.severities.include[0]", unsupported),
		)

		It("applies the smtp rule on update", func() {
			e := &v1alpha1.EmailReportSchedule{ObjectMeta: objMeta("ers-"), Spec: ers(func(*ersSpec) {})}
			Expect(k8sClient.Create(ctx, e)).To(Succeed())
			expectAdmission(updateSpec(e, func() { e.Spec.SMTP.From = "" }), msgSMTP)
			expectAdmission(updateSpec(e, func() { e.Spec.Recipients = []string{} }), "spec.recipients", "should have at least 1 items")
			Expect(updateSpec(e, func() { e.Spec.SMTP = &v1alpha1.SMTPSettings{SecretRef: creds()} })).To(Succeed())
			expectAdmission(updateSpec(e, func() { e.Spec.Graph = graphSettings() }), msgSMTPOrGraph)
			Expect(updateSpec(e, func() { e.Spec.SMTP, e.Spec.Graph = nil, graphSettings() })).To(Succeed())
		})
	})

	Describe("MetricsProfile", func() {
		labels := func(l ...v1alpha1.MetricLabel) mpSpec { return mpSpec{Mode: v1alpha1.MetricsCustom, CustomLabels: l} }

		DescribeTable("create",
			func(spec mpSpec, want ...string) {
				expectAdmission(k8sClient.Create(ctx, &v1alpha1.MetricsProfile{ObjectMeta: objMeta("mp-"), Spec: spec}), want...)
			},
			Entry("mode detailed is accepted", mpSpec{Mode: v1alpha1.MetricsDetailed}),
			Entry("mode simple is accepted", mpSpec{Mode: v1alpha1.MetricsSimple}),
			Entry("maxSeries 1 is accepted", mpSpec{MaxSeries: ptr.To[int32](1)}),
			Entry("maxSeries 0 is refused", mpSpec{MaxSeries: ptr.To[int32](0)}, "spec.maxSeries", greaterOrEq),
			Entry("mode verbose is refused", mpSpec{Mode: "verbose"}, "spec.mode", unsupported),

			// customLabels iff mode custom.
			Entry("mode custom with labels is accepted", labels("namespace", "policy", "status")),
			Entry("mode custom without labels is refused", mpSpec{Mode: v1alpha1.MetricsCustom}, msgCustom),
			Entry("mode detailed with labels is refused", mpSpec{Mode: v1alpha1.MetricsDetailed, CustomLabels: []v1alpha1.MetricLabel{"policy"}},
				msgCustom),
			Entry("mode simple with labels is refused", mpSpec{Mode: v1alpha1.MetricsSimple, CustomLabels: []v1alpha1.MetricLabel{"policy"}},
				msgCustom),
			Entry("the default mode with labels is refused", mpSpec{CustomLabels: []v1alpha1.MetricLabel{"policy"}}, msgCustom),

			// The label pattern.
			Entry(`label "label:app" is accepted`, labels("label:app")),
			Entry(`label "property:version" is accepted`, labels("property:version")),
			Entry(`label "namespace" is accepted`, labels("namespace")),
			Entry("every result field is accepted", labels("namespace", "policy", "rule", "report", "kind", "name",
				"status", "severity", "category", "source", "message")),
			Entry(`label "label:app.kubernetes.io/name" is accepted`, labels("label:app.kubernetes.io/name")),
			Entry(`label "foo" is refused`, labels("foo"), "spec.customLabels[0]", mustMatch),
			Entry(`label "label:" is refused`, labels("label:"), "spec.customLabels[0]", mustMatch),
			Entry(`label "property:" is refused`, labels("namespace", "property:"), "spec.customLabels[1]", mustMatch),
			Entry(`label "label:-app" is refused`, labels("label:-app"), "spec.customLabels[0]", mustMatch),
			Entry(`label "Namespace" is refused`, labels("Namespace"), "spec.customLabels[0]", mustMatch),
			Entry(`label "annotation:x" is refused`, labels("annotation:x"), "spec.customLabels[0]", mustMatch),
			Entry("a label of 129 bytes is refused", labels(v1alpha1.MetricLabel("label:"+repeat(123))), "spec.customLabels[0]", tooLong),
			Entry("duplicate labels are refused", labels("policy", "policy"), "spec.customLabels[1]", duplicate),
			Entry("32 labels are accepted", func() mpSpec {
				s := labels()
				for i := range 32 {
					s.CustomLabels = append(s.CustomLabels, v1alpha1.MetricLabel(fmt.Sprintf("label:l%d", i)))
				}
				return s
			}()),
			Entry("33 labels are refused", func() mpSpec {
				s := labels()
				for i := range 33 {
					s.CustomLabels = append(s.CustomLabels, v1alpha1.MetricLabel(fmt.Sprintf("label:l%d", i)))
				}
				return s
			}(), "spec.customLabels", tooMany),
			Entry("filter.statuses.include passed is refused", mpSpec{Filter: &v1alpha1.ResultFilter{
				Statuses: &v1alpha1.StatusList{Include: []v1alpha1.ResultStatus{"passed"}},
			}}, "spec.filter.statuses.include[0]", unsupported),
		)

		It("defaults mode to detailed", func() {
			p := &v1alpha1.MetricsProfile{ObjectMeta: objMeta("mp-")}
			Expect(k8sClient.Create(ctx, p)).To(Succeed())

			var got v1alpha1.MetricsProfile
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(p), &got)).To(Succeed())
			Expect(got.Spec.Mode).To(Equal(v1alpha1.MetricsDetailed))
		})

		It("applies the customLabels rule on update", func() {
			p := &v1alpha1.MetricsProfile{ObjectMeta: objMeta("mp-"), Spec: labels("namespace", "label:team")}
			Expect(k8sClient.Create(ctx, p)).To(Succeed())
			expectAdmission(updateSpec(p, func() { p.Spec.Mode = v1alpha1.MetricsSimple }), msgCustom)
			expectAdmission(updateSpec(p, func() { p.Spec.CustomLabels = nil }), msgCustom)
			expectAdmission(updateSpec(p, func() { p.Spec.CustomLabels = append(p.Spec.CustomLabels, "foo") }),
				"spec.customLabels[2]", mustMatch)
			Expect(updateSpec(p, func() {
				p.Spec.Mode = v1alpha1.MetricsSimple
				p.Spec.CustomLabels = nil
			})).To(Succeed())
		})
	})

	Describe("BlockReportPolicy", func() {
		retention := func(d time.Duration) brpSpec { return brpSpec{Retention: &metav1.Duration{Duration: d}} }

		DescribeTable("create",
			func(spec brpSpec, want ...string) {
				expectAdmission(k8sClient.Create(ctx, &v1alpha1.BlockReportPolicy{ObjectMeta: objMeta("brp-"), Spec: spec}), want...)
			},
			Entry("resultsPerReport 1 is accepted", brpSpec{ResultsPerReport: 1}),
			Entry("resultsPerReport 1000 is accepted", brpSpec{ResultsPerReport: 1000}),
			Entry("resultsPerReport 1001 is refused", brpSpec{ResultsPerReport: 1001}, "spec.resultsPerReport", lessOrEqual),
			Entry("resultsPerReport -1 is refused", brpSpec{ResultsPerReport: -1}, "spec.resultsPerReport", greaterOrEq),
			Entry("retention 168h is accepted", retention(168*time.Hour)),
			Entry("retention 0s is accepted", retention(0)),
			Entry("retention -1h is refused", retention(-time.Hour), msgRetention),
			Entry("retention -1ns is refused", retention(-time.Nanosecond), msgRetention),
			Entry("a source of 63 bytes is accepted", brpSpec{Source: repeat(63)}),
			Entry("a source of 64 bytes is refused", brpSpec{Source: repeat(64)}, "spec.source", tooLong),
			Entry("namespaces and a namespaceSelector are accepted", brpSpec{
				Namespaces:        &v1alpha1.MatchList{Include: []string{"team-*"}},
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "prod"}},
			}),
			Entry("an empty namespaces pattern is refused", brpSpec{Namespaces: &v1alpha1.MatchList{Exclude: []string{""}}},
				"spec.namespaces.exclude[0]", tooShort),
		)

		It("defaults source to Kyverno Event and resultsPerReport to 200", func() {
			p := &v1alpha1.BlockReportPolicy{ObjectMeta: objMeta("brp-")}
			Expect(k8sClient.Create(ctx, p)).To(Succeed())

			var got v1alpha1.BlockReportPolicy
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(p), &got)).To(Succeed())
			Expect(got.Spec.Source).To(Equal("Kyverno Event"))
			Expect(got.Spec.ResultsPerReport).To(BeEquivalentTo(200))
			Expect(got.Spec.Retention).To(BeNil())
		})

		It("applies the range and retention rules on update", func() {
			p := &v1alpha1.BlockReportPolicy{ObjectMeta: objMeta("brp-")}
			Expect(k8sClient.Create(ctx, p)).To(Succeed())
			expectAdmission(updateSpec(p, func() { p.Spec.ResultsPerReport = 5000 }), "spec.resultsPerReport", lessOrEqual)
			expectAdmission(updateSpec(p, func() { p.Spec.Retention = &metav1.Duration{Duration: -time.Minute} }), msgRetention)
			Expect(updateSpec(p, func() { p.Spec.ResultsPerReport = 50 })).To(Succeed())
		})
	})

	// Objects the typed client cannot express: absent required fields, and zero or empty values
	// it would omit.
	Describe("raw objects", func() {
		ersRaw := func(drop string) obj {
			s := obj{
				"schedule":   "@weekly",
				"reportType": "violations",
				"recipients": []any{"ops@example.com"},
				"smtp":       obj{"host": "smtp.example.com", "from": "herald@example.com"},
			}
			delete(s, drop)
			return s
		}
		webhookRaw := func(keepalive obj) obj {
			return obj{"webhook": obj{"url": okURL, "keepalive": keepalive}}
		}

		DescribeTable("create",
			func(kind string, spec obj, want ...string) {
				expectAdmission(createRaw(kind, spec), want...)
			},
			Entry("a NotificationTarget without spec is refused", "NotificationTarget", nil, "spec", required),
			Entry("a NotificationTarget with an empty spec is refused", "NotificationTarget", obj{}, msgExactlyOne),
			Entry("a keepalive without interval is refused", "NotificationTarget", webhookRaw(obj{"params": obj{"a": "b"}}),
				"spec.webhook.keepalive.interval", required),
			Entry("a keepalive interval of 90s is accepted", "NotificationTarget", webhookRaw(obj{"interval": "90s"})),
			Entry("a keepalive interval that is not a duration is refused", "NotificationTarget", webhookRaw(obj{"interval": "soon"}),
				"spec.webhook.keepalive.interval", mustMatch),
			Entry("a secretRef without name is refused", "NotificationTarget", obj{"webhook": obj{}, "secretRef": obj{}},
				"spec.secretRef.name", required),
			Entry("a tls caSecretRef without name is refused", "NotificationTarget", obj{
				"webhook": obj{"url": okURL}, "tls": obj{"caSecretRef": obj{"key": "ca.crt"}},
			}, "spec.tls.caSecretRef.name", required),
			Entry("tls with insecureSkipVerify false and caSecretRef is accepted", "NotificationTarget", obj{
				"webhook": obj{"url": okURL}, "tls": obj{"caSecretRef": obj{"name": "ca", "key": "ca.crt"}, "insecureSkipVerify": false},
			}),

			Entry("a TargetChannel without spec is refused", "TargetChannel", nil, "spec", required),
			Entry("a TargetChannel without targetRef is refused", "TargetChannel", obj{"slack": obj{"channel": "#a"}},
				"spec.targetRef", required),
			Entry("a TargetChannel targetRef without name is refused", "TargetChannel", obj{"targetRef": obj{"namespace": "policy-herald"}},
				"spec.targetRef.name", required),
			Entry("a TargetChannel with a targetRef name is accepted", "TargetChannel", obj{"targetRef": obj{"name": "platform"}}),

			Entry("a complete EmailReportSchedule is accepted", "EmailReportSchedule", ersRaw("")),
			Entry("an EmailReportSchedule without spec is refused", "EmailReportSchedule", nil, "spec", required),
			Entry("an EmailReportSchedule without schedule is refused", "EmailReportSchedule", ersRaw("schedule"),
				"spec.schedule", required),
			Entry("an EmailReportSchedule without reportType is refused", "EmailReportSchedule", ersRaw("reportType"),
				"spec.reportType", required),
			Entry("an EmailReportSchedule without recipients is refused", "EmailReportSchedule", ersRaw("recipients"),
				"spec.recipients", required),
			// smtp is optional since graph is its alternative: the one-of rule refuses neither.
			Entry("an EmailReportSchedule without smtp (nor graph) is refused", "EmailReportSchedule", ersRaw("smtp"),
				msgSMTPOrGraph),
			Entry("an EmailReportSchedule with smtp port 0 is refused", "EmailReportSchedule", func() obj {
				s := ersRaw("")
				s["smtp"].(obj)["port"] = int64(0)
				return s
			}(), "spec.smtp.port", greaterOrEq),

			Entry("a MetricsProfile without spec is accepted", "MetricsProfile", nil),
			Entry("a MetricsProfile with mode custom and an empty customLabels list is refused", "MetricsProfile",
				obj{"mode": "custom", "customLabels": []any{}}, msgCustom),
			Entry("a MetricsProfile with an empty customLabels list and the default mode is refused", "MetricsProfile",
				obj{"customLabels": []any{}}, msgCustom),

			Entry("a BlockReportPolicy without spec is accepted", "BlockReportPolicy", nil),
			Entry("a BlockReportPolicy with resultsPerReport 0 is refused", "BlockReportPolicy", obj{"resultsPerReport": int64(0)},
				"spec.resultsPerReport", greaterOrEq),
			Entry("a BlockReportPolicy with an empty source is refused", "BlockReportPolicy", obj{"source": ""},
				"spec.source", tooShort),
			Entry("a BlockReportPolicy with retention 30m is accepted", "BlockReportPolicy", obj{"retention": "30m"}),
			Entry("a BlockReportPolicy with a retention that is not a duration is refused", "BlockReportPolicy",
				obj{"retention": "a week"}, "spec.retention", mustMatch),
		)
	})
})
