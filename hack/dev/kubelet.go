package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// podRunner stands in for the kubelet, which `make run` does not have: it runs the Pods that
// kube-controller-manager's Job controller creates for the e-mail report Jobs. Each Pod's one
// container runs as a process of the policy-herald binary, with the container's arguments and
// environment, as the Pod's ServiceAccount (a token bound to the Pod, as a kubelet mounts one),
// its termination log in a file of its own; then the Pod's status says how it ended, and the
// Job controller and the operator take it from there as in a cluster.
type podRunner struct {
	c         client.Client
	cfg       *rest.Config // the API server and its CA, for the Pods' kubeconfigs
	namespace string
	binary    string // what the containers' command /policy-herald runs here
	dir       string // a folder per Pod: kubeconfig, termination log, output
	out       io.Writer

	mu      sync.Mutex
	started map[types.UID]bool
}

// pollInterval is how often the runner looks for new Pods.
const pollInterval = time.Second

// run starts every new Pod until ctx ends, and waits for the ones it started.
func (r *podRunner) run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		for _, p := range r.newPods(ctx) {
			wg.Go(func() { r.runPod(ctx, p) })
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// newPods are the Pods not yet started: pending, not being deleted, not seen before.
func (r *podRunner) newPods(ctx context.Context) []*corev1.Pod {
	var pods corev1.PodList
	if err := r.c.List(ctx, &pods, client.InNamespace(r.namespace)); err != nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started == nil {
		r.started = map[types.UID]bool{}
	}
	var out []*corev1.Pod
	for i := range pods.Items {
		p := &pods.Items[i]
		if r.started[p.UID] || p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodPending && p.Status.Phase != "" {
			continue
		}
		r.started[p.UID] = true
		out = append(out, p)
	}
	return out
}

// runPod runs the Pod's container and writes its status: Running, then Succeeded or Failed.
func (r *podRunner) runPod(ctx context.Context, p *corev1.Pod) {
	name := p.Labels[batchv1.JobNameLabel]
	if name == "" {
		name = "Pod " + p.Name
	}
	started := metav1.Now()
	r.setStatus(ctx, p, corev1.PodRunning, corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}})
	code, message := r.runContainer(ctx, p)
	if ctx.Err() != nil {
		return // make run is stopping, and the control plane with it
	}
	phase, reason := corev1.PodSucceeded, "Completed"
	if code != 0 {
		phase, reason = corev1.PodFailed, "Error"
	}
	r.setStatus(ctx, p, phase, corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: int32(code), Reason: reason, Message: message, StartedAt: started, FinishedAt: metav1.Now(),
	}})
	fmt.Fprintf(r.out, "job:      %s exited %d: %s\n", name, code, message)
}

// runContainer runs the Pod's only container and returns its exit code and termination message.
func (r *podRunner) runContainer(ctx context.Context, p *corev1.Pod) (int, string) {
	if len(p.Spec.Containers) != 1 || len(p.Spec.Containers[0].Command) == 0 ||
		filepath.Base(p.Spec.Containers[0].Command[0]) != "policy-herald" {
		return 1, "make run runs only Pods of one policy-herald container"
	}
	c := p.Spec.Containers[0]
	dir := filepath.Join(r.dir, p.Name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 1, err.Error()
	}
	kubeconfig, err := r.writeKubeconfig(ctx, p, dir)
	if err != nil {
		return 1, fmt.Sprintf("no credentials for ServiceAccount %s: %v", p.Spec.ServiceAccountName, err)
	}
	termLog := filepath.Join(dir, "termination-log")
	logFile := filepath.Join(dir, "output")
	log, err := os.Create(logFile)
	if err != nil {
		return 1, err.Error()
	}
	defer func() { _ = log.Close() }()
	if p.Spec.ActiveDeadlineSeconds != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(*p.Spec.ActiveDeadlineSeconds)*time.Second)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, r.binary, containerArgs(c, termLog)...)
	cmd.Env = append(containerEnv(p, c), "KUBECONFIG="+kubeconfig)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	code := 0
	var exit *exec.ExitError
	switch err := cmd.Run(); {
	case errors.As(err, &exit):
		code = max(1, exit.ExitCode()) // -1: ended by a signal
	case err != nil:
		return 1, err.Error()
	}
	return code, terminationMessage(termLog, logFile, c.TerminationMessagePolicy, code)
}

