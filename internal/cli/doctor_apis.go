package cli

import (
	"context"
	"fmt"
	"sort"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// checkAPIs checks that Policy Herald's API serves every kind it should, and which report
// APIs are installed.
func (d *doctor) checkAPIs(context.Context) error {
	served, err := d.resources(operatorGV)
	if err != nil {
		return err
	}
	install := "kubectl apply -f dist/install.yaml (it installs the CRDs of this version)"
	var missing, present []string
	for _, k := range statusKinds {
		if served[k.resource] {
			present = append(present, k.kind)
		} else {
			missing = append(missing, k.resource+"."+phGroup)
		}
	}
	switch {
	case len(present) == 0:
		d.add("crds", checkFail, operatorGV+" is not served: Policy Herald is not installed", install)
	case len(missing) > 0:
		d.add("crds", checkFail, operatorGV+" does not serve "+strings.Join(missing, ", "), install)
	default:
		d.add("crds", checkOK, operatorGV+" serves "+strings.Join(present, ", "), "")
	}
	return d.checkReportAPIs()
}

// checkReportAPIs says which report APIs the cluster serves; none is a FAIL: there would be
// nothing to deliver.
func (d *doctor) checkReportAPIs() error {
	var installed, absent []string
	for _, gv := range []string{wgpolicyGV, openreportsGV} {
		served, err := d.resources(gv)
		if err != nil {
			return err
		}
		d.reports[gv] = served
		var kinds []string
		for _, k := range reportKinds {
			if k.groupVersion == gv && served[strings.SplitN(k.resource, ".", 2)[0]] {
				kinds = append(kinds, k.kind)
			}
		}
		if len(kinds) == 0 {
			absent = append(absent, gv)
			continue
		}
		installed = append(installed, gv+" ("+strings.Join(kinds, ", ")+")")
	}
	if len(installed) == 0 {
		d.add("report apis", checkFail, "no report API is installed: neither "+wgpolicyGV+" (PolicyReport, ClusterPolicyReport) nor "+
			openreportsGV+" (Report, ClusterReport) is served",
			"install your policy engine's report CRDs (Kyverno installs both; or kubectl apply the CRDs of wg-policy-prototypes or openreports.io)")
		return nil
	}
	detail := "installed: " + strings.Join(installed, "; ")
	if len(absent) > 0 {
		detail += "; not installed: " + strings.Join(absent, ", ")
	}
	d.add("report apis", checkOK, detail, "")
	return nil
}

// resources are the resource names groupVersion serves (none when it is not served).
func (d *doctor) resources(groupVersion string) (map[string]bool, error) {
	out := map[string]bool{}
	list, err := d.cl.disc.ServerResourcesForGroupVersion(groupVersion)
	if apierrors.IsNotFound(err) {
		return out, nil
	}
	if err != nil {
		return nil, d.cl.explain(err, "discover", groupVersion, "")
	}
	for _, r := range list.APIResources {
		out[r.Name] = true
	}
	return out, nil
}

// phGroup is Policy Herald's API group.
const phGroup = "reporting.policyherald.io"

// access is one permission the caller needs: verbs on resource (of group), namespaced or not,
// and what for.
type access struct {
	verbs           []string
	group, resource string
	namespaced      bool
	why             string
}

// needed are the permissions doctor checks: reading the report kinds installed (found by
// checkReportAPIs), reading Policy Herald's kinds, and updating targets and channels for
// `kubectl herald test`.
func (d *doctor) needed() []access {
	var out []access
	for _, k := range reportKinds {
		res, group, _ := strings.Cut(k.resource, ".")
		if d.reports[k.groupVersion][res] {
			out = append(out, access{[]string{"list"}, group, res, k.namespaced, "to read results"})
		}
	}
	for _, k := range statusKinds {
		out = append(out, access{[]string{"get", "list"}, phGroup, k.resource, true, "to read Policy Herald's objects"})
	}
	for _, res := range []string{"notificationtargets", "targetchannels"} {
		out = append(out, access{[]string{"update"}, phGroup, res, true, "for kubectl herald test"})
	}
	return out
}

// checkPermissions asks the API server (SelfSubjectAccessReview) what the caller may do, in
// doctor's namespace (or cluster-wide), and WARNs naming each verb and resource missing.
func (d *doctor) checkPermissions(ctx context.Context) error {
	missing := 0
	for _, a := range d.needed() {
		ns := d.ns
		if !a.namespaced {
			ns = ""
		}
		var denied []string
		for _, verb := range a.verbs {
			ok, err := d.allowed(ctx, verb, a.group, a.resource, ns)
			if err != nil {
				return err
			}
			if !ok {
				denied = append(denied, verb)
				d.denied[verb+" "+a.resource] = true
			}
		}
		if len(denied) > 0 {
			missing++
			d.add("permissions", checkWarn, fmt.Sprintf("you may not %s %s.%s %s (needed %s)",
				strings.Join(denied, ", "), a.resource, a.group, whereNS(ns), a.why),
				fmt.Sprintf("ask for a %s granting %s on %s.%s", roleKind(ns), strings.Join(denied, ", "), a.resource, a.group))
		}
	}
	if missing == 0 {
		d.add("permissions", checkOK, fmt.Sprintf("you may read results and Policy Herald's objects, and send test messages, %s", d.where()), "")
	}
	return nil
}

// allowed asks the API server whether the caller may verb resource in ns ("" cluster-wide).
func (d *doctor) allowed(ctx context.Context, verb, group, resource, ns string) (bool, error) {
	r := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
		ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: ns, Verb: verb, Group: group, Resource: resource},
	}}
	if err := d.cl.c.Create(ctx, r); err != nil {
		return false, d.cl.explain(err, "create", "selfsubjectaccessreviews.authorization.k8s.io", "")
	}
	return r.Status.Allowed, nil
}

func whereNS(ns string) string {
	if ns == "" {
		return "cluster-wide"
	}
	return fmt.Sprintf("in namespace %q", ns)
}

func roleKind(ns string) string {
	if ns == "" {
		return "ClusterRole(Binding)"
	}
	return "Role(Binding) in " + ns
}

// sortedKeys are m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
