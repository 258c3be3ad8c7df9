// Package routing decides which policy results a NotificationTarget or TargetChannel delivers:
// which reports it sees (tenancy: a target or channel of the platform namespace sees every
// namespace and cluster-scoped reports, any other only reports of its own namespace) and which
// of their results its filter keeps (a channel's filter replaces its target's, while the
// target's minimums and sources stay). The operator delivers with it and the console's
// "Delivered to" answers with it, so both always agree.
package routing

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/filter"
	"github.com/policyherald/policy-herald/internal/report"
)

// Spec is what selects the results of one target or channel, before it is compiled.
type Spec struct {
	Filter filter.Spec
	// Namespace is the object's own namespace: the only one it sees unless AllNamespaces.
	Namespace string
	// AllNamespaces is true for an object of the platform namespace.
	AllNamespaces bool
}

// Target is t's Spec; platformNamespace is the operator's --platform-namespace.
func Target(t *v1alpha1.NotificationTarget, platformNamespace string) Spec {
	return Spec{Filter: targetFilter(t, t.Spec.Filter), Namespace: t.Namespace, AllNamespaces: t.Namespace == platformNamespace}
}

// Channel is the Spec of c, attached to t: t's minimums and sources with c's own filter, and
// c's namespace (never its target's) deciding what it sees.
func Channel(c *v1alpha1.TargetChannel, t *v1alpha1.NotificationTarget, platformNamespace string) Spec {
	return Spec{Filter: targetFilter(t, c.Spec.Filter), Namespace: c.Namespace, AllNamespaces: c.Namespace == platformNamespace}
}

// targetFilter is t's minimums and sources with the filter f: the target's own or a channel's.
func targetFilter(t *v1alpha1.NotificationTarget, f *v1alpha1.ResultFilter) filter.Spec {
	return filter.Spec{MinimumSeverity: t.Spec.MinimumSeverity, MinimumPriority: t.Spec.MinimumPriority, Sources: t.Spec.Sources, Filter: f}
}

// Route is a compiled Spec. It is immutable and safe for concurrent use.
type Route struct {
	Filter        *filter.Filter
	Namespace     string
	AllNamespaces bool
}

// Compile compiles s; the error names every invalid field (see filter.Compile).
func (s Spec) Compile() (*Route, error) {
	f, err := filter.Compile(s.Filter)
	if err != nil {
		return nil, err
	}
	return &Route{Filter: f, Namespace: s.Namespace, AllNamespaces: s.AllNamespaces}, nil
}

// Sees tells whether an object of namespace may see rep at all: all for the platform
// namespace's, else only reports of its own namespace (never cluster-scoped ones).
func Sees(all bool, namespace string, rep *report.Report) bool {
	return all || (rep.Namespace != "" && rep.Namespace == namespace)
}

// Delivers tells whether the route selects res, a result of rep; nsLabels answers the
// filter's namespaceSelector (see filter.Filter.Match).
func (r *Route) Delivers(rep *report.Report, res *report.Result, nsLabels filter.NamespaceLabels) bool {
	return Sees(r.AllNamespaces, r.Namespace, rep) && r.Filter.Match(rep, res, nsLabels)
}

// Admits tells whether t admits channels of namespace (its spec.allowedChannels): its own
// namespace always; others when it allows all, or when nsLabels knows the namespace and its
// labels match the selector. A selector that does not parse admits none (the target reports it).
func Admits(t *v1alpha1.NotificationTarget, namespace string, nsLabels filter.NamespaceLabels) bool {
	if namespace == t.Namespace {
		return true
	}
	if t.Spec.AllowedChannels == nil || t.Spec.AllowedChannels.Namespaces == nil {
		return false
	}
	switch ns := t.Spec.AllowedChannels.Namespaces; ns.From {
	case v1alpha1.NamespacesFromAll:
		return true
	case v1alpha1.NamespacesFromSelector:
		sel, err := metav1.LabelSelectorAsSelector(ns.Selector)
		if err != nil || nsLabels == nil {
			return false
		}
		l, ok := nsLabels(namespace)
		return ok && sel.Matches(l)
	}
	return false
}
