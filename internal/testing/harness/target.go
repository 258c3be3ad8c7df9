package harness

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Target is a NotificationTarget, unstructured so the harnesses depend on the CRD only, not on
// the API's Go types: a webhook to url, default filter (fail, warn and error results of any
// severity), and the spec fields of extra.
func Target(ns, name, url string, extra map[string]any) *unstructured.Unstructured {
	spec := map[string]any{"webhook": map[string]any{"url": url}}
	for k, v := range extra {
		spec[k] = v
	}
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetAPIVersion("reporting.policyherald.io/v1alpha1")
	u.SetKind("NotificationTarget")
	u.SetNamespace(ns)
	u.SetName(name)
	return u
}

// CreateTarget creates Target(ns, name, url, extra).
func CreateTarget(ctx context.Context, c client.Client, ns, name, url string, extra map[string]any) error {
	if err := c.Create(ctx, Target(ns, name, url, extra)); err != nil {
		return fmt.Errorf("creating the NotificationTarget: %w", err)
	}
	return nil
}

// GetTarget reads the target ns/name, with its status.
func GetTarget(ctx context.Context, c client.Client, ns, name string) (*unstructured.Unstructured, error) {
	u := Target(ns, name, "", nil)
	err := c.Get(ctx, client.ObjectKeyFromObject(u), u)
	return u, err
}

// Ready tells whether the target ns/name exists and its Ready condition is True.
func Ready(ctx context.Context, c client.Client, ns, name string) bool {
	u, err := GetTarget(ctx, c, ns, name)
	if err != nil {
		return false
	}
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, x := range conds {
		m, _ := x.(map[string]any)
		if m["type"] == "Ready" && m["status"] == "True" {
			return true
		}
	}
	return false
}
