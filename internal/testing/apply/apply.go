// Package apply builds a kustomization and server-side applies what it yields, the way
// `kubectl apply -k` would; the local run and the tests install the samples with it.
package apply

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// Kustomization builds dir and applies every object, creating the namespaces they live in
// first. It returns the applied objects.
func Kustomization(ctx context.Context, c client.Client, dir string, owner client.FieldOwner) ([]*unstructured.Unstructured, error) {
	resources, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("building %s: %w", dir, err)
	}
	var applied []*unstructured.Unstructured
	for _, r := range resources.Resources() {
		m, err := r.Map()
		if err != nil {
			return nil, err
		}
		u := &unstructured.Unstructured{Object: m}
		if err := ensureNamespace(ctx, c, u.GetNamespace()); err != nil {
			return nil, err
		}
		if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), owner, client.ForceOwnership); err != nil {
			return nil, fmt.Errorf("applying %s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
		}
		applied = append(applied, u)
	}
	return applied, nil
}

func ensureNamespace(ctx context.Context, c client.Client, name string) error {
	if name == "" {
		return nil
	}
	err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// Files applies every object of the YAML files, as exported from a cluster: server-set metadata
// (resourceVersion, uid, creation time, owners) is dropped, and namespaced objects without a
// namespace go to defaultNamespace.
func Files(ctx context.Context, c client.Client, paths []string, defaultNamespace string, owner client.FieldOwner) ([]*unstructured.Unstructured, error) {
	var applied []*unstructured.Unstructured
	for _, p := range paths {
		objs, err := decodeFile(p)
		if err != nil {
			return nil, err
		}
		for _, u := range objs {
			u.SetResourceVersion("")
			u.SetUID("")
			u.SetCreationTimestamp(metav1.Time{})
			u.SetOwnerReferences(nil)
			u.SetManagedFields(nil)
			namespaced, err := c.IsObjectNamespaced(u)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p, err)
			}
			if namespaced && u.GetNamespace() == "" {
				u.SetNamespace(defaultNamespace)
			}
			if err := ensureNamespace(ctx, c, u.GetNamespace()); err != nil {
				return nil, err
			}
			if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), owner, client.ForceOwnership); err != nil {
				return nil, fmt.Errorf("applying %s %s/%s from %s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), p, err)
			}
			applied = append(applied, u)
		}
	}
	return applied, nil
}

func decodeFile(path string) ([]*unstructured.Unstructured, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }() // read only: closing cannot lose data
	dec := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
	var out []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		err := dec.Decode(&u.Object)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
}
