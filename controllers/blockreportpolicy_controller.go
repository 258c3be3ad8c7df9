package controllers

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	wgpolicy "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
	"github.com/policyherald/policy-herald/internal/blockreports"
	"github.com/policyherald/policy-herald/internal/conditions"
	"github.com/policyherald/policy-herald/internal/filter"
	"github.com/policyherald/policy-herald/internal/report"
)

// +kubebuilder:rbac:groups=reporting.policyherald.io,resources=blockreportpolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=reporting.policyherald.io,resources=blockreportpolicies/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=events,verbs=get;list;watch
// +kubebuilder:rbac:groups=kyverno.io,resources=clusterpolicies;policies,verbs=get
// +kubebuilder:rbac:groups=policies.kyverno.io,resources=validatingpolicies;namespacedvalidatingpolicies;imagevalidatingpolicies;namespacedimagevalidatingpolicies,verbs=get
// +kubebuilder:rbac:groups=wgpolicyk8s.io,resources=policyreports;clusterpolicyreports,verbs=get;list;watch;create;update;patch;delete

// Reports carry their policy's namespace and name in these annotations, so reports left by a
// policy deleted while no leader ran are found and removed (see sweepOrphans). Controllers
// write only status, never a policy's metadata, so no finalizer: a deleted policy's reports
// go when its deletion is reconciled, or at the next start.
const (
	annotationPolicyNamespace = "reporting.policyherald.io/block-report-policy-namespace"
	annotationPolicyName      = "reporting.policyherald.io/block-report-policy-name"
)

// blockReportResync re-applies retention while no Events arrive.
const blockReportResync = time.Minute

// BlockReportPolicyReconciler turns Kyverno's blocked-admission Events into PolicyReports.
// Its controller, and the Event cache it reads, run only on the leader.
type BlockReportPolicyReconciler struct {
	Deps
	PlatformNamespace string
	// Events is the cache of PolicyViolation Warning Events; SetupWithManager makes it.
	Events cache.Cache
	// Policies reads Kyverno policies, uncached, for their category and severity annotations.
	Policies client.Reader
}

// policyAnnotations reads the annotations and rule messages of a Kyverno policy; a policy that
// cannot be read (its kind not installed, deleted, not allowed) has none.
func (r *BlockReportPolicyReconciler) policyAnnotations(ctx context.Context) blockreports.PolicyReader {
	return func(apiVersion, kind, namespace, name string) (blockreports.Policy, bool) {
		if r.Policies == nil {
			return blockreports.Policy{}, false
		}
		u := &unstructured.Unstructured{}
		u.SetAPIVersion(apiVersion)
		u.SetKind(kind)
		if err := r.Policies.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, u); err != nil {
			log.FromContext(ctx).V(1).Info("policy annotations not read", "policy", kind+" "+namespace+"/"+name, "error", err.Error())
			return blockreports.Policy{}, false
		}
		spec, _ := u.Object["spec"].(map[string]any)
		return blockreports.Policy{Annotations: u.GetAnnotations(), RuleMessages: blockreports.RuleMessages(spec)}, true
	}
}

// eventSelector is the field selector of the Event cache: the API server filters by reason and
// type; the component (source.component for classic core/v1 Events, reportingComponent for
// events.k8s.io/v1 ones) cannot be or-ed in a field selector and is checked by the parser.
func eventSelector() fields.Selector {
	return fields.SelectorFromSet(fields.Set{"reason": blockreports.Reason, "type": blockreports.Type})
}

// leaderCache runs a cache on the leader only.
type leaderCache struct{ cache.Cache }

func (leaderCache) NeedLeaderElection() bool { return true }

