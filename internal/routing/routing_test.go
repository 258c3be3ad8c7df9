package routing

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/report"
)

func target(ns string, spec v1alpha1.NotificationTargetSpec) *v1alpha1.NotificationTarget {
	return &v1alpha1.NotificationTarget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "t"}, Spec: spec}
}

func result(ns string, status v1alpha1.ResultStatus, sev v1alpha1.Severity) (*report.Report, *report.Result) {
	return &report.Report{Kind: "PolicyReport", Namespace: ns, Name: "r"},
		&report.Result{Hash: 1, Check: &report.Check{Policy: "p", Source: "kyverno", Status: status, Severity: sev}}
}

func delivers(t *testing.T, s Spec, rep *report.Report, res *report.Result) bool {
	t.Helper()
	r, err := s.Compile()
	if err != nil {
		t.Fatal(err)
	}
	return r.Delivers(rep, res, nil)
}

// TestTenancy: the platform namespace's targets and channels see every namespace and
// cluster-scoped reports; any other sees its own namespace's reports only.
func TestTenancy(t *testing.T) {
	platform := target("herald", v1alpha1.NotificationTargetSpec{})
	team := target("team-a", v1alpha1.NotificationTargetSpec{})
	for _, c := range []struct {
		spec     Spec
		ns       string
		delivers bool
	}{
		{Target(platform, "herald"), "team-b", true},
		{Target(platform, "herald"), "", true},
		{Target(team, "herald"), "team-a", true},
		{Target(team, "herald"), "team-b", false},
		{Target(team, "herald"), "", false},
		{Target(platform, ""), "team-b", false}, // no platform namespace: nobody sees all
		// A channel sees by its own namespace, not its target's.
		{Channel(&v1alpha1.TargetChannel{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a"}}, platform, "herald"), "team-b", false},
		{Channel(&v1alpha1.TargetChannel{ObjectMeta: metav1.ObjectMeta{Namespace: "herald"}}, team, "herald"), "team-b", true},
	} {
		rep, res := result(c.ns, v1alpha1.StatusFail, "")
		if got := delivers(t, c.spec, rep, res); got != c.delivers {
			t.Errorf("%s/all=%v delivers a result of %q: %v, want %v", c.spec.Namespace, c.spec.AllNamespaces, c.ns, got, c.delivers)
		}
	}
}

// TestChannelFilter: a channel's filter replaces its target's; the target's minimums and
// sources still apply.
func TestChannelFilter(t *testing.T) {
	onlyPass := &v1alpha1.ResultFilter{Statuses: &v1alpha1.StatusList{Include: []v1alpha1.ResultStatus{v1alpha1.StatusPass}}}
	tg := target("team-a", v1alpha1.NotificationTargetSpec{MinimumSeverity: v1alpha1.SeverityHigh, Sources: []string{"kyverno"}, Filter: onlyPass})
	ch := &v1alpha1.TargetChannel{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a"}}
	for _, c := range []struct {
		spec     Spec
		status   v1alpha1.ResultStatus
		sev      v1alpha1.Severity
		delivers bool
	}{
		{Target(tg, "herald"), v1alpha1.StatusPass, v1alpha1.SeverityHigh, true},
		{Target(tg, "herald"), v1alpha1.StatusFail, v1alpha1.SeverityHigh, false}, // the target's filter
		{Channel(ch, tg, "herald"), v1alpha1.StatusFail, v1alpha1.SeverityHigh, true},
		{Channel(ch, tg, "herald"), v1alpha1.StatusPass, v1alpha1.SeverityHigh, false}, // its own: the default statuses
		{Channel(ch, tg, "herald"), v1alpha1.StatusFail, v1alpha1.SeverityLow, false},  // the target's minimum
	} {
		rep, res := result("team-a", c.status, c.sev)
		if got := delivers(t, c.spec, rep, res); got != c.delivers {
			t.Errorf("%+v: a %s %s result: %v, want %v", c.spec.Filter, c.status, c.sev, got, c.delivers)
		}
	}
}

// TestAdmits: a target admits channels of its own namespace, of every namespace with
// from: All, of the namespaces whose labels match with from: Selector, and of no other.
func TestAdmits(t *testing.T) {
	labelsOf := func(ns string) (labels.Set, bool) {
		l, ok := map[string]labels.Set{"team-a": {"tier": "team"}, "team-b": {}}[ns]
		return l, ok
	}
	from := func(f v1alpha1.NamespacesFrom, sel *metav1.LabelSelector) *v1alpha1.NotificationTarget {
		return target("herald", v1alpha1.NotificationTargetSpec{AllowedChannels: &v1alpha1.AllowedChannels{
			Namespaces: &v1alpha1.ChannelNamespaces{From: f, Selector: sel}}})
	}
	team := &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "team"}}
	bad := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpIn}}}
	for _, c := range []struct {
		t      *v1alpha1.NotificationTarget
		ns     string
		admits bool
	}{
		{target("herald", v1alpha1.NotificationTargetSpec{}), "herald", true},
		{target("herald", v1alpha1.NotificationTargetSpec{}), "team-a", false},
		{from(v1alpha1.NamespacesFromAll, nil), "team-b", true},
		{from(v1alpha1.NamespacesFromSelector, team), "team-a", true},
		{from(v1alpha1.NamespacesFromSelector, team), "team-b", false},
		{from(v1alpha1.NamespacesFromSelector, team), "unknown", false},
		{from(v1alpha1.NamespacesFromSelector, bad), "team-a", false},
	} {
		if got := Admits(c.t, c.ns, labelsOf); got != c.admits {
			t.Errorf("%+v admits %s: %v, want %v", c.t.Spec.AllowedChannels, c.ns, got, c.admits)
		}
	}
}
