package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/policyherald/policy-herald/internal/sender"
)

// buildOperator builds the operator of the current tree, as a real deployment runs it: its own
// process, so its memory and CPU are not mixed with the harness's.
func buildOperator(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "policy-herald")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the operator: %w\n%s", err, out)
	}
	return bin, nil
}

// operator is a running operator process.
type operator struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// startOperator runs bin against the kubeconfig with only the flags every version of the
// operator has: no metrics or probe listeners (nothing but loopback traffic to the API server
// and the receiver), and the platform namespace whose targets see every namespace.
func startOperator(bin, kubeconfig, platformNS, logPath string, extra []string) (*operator, error) {
	// Appended to, so a restarted operator's log follows the one before it.
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	args := append([]string{
		"--metrics-bind-address=0",
		"--health-probe-bind-address=0",
		"--platform-namespace=" + platformNS,
		// The receiver listens on 127.0.0.1, which the operator refuses by default.
		"--blocked-cidrs=" + strings.Join(slices.DeleteFunc(slices.Clone(sender.DefaultBlockedCIDRs), func(c string) bool { return c == "127.0.0.0/8" }), ","),
	}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Take the operator down with the harness even if the harness is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting the operator: %w", err)
	}
	o := &operator{cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		o.err = cmd.Wait()
		logf.Close()
		close(o.done)
	}()
	return o, nil
}

// exited reports an early exit of the operator as an error.
func (o *operator) exited() error {
	select {
	case <-o.done:
		return fmt.Errorf("the operator exited early (%v); its log: %s", o.err, o.log)
	default:
		return nil
	}
}

// stop shuts the operator down gracefully (SIGTERM, as the kubelet does), then kills it.
func (o *operator) stop() {
	select {
	case <-o.done:
		return
	default:
	}
	_ = o.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-o.done:
	case <-time.After(15 * time.Second):
		_ = o.cmd.Process.Kill()
		<-o.done
	}
}

// kill sends sig (SIGKILL for a crash, SIGTERM for a rollout) and waits for the exit, at most
// 20 s (the operator's own shutdown waits up to 10 s for requests in flight).
func (o *operator) kill(sig syscall.Signal) error {
	_ = o.cmd.Process.Signal(sig)
	select {
	case <-o.done:
		return nil
	case <-time.After(20 * time.Second):
		_ = o.cmd.Process.Kill()
		<-o.done
		return fmt.Errorf("the operator did not exit within 20s of %v", sig)
	}
}

// running tells whether the process has not exited yet.
func (o *operator) running() bool { return o.exited() == nil }
