package sender

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"

	"github.com/policyherald/policy-herald/internal/redact"
	"github.com/policyherald/policy-herald/internal/sender/transport"
)

// awsNoAmbient is why an AWS destination outside the platform namespace without keys is refused.
const awsNoAmbient = "needs accessKeyID and secretAccessKey in its Secret: only objects in the platform namespace may use the operator's own AWS identity"

// awsDefaultRegion is the signing region of a custom endpoint when none is set: S3-compatible
// stores and test servers accept it, and AWS itself is only reached with a region.
const awsDefaultRegion = "us-east-1"

// awsTarget is what the AWS senders share: the SDK configuration (credentials, region, the
// HTTP client), the host errors name, and the redactor that knows the keys.
//
// Credentials: accessKeyID and secretAccessKey from the Secret, as static credentials. Without
// them, an object of the platform namespace (Config.AmbientCredentials) uses the SDK's default
// chain (IRSA web identity, EKS Pod Identity, instance role); any other object is refused with
// a configuration error (see unusable). Region: the region setting; without one, the SDK's
// environment region for ambient credentials, us-east-1 with a custom endpoint, else a
// configuration error.
//
// The service client uses an HTTP client of its own (Config.httpClient: the TLS configuration,
// HTTP(S)_PROXY, no redirects, and the address guard). The ambient
// credential chain keeps the SDK's client: it talks to the operator's own identity endpoints
// (the link-local EKS Pod Identity agent and instance metadata among them), which the guard
// rightly refuses to destinations.
type awsTarget struct {
	service  string // the destination type, as errors name it
	aws      aws.Config
	endpoint string // custom endpoint URL, "" for the service's own
	host     string // what errors name: the endpoint's host, or the service's
	client   *http.Client
	red      *redact.Redactor
	now      func() time.Time
	// unusable is set when the destination cannot be used at all (no keys and no right to the
	// ambient identity). The factory still builds the sender, so that building from the
	// descriptor's required settings works; New with a Guard (as the controllers build senders)
	// and every Send and Resolve return it, and nothing is ever sent.
	unusable *Error
}

// newAWSTarget builds the shared part of an AWS sender. Settings win over s (they hold the
// inline fields and the Secret's values); defaultHost gives the service's host in a region.
// The redactor knows the keys, the endpoint and extraSecrets.
func newAWSTarget(ctx context.Context, cfg Config, s v1alpha1.AWSSettings, defaultHost func(region string) string, extraSecrets ...string) (*awsTarget, error) {
	service := string(cfg.Type)
	region := s.Region
	rawEndpoint := s.Endpoint
	keyID, secret := cfg.Settings["accessKeyID"], cfg.Settings["secretAccessKey"]

	t := &awsTarget{service: service, now: time.Now, client: cfg.httpClient()}
	var epURL *url.URL
	if rawEndpoint != "" {
		ep, err := transport.ParseEndpoint(service+" endpoint", rawEndpoint)
		if err != nil {
			return nil, err
		}
		if ep.URL.User != nil || ep.URL.RawQuery != "" || ep.URL.Fragment != "" {
			return nil, fmt.Errorf("%s endpoint must not have user info, a query or a fragment", service)
		}
		t.endpoint, t.host, epURL = rawEndpoint, ep.Host, ep.URL
	}
	t.red = redact.New(epURL, append([]string{keyID, secret}, extraSecrets...)...)

	switch {
	case (keyID == "") != (secret == ""):
		return nil, fmt.Errorf("%s destination needs both accessKeyID and secretAccessKey in its Secret, or neither", service)
	case keyID == "" && !cfg.AmbientCredentials:
		t.unusable = &Error{Reason: service + " destination " + awsNoAmbient}
		t.aws = aws.Config{Region: region, Credentials: aws.AnonymousCredentials{}}
	case keyID == "":
		opts := []func(*awsconfig.LoadOptions) error{}
		if region != "" {
			opts = append(opts, awsconfig.WithRegion(region))
		}
		// Only the environment and the operator's own files are read here: nothing is dialled
		// until credentials are first needed.
		ac, err := awsconfig.LoadDefaultConfig(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("%s: loading the operator's AWS identity: %s", service, t.red.Redact(err.Error()))
		}
		t.aws = ac
	default:
		t.aws = aws.Config{
			Region:      region,
			Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(keyID, secret, "")),
		}
	}
	if t.aws.Region == "" {
		switch {
		case t.unusable != nil:
		case rawEndpoint != "":
			t.aws.Region = awsDefaultRegion
		default:
			return nil, fmt.Errorf("%s destination needs a region", service)
		}
	}
	if t.host == "" {
		t.host = defaultHost(t.aws.Region)
	}
	// The pipeline retries, with backoff and Retry-After; the SDK must not retry underneath it.
	t.aws.Retryer = func() aws.Retryer { return aws.NopRetryer{} }
	t.aws.HTTPClient = t.client
	return t, nil
}

