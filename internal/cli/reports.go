package cli

import (
	"context"
	"errors"

	openreportsv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	wgpolicyv1alpha2 "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
	"github.com/policyherald/policy-herald/internal/report"
)

// reportKind is one kind of report the plugin reads.
type reportKind struct {
	kind, groupVersion, resource string
	namespaced                   bool
	newList                      func() client.ObjectList
	// convert converts the items of a list of this kind.
	convert func(client.ObjectList) []*report.Report
	// convertOne converts one object of this kind (a watch event's).
	convertOne func(client.Object) *report.Report
}

// Report APIs. The kinds are in the query engine's order (by kind name), so results streamed
// kind by kind come in the order the engine gives a whole selection.
const (
	wgpolicyGV    = "wgpolicyk8s.io/v1alpha2"
	openreportsGV = "openreports.io/v1alpha1"
)

var reportKinds = []reportKind{
	{"ClusterPolicyReport", wgpolicyGV, "clusterpolicyreports.wgpolicyk8s.io", false,
		func() client.ObjectList { return &wgpolicyv1alpha2.ClusterPolicyReportList{} },
		eachItem(func(l *wgpolicyv1alpha2.ClusterPolicyReportList) []wgpolicyv1alpha2.ClusterPolicyReport {
			return l.Items
		}, report.FromClusterPolicyReport),
		one(report.FromClusterPolicyReport)},
	{"ClusterReport", openreportsGV, "clusterreports.openreports.io", false,
		func() client.ObjectList { return &openreportsv1alpha1.ClusterReportList{} },
		eachItem(func(l *openreportsv1alpha1.ClusterReportList) []openreportsv1alpha1.ClusterReport { return l.Items }, report.FromClusterReport),
		one(report.FromClusterReport)},
	{"PolicyReport", wgpolicyGV, "policyreports.wgpolicyk8s.io", true,
		func() client.ObjectList { return &wgpolicyv1alpha2.PolicyReportList{} },
		eachItem(func(l *wgpolicyv1alpha2.PolicyReportList) []wgpolicyv1alpha2.PolicyReport { return l.Items }, report.FromPolicyReport),
		one(report.FromPolicyReport)},
	{"Report", openreportsGV, "reports.openreports.io", true,
		func() client.ObjectList { return &openreportsv1alpha1.ReportList{} },
		eachItem(func(l *openreportsv1alpha1.ReportList) []openreportsv1alpha1.Report { return l.Items }, report.FromReport),
		one(report.FromReport)},
}

// eachItem converts every item of a typed list with from.
func eachItem[L client.ObjectList, T any](items func(L) []T, from func(*T) *report.Report) func(client.ObjectList) []*report.Report {
	return func(l client.ObjectList) []*report.Report {
		it := items(l.(L))
		out := make([]*report.Report, len(it))
		for i := range it {
			out[i] = from(&it[i])
		}
		return out
	}
}

// one converts an object of type *T with from.
func one[T any](from func(*T) *report.Report) func(client.Object) *report.Report {
	return func(o client.Object) *report.Report {
		if t, ok := any(o).(*T); ok {
			return from(t)
		}
		return nil
	}
}

// errNoReportAPI says what is missing when neither report API is installed.
var errNoReportAPI = errors.New("no report API is installed in this cluster: neither " + wgpolicyGV + " (PolicyReport) nor " +
	openreportsGV + " (Report) is served; install the CRDs of your policy engine (Kyverno installs them)")

// scope is which reports a command reads.
type scope struct {
	namespace string // "" with allNamespaces
	all       bool   // every namespace, and the cluster reports
	selector  labels.Selector
}

// kinds returns the report kinds the cluster serves that sc reads: cluster reports only with
// -A, where a person asks about the whole cluster.
func (cl *cluster) kinds(sc scope) ([]reportKind, error) {
	served := map[string]bool{}
	for _, gv := range []string{wgpolicyGV, openreportsGV} {
		ok, err := cl.served(gv)
		if err != nil {
			return nil, err
		}
		served[gv] = ok
	}
	if !served[wgpolicyGV] && !served[openreportsGV] {
		return nil, errNoReportAPI
	}
	var out []reportKind
	for _, k := range reportKinds {
		if served[k.groupVersion] && (k.namespaced || sc.all) {
			out = append(out, k)
		}
	}
	return out, nil
}

// listOptions are the options of one LIST or WATCH of sc.
func (sc scope) listOptions() []client.ListOption {
	var opts []client.ListOption
	if !sc.all {
		opts = append(opts, client.InNamespace(sc.namespace))
	}
	if sc.selector != nil && !sc.selector.Empty() {
		opts = append(opts, client.MatchingLabelsSelector{Selector: sc.selector})
	}
	return opts
}

// firstPageSize is the size of a kind's first page: small, so the first rows print without
// waiting for a whole page of large reports. (A LIST may change its limit between pages.)
const firstPageSize = 20

// listPages lists the reports of k in sc page by page, calling fn with each page's reports
// converted: only one page of raw objects is held at a time. It returns the resource version
// the list was read at, for a watch to start from.
func (cl *cluster) listPages(ctx context.Context, k reportKind, sc scope, pageSize int64, fn func([]*report.Report) error) (string, error) {
	var token, rv string
	limit := min(pageSize, firstPageSize)
	for {
		list := k.newList()
		opts := append(sc.listOptions(), client.Limit(limit), client.Continue(token))
		limit = pageSize
		if err := cl.c.List(ctx, list, opts...); err != nil {
			return "", cl.explain(err, "list", k.resource, sc.namespace)
		}
		if rv == "" {
			rv = list.GetResourceVersion()
		}
		token = list.GetContinue()
		reps := k.convert(list)
		list = nil // the page's raw objects are garbage from here on
		if err := fn(reps); err != nil {
			return "", err
		}
		if token == "" {
			return rv, nil
		}
	}
}
