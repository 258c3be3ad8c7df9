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
	"github.com/policyherald/policy-herald/internal/addrguard"
	"github.com/policyherald/policy-herald/internal/report"
)

// Every test here connects to loopback receivers only; other addresses are only compared.

func webhookConfig(url string) Config {
	return Config{Type: v1alpha1.DestinationWebhook, Name: "tenant/hook", Destination: &v1alpha1.Destinations{
		Webhook: &v1alpha1.WebhookDestination{HTTPSettings: v1alpha1.HTTPSettings{URL: url}}}}
}

func oneResult() Batch { return Batch{Report: testReport, Results: []report.Result{fullResult()}} }

// defaultGuard refuses the default and tenant networks, as a tenant's senders do in production.
func defaultGuard() *addrguard.Guard {
	return addrguard.New(addrguard.MustParseCIDRs(append(append([]string(nil), addrguard.DefaultBlockedCIDRs...), addrguard.DefaultTenantBlockedCIDRs...)))
}

// unresolvable makes g's build-time check find no address, as when a name is (re)bound to a
// refused address only after the sender was built; the dial must then refuse it.
func unresolvable(g *addrguard.Guard) *addrguard.Guard {
	g = g.WithLookup(func(context.Context, string) ([]netip.Addr, error) {
		return nil, &net.DNSError{Err: "no such host", IsNotFound: true}
	})
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
	var na *addrguard.NotAllowedError
	if !errors.As(err, &na) || !na.Addr.IsLoopback() {
		t.Fatalf("want an *addrguard.NotAllowedError for a loopback address, got %#v", err)
	}
}

func TestGuardRefusesLoopbackWhenBuilt(t *testing.T) {
	for _, ip := range []string{"127.0.0.1", "::1"} {
		hook, url := startHookOn(t, ip)
		_, err := newGuarded(context.Background(), webhookConfig(url), defaultGuard())
		var na *addrguard.NotAllowedError
		if !errors.As(err, &na) || !na.Addr.IsLoopback() {
			t.Fatalf("%s: newGuarded = %v, want *addrguard.NotAllowedError", ip, err)
		}
		if n := len(hook.requests()); n != 0 {
			t.Fatalf("%s: the receiver got %d requests", ip, n)
		}
	}
	// localhost resolves to loopback when the sender is built.
	hook, url := startHookOn(t, "127.0.0.1")
	_, err := newGuarded(context.Background(), webhookConfig(strings.Replace(url, "127.0.0.1", "localhost", 1)), defaultGuard())
	var na *addrguard.NotAllowedError
	if !errors.As(err, &na) || na.Host != "localhost" || !strings.Contains(err.Error(), "localhost resolves to") {
		t.Fatalf("localhost: newGuarded = %v, want *addrguard.NotAllowedError naming the host", err)
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
	for _, p := range addrguard.MustParseCIDRs(addrguard.DefaultBlockedCIDRs) {
		if p.String() != "127.0.0.0/8" {
			blocked = append(blocked, p)
		}
	}
	for _, u := range []string{url, strings.Replace(url, "127.0.0.1", "localhost", 1)} {
		s, err := newGuarded(context.Background(), webhookConfig(u), addrguard.New(blocked))
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

// TestGuardRefusesLocalhostNamesWithTheHostsResolver is the check above with the operator's own
// resolver, which finds "localhost" (in /etc/hosts) but not "LOCALHOST." or "x.localhost".
func TestGuardRefusesLocalhostNamesWithTheHostsResolver(t *testing.T) {
	for _, host := range []string{"LOCALHOST.", "status.localhost"} {
		hook, url := startHookOn(t, "127.0.0.1")
		_, err := newGuarded(context.Background(), webhookConfig(strings.Replace(url, "127.0.0.1", host, 1)), defaultGuard())
		var na *addrguard.NotAllowedError
		if !errors.As(err, &na) || !na.Addr.IsLoopback() || na.Host != host {
			t.Fatalf("%s: newGuarded = %v, want *addrguard.NotAllowedError naming the host", host, err)
		}
		if len(hook.requests()) != 0 {
			t.Fatalf("%s: the receiver got a request", host)
		}
	}
}
