package delivery

import (
	"context"
	"fmt"
	"hash/fnv"
	"time"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/sender"
)

// TestPolicy is the policy of a test message, so a destination's reader can tell it apart.
const TestPolicy = "policy-herald-test"

// TestTimeout bounds the single attempt of a test message: a person is waiting for the answer.
const TestTimeout = 30 * time.Second

// TestRequest names the object a test message is sent for and the annotation value it answers.
type TestRequest struct {
	Kind, Namespace, Name, UID string
	Value                      string
	CustomFields               map[string]string
}

// SendTest sends one test message through s, with a single attempt bounded by TestTimeout: a
// person waits for the outcome, and a failure is the answer they need, not something to hide
// behind minutes of retries. It goes straight to the sender, so no filter can drop it, and it
// touches no pipeline: no counter, no ledger. The error is the sender's (see FailureReason).
func SendTest(ctx context.Context, s sender.Sender, r TestRequest) error {
	ctx, cancel := context.WithTimeout(ctx, TestTimeout)
	defer cancel()
	return s.Send(ctx, TestBatch(r, time.Now()))
}

// TestBatch is the test message: one result of the policy policy-herald-test about the object
// itself, status warn and severity info (it reads as a notice, never as a pass or an outage),
// with an ID derived from the object and the value, so a destination that deduplicates by ID
// (PagerDuty, Jira, Elasticsearch) keeps each test apart and a repeat of one together.
func TestBatch(r TestRequest, now time.Time) sender.Batch {
	h := fnv.New64a()
	_, _ = fmt.Fprintf(h, "%s\x00%s", r.UID, r.Value)
	res := report.Result{
		Hash: h.Sum64(),
		Check: &report.Check{
			Policy: TestPolicy, Rule: "send-test", Category: "Policy Herald test", Source: "policy-herald",
			Status: v1alpha1.StatusWarn, Severity: v1alpha1.SeverityInfo,
		},
		Message: fmt.Sprintf("Test message from Policy Herald for %s %s/%s, requested with kubectl herald test (send-test %q). It is not a policy result.",
			r.Kind, r.Namespace, r.Name, r.Value),
		Time: now.UnixNano(),
		Resource: &report.Resource{
			APIVersion: v1alpha1.GroupVersion.String(), Kind: r.Kind, Namespace: r.Namespace, Name: r.Name, UID: r.UID,
		},
		Properties: map[string]string{"policyherald.io/test": "true", "sendTest": r.Value},
	}
	return sender.Batch{
		Report:       sender.ReportRef{Kind: "PolicyReport", Namespace: r.Namespace, Name: TestPolicy},
		Results:      []report.Result{res},
		CustomFields: r.CustomFields,
	}
}