// Reconcile writes the reports of one BlockReportPolicy.
func (r *BlockReportPolicyReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var p v1alpha1.BlockReportPolicy
	if err := r.Client.Get(ctx, req.NamespacedName, &p); err != nil {
		if apierrors.IsNotFound(err) {
			// Gone: its reports, in other namespaces and so not owned by it, go too.
			p.Namespace, p.Name = req.Namespace, req.Name
			_, err = r.deleteReports(ctx, &p, nil)
		}
		return ctrl.Result{}, err
	}
	base := p.DeepCopy()
	if err := checkSelector("namespaceSelector", p.Spec.NamespaceSelector); err != nil {
		return finish(ctx, r.Deps, &p, base, readiness{err: err})
	}
	nsFilter, err := filter.Compile(filter.Spec{Filter: &v1alpha1.ResultFilter{
		Namespaces: p.Spec.Namespaces, NamespaceSelector: p.Spec.NamespaceSelector,
	}})
	if err != nil {
		return finish(ctx, r.Deps, &p, base, readiness{err: conditions.Stalled(v1alpha1.ReasonInvalidSpec, err.Error())})
	}
	unreadable, err := r.sync(ctx, &p, nsFilter)
	if err != nil {
		return ctrl.Result{}, err
	}
	o := readiness{message: fmt.Sprintf("reporting blocked admissions (source %q): %d results in %d reports",
		p.Spec.Source, p.Status.ResultsWritten, p.Status.ReportsManaged)}
	if unreadable != nil {
		o.err = unreadableProblem(&p, unreadable)
	}
	res, err := finish(ctx, r.Deps, &p, base, o)
	if err == nil && res.IsZero() && p.Spec.Retention != nil && p.Spec.Retention.Duration > 0 {
		res.RequeueAfter = min(blockReportResync, p.Spec.Retention.Duration)
	}
	return res, err
}

// unreadableProblem is why a policy is not Ready while Kyverno Events about blocked requests in
// its scope cannot be read: their requests are missing from its reports. It is not Stalled:
// nothing in the policy fixes Kyverno's message, and it clears when the Events expire.
func unreadableProblem(p *v1alpha1.BlockReportPolicy, newest *blockreports.UnreadableError) *conditions.Problem {
	what := fmt.Sprintf("a Kyverno Event about a blocked request cannot be read, so its request is not in the reports: %v", newest)
	if n := p.Status.UnparseableEvents; n > 1 {
		what = fmt.Sprintf("%d Kyverno Events about blocked requests cannot be read, so their requests are not in the reports; the newest: %v", n, newest)
	}
	return conditions.Transient(v1alpha1.ReasonEventsUnreadable, fmt.Sprintf(
		"%s. See it with `kubectl get events.events.k8s.io -n %s %s -o yaml`: a Kyverno release may write a form "+
			"this Policy Herald does not read. This clears when Kubernetes expires the Event (about an hour); "+
			"the other Events are reported (%d results in %d reports).",
		what, newest.Namespace, newest.Name, p.Status.ResultsWritten, p.Status.ReportsManaged))
}

// newer tells whether a is newer than b (nil), by time and then name, so the condition names
// the same Event whatever the cache's order.
func newer(a, b *blockreports.UnreadableError) bool {
	if b == nil || !a.Time.Equal(b.Time) {
		return b == nil || a.Time.After(b.Time)
	}
	return a.Namespace+"/"+a.Name > b.Namespace+"/"+b.Name
}

