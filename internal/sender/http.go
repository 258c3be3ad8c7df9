package sender

import (
	"net/http"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/sender/render"
	"github.com/policyherald/policy-herald/internal/sender/transport"
)

// Error is a failed delivery; every sender returns one (see transport.Error).
type Error = transport.Error

// IsRetryable tells whether a retry of a failed Send may succeed (see transport.IsRetryable).
func IsRetryable(err error) bool { return transport.IsRetryable(err) }

// httpClient is the sender's HTTP client, with cfg's TLS configuration and address guard.
func (cfg Config) httpClient() *http.Client { return transport.NewClient(cfg.TLS, cfg.Guard) }

// newHTTPTarget builds the target of the destination named name (as its errors name it, for
// example "slack" or "googleChat") from its HTTP settings (the block's, a Secret's url in it:
// see withSettings); see transport.NewTarget for the rest. Errors never echo the URL or a
// header value.
func newHTTPTarget(name string, cfg Config, s v1alpha1.HTTPSettings, extraSecrets ...string) (*transport.Target, error) {
	ep, err := transport.ParseEndpoint(name+" url", s.URL)
	if err != nil {
		return nil, err
	}
	return transport.NewTarget(name, ep, cfg.httpClient(), s.Headers, extraSecrets...)
}

// bodySpans groups encoded items, in order, into request bodies of at most maxBody bytes each
// (an item larger alone is a body of its own): the destinations that take several documents a
// request (a bulk or batch API) send each span as one request.
func bodySpans(items [][]byte, maxBody int) []render.Span {
	return render.Pack(len(items), 0, []render.Limit{{Max: maxBody}}, func(i int) []int { return []int{len(items[i])} })
}
