// Package e2e_test runs Policy Herald's parts together as a person meets them: the built
// operator as its own process against a real API server (envtest), and the built kubectl
// plugin run through kubectl.
package e2e_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/delivery"
	"github.com/policyherald/policy-herald/internal/scheme"
	"github.com/policyherald/policy-herald/internal/sender"
	"github.com/policyherald/policy-herald/internal/testing/harness"
)

// ns is the operator's platform namespace, where the target and the channel live.
const ns = "policy-herald-system"

// secretPath is the target's webhook path; a destination's answer echoes it, the reason must not.
const secretPath = "/hooks/s3cr3t-path-token"

// TestSendTestEndToEnd: `kubectl herald test` against the real operator and a loopback webhook.
// A person who may only get and patch targets and channels asks for a test message; the
// operator sends one marked message through the destination and records the outcome, which the
// plugin prints: Succeeded, then Failed with the redacted reason and exit status 1 when the
// destination answers 500, then Succeeded through a TargetChannel's own destination.
func TestSendTestEndToEnd(t *testing.T) {
	g := NewWithT(t)
	g.SetDefaultEventuallyTimeout(20 * time.Second)
	g.SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	ctx := context.Background()
	bins := make(chan string, 1)
	go func() { bins <- build(t) }() // while the control plane starts

	env := &envtest.Environment{ErrorIfCRDPathMissing: true, CRDDirectoryPaths: []string{
		filepath.Join("..", "..", "config", "crd", "bases"), filepath.Join("..", "..", "hack", "crds")}}
	cfg, err := env.Start()
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { _ = env.Stop() })
	k8s, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	person := personKubeconfig(t, g, env, k8s)
	bin := <-bins
	startOperator(t, g, env, bin)

	rcv := newReceiver(t)
	target := &v1alpha1.NotificationTarget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "hook"},
		Spec: v1alpha1.NotificationTargetSpec{Destinations: webhook(rcv.URL + secretPath)}}
	g.Expect(k8s.Create(ctx, target)).To(Succeed())
	g.Eventually(ready(k8s, target)).Should(BeTrue())

	out, err := herald(bin, person, "test", "hook", "-n", ns)
	g.Expect(err).NotTo(HaveOccurred(), out)
	last := lastTest(g, k8s, target)
	g.Expect(last.Outcome).To(Equal(v1alpha1.TestSucceeded))
	g.Expect(out).To(Equal("notificationtarget/hook: test message Succeeded: " + last.Reason + "\n"))
	docs := expectTestMessages(g, rcv, secretPath, 1)
	expectMarked(g, docs[0], "NotificationTarget", "hook", last.Value)

	rcv.status.Store(http.StatusInternalServerError)
	out, err = herald(bin, person, "test", "hook", "-n", ns)
	g.Expect(exitCode(err)).To(Equal(1), out)
	last = lastTest(g, k8s, target)
	g.Expect(last.Outcome).To(Equal(v1alpha1.TestFailed))
	g.Expect(last.Reason).To(And(ContainSubstring("500"), Not(ContainSubstring("s3cr3t"))))
	g.Expect(out).To(Equal("error: notificationtarget/hook: test message Failed: " + last.Reason + "\n"))
	docs = expectTestMessages(g, rcv, secretPath, 2)
	expectMarked(g, docs[1], "NotificationTarget", "hook", last.Value)

	rcv.status.Store(http.StatusNoContent)
	channel := &v1alpha1.TargetChannel{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "team-a"},
		Spec: v1alpha1.TargetChannelSpec{TargetRef: v1alpha1.TargetReference{Name: "hook"}, Destinations: webhook(rcv.URL + "/team-a")}}
	g.Expect(k8s.Create(ctx, channel)).To(Succeed())
	g.Eventually(ready(k8s, channel)).Should(BeTrue())
	out, err = herald(bin, person, "test", "channel", "team-a", "-n", ns)
	g.Expect(err).NotTo(HaveOccurred(), out)
	last = lastTest(g, k8s, channel)
	g.Expect(out).To(Equal("targetchannel/team-a: test message Succeeded: " + last.Reason + "\n"))
	docs = expectTestMessages(g, rcv, "/team-a", 1)
	expectMarked(g, docs[0], "TargetChannel", "team-a", last.Value)
	expectTestMessages(g, rcv, secretPath, 2) // the channel's went to the channel only

	// Test messages count as no delivery.
	g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(target), target)).To(Succeed())
	g.Expect(target.Status.Delivery).To(Or(BeNil(), Equal(&v1alpha1.DeliveryStatus{})))
}

func webhook(url string) v1alpha1.Destinations {
	return v1alpha1.Destinations{Webhook: &v1alpha1.WebhookDestination{HTTPSettings: v1alpha1.HTTPSettings{URL: url}}}
}

// build builds the operator and the kubectl plugin of this tree into one directory; it
// returns the directory.
func build(t *testing.T) string {
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", dir+string(os.PathSeparator),
		"github.com/policyherald/policy-herald", "github.com/policyherald/policy-herald/cmd/kubectl-herald")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("go build: %v\n%s", err, out)
	}
	return dir
}

