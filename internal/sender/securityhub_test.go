package sender

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/destination/descriptor"
	"github.com/policyherald/policy-herald/internal/report"
)

// No Security Hub emulator exists: the tests run against a loopback server that checks every
// BatchImportFindings request against the API reference and the AWS Security Finding Format
// (the path, method, content type, SigV4 signature scope, the JSON decoded strictly into a
// mirror of the ASFF fields, every required field, enumerations and length limits), keeps the
// findings by Id as Security Hub does (an import with a known Id updates it), and answers like
// Security Hub, FailedFindings and error shapes included.

// asffFinding mirrors the ASFF fields the sender may send; decoding refuses any other.
type asffFinding struct {
	SchemaVersion string
	Id            string
	ProductArn    string
	GeneratorId   string
	AwsAccountId  string
	Types         []string
	CreatedAt     string
	UpdatedAt     string
	Severity      *struct {
		Label    string
		Original string `json:",omitempty"`
	}
	FindingProviderFields *struct {
		Severity *struct {
			Label    string
			Original string `json:",omitempty"`
		}
		Types []string
	}
	Title       string
	Description string
	Resources   []struct {
		Type    string
		Id      string
		Details *struct{ Other map[string]string }
	}
	Compliance    *struct{ Status string }
	RecordState   string
	ProductFields map[string]string
	ProductName   string
	CompanyName   string
}

type securityHubStub struct {
	t       *testing.T
	region  string
	account string
	mu      sync.Mutex
	stored  map[string]asffFinding
	imports [][]string // the Ids of each request
	// refuse answers the finding with the Id with an error code instead of storing it.
	refuse map[string]string
}

var asffNamespaces = []string{"Software and Configuration Checks", "TTPs", "Effects", "Unusual Behaviors", "Sensitive Data Identifications"}

