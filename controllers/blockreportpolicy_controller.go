package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
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
	"github.com/policyherald/policy-herald/internal/blockreports"
	"github.com/policyherald/policy-herald/internal/conditions"
	"github.com/policyherald/policy-herald/internal/filter"
)

// +kubebuilder:rbac:groups=reporting.policyherald.io,resources=blockreportpolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=reporting.policyherald.io,resources=blockreportpolicies/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=events,verbs=get;list;watch
// +kubebuilder:rbac:groups=kyverno.io,resources=clusterpolicies;policies,verbs=get
// +kubebuilder:rbac:groups=policies.kyverno.io,resources=validatingpolicies;namespacedvalidatingpolicies;imagevalidatingpolicies;namespacedimagevalidatingpolicies,verbs=get
// +kubebuilder:rbac:groups=wgpolicyk8s.io,resources=policyreports;clusterpolicyreports,verbs=get;list;watch;create;update;patch;delete

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
			err = blockreports.Reports{Client: r.Client, Policy: req.NamespacedName}.DeleteAll(ctx)
		}
		return ctrl.Result{}, err
	}
	base := p.DeepCopy()
	scope, err := scopeOf(&p)
	if err != nil {
		return finish(ctx, r.Deps, &p, base, readiness{err: err})
	}
	unreadable, err := r.sync(ctx, &p, scope)
	if err != nil {
		return ctrl.Result{}, err
	}
	return r.record(ctx, &p, base, unreadable)
}

// scopeOf compiles the policy's namespace rules, or returns the problem with them.
func scopeOf(p *v1alpha1.BlockReportPolicy) (*filter.Filter, error) {
	if err := checkSelector("namespaceSelector", p.Spec.NamespaceSelector); err != nil {
		return nil, err
	}
	scope, err := filter.Compile(filter.Spec{Filter: &v1alpha1.ResultFilter{
		Namespaces: p.Spec.Namespaces, NamespaceSelector: p.Spec.NamespaceSelector,
	}})
	if err != nil {
		return nil, conditions.Stalled(v1alpha1.ReasonInvalidSpec, err.Error())
	}
	return scope, nil
}

// record writes what sync found into the policy's Ready condition and status, and resyncs
// while the policy has a retention to apply.
func (r *BlockReportPolicyReconciler) record(ctx context.Context, p, base *v1alpha1.BlockReportPolicy, unreadable *blockreports.UnreadableError) (ctrl.Result, error) {
	o := readiness{message: fmt.Sprintf("reporting blocked admissions (source %q): %d results in %d reports",
		p.Spec.Source, p.Status.ResultsWritten, p.Status.ReportsManaged)}
	if unreadable != nil {
		o.err = unreadableProblem(p, unreadable)
	}
	res, err := finish(ctx, r.Deps, p, base, o)
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
	in, err := r.collect(ctx, p, nsFilter)
	if err != nil {
		return nil, err
	}
	annotations := r.policyAnnotations(ctx)
	for ns := range in.blocked {
		blockreports.Annotate(in.blocked[ns], annotations)
	}
	written, err := blockreports.Reports{Client: r.Client, Policy: client.ObjectKeyFromObject(p)}.
		Sync(ctx, in.blocked, reportOptions(p))
	if err != nil {
		return nil, err
	}
	p.Status.EventsSeen, p.Status.UnparseableEvents = in.seen, in.unparseable
	p.Status.ResultsWritten, p.Status.ReportsManaged = written.Results, written.Reports
	if !in.last.IsZero() && (p.Status.LastEventTime == nil || in.last.After(p.Status.LastEventTime.Time)) {
		t := metav1.NewTime(in.last.Truncate(time.Second))
		p.Status.LastEventTime = &t
	}
	return in.newest, nil
}

// inScope is what the Kyverno Events in a policy's scope say.
type inScope struct {
	// blocked are the blocked requests by the resource's namespace, "" for cluster-scoped ones.
	blocked           map[string][]blockreports.Blocked
	seen, unparseable int64
	// last is the time of the newest blocked request.
	last time.Time
	// newest is the newest Event that could not be read.
	newest *blockreports.UnreadableError
}

// collect reads the Kyverno Events in the policy's scope.
func (r *BlockReportPolicyReconciler) collect(ctx context.Context, p *v1alpha1.BlockReportPolicy, nsFilter *filter.Filter) (inScope, error) {
	var events corev1.EventList
	// Kyverno writes the Events of a ClusterPolicy into namespace default, whatever the
	// resource's namespace: the resource, not the Event, places a result.
	all := p.Namespace == r.PlatformNamespace
	if err := r.Events.List(ctx, &events); err != nil {
		return inScope{}, err
	}
	nsLabels := r.namespaceLabels(ctx)
	in := inScope{blocked: map[string][]blockreports.Blocked{}}
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
		if ns != "" && !nsFilter.MatchNamespace(ns, nsLabels) {
			continue
		}
		in.seen++
		var unreadable *blockreports.UnreadableError
		if errors.As(err, &unreadable) {
			in.unparseable++
			if newer(unreadable, in.newest) {
				in.newest = unreadable
			}
			log.FromContext(ctx).V(1).Info("skipping an unreadable Kyverno event", "error", err.Error())
			continue
		}
		if b.Time.After(in.last) {
			in.last = b.Time
		}
		in.blocked[ns] = append(in.blocked[ns], b)
	}
	return in, nil
}

// reportOptions shapes the results as the policy's spec says.
func reportOptions(p *v1alpha1.BlockReportPolicy) blockreports.Options {
	opts := blockreports.Options{Source: p.Spec.Source, Max: int(p.Spec.ResultsPerReport), Now: time.Now()}
	if opts.Source == "" {
		opts.Source = "Kyverno Event"
	}
	if p.Spec.Retention != nil {
		opts.Retention = p.Spec.Retention.Duration
	}
	return opts
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
	blockreports.SweepOrphans(ctx, r.Client)
	<-ctx.Done()
	return nil
}
