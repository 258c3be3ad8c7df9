package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/policyherald/policy-herald/internal/console/server"
)

// consoleAddr is where `make run` serves the console, consoleProbeAddr its probes.
const (
	consoleAddr      = "127.0.0.1:8090"
	consoleProbeAddr = "127.0.0.1:8091"
)

// startConsole runs `policy-herald console --dev` on addr with cfg's identity (the admin here),
// so the console shows every result without a login, and prints its address to out once it
// listens. stop ends it and waits.
func startConsole(ctx context.Context, cfg *rest.Config, addr, probeAddr string, out io.Writer) (stop func(), err error) {
	f, err := server.ParseFlags([]string{"--dev", "--bind-address=" + addr, "--health-probe-bind-address=" + probeAddr}, out)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	listening, stopped := make(chan net.Addr, 1), make(chan error, 1)
	go func() {
		stopped <- server.Run(ctx, cfg, f, ctrl.Log.WithName("console"), func(a net.Addr) { listening <- a })
	}()
	select {
	case a := <-listening:
		fmt.Fprintf(out, "Console: http://%s/ (development mode: no login, you are the kubeconfig's admin)\n", a)
	case err := <-stopped:
		cancel()
		return nil, fmt.Errorf("starting the console: %w", err)
	case <-time.After(30 * time.Second):
		cancel()
		return nil, fmt.Errorf("the console did not listen on %s within 30s", addr)
	}
	return func() {
		cancel()
		if err := <-stopped; err != nil {
			fmt.Fprintln(out, "dev: stopping the console:", err)
		}
	}, nil
}