func (h *securityHubStub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t := h.t
	if r.Method != http.MethodPost || r.URL.Path != "/findings/import" {
		t.Errorf("%s %s, want POST /findings/import", r.Method, r.URL.Path)
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	scope := regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=` + awsTestKeyID + `/\d{8}/` + h.region + `/securityhub/aws4_request, SignedHeaders=[^,]+, Signature=[0-9a-f]{64}$`)
	if !scope.MatchString(r.Header.Get("Authorization")) || r.Header.Get("X-Amz-Date") == "" {
		t.Errorf("Authorization %q", r.Header.Get("Authorization"))
	}
	var in struct{ Findings []asffFinding }
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		t.Errorf("BatchImportFindings body: %v", err)
		h.fail(w, http.StatusBadRequest, "InvalidInputException", "malformed body")
		return
	}
	if len(in.Findings) == 0 || len(in.Findings) > 100 {
		h.fail(w, http.StatusBadRequest, "InvalidInputException", "Findings must hold 1 to 100 findings")
		return
	}
	type failed struct{ Id, ErrorCode, ErrorMessage string }
	out := struct {
		FailedCount    int
		SuccessCount   int
		FailedFindings []failed
	}{FailedFindings: []failed{}}
	h.mu.Lock()
	defer h.mu.Unlock()
	var ids []string
	for _, f := range in.Findings {
		ids = append(ids, f.Id)
		h.check(f)
		if code := h.refuse[f.Id]; code != "" {
			out.FailedCount++
			out.FailedFindings = append(out.FailedFindings, failed{f.Id, code, "finding refused: " + code})
			continue
		}
		if old, ok := h.stored[f.Id]; ok && old.UpdatedAt > f.UpdatedAt {
			out.SuccessCount++ // Security Hub ignores an older update
			continue
		}
		h.stored[f.Id] = f
		out.SuccessCount++
	}
	h.imports = append(h.imports, ids)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// check holds one finding to the ASFF: required fields, formats and limits.
func (h *securityHubStub) check(f asffFinding) {
	t := h.t
	req := map[string]string{"SchemaVersion": f.SchemaVersion, "Id": f.Id, "ProductArn": f.ProductArn, "GeneratorId": f.GeneratorId,
		"AwsAccountId": f.AwsAccountId, "CreatedAt": f.CreatedAt, "UpdatedAt": f.UpdatedAt, "Title": f.Title, "Description": f.Description}
	for k, v := range req {
		if strings.TrimSpace(v) == "" {
			t.Errorf("finding %q: %s is required", f.Id, k)
		}
	}
	if f.SchemaVersion != "2018-10-08" {
		t.Errorf("SchemaVersion %q", f.SchemaVersion)
	}
	if want := "arn:aws:securityhub:" + h.region + ":" + h.account + ":product/" + h.account + "/default"; f.ProductArn != want {
		t.Errorf("ProductArn %q, want %q", f.ProductArn, want)
	}
	if f.AwsAccountId != h.account {
		t.Errorf("AwsAccountId %q", f.AwsAccountId)
	}
	for _, ts := range []string{f.CreatedAt, f.UpdatedAt} {
		if _, err := time.Parse(time.RFC3339, ts); err != nil {
			t.Errorf("timestamp %q: %v", ts, err)
		}
	}
	if utf8.RuneCountInString(f.Id) > 512 || utf8.RuneCountInString(f.GeneratorId) > 512 || utf8.RuneCountInString(f.Title) > 256 || utf8.RuneCountInString(f.Description) > 1024 {
		t.Errorf("finding %q over a length limit", f.Id)
	}
	if len(f.Types) == 0 || len(f.Types) > 50 {
		t.Errorf("Types %v", f.Types)
	}
	for _, ty := range f.Types {
		ns, _, _ := strings.Cut(ty, "/")
		if !containsString(asffNamespaces, ns) {
			t.Errorf("type %q: namespace %q is not one of ASFF's", ty, ns)
		}
	}
	if f.Severity == nil || !containsString([]string{"INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"}, f.Severity.Label) {
		t.Errorf("Severity %+v", f.Severity)
	}
	if p := f.FindingProviderFields; p != nil {
		if p.Severity != nil && !containsString([]string{"INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"}, p.Severity.Label) {
			t.Errorf("FindingProviderFields.Severity %+v", p.Severity)
		}
		if len(p.Types) > 50 {
			t.Errorf("FindingProviderFields.Types %v", p.Types)
		}
	}
	if f.Compliance == nil || !containsString([]string{"PASSED", "WARNING", "FAILED", "NOT_AVAILABLE"}, f.Compliance.Status) {
		t.Errorf("Compliance %+v", f.Compliance)
	}
	if !containsString([]string{"ACTIVE", "ARCHIVED"}, f.RecordState) {
		t.Errorf("RecordState %q", f.RecordState)
	}
	if len(f.Resources) == 0 || len(f.Resources) > 32 {
		t.Errorf("Resources %d", len(f.Resources))
	}
	for _, res := range f.Resources {
		if res.Type == "" || res.Id == "" {
			t.Errorf("resource %+v: Type and Id are required", res)
		}
		if res.Details != nil {
			checkASFFMap(t, "Details.Other", res.Details.Other)
		}
	}
	checkASFFMap(t, "ProductFields", f.ProductFields)
}

func checkASFFMap(t *testing.T, what string, m map[string]string) {
	if len(m) > 50 {
		t.Errorf("%s: %d entries", what, len(m))
	}
	for k, v := range m {
		if k == "" || utf8.RuneCountInString(k) > 128 || v == "" || utf8.RuneCountInString(v) > 2048 {
			t.Errorf("%s: entry %q=%q", what, k, v)
		}
	}
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// fail answers like Security Hub refusing a request (restJson1 errors).
func (h *securityHubStub) fail(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-Errortype", code)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"Code": code, "Message": msg})
}

func startSecurityHub(t *testing.T) (*securityHubStub, string) {
	t.Helper()
	h := &securityHubStub{t: t, region: "eu-west-1", account: "123456789012", stored: map[string]asffFinding{}, refuse: map[string]string{}}
	_, srv := startAWSRecorder(t, h.ServeHTTP)
	return h, srv.URL
}

func securityHubConfig(endpoint string, d *v1alpha1.SecurityHubDestination) Config {
	cfg := awsConfig(v1alpha1.DestinationSecurityHub, descriptor.Settings{"accountID": "123456789012"}, endpoint)
	if d != nil {
		cfg.Destination = &v1alpha1.Destinations{SecurityHub: d}
	}
	return cfg
}

// TestSecurityHubImportsFindings: one ASFF finding per result, with a stable Id, mapped
// severity, compliance and resource.
func TestSecurityHubImportsFindings(t *testing.T) {
	isolateAWSEnv(t)
	hub, endpoint := startSecurityHub(t)
	s, err := newGuarded(context.Background(), securityHubConfig(endpoint, &v1alpha1.SecurityHubDestination{ProductName: "Herald Prod", CompanyName: "Example Corp"}), loopbackAllowed())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(Resolver); ok {
		t.Fatal("without synchronize the sender must not resolve")
	}
	s.(*securityHub).now = func() time.Time { return time.Date(2026, 9, 1, 8, 0, 0, 0, time.UTC) }
	if err := s.Send(context.Background(), awsBatch()); err != nil {
		t.Fatal(err)
	}
	if len(hub.stored) != 2 {
		t.Fatalf("stored %d findings", len(hub.stored))
	}
	f, ok := hub.stored["platform/aws-target/a1"]
	if !ok {
		t.Fatalf("no finding platform/aws-target/a1: %v", hub.imports)
	}
	checks := map[string][2]string{
		"GeneratorId": {f.GeneratorId, "kyverno/require-labels/check-app"},
		"Title":       {f.Title, "require-labels: check-app on Deployment/test/nginx"},
		"Description": {f.Description, "label app is required"},
		"CreatedAt":   {f.CreatedAt, "2026-08-15T10:00:00Z"},
		"UpdatedAt":   {f.UpdatedAt, "2026-09-01T08:00:00Z"},
		"Severity":    {f.Severity.Label, "HIGH"},
		"Original":    {f.Severity.Original, "high"},
		"Compliance":  {f.Compliance.Status, "FAILED"},
		"RecordState": {f.RecordState, "ACTIVE"},
		"Types":       {strings.Join(f.Types, ","), "Software and Configuration Checks/Kubernetes Policies"},
		"ResourceId":  {f.Resources[0].Id, "Deployment/test/nginx"},
		"ResType":     {f.Resources[0].Type, "Other"},
		"UID":         {f.Resources[0].Details.Other["UID"], "5d2c"},
		"Cluster":     {f.Resources[0].Details.Other["cluster"], "prod-eu"},
		"Report":      {f.Resources[0].Details.Other["Report"], "test/rep-1"},
		"Provider":    {f.ProductFields["ProviderName"], "Herald Prod"},
		"Company":     {f.ProductFields["CompanyName"], "Example Corp"},
		"Version":     {f.ProductFields["ProviderVersion"], securityHubVersion},
		"FPSeverity":  {f.FindingProviderFields.Severity.Label + "/" + f.FindingProviderFields.Severity.Original, "HIGH/high"},
		"FPTypes":     {strings.Join(f.FindingProviderFields.Types, ","), "Software and Configuration Checks/Kubernetes Policies"},
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %q, want %q", name, c[0], c[1])
		}
	}
	warn := hub.stored["platform/aws-target/a2"]
	if warn.Severity.Label != "LOW" || warn.Compliance.Status != "WARNING" || warn.CreatedAt != "2026-09-01T08:00:00Z" ||
		warn.Resources[0].Id != "PolicyReport/test/rep-1" || warn.GeneratorId != "trivy/p2" || warn.Title != "p2" {
		t.Errorf("warning: %+v", warn)
	}

	// A retry updates the same findings.
	if err := s.Send(context.Background(), awsBatch()); err != nil {
		t.Fatal(err)
	}
	if len(hub.stored) != 2 || len(hub.imports) != 2 {
		t.Fatalf("after a retry: %d findings, %d imports", len(hub.stored), len(hub.imports))
	}
}

// TestSecurityHubSynchronizeArchives: with synchronize, Resolve imports the same findings as
// ARCHIVED.
func TestSecurityHubSynchronizeArchives(t *testing.T) {
	isolateAWSEnv(t)
	hub, endpoint := startSecurityHub(t)
	s := newTestSender(t, securityHubConfig(endpoint, &v1alpha1.SecurityHubDestination{Synchronize: true}))
	r, ok := s.(Resolver)
	if !ok {
		t.Fatal("with synchronize the sender resolves")
	}
	now := time.Date(2026, 9, 1, 8, 0, 0, 0, time.UTC)
	s.(*securityHubResolver).now = func() time.Time { return now }
	if err := s.Send(context.Background(), awsBatch()); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Hour)
	if err := r.Resolve(context.Background(), Batch{Report: testReport, Results: []report.Result{fullResult()}}); err != nil {
		t.Fatal(err)
	}
	if got := hub.stored["platform/aws-target/a1"]; got.RecordState != "ARCHIVED" || got.UpdatedAt != "2026-09-01T09:00:00Z" || got.CreatedAt != "2026-08-15T10:00:00Z" {
		t.Fatalf("resolved finding: %s %s %s", got.RecordState, got.UpdatedAt, got.CreatedAt)
	}
	if got := hub.stored["platform/aws-target/a2"]; got.RecordState != "ACTIVE" {
		t.Fatalf("the other finding: %s", got.RecordState)
	}
}

// TestSecurityHubFailedFindings: FailedFindings make a partial failure that counts the
// findings before the first failed one; throttling codes are retryable, others are not.
func TestSecurityHubFailedFindings(t *testing.T) {
	isolateAWSEnv(t)
	b := Batch{Report: testReport}
	for i := 0; i < 4; i++ {
		r := fullResult()
		r.Hash = uint64(0x20 + i)
		b.Results = append(b.Results, r)
	}
	for _, c := range []struct {
		code      string
		retryable bool
	}{{"InvalidInput", false}, {"ThrottlingException", true}, {"InternalException", true}} {
		t.Run(c.code, func(t *testing.T) {
			hub, endpoint := startSecurityHub(t)
			hub.refuse["platform/aws-target/22"] = c.code
			hub.refuse["platform/aws-target/23"] = c.code
			e := asError(t, newTestSender(t, securityHubConfig(endpoint, nil)).Send(context.Background(), b))
			if e.Retryable != c.retryable || e.Sent != 2 || !strings.Contains(e.Reason, "2 of 4 findings refused ("+c.code+" x2)") {
				t.Fatalf("got %#v", e)
			}
			if len(hub.stored) != 2 {
				t.Fatalf("stored %d", len(hub.stored))
			}
		})
	}
}

// TestSecurityHubErrors: Security Hub's error answers.
func TestSecurityHubErrors(t *testing.T) {
	isolateAWSEnv(t)
	for _, c := range []struct {
		status    int
		code      string
		retryable bool
	}{
		{http.StatusTooManyRequests, "LimitExceededException", true},
		{http.StatusInternalServerError, "InternalException", true},
		{http.StatusUnauthorized, "InvalidAccessException", false},
		{http.StatusForbidden, "AccessDeniedException", false},
		{http.StatusBadRequest, "InvalidInputException", false},
	} {
		t.Run(c.code, func(t *testing.T) {
			hub := &securityHubStub{}
			_, srv := startAWSRecorder(t, func(w http.ResponseWriter, r *http.Request) {
				hub.fail(w, c.status, c.code, "Account 123456789012 is not subscribed to AWS Security Hub")
			})
			e := asError(t, newTestSender(t, securityHubConfig(srv.URL, nil)).Send(context.Background(), awsBatch()))
			if e.Retryable != c.retryable || e.StatusCode != c.status || !strings.Contains(e.Reason, c.code) {
				t.Fatalf("got %#v", e)
			}
		})
	}
}

func TestSecurityHubConfigErrors(t *testing.T) {
	isolateAWSEnv(t)
	bad := securityHubConfig("", nil)
	bad.Settings["accountID"] = "12345"
	assertConfigErrors(t, v1alpha1.DestinationSecurityHub, awsTestSecret, map[string]Config{
		"short account": bad,
	})
	// The partition follows the region.
	cn := securityHubConfig("", nil)
	cn.Settings["region"] = "cn-north-1"
	if arn := newTestSender(t, cn).(*securityHub).product; arn != "arn:aws-cn:securityhub:cn-north-1:123456789012:product/123456789012/default" {
		t.Fatalf("ProductArn %q", arn)
	}
}
