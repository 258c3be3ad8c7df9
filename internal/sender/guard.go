package sender

import (
	"context"
	"fmt"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/addrguard"
)

// dialer is implemented by every sender: DialHosts are the hosts (names or IP literals, without
// port) its connections go to, which New checks against Config.Guard; or the error of a
// destination that cannot be used at all.
type dialer interface {
	DialHosts() ([]string, error)
}

// checkHosts refuses a sender any of whose hosts g refuses (see addrguard.Guard.CheckHost); its
// connections already pass g, as Config.httpClient built them. A sender that cannot say where it
// connects is refused rather than run unchecked.
func checkHosts(ctx context.Context, s Sender, typ v1alpha1.DestinationType, g *addrguard.Guard) error {
	d, ok := s.(dialer)
	if !ok {
		return fmt.Errorf("destination %s cannot be restricted to allowed addresses", typ)
	}
	hosts, err := d.DialHosts()
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
