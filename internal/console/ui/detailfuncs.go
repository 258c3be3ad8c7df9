package ui

import (
	"net/url"
	"strings"

	"github.com/policyherald/policy-herald/internal/console/health"
	"github.com/policyherald/policy-herald/internal/console/query"
	"github.com/policyherald/policy-herald/internal/report"
)

// The detail pages' helpers (policy, resource, health), added to funcs before any page
// template is parsed (New parses them; package variables, plainTemplate among them, are
// initialised before init runs and use none of these).
func init() {
	funcs["policyHref"] = PolicyHref
	funcs["rowHref"] = rowResource
	funcs["ownerHref"] = func(o report.Resource) string { return ResourceHref(o.Namespace, o.Kind, o.Name) }
	funcs["num64"] = func(n int64) string { return num(int(n)) }
	funcs["other"] = other
	funcs["nsFilter"] = nsFilter
	funcs["anchor"] = anchor
	funcs["deliveryKind"] = deliveryKind
	funcs["detailRows"] = func(rows []query.Row, d map[string][]health.Delivery) detailRows { return detailRows{rows, d} }
	funcs["targetAnchor"] = func(target string) string {
		ns, name, _ := strings.Cut(target, "/")
		return anchor("NotificationTarget", ns, name)
	}
}

// anchor is the id of an object's row on the health page.
func anchor(kind, namespace, name string) string { return kind + "-" + namespace + "-" + name }

// detailRows are a page's result rows with, by result ID, what delivers each.
type detailRows struct {
	Rows      []query.Row
	Delivered map[string][]health.Delivery
}

// deliveryKind is how "Delivered to" names a kind: target or channel.
func deliveryKind(kind string) string {
	if kind == "TargetChannel" {
		return "channel"
	}
	return "target"
}

// other counts the results that neither passed nor failed.
func other(c query.StatusCounts) int { return c.Warn + c.Error + c.Skip + c.None }

// nsFilter narrows base to namespace ns, or to cluster-scoped results for "".
func nsFilter(base url.Values, ns string) url.Values {
	if ns == "" {
		return set(base, "scope", "cluster")
	}
	return set(base, "namespace", ns)
}