// startOperator runs the built operator as its own process, cluster-admin as its installed
// ClusterRole is not the subject here, with loopback allowed for the receiver.
func startOperator(t *testing.T, g *WithT, env *envtest.Environment, bin string) {
	kc, err := harness.Kubeconfig(env, env.Config, "policy-herald")
	g.Expect(err).NotTo(HaveOccurred())
	path := filepath.Join(t.TempDir(), "operator.kubeconfig")
	g.Expect(os.WriteFile(path, kc, 0o600)).To(Succeed())
	op, err := harness.Start(harness.Options{Bin: filepath.Join(bin, "policy-herald"), Kubeconfig: path, PlatformNS: ns,
		Log: filepath.Join(t.TempDir(), "operator.log")})
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() {
		op.Stop()
		if t.Failed() {
			log, _ := os.ReadFile(op.Log)
			t.Logf("operator log:\n%s", log)
		}
	})
}

// personKubeconfig writes the kubeconfig of a person who may get and patch NotificationTargets
// and TargetChannels in ns, and nothing else: what `kubectl herald test` needs.
func personKubeconfig(t *testing.T, g *WithT, env *envtest.Environment, k8s client.Client) string {
	ctx := context.Background()
	g.Expect(k8s.Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "tester"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{v1alpha1.GroupVersion.Group},
			Resources: []string{"notificationtargets", "targetchannels"}, Verbs: []string{"get", "patch"}}}})).To(Succeed())
	g.Expect(k8s.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "tester"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "tester"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "pat"}}})).To(Succeed())
	u, err := env.AddUser(envtest.User{Name: "pat"}, env.Config)
	g.Expect(err).NotTo(HaveOccurred())
	kc, err := u.KubeConfig()
	g.Expect(err).NotTo(HaveOccurred())
	path := filepath.Join(t.TempDir(), "pat.kubeconfig")
	g.Expect(os.WriteFile(path, kc, 0o600)).To(Succeed())
	return path
}

// herald runs `kubectl herald --kubeconfig kubeconfig args...` with the built plugin on PATH
// and returns what it printed (stdout and stderr).
func herald(bin, kubeconfig string, args ...string) (string, error) {
	cmd := exec.Command("kubectl", append([]string{"herald", "--kubeconfig", kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func exitCode(err error) int {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// ready tells whether obj's Ready condition is True.
func ready(k8s client.Client, obj interface {
	client.Object
	GetConditions() *[]metav1.Condition
}) func() bool {
	return func() bool {
		err := k8s.Get(context.Background(), client.ObjectKeyFromObject(obj), obj)
		return err == nil && meta.IsStatusConditionTrue(*obj.GetConditions(), v1alpha1.ConditionReady)
	}
}

// lastTest reads status.lastTest of a target or channel; it must answer the object's current
// send-test value (the one the plugin wrote).
func lastTest(g *WithT, k8s client.Client, obj client.Object) v1alpha1.TestMessageStatus {
	g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(obj), obj)).To(Succeed())
	var last *v1alpha1.TestMessageStatus
	switch o := obj.(type) {
	case *v1alpha1.NotificationTarget:
		last = o.Status.LastTest
	case *v1alpha1.TargetChannel:
		last = o.Status.LastTest
	}
	g.Expect(last).NotTo(BeNil())
	g.Expect(last.Value).NotTo(BeEmpty())
	g.Expect(last.Value).To(Equal(obj.GetAnnotations()[v1alpha1.AnnotationSendTest]))
	return *last
}

// expectTestMessages expects n well-formed documents on path, and no more after a moment.
func expectTestMessages(g *WithT, rcv *receiver, path string, n int) []sender.ResultDocument {
	docs, bad := rcv.received(path)
	g.Expect(bad).To(BeEmpty())
	g.Expect(docs).To(HaveLen(n))
	g.Consistently(func() int { d, _ := rcv.received(path); return len(d) }, time.Second).Should(Equal(n))
	return docs
}

// expectMarked expects d to be the test message of kind/name for send-test value.
func expectMarked(g *WithT, d sender.ResultDocument, kind, name, value string) {
	g.Expect(d.Policy).To(Equal(delivery.TestPolicy))
	g.Expect(d.Rule).To(Equal("send-test"))
	g.Expect(d.Source).To(Equal("policy-herald"))
	g.Expect(d.Status).To(Equal(v1alpha1.StatusWarn))
	g.Expect(d.Properties).To(And(HaveKeyWithValue("policyherald.io/test", "true"), HaveKeyWithValue("sendTest", value)))
	g.Expect(d.Message).To(And(ContainSubstring(kind+" "+ns+"/"+name), ContainSubstring(`"`+value+`"`), ContainSubstring("not a policy result")))
	g.Expect(d.Resource).NotTo(BeNil())
	g.Expect(d.Resource.Kind).To(Equal(kind))
	g.Expect(d.Resource.Name).To(Equal(name))
}
