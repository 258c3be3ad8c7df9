package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/policyherald/policy-herald/internal/addrguard"
)

// Build builds the operator of the current tree, as a real deployment runs it: its own
// process, so its memory and CPU are not mixed with the harness's.
func Build(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "policy-herald")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the operator: %w\n%s", err, out)
	}
	return bin, nil
}

// Operator is a running operator process.
type Operator struct {
	Cmd  *exec.Cmd
	Log  string
	done chan struct{}
	err  error
}

// Options say how to start an operator.
type Options struct {
	Bin, Kubeconfig, PlatformNS, Log string
	// AppendLog appends to Log instead of truncating it, so a restarted operator's log follows
	// the one before it.
	AppendLog bool
	Extra     []string // more flags
}

// Start runs o.Bin against the kubeconfig with only the flags every version of the operator
// has: no metrics or probe listeners (nothing but loopback traffic to the API server and the
// receiver), and the platform namespace whose targets see every namespace.
func Start(o Options) (*Operator, error) {
	flags := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if o.AppendLog {
		flags = os.O_CREATE | os.O_WRONLY | os.O_APPEND
	}
	logf, err := os.OpenFile(o.Log, flags, 0o644)
	if err != nil {
		return nil, err
	}
	args := append([]string{
		"--metrics-bind-address=0",
		"--health-probe-bind-address=0",
		"--platform-namespace=" + o.PlatformNS,
		// The receiver listens on 127.0.0.1, which the operator refuses by default.
		"--blocked-cidrs=" + localBlockedCIDRs(),
	}, o.Extra...)
	cmd := exec.Command(o.Bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+o.Kubeconfig)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Take the operator down with the harness even if the harness is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return nil, fmt.Errorf("starting the operator: %w", err)
	}
	op := &Operator{Cmd: cmd, Log: o.Log, done: make(chan struct{})}
	go func() {
		op.err = cmd.Wait()
		_ = logf.Close() // the operator's log: nothing to report a failed close to
		close(op.done)
	}()
	return op, nil
}

// Exited reports an early exit of the operator as an error.
func (o *Operator) Exited() error {
	select {
	case <-o.done:
		return fmt.Errorf("the operator exited early (%v); its log: %s", o.err, o.Log)
	default:
		return nil
	}
}

// Running tells whether the process has not exited yet.
func (o *Operator) Running() bool { return o.Exited() == nil }

// Stop shuts the operator down gracefully (SIGTERM, as the kubelet does), then kills it.
func (o *Operator) Stop() {
	select {
	case <-o.done:
		return
	default:
	}
	_ = o.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-o.done:
	case <-time.After(15 * time.Second):
		_ = o.Cmd.Process.Kill()
		<-o.done
	}
}

// Kill sends sig (SIGKILL for a crash, SIGTERM for a rollout) and waits for the exit, at most
// 20 s (the operator's own shutdown waits up to 10 s for requests in flight).
func (o *Operator) Kill(sig syscall.Signal) error {
	_ = o.Cmd.Process.Signal(sig)
	select {
	case <-o.done:
		return nil
	case <-time.After(20 * time.Second):
		_ = o.Cmd.Process.Kill()
		<-o.done
		return fmt.Errorf("the operator did not exit within 20s of %v", sig)
	}
}

// ProcStats are what /proc says about a process.
type ProcStats struct {
	RSSKiB, HWMKiB int64   // VmRSS, VmHWM (peak RSS)
	CPU            float64 // utime+stime, seconds
}

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat; 100 on every Linux
// architecture Go supports (sysconf(_SC_CLK_TCK) needs cgo).
const clockTicks = 100

// Stats reads the running operator's ProcStats.
func (o *Operator) Stats() (ProcStats, error) { return ReadProc(o.Cmd.Process.Pid) }

// ReadProc reads the ProcStats of process pid.
func ReadProc(pid int) (ProcStats, error) {
	var s ProcStats
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
			s.RSSKiB, _ = strconv.ParseInt(f[1], 10, 64)
		case "VmHWM:":
			s.HWMKiB, _ = strconv.ParseInt(f[1], 10, 64)
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
	s.CPU = float64(utime+stime) / clockTicks
	return s, nil
}

// localBlockedCIDRs is the --blocked-cidrs value of addrguard.LocalPolicy (the
// default with IPv4 loopback allowed), which the demo and the suite use in-process.
func localBlockedCIDRs() string {
	var out []string
	for _, p := range addrguard.LocalPolicy().Blocked {
		out = append(out, p.String())
	}
	return strings.Join(out, ",")
}
