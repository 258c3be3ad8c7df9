package blockreports

import (
	"context"
	"fmt"
	"sort"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	wgpolicy "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
)

// Reports carry their policy's namespace and name in these annotations, so reports left by a
// policy deleted while no leader ran are found and removed (see SweepOrphans). Controllers
// write only status, never a policy's metadata, so no finalizer: a deleted policy's reports
// go when its deletion is reconciled, or at the next start.
const (
	AnnotationPolicyNamespace = "reporting.policyherald.io/block-report-policy-namespace"
	AnnotationPolicyName      = "reporting.policyherald.io/block-report-policy-name"
)

// Reports writes the reports of one BlockReportPolicy: a PolicyReport in each namespace with
// results in it, and a ClusterPolicyReport (namespace "") for cluster-scoped resources. The
// reports are in other namespaces than the policy, so they are not owned by it.
type Reports struct {
	Client client.Client
	// Policy is the BlockReportPolicy's namespace and name.
	Policy types.NamespacedName
}

// Synced is what Sync wrote.
type Synced struct {
	// Results is how many results the reports hold, Reports how many reports there are.
	Results int64
	Reports int32
}

// Sync merges blocked (by namespace, "" for cluster-scoped resources) into the policy's
// reports, applies retention to the reports it already has, and deletes those left without
// results.
func (r Reports) Sync(ctx context.Context, blocked map[string][]Blocked, o Options) (Synced, error) {
	existing, err := r.namespaces(ctx)
	if err != nil {
		return Synced{}, err
	}
	namespaces := make([]string, 0, len(blocked)+len(existing))
	for ns := range blocked {
		namespaces = append(namespaces, ns)
	}
	for ns := range existing {
		if _, ok := blocked[ns]; !ok {
			namespaces = append(namespaces, ns)
		}
	}
	sort.Strings(namespaces)
	var out Synced
	keep := map[string]bool{}
	for _, ns := range namespaces {
		n, err := r.write(ctx, ns, blocked[ns], o)
		if err != nil {
			return Synced{}, err
		}
		if n > 0 {
			keep[ns] = true
			out.Results += int64(n)
			out.Reports++
		}
	}
	return out, r.deleteExcept(ctx, keep)
}

// DeleteAll deletes every report of the policy, as when it is gone.
func (r Reports) DeleteAll(ctx context.Context) error {
	return r.deleteExcept(ctx, nil)
}

func (r Reports) labels() map[string]string {
	return map[string]string{
		LabelManagedBy: ManagedBy,
		LabelPolicy:    PolicyLabelValue(r.Policy.Namespace, r.Policy.Name),
	}
}

// newReport returns an empty report object for namespace ns ("" for the ClusterPolicyReport).
func newReport(ns string) client.Object {
	if ns == "" {
		return &wgpolicy.ClusterPolicyReport{}
	}
	return &wgpolicy.PolicyReport{}
}

// reportParts returns the results and summary of a report made by newReport.
func reportParts(obj client.Object) (*[]wgpolicy.PolicyReportResult, *wgpolicy.PolicyReportSummary, error) {
	switch o := obj.(type) {
	case *wgpolicy.PolicyReport:
		return &o.Results, &o.Summary, nil
	case *wgpolicy.ClusterPolicyReport:
		return &o.Results, &o.Summary, nil
	}
	return nil, nil, fmt.Errorf("%T is not a PolicyReport or ClusterPolicyReport", obj)
}

