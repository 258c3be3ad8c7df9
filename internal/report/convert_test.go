package report

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	openreportsv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/utils/ptr"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	wgpolicyv1alpha2 "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
)

func loadPolicyReport(t *testing.T, file string) *wgpolicyv1alpha2.PolicyReport {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "testdata", "reports", file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r wgpolicyv1alpha2.PolicyReport
	if err := yaml.NewYAMLOrJSONDecoder(f, 4096).Decode(&r); err != nil {
		t.Fatal(err)
	}
	return &r
}

func TestFixturesConvert(t *testing.T) {
	trivy := FromPolicyReport(loadPolicyReport(t, "trivy-adapter-policyreport.yaml"))
	if trivy.Kind != "PolicyReport" || trivy.Name != "pod-zipkin-6b59cc5ddb-bp9h8-zipkin" || trivy.Namespace != "default" {
		t.Errorf("report identity = %s", trivy.Key())
	}
	if len(trivy.Results) != 14 {
		t.Fatalf("results = %d, want 14", len(trivy.Results))
	}
	first := trivy.Results[0]
	if first.Policy != "" || first.Source != "Trivy" || first.Severity != v1alpha1.SeverityHigh || first.Resource != nil {
		t.Errorf("first result = %+v", first)
	}
	// nanos -879126275 at second 1628548814 is 0.120873725 s past the previous second.
	if want := time.Unix(1628548813, 120873725).UTC(); !first.Timestamp().Equal(want) {
		t.Errorf("timestamp = %v, want %v", first.Timestamp(), want)
	}
	if trivy.ResultNamespace(&first) != "default" {
		t.Errorf("a result without resource belongs to its report's namespace")
	}
	ids := map[uint64]bool{}
	for _, r := range trivy.Results {
		if ids[r.Hash] {
			t.Errorf("duplicate ID %s", r.ID())
		}
		ids[r.Hash] = true
	}

	cis := FromPolicyReport(loadPolicyReport(t, "sample-cis-k8s.yaml"))
	if len(cis.Results) != 3 {
		t.Fatalf("cis results = %d", len(cis.Results))
	}
}

func wgResult() wgpolicyv1alpha2.PolicyReportResult {
	return wgpolicyv1alpha2.PolicyReportResult{
		Source: "kyverno", Policy: "require-labels", Rule: "check-app", Category: "Best Practices",
		Severity: "high", Result: "fail", Message: "label app is required",
		Timestamp: metav1.Timestamp{Seconds: 1700000000},
		Resources: []corev1.ObjectReference{{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "test", Name: "nginx", UID: "5d2c"}},
	}
}

func idOf(r wgpolicyv1alpha2.PolicyReportResult) uint64 {
	return idIn("test", "r", r)
}

func idIn(namespace, name string, r wgpolicyv1alpha2.PolicyReportResult) uint64 {
	rep := FromPolicyReport(&wgpolicyv1alpha2.PolicyReport{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}, Results: []wgpolicyv1alpha2.PolicyReportResult{r}})
	return rep.Results[0].Hash
}

func TestIdentity(t *testing.T) {
	base := idOf(wgResult())

	rescan := wgResult()
	rescan.Timestamp = metav1.Timestamp{Seconds: 1800000000, Nanos: 5}
	rescan.Properties = map[string]string{"scanner": "v2"}
	if idOf(rescan) != base {
		t.Error("a re-scan that only refreshes the timestamp or properties must keep the ID")
	}
	for name, change := range map[string]func(*wgpolicyv1alpha2.PolicyReportResult){
		"status":   func(r *wgpolicyv1alpha2.PolicyReportResult) { r.Result = "pass" },
		"message":  func(r *wgpolicyv1alpha2.PolicyReportResult) { r.Message = "other" },
		"policy":   func(r *wgpolicyv1alpha2.PolicyReportResult) { r.Policy = "other" },
		"rule":     func(r *wgpolicyv1alpha2.PolicyReportResult) { r.Rule = "other" },
		"category": func(r *wgpolicyv1alpha2.PolicyReportResult) { r.Category = "other" },
		"uid":      func(r *wgpolicyv1alpha2.PolicyReportResult) { r.Resources[0].UID = "other" },
		"name":     func(r *wgpolicyv1alpha2.PolicyReportResult) { r.Resources[0].Name = "other" },
		// Identical findings about different objects without UIDs are different results.
		"namespace":  func(r *wgpolicyv1alpha2.PolicyReportResult) { r.Resources[0].Namespace = "other" },
		"kind":       func(r *wgpolicyv1alpha2.PolicyReportResult) { r.Resources[0].Kind = "StatefulSet" },
		"apiVersion": func(r *wgpolicyv1alpha2.PolicyReportResult) { r.Resources[0].APIVersion = "apps/v2" },
	} {
		r := wgResult()
		r.Resources = append([]corev1.ObjectReference(nil), r.Resources...)
		change(&r)
		if idOf(r) == base {
			t.Errorf("a change of %s must change the ID", name)
		}
	}
	// Field boundaries matter: policy "ab" + rule "c" is not policy "a" + rule "bc".
	a, b := wgResult(), wgResult()
	a.Policy, a.Rule = "ab", "c"
	b.Policy, b.Rule = "a", "bc"
	if idOf(a) == idOf(b) {
		t.Error("IDs must not collide across field boundaries")
	}

	given := wgResult()
	given.Properties = map[string]string{"resultID": "kyverno-123"}
	other := wgResult()
	other.Message = "something else"
	other.Properties = map[string]string{"resultID": "kyverno-123"}
	if idOf(given) != idOf(other) {
		t.Error("properties.resultID must decide the identity within a report")
	}
	if idOf(given) == idIn("test", "r2", given) {
		t.Error("the same resultID in another report is another result")
	}
}

