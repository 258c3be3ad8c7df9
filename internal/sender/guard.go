package sender

import (
	"context"
	"errors"
	"fmt"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/addrguard"
)

// dialer is implemented by every sender: dialHosts are the hosts (names or IP literals, without
// port) its connections go to, which New checks against Config.Guard; or the error of a
// destination that cannot be used at all.
type dialer interface {
	dialHosts() ([]string, error)
}

// dialHosts is the target's host.
func (t *httpTarget) dialHosts() ([]string, error) { return []string{t.ep.url.Hostname()}, nil }

// checkHosts refuses a sender any of whose hosts g refuses (see addrguard.Guard.CheckHost); its
// connections already pass g, as newHTTPClient built them. A sender that cannot say where it
// connects is refused rather than run unchecked.
func checkHosts(ctx context.Context, s Sender, typ v1alpha1.DestinationType, g *addrguard.Guard) error {
	d, ok := s.(dialer)
	if !ok {
		return fmt.Errorf("destination %s cannot be restricted to allowed addresses", typ)
	}
	hosts, err := d.dialHosts()
	if err != nil {
		return err
	}
	for _, h := range hosts {
		if err := g.CheckHost(ctx, h); err != nil {
			return err
		}
	}
	return nil
}

// notAllowedError turns a dial refused by the guard into a non-retryable *Error naming the host
// and the refused address (never the URL), or returns nil when err is something else.
func notAllowedError(method, host string, err error) *Error {
	var na *addrguard.NotAllowedError
	if !errors.As(err, &na) {
		return nil
	}
	return &Error{Reason: fmt.Sprintf("%s to %s: the address %s is not allowed (loopback, link-local and blocked networks are refused)", method, host, na.Addr), cause: na}
}
