package addrguard

import "net/netip"

// Policy says which networks the senders of targets and channels may not connect to.
// Each address a sender dials is checked after name resolution, and the destination's host
// when it is configured.
type Policy struct {
	// Blocked are refused to every target and channel, except a platform-namespace target with
	// spec.allowPrivateNetworks and its channels in that namespace. Nil means
	// DefaultBlockedCIDRs (loopback, link-local, unspecified).
	Blocked []netip.Prefix
	// TenantBlocked are refused, on top of Blocked, to targets and channels outside the platform
	// namespace: the cluster's service and pod networks, which cannot be discovered portably.
	// Nil means DefaultTenantBlockedCIDRs (the private, CGNAT and unique local ranges).
	TenantBlocked []netip.Prefix
}

// LocalPolicy is the default policy with IPv4 loopback (127.0.0.0/8) allowed, for
// `make run`, the load harness and the envtest suite, whose receivers listen there. [::1],
// link-local and the tenant networks stay refused. Never for production.
func LocalPolicy() Policy {
	var blocked []netip.Prefix
	for _, p := range MustParseCIDRs(DefaultBlockedCIDRs) {
		if p != netip.MustParsePrefix("127.0.0.0/8") {
			blocked = append(blocked, p)
		}
	}
	return Policy{Blocked: blocked}
}

// Guards are the guards of platform and tenant objects under a Policy.
type Guards struct {
	platformNamespace string
	platform, tenant  *Guard
}

// Guards returns the guards of p for an operator whose platform namespace is platformNamespace.
func (p Policy) Guards(platformNamespace string) Guards {
	blocked, tenant := p.Blocked, p.TenantBlocked
	if blocked == nil {
		blocked = MustParseCIDRs(DefaultBlockedCIDRs)
	}
	if tenant == nil {
		tenant = MustParseCIDRs(DefaultTenantBlockedCIDRs)
	}
	return Guards{
		platformNamespace: platformNamespace,
		platform:          New(blocked),
		tenant:            New(append(append([]netip.Prefix(nil), blocked...), tenant...)),
	}
}

// ForNamespace is the guard of an object in namespace; allowPrivate (a platform target's
// allowPrivateNetworks) lifts it in the platform namespace only. Nil means unrestricted.
func (g Guards) ForNamespace(namespace string, allowPrivate bool) *Guard {
	if namespace != g.platformNamespace {
		return g.tenant
	}
	if allowPrivate {
		return nil
	}
	return g.platform
}
