package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"
)

// kcmControllers are the kube-controller-manager controllers `make run` runs: the CronJob
// controller makes the e-mail report CronJobs' Jobs on schedule, and the Job controller makes
// their Pods and takes each Job's outcome from its Pods, retries and deadlines included.
const kcmControllers = "cronjob-controller,job-controller"

// startControllerManager runs kube-controller-manager (built by hack/control-plane.sh next to
// kube-apiserver) with kcmControllers against kubeconfig, its output in logPath. stop ends it
// and waits, at most 10 seconds.
func startControllerManager(kubeconfig, logPath string) (stop func(), err error) {
	bin := filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kube-controller-manager")
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("%w: hack/control-plane.sh builds it next to kube-apiserver", err)
	}
	log, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--kubeconfig="+kubeconfig, "--controllers="+kcmControllers,
		"--leader-elect=false", "--secure-port=0")
	cmd.Stdout, cmd.Stderr = log, log
	// A process group of its own, as envtest gives the API server and etcd: Ctrl-C reaches the
	// terminal's group, and this is stopped in order, by stop, instead.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = log.Close()
		return nil, fmt.Errorf("starting kube-controller-manager: %w", err)
	}
	var stopping atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := cmd.Wait()
		_ = log.Close()
		if !stopping.Load() { // without it no e-mail report runs: say so at once
			fmt.Fprintf(os.Stderr, "dev: kube-controller-manager ended (%v); see %s\n", err, logPath)
		}
	}()
	return func() {
		stopping.Store(true)
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}, nil
}