// sync reads the Events in scope and merges them into the policy's reports, recording the
// counts in its status. It returns the newest Kyverno Event in scope it could not read.
func (r *BlockReportPolicyReconciler) sync(ctx context.Context, p *v1alpha1.BlockReportPolicy, nsFilter *filter.Filter) (*blockreports.UnreadableError, error) {
	var events corev1.EventList
	// Kyverno writes the Events of a ClusterPolicy into namespace default, whatever the
	// resource's namespace: the resource, not the Event, places a result.
	all := p.Namespace == r.PlatformNamespace
	if err := r.Events.List(ctx, &events); err != nil {
		return nil, err
	}
	nsLabels := r.namespaceLabels(ctx)
	byNamespace := map[string][]blockreports.Blocked{} // "" holds cluster-scoped resources
	var seen, unparseable int64
	var last time.Time
	var newest *blockreports.UnreadableError
	for i := range events.Items {
		ev := &events.Items[i]
		b, err := blockreports.Parse(ev)
		if errors.Is(err, blockreports.ErrNotKyverno) {
			continue
		}
		ns := ev.Namespace
		switch {
		case err == nil:
			ns = b.Resource.Namespace
		case ev.Related != nil && ev.Related.Namespace != "":
			ns = ev.Related.Namespace
		}
		if !all && ns != p.Namespace {
			continue
		}
		if ns != "" && !nsFilter.Match(&report.Report{Namespace: ns}, &report.Result{Check: &report.Check{Status: v1alpha1.StatusFail}, Resource: &report.Resource{Namespace: ns}}, nsLabels) {
			continue
		}
		seen++
		var unreadable *blockreports.UnreadableError
		if errors.As(err, &unreadable) {
			unparseable++
			if newer(unreadable, newest) {
				newest = unreadable
			}
			log.FromContext(ctx).V(1).Info("skipping an unreadable Kyverno event", "error", err.Error())
			continue
		}
		if b.Time.After(last) {
			last = b.Time
		}
		byNamespace[ns] = append(byNamespace[ns], b)
	}
	annotations := r.policyAnnotations(ctx)
	for ns := range byNamespace {
		blockreports.Annotate(byNamespace[ns], annotations)
	}
	// Namespaces with reports already get their retention applied too.
	existing, err := r.listReports(ctx, p)
	if err != nil {
		return nil, err
	}
	for ns := range existing {
		if _, ok := byNamespace[ns]; !ok {
			byNamespace[ns] = nil
		}
	}
	opts := blockreports.Options{Source: p.Spec.Source, Max: int(p.Spec.ResultsPerReport), Now: time.Now()}
	if opts.Source == "" {
		opts.Source = "Kyverno Event"
	}
	if p.Spec.Retention != nil {
		opts.Retention = p.Spec.Retention.Duration
	}
	var results int64
	var managed int32
	keep := map[string]bool{}
	namespaces := make([]string, 0, len(byNamespace))
	for ns := range byNamespace {
		namespaces = append(namespaces, ns)
	}
	sort.Strings(namespaces)
	for _, ns := range namespaces {
		n, err := r.writeReport(ctx, p, ns, byNamespace[ns], opts)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			keep[ns] = true
			results += int64(n)
			managed++
		}
	}
	if _, err := r.deleteReports(ctx, p, keep); err != nil {
		return nil, err
	}
	p.Status.EventsSeen, p.Status.UnparseableEvents = seen, unparseable
	p.Status.ResultsWritten, p.Status.ReportsManaged = results, managed
	if !last.IsZero() && (p.Status.LastEventTime == nil || last.After(p.Status.LastEventTime.Time)) {
		t := metav1.NewTime(last.Truncate(time.Second))
		p.Status.LastEventTime = &t
	}
	return newest, nil
}

func (r *BlockReportPolicyReconciler) namespaceLabels(ctx context.Context) filter.NamespaceLabels {
	var list corev1.NamespaceList
	if err := r.Client.List(ctx, &list); err != nil {
		return func(string) (labels.Set, bool) { return nil, false }
	}
	m := make(map[string]labels.Set, len(list.Items))
	for _, n := range list.Items {
		m[n.Name] = n.Labels
	}
	return func(ns string) (labels.Set, bool) { l, ok := m[ns]; return l, ok }
}

func reportLabels(p *v1alpha1.BlockReportPolicy) map[string]string {
	return map[string]string{
		blockreports.LabelManagedBy: blockreports.ManagedBy,
		blockreports.LabelPolicy:    blockreports.PolicyLabelValue(p.Namespace, p.Name),
	}
}

// newReport returns an empty report object for namespace ns ("" for the ClusterPolicyReport).
func newReport(ns string) client.Object {
	if ns == "" {
		return &wgpolicy.ClusterPolicyReport{}
	}
	return &wgpolicy.PolicyReport{}
}

func reportParts(obj client.Object) (*[]wgpolicy.PolicyReportResult, *wgpolicy.PolicyReportSummary) {
	switch o := obj.(type) {
	case *wgpolicy.PolicyReport:
		return &o.Results, &o.Summary
	case *wgpolicy.ClusterPolicyReport:
		return &o.Results, &o.Summary
	}
	panic("not a report")
}

