// Package addrguard refuses connections to networks a destination may not reach: loopback,
// link-local (cloud metadata) and, for tenants, the cluster's private networks. A Guard checks
// a destination's host when its sender is built and every address a connection dials; a Policy
// says which networks platform and tenant objects are refused.
package addrguard

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// DefaultBlockedCIDRs are the networks no sender may connect to unless its guard is lifted:
// loopback (the operator's own ports), link-local (cloud metadata at 169.254.169.254, fe80::/10),
// unspecified addresses (0.0.0.0 and :: reach the local host on Linux) and AWS's IPv6 metadata
// address. IPv4-mapped IPv6 forms (::ffff:127.0.0.1) are covered: addresses and prefixes are
// compared unmapped.
var DefaultBlockedCIDRs = []string{
	"127.0.0.0/8", "::1/128",
	"169.254.0.0/16", "fe80::/10",
	"0.0.0.0/8", "::/128",
	"fd00:ec2::254/128",
}

// DefaultTenantBlockedCIDRs are the networks refused, on top of the blocked ones, to targets
// and channels outside the platform namespace: the private, shared (CGNAT) and unique local
// ranges that hold a cluster's service and pod networks on every common distribution. An
// install that knows its ranges may narrow it.
var DefaultTenantBlockedCIDRs = []string{
	"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7",
}

// ParseCIDRs parses CIDR prefixes (or single addresses, taken as /32 or /128). IPv4-mapped
// prefixes are turned into IPv4 ones, as addresses are unmapped before they are compared.
func ParseCIDRs(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("%q is not a CIDR prefix or an IP address", s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// MustParseCIDRs is ParseCIDRs for lists known to be valid, such as the defaults.
func MustParseCIDRs(list []string) []netip.Prefix {
	p, err := ParseCIDRs(list)
	if err != nil {
		panic(err)
	}
	return p
}

// Guard refuses connections to addresses in its blocked networks. It checks the address
// actually dialled, after name resolution, so a name that resolves (or rebinds) to a blocked
// address is refused too. When a proxy is used the connection is the proxy's, so only the
// proxy's address is checked at dial time; the destination's own name is checked when the
// sender is built (see CheckHost), and the proxy is trusted with the rest.
type Guard struct {
	blocked []netip.Prefix
	// lookup resolves names for CheckHost; net.DefaultResolver unless a test sets it.
	lookup func(ctx context.Context, host string) ([]netip.Addr, error)
}

// New returns a guard refusing the given networks.
func New(blocked []netip.Prefix) *Guard {
	return &Guard{blocked: append([]netip.Prefix(nil), blocked...), lookup: func(ctx context.Context, host string) ([]netip.Addr, error) {
		return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	}}
}

// WithLookup returns a copy of g that resolves names with lookup: tests use it to stand in for
// a resolver.
func (g *Guard) WithLookup(lookup func(ctx context.Context, host string) ([]netip.Addr, error)) *Guard {
	c := *g
	c.lookup = lookup
	return &c
}

// Blocked returns the networks the guard refuses.
func (g *Guard) Blocked() []netip.Prefix { return append([]netip.Prefix(nil), g.blocked...) }

// allowed tells whether a may be connected to.
func (g *Guard) allowed(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	for _, p := range g.blocked {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// NotAllowedError says that a destination's host is, or resolves to, a refused address.
// Its text names the host and the address, never a URL.
type NotAllowedError struct {
	Host string
	Addr netip.Addr
}

func (e *NotAllowedError) Error() string {
	if e.Host == "" || e.Host == e.Addr.String() {
		return fmt.Sprintf("the address %s is not allowed (loopback, link-local and blocked networks are refused)", e.Addr)
	}
	return fmt.Sprintf("%s resolves to %s, an address that is not allowed (loopback, link-local and blocked networks are refused)", e.Host, e.Addr)
}

// Control is a net.Dialer Control function: it runs for every address a dial tries, after
// resolution and before connecting, and refuses a blocked one with a *NotAllowedError.
func (g *Guard) Control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &NotAllowedError{Host: address} // not an IP: refuse rather than guess
	}
	if !g.allowed(ap.Addr()) {
		return &NotAllowedError{Addr: ap.Addr().Unmap().WithZone("")}
	}
	return nil
}

// hostLookupTimeout bounds CheckHost's name resolution, which runs while a reconciler waits.
const hostLookupTimeout = 3 * time.Second

// CheckHost refuses a host (a name or an IP literal, without port) that is, or resolves to, a
// blocked address; any one blocked address refuses the name. An address is read in every
// notation some client would read it in (see hostAddr), and localhost names are resolved as
// "localhost". A name that does not resolve is not refused here: the dial reports it, and
// checks again whatever it resolves to then.
func (g *Guard) CheckHost(ctx context.Context, host string) error {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if a, ok := hostAddr(host); ok {
		if !g.allowed(a) {
			return &NotAllowedError{Host: host, Addr: a.Unmap().WithZone("")}
		}
		return nil
	}
	name := host
	if isLocalhostName(host) {
		name = "localhost"
	}
	ctx, cancel := context.WithTimeout(ctx, hostLookupTimeout)
	defer cancel()
	addrs, err := g.lookup(ctx, name)
	if err != nil {
		return nil //nolint:nilerr // see above: the dial reports names that do not resolve
	}
	for _, a := range addrs {
		if !g.allowed(a) {
			return &NotAllowedError{Host: host, Addr: a.Unmap().WithZone("")}
		}
	}
	return nil
}
