package main

import (
	"context"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	wgpolicy "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
	"github.com/policyherald/policy-herald/internal/testing/harness"
)

// newReport builds report i of namespace ns with m results, all "fail" so every one is
// delivered by a target with the default filter. Messages are unique per result, so the
// harness can match a delivery to its result without knowing how the operator computes ids.
// Messages are short: a 5,000-result report must stay under etcd's 1.5 MiB request limit
// (about 250 bytes of JSON a result here: 1.2 MiB at 5,000).
func newReport(ns string, i, m int) *wgpolicy.PolicyReport {
	r := &wgpolicy.PolicyReport{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("report-%04d", i)}}
	r.Results = make([]wgpolicy.PolicyReportResult, m)
	now := metav1.Timestamp{Seconds: time.Now().Unix()}
	for j := range r.Results {
		r.Results[j] = wgpolicy.PolicyReportResult{
			Source:    "faults",
			Policy:    fmt.Sprintf("policy-%02d", j%20),
			Rule:      "check",
			Severity:  "medium",
			Result:    "fail",
			Timestamp: now,
			Resources: []corev1.ObjectReference{{Kind: "Pod", Name: fmt.Sprintf("p%d-%d", i, j), UID: fakeUID(ns, i, j)}},
			Message:   fmt.Sprintf("finding %d/%d", i, j),
		}
	}
	r.Summary = wgpolicy.PolicyReportSummary{Fail: m}
	return r
}

// keysOf are the harness keys of a report's results.
func keysOf(r *wgpolicy.PolicyReport) []uint64 {
	keys := make([]uint64, 0, len(r.Results))
	for i := range r.Results {
		res := &r.Results[i]
		keys = append(keys, harness.ResultHash(r.Namespace, r.Name, string(res.Resources[0].UID), res.Policy, res.Rule, res.Message))
	}
	return keys
}

// fakeUID is a stable UUID-shaped uid.
func fakeUID(ns string, parts ...int) types.UID {
	h := fnv.New128a()
	h.Write([]byte(ns))
	for _, p := range parts {
		fmt.Fprintf(h, "/%d", p)
	}
	b := h.Sum(nil)
	return types.UID(fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]))
}

// createReports creates n reports of m results in ns with 4 concurrent creators, registering
// each report's results with the receiver just before its create call.
func createReports(ctx context.Context, cl client.Client, rcv *receiver, ns string, n, m int) ([]*wgpolicy.PolicyReport, error) {
	reports := make([]*wgpolicy.PolicyReport, n)
	for i := range reports {
		reports[i] = newReport(ns, i, m)
	}
	return reports, forEach(ctx, reports, func(r *wgpolicy.PolicyReport) error {
		rcv.expect(keysOf(r))
		return createReport(ctx, cl, r.DeepCopy())
	})
}

// createReport creates r, retrying what a busy API server answers.
func createReport(ctx context.Context, cl client.Client, r *wgpolicy.PolicyReport) error {
	err := retry.OnError(retry.DefaultBackoff, harness.Transient, func() error {
		err := cl.Create(ctx, r)
		if apierrors.IsAlreadyExists(err) { // an earlier attempt went through after all
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("creating report %s/%s: %w", r.Namespace, r.Name, err)
	}
	return nil
}

// forEach runs do on every report with 4 goroutines and returns the first error.
func forEach(ctx context.Context, reports []*wgpolicy.PolicyReport, do func(*wgpolicy.PolicyReport) error) error {
	next := make(chan *wgpolicy.PolicyReport)
	errs := make(chan error, 4)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range next {
				if err := do(r); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var err error
feed:
	for _, r := range reports {
		select {
		case next <- r:
		case err = <-errs:
			break feed
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	return err
}