// Identical findings in different reports are different results: kube-bench writes one
// ClusterPolicyReport per node with the same resource-less findings, and results about
// Pod ns1/web and Pod ns2/web (or Deployment ns1/web) without UIDs say the same words.
func TestIdentityIncludesReportAndResource(t *testing.T) {
	bench := wgpolicyv1alpha2.PolicyReportResult{Policy: "CIS 1.1.1", Result: "fail", Message: "Ensure that the API server pod specification file permissions are set to 644"}
	nodeA := FromClusterPolicyReport(&wgpolicyv1alpha2.ClusterPolicyReport{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}, Results: []wgpolicyv1alpha2.PolicyReportResult{bench}})
	nodeB := FromClusterPolicyReport(&wgpolicyv1alpha2.ClusterPolicyReport{ObjectMeta: metav1.ObjectMeta{Name: "node-b"}, Results: []wgpolicyv1alpha2.PolicyReportResult{bench}})
	if nodeA.Results[0].Hash == nodeB.Results[0].Hash {
		t.Error("the same finding in the reports of node-a and node-b must be two results")
	}
	asNamespaced := FromPolicyReport(&wgpolicyv1alpha2.PolicyReport{ObjectMeta: metav1.ObjectMeta{Name: "node-a", Namespace: "x"}, Results: []wgpolicyv1alpha2.PolicyReportResult{bench}})
	if asNamespaced.Results[0].Hash == nodeA.Results[0].Hash {
		t.Error("report kind and namespace are part of the identity")
	}

	web := func(kind, ns string) wgpolicyv1alpha2.PolicyReportResult {
		r := wgResult()
		r.Resources = []corev1.ObjectReference{{APIVersion: "v1", Kind: kind, Namespace: ns, Name: "web"}}
		return r
	}
	if idIn("", "cluster", web("Pod", "ns1")) == idIn("", "cluster", web("Pod", "ns2")) {
		t.Error("Pod ns1/web and Pod ns2/web must have different IDs")
	}
	if idIn("ns1", "r", web("Pod", "ns1")) == idIn("ns1", "r", web("Deployment", "ns1")) {
		t.Error("Pod ns1/web and Deployment ns1/web must have different IDs")
	}

	// A producer that deletes and recreates a report (new UID) does not make its results new.
	meta := metav1.ObjectMeta{Namespace: "test", Name: "r", UID: "first"}
	before := FromPolicyReport(&wgpolicyv1alpha2.PolicyReport{ObjectMeta: meta, Results: []wgpolicyv1alpha2.PolicyReportResult{wgResult()}})
	meta.UID = "second"
	after := FromPolicyReport(&wgpolicyv1alpha2.PolicyReport{ObjectMeta: meta, Results: []wgpolicyv1alpha2.PolicyReportResult{wgResult()}})
	if before.Results[0].Hash != after.Results[0].Hash {
		t.Error("the report's UID must not be part of the identity")
	}
}

// The Falco and RHACM adapters put the severity in properties.severity.
func TestSeverityFromProperties(t *testing.T) {
	r := wgResult()
	r.Severity = ""
	r.Properties = map[string]string{"severity": "Medium"}
	rep := FromPolicyReport(&wgpolicyv1alpha2.PolicyReport{Results: []wgpolicyv1alpha2.PolicyReportResult{r}})
	if got := rep.Results[0].Severity; got != v1alpha1.SeverityMedium {
		t.Errorf("severity = %q, want medium from properties", got)
	}
	r.Severity = "low"
	rep = FromPolicyReport(&wgpolicyv1alpha2.PolicyReport{Results: []wgpolicyv1alpha2.PolicyReportResult{r}})
	if got := rep.Results[0].Severity; got != v1alpha1.SeverityLow {
		t.Errorf("severity = %q: the field wins over the property", got)
	}
	r.Severity = ""
	r.Properties = map[string]string{"severity": "Notice"}
	rep = FromPolicyReport(&wgpolicyv1alpha2.PolicyReport{Results: []wgpolicyv1alpha2.PolicyReportResult{r}})
	if got := rep.Results[0].Severity; got != "" {
		t.Errorf("severity = %q: a property that names no known severity is ignored", got)
	}

	falco := FromPolicyReport(loadPolicyReport(t, "sample-falco-policy.yaml"))
	if got := falco.Results[0].Severity; got != v1alpha1.SeverityLow {
		t.Errorf("Falco fixture severity = %q, want low", got)
	}
}

