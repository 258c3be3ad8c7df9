package consoletest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/go-logr/logr"

	"github.com/policyherald/policy-herald/internal/console/server"
)

// Console runs `policy-herald console` on the cluster on loopback, as main runs it, until ctx
// ends, and returns its address once its store synced. stopped receives Run's error.
func (w *World) Console(ctx context.Context, log logr.Logger, args ...string) (base string, stopped <-chan error, err error) {
	probe, err := freeAddr()
	if err != nil {
		return "", nil, err
	}
	f, err := server.ParseFlags(append([]string{"--bind-address=127.0.0.1:0", "--health-probe-bind-address=" + probe}, args...), io.Discard)
	if err != nil {
		return "", nil, err
	}
	addr := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- server.Run(ctx, w.Cfg, f, log, func(a net.Addr) { addr <- a }) }()
	select {
	case a := <-addr:
		base = "http://" + a.String()
	case err := <-done:
		return "", nil, fmt.Errorf("the console stopped: %w", err)
	case <-time.After(30 * time.Second):
		return "", nil, fmt.Errorf("the console did not listen")
	}
	return base, done, waitReady("http://" + probe + "/readyz")
}

// waitReady polls url until it answers 200.
func waitReady(url string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer 200: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
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