// write merges blocked into the report of namespace ns and returns how many results it holds;
// a report left without results is not written (Sync deletes it).
func (r Reports) write(ctx context.Context, ns string, blocked []Blocked, o Options) (int, error) {
	key := client.ObjectKey{Namespace: ns, Name: ReportName(r.Policy.Namespace, r.Policy.Name)}
	count := 0
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		obj := newReport(ns)
		err := r.Client.Get(ctx, key, obj)
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		exists := err == nil
		results, summary, err := reportParts(obj)
		if err != nil {
			return err
		}
		merged, _ := Merge(*results, blocked, o)
		count = len(merged)
		if count == 0 {
			return nil
		}
		newSummary := Summary(merged)
		wantLabels := r.labels()
		if exists && equality.Semantic.DeepEqual(merged, *results) && *summary == newSummary && hasLabels(obj, wantLabels) &&
			obj.GetAnnotations()[AnnotationPolicyName] == r.Policy.Name {
			return nil
		}
		*results, *summary = merged, newSummary
		l := obj.GetLabels()
		if l == nil {
			l = map[string]string{}
		}
		for k, v := range wantLabels {
			l[k] = v
		}
		obj.SetLabels(l)
		a := obj.GetAnnotations()
		if a == nil {
			a = map[string]string{}
		}
		a[AnnotationPolicyNamespace], a[AnnotationPolicyName] = r.Policy.Namespace, r.Policy.Name
		obj.SetAnnotations(a)
		if !exists {
			obj.SetNamespace(key.Namespace)
			obj.SetName(key.Name)
			return r.Client.Create(ctx, obj)
		}
		return r.Client.Update(ctx, obj)
	})
	return count, err
}

func hasLabels(obj client.Object, want map[string]string) bool {
	for k, v := range want {
		if obj.GetLabels()[k] != v {
			return false
		}
	}
	return true
}

// namespaces returns the namespaces ("" for cluster) holding reports of the policy.
func (r Reports) namespaces(ctx context.Context) (map[string]bool, error) {
	sel := client.MatchingLabels(r.labels())
	out := map[string]bool{}
	var prs wgpolicy.PolicyReportList
	if err := r.Client.List(ctx, &prs, sel); err != nil {
		return nil, err
	}
	for _, rep := range prs.Items {
		out[rep.Namespace] = true
	}
	var cprs wgpolicy.ClusterPolicyReportList
	if err := r.Client.List(ctx, &cprs, sel); err != nil {
		return nil, err
	}
	if len(cprs.Items) > 0 {
		out[""] = true
	}
	return out, nil
}

// deleteExcept deletes the policy's reports in namespaces not in keep (all of them for nil).
func (r Reports) deleteExcept(ctx context.Context, keep map[string]bool) error {
	have, err := r.namespaces(ctx)
	if err != nil {
		return err
	}
	for ns := range have {
		if keep[ns] {
			continue
		}
		obj := newReport(ns)
		obj.SetNamespace(ns)
		obj.SetName(ReportName(r.Policy.Namespace, r.Policy.Name))
		if err := r.Client.Delete(ctx, obj); client.IgnoreNotFound(err) != nil {
			return err
		}
	}
	return nil
}

// SweepOrphans deletes the reports of policies that are gone: those deleted while no leader
// ran, whose deletion no reconcile saw. Failures are logged, not returned: the reports of a
// policy deleted later are deleted by its reconcile, and the next leader sweeps again.
func SweepOrphans(ctx context.Context, c client.Client) {
	sel := client.MatchingLabels{LabelManagedBy: ManagedBy}
	var prs wgpolicy.PolicyReportList
	var cprs wgpolicy.ClusterPolicyReportList
	err := retry.OnError(retry.DefaultBackoff, func(error) bool { return ctx.Err() == nil }, func() error {
		if err := c.List(ctx, &prs, sel); err != nil {
			return err
		}
		return c.List(ctx, &cprs, sel)
	})
	if err != nil {
		log.FromContext(ctx).Error(err, "listing block reports to sweep")
		return
	}
	objs := []client.Object{}
	for i := range prs.Items {
		objs = append(objs, &prs.Items[i])
	}
	for i := range cprs.Items {
		objs = append(objs, &cprs.Items[i])
	}
	for _, o := range objs {
		ns, name := o.GetAnnotations()[AnnotationPolicyNamespace], o.GetAnnotations()[AnnotationPolicyName]
		if name == "" || o.GetLabels()[LabelPolicy] == "" {
			continue
		}
		err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &v1alpha1.BlockReportPolicy{})
		if apierrors.IsNotFound(err) {
			if err := c.Delete(ctx, o); client.IgnoreNotFound(err) != nil {
				log.FromContext(ctx).Error(err, "deleting an orphaned block report", "report", o.GetNamespace()+"/"+o.GetName())
			}
		}
	}
}