func TestScopeAndSourceFallbacks(t *testing.T) {
	scope := &corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: "default", Name: "nginx", UID: "u1"}
	rep := FromReport(&openreportsv1alpha1.Report{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "ea02cd57", Labels: map[string]string{"app.kubernetes.io/managed-by": "kyverno"}},
		Source:     "kyverno",
		Scope:      scope,
		Results: []openreportsv1alpha1.ReportResult{
			{Policy: "restrict-image-registries", Rule: "validate-registries", Result: "fail", Severity: "HIGH", Description: "Unknown Image registry."},
			{Source: "trivy", Policy: "CVE-1", Result: "warn", Subjects: []corev1.ObjectReference{{Kind: "Pod", Namespace: "other", Name: "x"}}},
		},
	})
	if rep.Kind != "Report" || rep.Labels["app.kubernetes.io/managed-by"] != "kyverno" {
		t.Errorf("report = %+v", rep)
	}
	r0, r1 := rep.Results[0], rep.Results[1]
	if r0.Source != "kyverno" || r1.Source != "trivy" {
		t.Errorf("sources = %q, %q: the report's source fills in, a result's own wins", r0.Source, r1.Source)
	}
	if r0.Resource == nil || r0.Resource.Name != "nginx" || r0.Resource.UID != "u1" {
		t.Errorf("a result without resources is about the scope: %+v", r0.Resource)
	}
	if r0.Severity != v1alpha1.SeverityHigh || r0.Message != "Unknown Image registry." {
		t.Errorf("severity/message = %q/%q", r0.Severity, r0.Message)
	}
	if rep.ResultNamespace(&r1) != "other" {
		t.Errorf("the resource's namespace wins for filters")
	}
	if !r0.Timestamp().IsZero() {
		t.Errorf("an unset timestamp stays zero")
	}
}

func TestPriority(t *testing.T) {
	cases := []struct {
		status   v1alpha1.ResultStatus
		severity v1alpha1.Severity
		want     v1alpha1.Priority
	}{
		{v1alpha1.StatusError, "", v1alpha1.PriorityError},
		{v1alpha1.StatusWarn, v1alpha1.SeverityCritical, v1alpha1.PriorityWarning},
		{v1alpha1.StatusFail, v1alpha1.SeverityCritical, v1alpha1.PriorityCritical},
		{v1alpha1.StatusFail, v1alpha1.SeverityHigh, v1alpha1.PriorityError},
		{v1alpha1.StatusFail, v1alpha1.SeverityMedium, v1alpha1.PriorityWarning},
		{v1alpha1.StatusFail, v1alpha1.SeverityLow, v1alpha1.PriorityInfo},
		{v1alpha1.StatusFail, v1alpha1.SeverityInfo, v1alpha1.PriorityInfo},
		{v1alpha1.StatusFail, "", v1alpha1.PriorityWarning},
		{v1alpha1.StatusPass, v1alpha1.SeverityCritical, v1alpha1.PriorityDebug},
		{v1alpha1.StatusSkip, "", v1alpha1.PriorityDebug},
		// A result without a (known) outcome, as the Trivy adapter writes its findings, ranks
		// as a fail of its severity would.
		{"", v1alpha1.SeverityCritical, v1alpha1.PriorityCritical},
		{"", v1alpha1.SeverityHigh, v1alpha1.PriorityError},
		{"", v1alpha1.SeverityMedium, v1alpha1.PriorityWarning},
		{"", v1alpha1.SeverityLow, v1alpha1.PriorityInfo},
		{"", v1alpha1.SeverityInfo, v1alpha1.PriorityInfo},
		{"", "", v1alpha1.PriorityWarning},
		{"unknown", v1alpha1.SeverityHigh, v1alpha1.PriorityError},
	}
	for _, c := range cases {
		r := Result{Check: &Check{Status: c.status, Severity: c.severity}}
		if got := r.Priority(); got != c.want {
			t.Errorf("%s/%s: priority = %s, want %s", c.status, c.severity, got, c.want)
		}
	}
}

