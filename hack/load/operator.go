package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
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
	logf, err := os.Create(logPath)
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

// procStats are what /proc says about a process.
type procStats struct {
	rssKiB, hwmKiB int64   // VmRSS, VmHWM (peak RSS)
	cpu            float64 // utime+stime, seconds
}

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat; 100 on every Linux
// architecture Go supports (sysconf(_SC_CLK_TCK) needs cgo).
const clockTicks = 100

func readProc(pid int) (procStats, error) {
	var s procStats
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			s.rssKiB, _ = strconv.ParseInt(f[1], 10, 64)
		case "VmHWM:":
			s.hwmKiB, _ = strconv.ParseInt(f[1], 10, 64)
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// The command name (field 2) may hold spaces; the fields after it start at state (field 3),
	// so utime and stime (fields 14 and 15) are at 11 and 12 after the closing parenthesis.
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return s, errors.New("unexpected /proc/<pid>/stat")
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return s, errors.New("short /proc/<pid>/stat")
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	s.cpu = float64(utime+stime) / clockTicks
	return s, nil
}
