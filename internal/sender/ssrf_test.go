package sender

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/report"
)

// Every test here connects to loopback receivers only; other addresses are only compared.

func webhookConfig(url string) Config {
	return Config{Type: v1alpha1.DestinationWebhook, Name: "tenant/hook", Destination: &v1alpha1.Destinations{
		Webhook: &v1alpha1.WebhookDestination{HTTPSettings: v1alpha1.HTTPSettings{URL: url}}}}
}

func oneResult() Batch { return Batch{Report: testReport, Results: []report.Result{fullResult()}} }

// defaultGuard refuses the default and tenant networks, as a tenant's senders do in production.
func defaultGuard() *AddressGuard {
	return NewAddressGuard(MustParseCIDRs(append(append([]string(nil), DefaultBlockedCIDRs...), DefaultTenantBlockedCIDRs...)))
}

// unresolvable makes g's build-time check find no address, as when a name is (re)bound to a
// refused address only after the sender was built; the dial must then refuse it.
func unresolvable(g *AddressGuard) *AddressGuard {
	g.lookup = func(context.Context, string) ([]netip.Addr, error) {
		return nil, &net.DNSError{Err: "no such host", IsNotFound: true}
	}
	return g
}

// startHookOn serves a receiver answering 400 with a body that must never reach an error, on
// the loopback address given ("127.0.0.1" or "::1").
func startHookOn(t *testing.T, ip string) (*testHook, string) {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Skipf("cannot listen on %s: %v", ip, err)
	}
	h := &testHook{answer: answerWith(http.StatusBadRequest, nil, "internal-secret-body")}
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: h}} //nolint:gosec // test server
	srv.Start()
	t.Cleanup(srv.Close)
	return h, srv.URL
}

func assertNotAllowed(t *testing.T, err error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("want a sender *Error, got %#v", err)
	}
	if e.Retryable || !strings.Contains(e.Reason, "is not allowed") || strings.Contains(e.Reason, "internal-secret-body") {
		t.Fatalf("want a non-retryable refusal without the body, got retryable=%v %q", e.Retryable, e.Reason)
	}
	var na *AddressNotAllowedError
	if !errors.As(err, &na) || !na.Addr.IsLoopback() {
		t.Fatalf("want an *AddressNotAllowedError for a loopback address, got %#v", err)
	}
}

func TestGuardRefusesLoopbackWhenBuilt(t *testing.T) {
	for _, ip := range []string{"127.0.0.1", "::1"} {
		hook, url := startHookOn(t, ip)
		_, err := newGuarded(context.Background(), webhookConfig(url), defaultGuard())
		var na *AddressNotAllowedError
		if !errors.As(err, &na) || !na.Addr.IsLoopback() {
			t.Fatalf("%s: newGuarded = %v, want *AddressNotAllowedError", ip, err)
		}
		if n := len(hook.requests()); n != 0 {
			t.Fatalf("%s: the receiver got %d requests", ip, n)
		}
	}
	// localhost resolves to loopback when the sender is built.
	hook, url := startHookOn(t, "127.0.0.1")
	_, err := newGuarded(context.Background(), webhookConfig(strings.Replace(url, "127.0.0.1", "localhost", 1)), defaultGuard())
	var na *AddressNotAllowedError
	if !errors.As(err, &na) || na.Host != "localhost" || !strings.Contains(err.Error(), "localhost resolves to") {
		t.Fatalf("localhost: newGuarded = %v, want *AddressNotAllowedError naming the host", err)
	}
	if len(hook.requests()) != 0 {
		t.Fatal("the receiver got a request")
	}
}

func TestGuardRefusesLoopbackAtDial(t *testing.T) {
	for _, ip := range []string{"127.0.0.1", "::1"} {
		hook, url := startHookOn(t, ip)
		port := url[strings.LastIndex(url, ":")+1:]
		// "localhost" passes the build-time check here (it finds no address), as a name rebound
		// after the check would; the dial resolves it and refuses what it finds.
		s, err := newGuarded(context.Background(), webhookConfig("http://localhost:"+port+"/hook"), unresolvable(defaultGuard()))
		if err != nil {
			t.Fatal(err)
		}
		assertNotAllowed(t, s.Send(context.Background(), oneResult()))
		if n := len(hook.requests()); n != 0 {
			t.Fatalf("%s: the receiver got %d requests", ip, n)
		}
	}
}

