package store

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	wgpolicyv1alpha2 "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
	"github.com/policyherald/policy-herald/internal/scheme"
	"github.com/policyherald/policy-herald/internal/testing/wait"
)

// v1alpha1Report is the kube-bench fixture as a producer of wgpolicyk8s.io/v1alpha1 writes it:
// each result's outcome is named status, its properties data; with a pass result added, as
// kube-bench writes most of its checks.
func v1alpha1Report(t *testing.T, ns string) *unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "reports", "sample-cis-k8s.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(data, &u.Object); err != nil {
		t.Fatal(err)
	}
	u.SetAPIVersion("wgpolicyk8s.io/v1alpha1")
	u.SetNamespace(ns)
	results, _, _ := unstructured.NestedSlice(u.Object, "results")
	results = append(results, map[string]any{
		"policy": "api-server:profiling", "message": "ensure that the --profiling argument is set to false",
		"result": "pass", "scored": true, "properties": map[string]any{"index": "1.2.21"},
	})
	for _, r := range results {
		m := r.(map[string]any)
		m["status"], m["data"] = m["result"], m["properties"]
		delete(m, "result")
		delete(m, "properties")
	}
	if err := unstructured.SetNestedSlice(u.Object, results, "results"); err != nil {
		t.Fatal(err)
	}
	return u
}

// logLines records what a logger writes.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) add(prefix, args string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, prefix+" "+args)
}

func (l *logLines) count(sub ...string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.lines {
		all := true
		for _, s := range sub {
			all = all && strings.Contains(line, s)
		}
		if all {
			n++
		}
	}
	return n
}

// A report written as wgpolicyk8s.io/v1alpha1 reaches no client with its outcomes: the CRDs
// (hack/crds) serve v1alpha1 without conversion and store v1beta1, so the API server prunes
// status before it stores the report. The store says so, once per report, naming it; a report
// written as v1alpha2 without outcomes (the Trivy adapter's) is not mistaken for one.
func TestStoreTellsOfV1alpha1ReportsThatLostTheirOutcomes(t *testing.T) {
	logs := &logLines{}
	ctx := context.Background()
	// A real recorder, as the operator's: Events go to the API server, where the test reads them.
	broadcaster := events.NewBroadcaster(&events.EventSinkImpl{Interface: kubernetes.NewForConfigOrDie(cfg).EventsV1()})
	stop := make(chan struct{})
	broadcaster.StartRecordingToSink(stop)
	t.Cleanup(func() { close(stop); broadcaster.Shutdown() })
	s, _, c := startStoreRecording(t, funcr.New(logs.add, funcr.Options{}), broadcaster.NewRecorder(scheme.New(), "policy-herald"))
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bench"}}); err != nil {
		t.Fatal(err)
	}
	u := v1alpha1Report(t, "bench")
	if err := c.Create(ctx, u); err != nil {
		t.Fatal(err)
	}
	trivy := &wgpolicyv1alpha2.PolicyReport{ObjectMeta: metav1.ObjectMeta{Namespace: "bench", Name: "trivy"},
		Results: []wgpolicyv1alpha2.PolicyReportResult{{Source: "Trivy", Category: "apk-tools", Severity: "high"}}}
	if err := c.Create(ctx, trivy); err != nil {
		t.Fatal(err)
	}
	key := "PolicyReport/bench/" + u.GetName()
	wait.For(t, 30*time.Second, "both reports in the store", func() bool { return s.Get(key) != nil && s.Get("PolicyReport/bench/trivy") != nil })
	got := s.Get(key)
	if len(got.Results) != 4 {
		t.Fatalf("%d results, want 4", len(got.Results))
	}
	for _, r := range got.Results {
		if r.Status != "" {
			t.Fatalf("result %s has outcome %q: the API server kept v1alpha1's status, the store can read it", r.Policy, r.Status)
		}
	}
	told := func() int { return logs.count("lost the outcome", `"name"="`+u.GetName()+`"`, `"namespace"="bench"`) }
	wait.For(t, 30*time.Second, "the store to tell", func() bool { return told() == 1 })
	// ...and the report's owner sees it where they look: an Event on the report.
	warnings := func(name string) []eventsv1.Event {
		var l eventsv1.EventList
		if err := c.List(ctx, &l, client.InNamespace("bench")); err != nil {
			t.Fatal(err)
		}
		var out []eventsv1.Event
		for _, e := range l.Items {
			if e.Regarding.Name == name && e.Reason == ReasonOutcomeLost {
				out = append(out, e)
			}
		}
		return out
	}
	wait.For(t, 30*time.Second, "a Warning Event on the report", func() bool { return len(warnings(u.GetName())) == 1 })
	if e := warnings(u.GetName())[0]; e.Type != corev1.EventTypeWarning || e.Regarding.Kind != "PolicyReport" ||
		!strings.Contains(e.Note, "4 of 4 results have no outcome") || !strings.Contains(e.Note, "wgpolicyk8s.io/v1alpha2") {
		t.Errorf("Event %s %s on %s: %q", e.Type, e.Reason, e.Regarding.Kind, e.Note)
	}

	// A re-scan does not tell again; the Trivy report is never told about.
	results, _, _ := unstructured.NestedSlice(u.Object, "results")
	results[0].(map[string]any)["message"] = "rescanned"
	if err := unstructured.SetNestedSlice(u.Object, results, "results"); err != nil {
		t.Fatal(err)
	}
	if err := c.Update(ctx, u); err != nil {
		t.Fatal(err)
	}
	wait.For(t, 30*time.Second, "the re-scan", func() bool { return s.Get(key).Results[0].Message == "rescanned" })
	time.Sleep(100 * time.Millisecond) // a telling would follow the re-scan by now: the wait is for nothing to come
	if n := told(); n != 1 {
		t.Errorf("told %d times, want once", n)
	}
	if n := logs.count("lost the outcome", "trivy"); n != 0 {
		t.Errorf("a v1alpha2 report without outcomes was told about %d times", n)
	}
	if n := len(warnings("trivy")); n != 0 {
		t.Errorf("%d Events on the v1alpha2 report without outcomes", n)
	}
	if n := len(warnings(u.GetName())); n != 1 {
		t.Errorf("%d Events on the re-scanned report, want still 1", n)
	}
}
