package controllers_test

// End to end: alertManager targets against a real Alertmanager (hack/test-servers.sh), and
// pagerDuty targets against a loopback Events API v2. A result that appears opens an alert; a
// result that passes, or whose report is deleted, resolves it.

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
)

// alertsSink records the notifications of a real Alertmanager's webhook receiver: status and
// the policy label of each alert.
type alertsSink struct {
	*httptest.Server
	mu  sync.Mutex
	got []string // "<status> <policy>"
}

func newAlertsSink() *alertsSink {
	s := &alertsSink{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m struct {
			Alerts []struct {
				Status string            `json:"status"`
				Labels map[string]string `json:"labels"`
			} `json:"alerts"`
		}
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		for _, a := range m.Alerts {
			s.got = append(s.got, a.Status+" "+a.Labels["policy"])
		}
		s.mu.Unlock()
	}))
	DeferCleanup(s.Close)
	return s
}

func (s *alertsSink) notifications() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...)
}

// startRealAlertmanager runs hack/test-servers.sh's Alertmanager until the spec ends, notifying
// sink, and returns its base URL. A missing server fails the spec.
func startRealAlertmanager(sink *alertsSink) string {
	dir := os.Getenv("POLICY_HERALD_SERVERS")
	Expect(dir).NotTo(BeEmpty(), "POLICY_HERALD_SERVERS is not set: run with make test, or set it to the output of hack/test-servers.sh")
	bin := filepath.Join(dir, "alertmanager")
	Expect(bin).To(BeAnExistingFile(), "run hack/test-servers.sh")
	tmp := GinkgoT().TempDir()
	cfg := fmt.Sprintf(`route: {receiver: hook, group_by: ['result_id'], group_wait: 1s, group_interval: 1s, repeat_interval: 1h}
receivers:
  - name: hook
    webhook_configs: [{url: '%s/hook', send_resolved: true}]
`, sink.URL)
	Expect(os.WriteFile(filepath.Join(tmp, "am.yml"), []byte(cfg), 0o600)).To(Succeed())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	addr := "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	Expect(l.Close()).To(Succeed())
	pctx, stop := context.WithCancel(context.Background())
	cmd := exec.CommandContext(pctx, bin, "--config.file="+filepath.Join(tmp, "am.yml"), "--storage.path="+filepath.Join(tmp, "data"),
		"--web.listen-address="+addr, "--cluster.listen-address=")
	cmd.Dir = tmp
	cmd.Stdout, cmd.Stderr = GinkgoWriter, GinkgoWriter
	Expect(cmd.Start()).To(Succeed())
	DeferCleanup(func() { stop(); _ = cmd.Wait() })
	base := "http://" + addr
	Eventually(func() int {
		resp, err := http.Get(base + "/-/ready")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}).Should(Equal(http.StatusOK))
	return base
}

// endsAtOf returns the endsAt of the active alert of policy, zero when there is none.
func endsAtOf(base, policy string) func(Gomega) time.Time {
	return func(g Gomega) time.Time {
		resp, err := http.Get(base + "/api/v2/alerts")
		g.Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		var alerts []struct {
			Labels map[string]string `json:"labels"`
			EndsAt time.Time         `json:"endsAt"`
		}
		g.Expect(json.NewDecoder(resp.Body).Decode(&alerts)).To(Succeed())
		for _, a := range alerts {
			if a.Labels["policy"] == policy {
				return a.EndsAt
			}
		}
		return time.Time{}
	}
}

// activePolicies returns the policy label of each alert GET /api/v2/alerts returns.
func activePolicies(base string) func(Gomega) []string {
	return func(g Gomega) []string {
		resp, err := http.Get(base + "/api/v2/alerts")
		g.Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		var alerts []struct {
			Labels map[string]string `json:"labels"`
		}
		g.Expect(json.NewDecoder(resp.Body).Decode(&alerts)).To(Succeed())
		out := []string{}
		for _, a := range alerts {
			out = append(out, a.Labels["policy"])
		}
		return out
	}
}

// pdEvents is a loopback Events API v2: it answers 202 as PagerDuty does and records
// "<action> <dedup_key> <summary>".
type pdEvents struct {
	*httptest.Server
	mu  sync.Mutex
	got []string
}