// baseEndpoint is the SDK's BaseEndpoint: nil for the service's own.
func (t *awsTarget) baseEndpoint() *string {
	if t.endpoint == "" {
		return nil
	}
	return aws.String(t.endpoint)
}

// DialHosts is the service's host, or the error of an unusable destination: a guarded sender
// (the controllers') refuses it when it is built.
func (t *awsTarget) DialHosts() ([]string, error) {
	if t.unusable != nil {
		return nil, t.unusable
	}
	host := t.host
	if h, _, err := splitHostPort(host); err == nil {
		host = h
	}
	return []string{host}, nil
}

func splitHostPort(hostport string) (string, string, error) {
	u, err := url.Parse("//" + hostport)
	if err != nil {
		return "", "", err
	}
	return u.Hostname(), u.Port(), nil
}

// usable returns the configuration error of an unusable destination (a non-retryable *Error).
func (t *awsTarget) usable() error {
	if t.unusable != nil {
		e := *t.unusable
		return &e
	}
	return nil
}

// apiErrorCodesRetryable are error codes of AWS APIs that say "later", whatever the status.
var apiErrorCodesRetryable = map[string]bool{
	"Throttling": true, "ThrottlingException": true, "ThrottledException": true,
	"RequestThrottled": true, "RequestThrottledException": true, "TooManyRequestsException": true,
	"ProvisionedThroughputExceededException": true, "LimitExceededException": true,
	"RequestLimitExceeded": true, "SlowDown": true, "InternalFailure": true, "InternalError": true,
	"InternalException": true, "ServiceUnavailable": true, "RequestTimeout": true,
	"RequestTimeoutException": true, "PriorRequestNotComplete": true,
}

// fail turns an error of the SDK's operation op into an *Error: its Reason names op and the
// host, the HTTP status and the service's error code and message (redacted), never a URL path
// (bucket and object key, stream), header or key. 5xx, 408, 429, throttling codes and network
// errors are retryable; other 4xx (access denied, validation, missing bucket or stream) are not.
func (t *awsTarget) fail(op string, err error) *Error {
	if e := transport.NotAllowed(op, t.host, err); e != nil {
		return e
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return transport.TransportError(op, t.host, ue, t.red)
	}
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.Response == nil || re.Response.Response == nil || re.Response.StatusCode == 0 {
		var se interface{ ConnectionError() bool }
		if errors.As(err, &se) && se.ConnectionError() {
			return transport.TransportError(op, t.host, errors.Unwrap(err), t.red)
		}
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return transport.TransportError(op, t.host, err, t.red)
		}
		// Credentials that could not be had, a request that could not be built: the text is the
		// SDK's, with anything secret redacted; a retry may succeed (an identity endpoint down).
		text := err.Error()
		var oe *smithy.OperationError
		if errors.As(err, &oe) && oe.Err != nil { // drop "operation error Kinesis: PutRecords, "
			text = oe.Err.Error()
		}
		return &Error{Reason: fmt.Sprintf("%s to %s: %s", op, t.host, transport.Excerpt([]byte(text), t.red)), Retryable: true}
	}
	resp := re.Response.Response
	e := transport.ResponseError(op, t.host, resp, nil, t.red, t.now())
	if e == nil { // a 2xx the SDK could not read
		e = &Error{Reason: fmt.Sprintf("%s to %s: unexpected answer (%d)", op, t.host, resp.StatusCode), Retryable: true, StatusCode: resp.StatusCode}
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		code := api.ErrorCode()
		if code != "" {
			msg := code
			if m := api.ErrorMessage(); m != "" {
				msg += ": " + m
			}
			e.Reason += ": " + transport.Excerpt([]byte(msg), t.red)
		}
		if apiErrorCodesRetryable[code] {
			e.Retryable = true
		}
	}
	// No Cause: the service's message may echo what the redactor removed from Reason.
	return e
}