// writeReport merges blocked into the report of namespace ns and returns how many results it
// holds; a report left without results is deleted by the caller.
func (r *BlockReportPolicyReconciler) writeReport(ctx context.Context, p *v1alpha1.BlockReportPolicy, ns string, blocked []blockreports.Blocked, o blockreports.Options) (int, error) {
	key := client.ObjectKey{Namespace: ns, Name: blockreports.ReportName(p.Namespace, p.Name)}
	count := 0
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		obj := newReport(ns)
		err := r.Client.Get(ctx, key, obj)
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		exists := err == nil
		results, summary := reportParts(obj)
		merged, _ := blockreports.Merge(*results, blocked, o)
		count = len(merged)
		if count == 0 {
			return nil
		}
		newSummary := blockreports.Summary(merged)
		wantLabels := reportLabels(p)
		if exists && equality.Semantic.DeepEqual(merged, *results) && *summary == newSummary && hasLabels(obj, wantLabels) &&
			obj.GetAnnotations()[annotationPolicyName] == p.Name {
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
		a[annotationPolicyNamespace], a[annotationPolicyName] = p.Namespace, p.Name
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

// listReports returns the namespaces ("" for cluster) holding reports of the policy.
func (r *BlockReportPolicyReconciler) listReports(ctx context.Context, p *v1alpha1.BlockReportPolicy) (map[string]bool, error) {
	sel := client.MatchingLabels(reportLabels(p))
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

// deleteReports deletes the policy's reports in namespaces not in keep (all of them for nil).
func (r *BlockReportPolicyReconciler) deleteReports(ctx context.Context, p *v1alpha1.BlockReportPolicy, keep map[string]bool) (int, error) {
	have, err := r.listReports(ctx, p)
	if err != nil {
		return 0, err
	}
	n := 0
	for ns := range have {
		if keep[ns] {
			continue
		}
		obj := newReport(ns)
		obj.SetNamespace(ns)
		obj.SetName(blockreports.ReportName(p.Namespace, p.Name))
		if err := r.Client.Delete(ctx, obj); client.IgnoreNotFound(err) != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// SetupWithManager registers the reconciler and its leader-only Event cache.
func (r *BlockReportPolicyReconciler) SetupWithManager(_ context.Context, mgr ctrl.Manager) error {
	if r.Policies == nil {
		r.Policies = mgr.GetAPIReader()
	}
	if r.Events == nil {
		c, err := cache.New(mgr.GetConfig(), cache.Options{
			Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper(), HTTPClient: mgr.GetHTTPClient(),
			ByObject: map[client.Object]cache.ByObject{&corev1.Event{}: {Field: eventSelector()}},
		})
		if err != nil {
			return err
		}
		if err := mgr.Add(leaderCache{c}); err != nil {
			return err
		}
		r.Events = c
	}
	if err := mgr.Add(manager.RunnableFunc(r.sweepOrphans)); err != nil {
		return err
	}
	allPolicies := handler.TypedEnqueueRequestsFromMapFunc(func(ctx context.Context, _ *corev1.Event) []reconcile.Request {
		var list v1alpha1.BlockReportPolicyList
		if err := r.Client.List(ctx, &list); err != nil {
			return nil
		}
		return requestsFor(&list)
	})
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.BlockReportPolicy{}, builder.WithPredicates(specChanged())).
		WatchesRawSource(source.Kind(r.Events, &corev1.Event{}, allPolicies)).
		Complete(r)
}

// sweepOrphans runs once on the leader: it deletes the reports of policies deleted while no
// leader ran.
func (r *BlockReportPolicyReconciler) sweepOrphans(ctx context.Context) error {
	sel := client.MatchingLabels{blockreports.LabelManagedBy: blockreports.ManagedBy}
	var prs wgpolicy.PolicyReportList
	var cprs wgpolicy.ClusterPolicyReportList
	err := retry.OnError(retry.DefaultBackoff, func(error) bool { return ctx.Err() == nil }, func() error {
		if err := r.Client.List(ctx, &prs, sel); err != nil {
			return err
		}
		return r.Client.List(ctx, &cprs, sel)
	})
	if err != nil {
		log.FromContext(ctx).Error(err, "listing block reports to sweep")
		return nil
	}
	objs := []client.Object{}
	for i := range prs.Items {
		objs = append(objs, &prs.Items[i])
	}
	for i := range cprs.Items {
		objs = append(objs, &cprs.Items[i])
	}
	for _, o := range objs {
		ns, name := o.GetAnnotations()[annotationPolicyNamespace], o.GetAnnotations()[annotationPolicyName]
		if name == "" || o.GetLabels()[blockreports.LabelPolicy] == "" {
			continue
		}
		err := r.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &v1alpha1.BlockReportPolicy{})
		if apierrors.IsNotFound(err) {
			if err := r.Client.Delete(ctx, o); client.IgnoreNotFound(err) != nil {
				log.FromContext(ctx).Error(err, "deleting an orphaned block report", "report", o.GetNamespace()+"/"+o.GetName())
			}
		}
	}
	<-ctx.Done()
	return nil
}