func TestGuardChecksTheProxyConnection(t *testing.T) {
	proxy, proxyURL := startHookOn(t, "127.0.0.1")
	useProxy(t, proxyURL)
	s, err := newGuarded(context.Background(), webhookConfig("http://hooks.example.invalid/x"), unresolvable(defaultGuard()))
	if err != nil {
		t.Fatal(err)
	}
	assertNotAllowed(t, s.Send(context.Background(), oneResult()))
	if len(proxy.requests()) != 0 {
		t.Fatal("the proxy got a request")
	}
}

func TestGuardAllowsWhatItDoesNotBlock(t *testing.T) {
	hook, url := startHookOn(t, "127.0.0.1")
	hook.answer = nil // 200
	// The envtest suite's guard: everything but 127.0.0.0/8, where its receivers listen.
	var blocked []netip.Prefix
	for _, p := range MustParseCIDRs(DefaultBlockedCIDRs) {
		if p.String() != "127.0.0.0/8" {
			blocked = append(blocked, p)
		}
	}
	for _, u := range []string{url, strings.Replace(url, "127.0.0.1", "localhost", 1)} {
		s, err := newGuarded(context.Background(), webhookConfig(u), NewAddressGuard(blocked))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Send(context.Background(), oneResult()); err != nil {
			// localhost may resolve to ::1 first, which stays refused; 127.0.0.1 is then tried.
			t.Fatalf("%s: %v", u, err)
		}
	}
	if n := len(hook.requests()); n != 2 {
		t.Fatalf("the receiver got %d requests, want 2", n)
	}
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
	base := NewAddressGuard(MustParseCIDRs(DefaultBlockedCIDRs))
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

func TestNewWithoutGuardIsUnrestricted(t *testing.T) {
	hook, url := startHookOn(t, "127.0.0.1")
	hook.answer = nil
	s, err := newGuarded(context.Background(), webhookConfig(url), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), oneResult()); err != nil || len(hook.requests()) != 1 {
		t.Fatalf("Send = %v, %d requests; want delivered", err, len(hook.requests()))
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
	g.lookup = func(_ context.Context, host string) ([]netip.Addr, error) {
		asked = append(asked, host)
		if host == "localhost" {
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
		}
		return nil, &net.DNSError{Err: "no such host", IsNotFound: true}
	}
	for host, want := range map[string]string{
		"127.1": "127.0.0.1", "2130706433": "127.0.0.1", "0177.0.0.1": "127.0.0.1", "0x7f.0.0.1": "127.0.0.1",
		"0x7f000001": "127.0.0.1", "0X7F.1": "127.0.0.1", "017700000001": "127.0.0.1", "127.0.0.1.": "127.0.0.1",
		"0": "0.0.0.0", "0x0": "0.0.0.0", "0x": "0.0.0.0", "169.254.43518": "169.254.169.254", "0xa9fea9fe": "169.254.169.254",
		"0251.0376.0251.0376": "169.254.169.254", "10.1": "10.0.0.1", "3232235777": "192.168.1.1",
		"0x64.0x40.1": "100.64.0.1", "[::ffff:7f00:1]": "127.0.0.1",
		"LOCALHOST.": "127.0.0.1", "localhost.": "127.0.0.1", "LocalHost": "127.0.0.1", "api.LOCALHOST": "127.0.0.1",
	} {
		err := g.CheckHost(context.Background(), host)
		var na *AddressNotAllowedError
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

// TestGuardRefusesLocalhostNamesWithTheHostsResolver is the check above with the operator's own
// resolver, which finds "localhost" (in /etc/hosts) but not "LOCALHOST." or "x.localhost".
func TestGuardRefusesLocalhostNamesWithTheHostsResolver(t *testing.T) {
	for _, host := range []string{"LOCALHOST.", "status.localhost"} {
		hook, url := startHookOn(t, "127.0.0.1")
		_, err := newGuarded(context.Background(), webhookConfig(strings.Replace(url, "127.0.0.1", host, 1)), defaultGuard())
		var na *AddressNotAllowedError
		if !errors.As(err, &na) || !na.Addr.IsLoopback() || na.Host != host {
			t.Fatalf("%s: newGuarded = %v, want *AddressNotAllowedError naming the host", host, err)
		}
		if len(hook.requests()) != 0 {
			t.Fatalf("%s: the receiver got a request", host)
		}
	}
}
