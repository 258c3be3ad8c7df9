package addrguard

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
)

// defaultGuard refuses the default and tenant networks, as a tenant's senders do in production.
func defaultGuard() *Guard {
	return New(MustParseCIDRs(append(append([]string(nil), DefaultBlockedCIDRs...), DefaultTenantBlockedCIDRs...)))
}

func TestAddressGuardNetworks(t *testing.T) {
	g := defaultGuard()
	for addr, want := range map[string]bool{
		"127.0.0.1": false, "127.1.2.3": false, "::1": false, "::ffff:127.0.0.1": false,
		"169.254.169.254": false, "::ffff:169.254.169.254": false, "fe80::1%eth0": false,
		"0.0.0.0": false, "::": false, "fd00:ec2::254": false,
		"10.96.0.1": false, "172.20.0.1": false, "192.168.1.1": false, "100.64.0.1": false, "fd12::1": false,
		"192.0.2.1": true, "2001:db8::1": true, "::ffff:192.0.2.1": true,
	} {
		if got := g.allowed(netip.MustParseAddr(addr)); got != want {
			t.Errorf("allowed(%s) = %v, want %v", addr, got, want)
		}
	}
	base := New(MustParseCIDRs(DefaultBlockedCIDRs))
	if !base.allowed(netip.MustParseAddr("10.96.0.1")) {
		t.Error("the default blocked networks refuse 10.96.0.1; only tenants' add the private ranges")
	}
}

func TestParseCIDRs(t *testing.T) {
	got, err := ParseCIDRs([]string{" 10.96.0.0/12", "::ffff:10.244.0.0/112", "192.0.2.7", "", "10.1.2.3/8"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.96.0.0/12", "10.244.0.0/16", "192.0.2.7/32", "10.0.0.0/8"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("prefix %d = %s, want %s", i, got[i], want[i])
		}
	}
	if _, err := ParseCIDRs([]string{"10.0.0.0/33"}); err == nil {
		t.Error("ParseCIDRs accepted 10.0.0.0/33")
	}
}

// TestGuardRefusesEveryNotationOfARefusedAddress: a host that a resolver, a proxy or a curl-like
// client reads as a refused address (inet_aton's one to four parts, each decimal, octal or hex;
// a trailing dot; localhost names in any case) is refused when the sender is built, whatever the
// operator's own resolver makes of it: Go's reads none of these numeric forms.
func TestGuardRefusesEveryNotationOfARefusedAddress(t *testing.T) {
	// The resolver knows localhost only, as /etc/hosts does; every other name fails, so only
	// parsing can refuse the numeric forms.
	var asked []string
	g := defaultGuard()
	g = g.WithLookup(func(_ context.Context, host string) ([]netip.Addr, error) {
		asked = append(asked, host)
		if host == "localhost" {
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
		}
		return nil, &net.DNSError{Err: "no such host", IsNotFound: true}
	})
	for host, want := range map[string]string{
		"127.1": "127.0.0.1", "2130706433": "127.0.0.1", "0177.0.0.1": "127.0.0.1", "0x7f.0.0.1": "127.0.0.1",
		"0x7f000001": "127.0.0.1", "0X7F.1": "127.0.0.1", "017700000001": "127.0.0.1", "127.0.0.1.": "127.0.0.1",
		"0": "0.0.0.0", "0x0": "0.0.0.0", "0x": "0.0.0.0", "169.254.43518": "169.254.169.254", "0xa9fea9fe": "169.254.169.254",
		"0251.0376.0251.0376": "169.254.169.254", "10.1": "10.0.0.1", "3232235777": "192.168.1.1",
		"0x64.0x40.1": "100.64.0.1", "[::ffff:7f00:1]": "127.0.0.1",
		"LOCALHOST.": "127.0.0.1", "localhost.": "127.0.0.1", "LocalHost": "127.0.0.1", "api.LOCALHOST": "127.0.0.1",
	} {
		err := g.CheckHost(context.Background(), host)
		var na *NotAllowedError
		if !errors.As(err, &na) || na.Addr.String() != want {
			t.Errorf("CheckHost(%q) = %v, want a refusal of %s", host, err, want)
		}
	}
	// Names and numbers that are not an address of the refused networks: the dial decides.
	for _, host := range []string{
		"192.0.2.1", "0xc0.0.2.1", "3221225985", "1.2.3.256", "0x7f.example.com", "127.0.0.1.example.com",
		"localhost.example.com", "localhostx", "1.2.3.4.5", "08.0.0.1",
	} {
		if err := g.CheckHost(context.Background(), host); err != nil {
			t.Errorf("CheckHost(%q) = %v, want it allowed", host, err)
		}
	}
	for _, name := range asked {
		if name != "localhost" && strings.HasSuffix(strings.ToLower(strings.TrimSuffix(name, ".")), "localhost") {
			t.Errorf("the localhost name %q was looked up as it is, not as localhost", name)
		}
	}
}
