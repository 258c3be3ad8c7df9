// Package run runs `policy-herald console` in a test, as main runs it, on loopback. It is
// apart from package consoletest, the test cluster, so that the console's packages' own tests
// may use that cluster (this package imports them all); it is imported by tests only.
package run

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"

	"github.com/policyherald/policy-herald/internal/console/consoletest"
	"github.com/policyherald/policy-herald/internal/console/server"
)

// Console runs `policy-herald console` with the cluster config cfg on loopback, as main runs
// it, until ctx ends, and returns its address once its store synced. stopped receives Run's
// error.
func Console(ctx context.Context, cfg *rest.Config, log logr.Logger, args ...string) (base string, stopped <-chan error, err error) {
	probe, err := freeAddr()
	if err != nil {
		return "", nil, err
	}
	f, err := server.ParseFlags(append([]string{"--bind-address=127.0.0.1:0", "--health-probe-bind-address=" + probe}, args...), io.Discard)
	if err != nil {
		return "", nil, err
	}
	addr, stopped, err := Start(ctx, cfg, f, log)
	if err != nil {
		return "", nil, err
	}
	return "http://" + addr, stopped, consoletest.WaitOK("http://"+probe+"/readyz", "")
}

// Start runs the console with flags f until ctx ends, and returns the address it listens on
// (host:port) as soon as it listens. stopped receives Run's error.
func Start(ctx context.Context, cfg *rest.Config, f server.Flags, log logr.Logger) (addr string, stopped <-chan error, err error) {
	listening := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- server.Run(ctx, cfg, f, log, func(a net.Addr) { listening <- a }) }()
	select {
	case a := <-listening:
		return a.String(), done, nil
	case err := <-done:
		return "", nil, fmt.Errorf("the console stopped: %w", err)
	case <-time.After(30 * time.Second):
		return "", nil, fmt.Errorf("the console did not listen")
	}
}

// freeAddr returns a loopback address with a port free now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}