// containerArgs are the container's arguments, with its termination message path replaced by
// termLog (a kubelet mounts a file of the Pod's at that path).
func containerArgs(c corev1.Container, termLog string) []string {
	args := append([]string{}, c.Command[1:]...)
	args = append(args, c.Args...)
	if c.TerminationMessagePath == "" {
		return args
	}
	for i, a := range args {
		args[i] = strings.ReplaceAll(a, c.TerminationMessagePath, termLog)
	}
	return args
}

// containerEnv is the container's environment: its values, and the Pod fields it refers to.
func containerEnv(p *corev1.Pod, c corev1.Container) []string {
	var env []string
	for _, e := range c.Env {
		v := e.Value
		if f := e.ValueFrom; f != nil && f.FieldRef != nil {
			switch f.FieldRef.FieldPath {
			case "metadata.namespace":
				v = p.Namespace
			case "metadata.name":
				v = p.Name
			case "spec.serviceAccountName":
				v = p.Spec.ServiceAccountName
			}
		}
		env = append(env, e.Name+"="+v)
	}
	return env
}

// maxMessage is the most a kubelet keeps of a termination message; logs on error bring at most
// the last 80 lines, 2048 bytes.
const (
	maxMessage  = 4096
	maxLogLines = 80
	maxLogBytes = 2048
)

// terminationMessage is what a kubelet reports: the termination log, or with
// FallbackToLogsOnError and a failure, the tail of the output when the log is empty.
func terminationMessage(termLog, output string, policy corev1.TerminationMessagePolicy, code int) string {
	b, _ := os.ReadFile(termLog)
	if len(b) > 0 || code == 0 || policy != corev1.TerminationMessageFallbackToLogsOnError {
		return string(b[:min(len(b), maxMessage)]) // bytes, as the log tail below
	}
	out, _ := os.ReadFile(output)
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	tail := strings.Join(lines[max(0, len(lines)-maxLogLines):], "\n")
	if len(tail) > maxLogBytes {
		tail = tail[len(tail)-maxLogBytes:]
	}
	return tail
}

// writeKubeconfig writes a kubeconfig with a token of the Pod's ServiceAccount, bound to the Pod.
func (r *podRunner) writeKubeconfig(ctx context.Context, p *corev1.Pod, dir string) (string, error) {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: p.Namespace, Name: or(p.Spec.ServiceAccountName, "default")}}
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: new(int64(3600)),
		BoundObjectRef:    &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: p.Name, UID: p.UID},
	}}
	if err := r.c.SubResource("token").Create(ctx, sa, tr); err != nil {
		return "", err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["dev"] = &clientcmdapi.Cluster{Server: r.cfg.Host, CertificateAuthorityData: r.cfg.CAData}
	cfg.AuthInfos[sa.Name] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	cfg.Contexts["dev"] = &clientcmdapi.Context{Cluster: "dev", AuthInfo: sa.Name, Namespace: p.Namespace}
	cfg.CurrentContext = "dev"
	path := filepath.Join(dir, "kubeconfig")
	return path, clientcmd.WriteToFile(*cfg, path)
}

// setStatus writes the Pod's phase and its container's state. A merge patch: the Job
// controller changes the Pod's finalizers meanwhile.
func (r *podRunner) setStatus(ctx context.Context, p *corev1.Pod, phase corev1.PodPhase, state corev1.ContainerState) {
	patch := client.MergeFrom(p.DeepCopy())
	c := p.Spec.Containers[0]
	now := metav1.Now()
	if p.Status.StartTime == nil {
		p.Status.StartTime = &now
	}
	p.Status.Phase = phase
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name: c.Name, Image: c.Image, ImageID: c.Image, State: state,
		Ready: phase == corev1.PodRunning, Started: new(phase == corev1.PodRunning),
	}}
	if err := r.c.Status().Patch(ctx, p, patch); err != nil && ctx.Err() == nil {
		fmt.Fprintf(r.out, "job:      Pod %s: writing its status: %v\n", p.Name, err)
	}
}