func TestResultsThatDifferOnlyInPropertiesGetDistinctIDs(t *testing.T) {
	cve := func(id string) wgpolicyv1alpha2.PolicyReportResult {
		return wgpolicyv1alpha2.PolicyReportResult{Category: "apk-tools", Source: "Trivy", Properties: map[string]string{"VulnerabilityID": id}}
	}
	rep := FromPolicyReport(&wgpolicyv1alpha2.PolicyReport{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "r"},
		Results:    []wgpolicyv1alpha2.PolicyReportResult{cve("CVE-1"), cve("CVE-2"), wgResult()},
	})
	if rep.Results[0].Hash == rep.Results[1].Hash {
		t.Fatal("results differing only in properties collide")
	}
	again := FromPolicyReport(&wgpolicyv1alpha2.PolicyReport{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "r"},
		Results:    []wgpolicyv1alpha2.PolicyReportResult{cve("CVE-2"), cve("CVE-1"), wgResult()},
	})
	if again.Results[1].Hash != rep.Results[0].Hash || again.Results[0].Hash != rep.Results[1].Hash {
		t.Error("IDs must not depend on the order of results")
	}
	if rep.Results[2].Hash != idIn("default", "r", wgResult()) {
		t.Error("a result without a twin keeps the ID that ignores properties")
	}
}

// A wgpolicyk8s.io/v1alpha1 result names its outcome status (v1alpha2: result). Read into the
// v1alpha2 types, status is the older name of result: kube-bench's results keep their outcome.
func TestV1alpha1StatusIsTheOlderNameOfResult(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "reports", "sample-cis-k8s.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	doc["apiVersion"] = "wgpolicyk8s.io/v1alpha1"
	for _, r := range doc["results"].([]any) {
		m := r.(map[string]any)
		m["status"] = m["result"]
		delete(m, "result")
	}
	js, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	var pr wgpolicyv1alpha2.PolicyReport
	if err := json.Unmarshal(js, &pr); err != nil {
		t.Fatal(err)
	}
	rep := FromPolicyReport(&pr)
	want := []v1alpha1.ResultStatus{v1alpha1.StatusWarn, v1alpha1.StatusFail, v1alpha1.StatusWarn}
	for i, r := range rep.Results {
		if r.Status != want[i] {
			t.Errorf("result %d (%s): status %q, want %q", i, r.Policy, r.Status, want[i])
		}
	}

	// Where both are given, result wins; an outcome's case does not matter.
	both := wgResult()
	both.Result = "pass"
	both.Status = "FAIL"
	old := wgResult()
	old.Result, old.Status = "", "Skip"
	rep = FromPolicyReport(&wgpolicyv1alpha2.PolicyReport{Results: []wgpolicyv1alpha2.PolicyReportResult{both, old}})
	if rep.Results[0].Status != v1alpha1.StatusPass || rep.Results[1].Status != v1alpha1.StatusSkip {
		t.Errorf("statuses %q, %q; want pass (result wins), skip (from status)", rep.Results[0].Status, rep.Results[1].Status)
	}
}

// TestOwner: the report's owner reference names the resource it is about (the Trivy adapter's
// results name none); Kyverno's owner is its scope, and they share one Resource.
func TestOwner(t *testing.T) {
	trivy := FromPolicyReport(loadPolicyReport(t, "trivy-adapter-policyreport.yaml"))
	want := Resource{APIVersion: "v1", Kind: "Pod", Namespace: "default", Name: "zipkin-6b59cc5ddb-bp9h8", UID: "961887ae-c2bf-46c5-828c-40ceb2e7e303"}
	if trivy.Owner == nil || *trivy.Owner != want {
		t.Errorf("Trivy owner = %+v, want %+v", trivy.Owner, want)
	}
	scope := &corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: "default", Name: "nginx", UID: "u1"}
	kyverno := FromPolicyReport(&wgpolicyv1alpha2.PolicyReport{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "u1", OwnerReferences: []metav1.OwnerReference{
			{APIVersion: "v1", Kind: "ConfigMap", Name: "other", UID: "u0"},
			{APIVersion: "v1", Kind: "Pod", Name: "nginx", UID: "u1", Controller: ptr.To(true)},
		}},
		Scope:   scope,
		Results: []wgpolicyv1alpha2.PolicyReportResult{{Policy: "p", Result: "pass"}},
	})
	if kyverno.Owner == nil || kyverno.Owner != kyverno.Results[0].Resource {
		t.Errorf("Kyverno owner = %+v, want the scope's Resource %p", kyverno.Owner, kyverno.Results[0].Resource)
	}
	if none := FromPolicyReport(&wgpolicyv1alpha2.PolicyReport{}); none.Owner != nil {
		t.Errorf("owner without owner references = %+v", none.Owner)
	}
}