func newPDEvents() *pdEvents {
	e := &pdEvents{}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct {
			RoutingKey string `json:"routing_key"`
			Action     string `json:"event_action"`
			DedupKey   string `json:"dedup_key"`
			Payload    *struct {
				Summary string `json:"summary"`
			} `json:"payload"`
		}
		if r.URL.Path != "/v2/enqueue" || json.NewDecoder(r.Body).Decode(&ev) != nil || len(ev.RoutingKey) != 32 || ev.DedupKey == "" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"status":"invalid event","message":"Event object is invalid","errors":["bad"]}`))
			return
		}
		line := ev.Action + " " + ev.DedupKey
		if ev.Payload != nil {
			line += " " + ev.Payload.Summary
		}
		e.mu.Lock()
		e.got = append(e.got, line)
		e.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		_, _ = fmt.Fprintf(w, `{"status":"success","message":"Event processed","dedup_key":%q}`, ev.DedupKey)
	}))
	DeferCleanup(e.Close)
	return e
}

func (e *pdEvents) events() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.got...)
}

var _ = Describe("Alert destinations", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace(nil) })

	It("opens an Alertmanager alert per result and resolves it when the result passes or its report goes", func() {
		sink := newAlertsSink()
		base := startRealAlertmanager(sink)
		t := &v1alpha1.NotificationTarget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "am"}}
		t.Spec.AlertManager = &v1alpha1.AlertManagerDestination{
			HTTPSettings:   v1alpha1.HTTPSettings{URL: base},
			ResendInterval: &metav1.Duration{Duration: 10 * time.Second},
		}
		readyTarget(t)
		rep := createReport(ns, "pod-nginx")

		By("two failing results")
		setResults(rep, result(ns, "require-labels", "fail", "label app is required"), result(ns, "disallow-latest", "fail", "latest tag"))
		Eventually(activePolicies(base)).Should(ConsistOf("require-labels", "disallow-latest"))
		Eventually(sink.notifications).Should(ContainElements("firing require-labels", "firing disallow-latest"))

		By("refreshing them every resendInterval: endsAt moves forward")
		first := endsAtOf(base, "disallow-latest")(Default)
		Expect(first).To(BeTemporally("~", time.Now().Add(40*time.Second), 5*time.Second))
		Eventually(endsAtOf(base, "disallow-latest"), 25*time.Second).Should(BeTemporally(">", first.Add(5*time.Second)))

		By("one of them passing")
		setResults(rep, result(ns, "require-labels", "pass", "fine"), result(ns, "disallow-latest", "fail", "latest tag"))
		Eventually(activePolicies(base)).Should(ConsistOf("disallow-latest"))
		Eventually(sink.notifications).Should(ContainElement("resolved require-labels"))

		By("deleting the report")
		Expect(k8sClient.Delete(ctx, rep)).To(Succeed())
		Eventually(activePolicies(base)).Should(BeEmpty())
		Eventually(sink.notifications).Should(ContainElement("resolved disallow-latest"))
		Eventually(deliveryOf(t)).Should(And(HaveField("Sent", int64(2)), HaveField("Failed", int64(0))))
	})

	It("triggers a PagerDuty alert per result and resolves it with the same dedup_key", func() {
		pd := newPDEvents()
		newSecret(ns, "pd", map[string]string{"routingKey": "R0UTINGKEYSECRETTOKEN0123456789a", "url": pd.URL + "/v2/enqueue"})
		t := &v1alpha1.NotificationTarget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pd"}}
		t.Spec.PagerDuty = &v1alpha1.PagerDutyDestination{}
		t.Spec.SecretRef = &v1alpha1.LocalSecretReference{Name: "pd"}
		readyTarget(t)
		rep := createReport(ns, "pod-nginx")
		setResults(rep, result(ns, "require-labels", "fail", "label app is required"))
		Eventually(pd.events).Should(HaveLen(1))
		trigger := pd.events()[0]
		var key string
		_, err := fmt.Sscanf(trigger, "trigger %s", &key)
		Expect(err).NotTo(HaveOccurred())
		Expect(trigger).To(HaveSuffix("[fail] require-labels/check on Pod " + ns + "/nginx: label app is required"))

		Expect(k8sClient.Delete(ctx, rep)).To(Succeed())
		Eventually(pd.events).Should(Equal([]string{trigger, "resolve " + key}))
	})
})
