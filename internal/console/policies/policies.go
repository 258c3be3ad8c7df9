// Package policies reads what a policy engine says about its policies, for the console's
// policy page (issue 19): the title, description, category, severity and subject that
// Kyverno's policies carry as annotations. A policy is read lazily, metadata only, when its
// page is shown, and remembered briefly: the console never watches every policy.
package policies

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/sync/singleflight"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/cache"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/metadata"
)

// Info is what a policy's annotations say, and which object said it.
type Info struct {
	APIVersion  string `json:"apiVersion"`
	Kind        string `json:"kind"`
	Namespace   string `json:"namespace,omitempty"` // "" for a cluster-scoped policy
	Name        string `json:"name"`
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
	Category    string `json:"category,omitempty"`
	Severity    string `json:"severity,omitempty"`
	Subject     string `json:"subject,omitempty"`
}

// Kyverno's annotations, as its policies library writes them.
const (
	annTitle       = "policies.kyverno.io/title"
	annDescription = "policies.kyverno.io/description"
	annCategory    = "policies.kyverno.io/category"
	annSeverity    = "policies.kyverno.io/severity"
	annSubject     = "policies.kyverno.io/subject"
)

// Kinds are the policy kinds read, in the order tried: Kyverno's, cluster-scoped then
// namespaced. A result names a cluster-scoped policy by its name and a namespaced one as
// "namespace/name" (Kyverno's report writer uses the object's cache key).
var (
	ClusterKinds = []schema.GroupKind{
		{Group: "kyverno.io", Kind: "ClusterPolicy"},
		{Group: "policies.kyverno.io", Kind: "ValidatingPolicy"},
		{Group: "policies.kyverno.io", Kind: "ImageValidatingPolicy"},
		{Group: "policies.kyverno.io", Kind: "MutatingPolicy"},
		{Group: "policies.kyverno.io", Kind: "GeneratingPolicy"},
		{Group: "policies.kyverno.io", Kind: "DeletingPolicy"},
	}
	NamespacedKinds = []schema.GroupKind{
		{Group: "kyverno.io", Kind: "Policy"},
		{Group: "policies.kyverno.io", Kind: "NamespacedValidatingPolicy"},
		{Group: "policies.kyverno.io", Kind: "NamespacedImageValidatingPolicy"},
		{Group: "policies.kyverno.io", Kind: "NamespacedMutatingPolicy"},
		{Group: "policies.kyverno.io", Kind: "NamespacedGeneratingPolicy"},
		{Group: "policies.kyverno.io", Kind: "NamespacedDeletingPolicy"},
	}
)

// Options tune a Reader; zero values take the defaults.
type Options struct {
	TTL        time.Duration // how long an answer is remembered (default 1m)
	MaxEntries int           // answers remembered (default 1,024), least recently used first out
	Timeout    time.Duration // bounds one lookup (default 5s)
}

// Reader reads policies' annotations. It is safe for concurrent use.
type Reader struct {
	meta    metadata.Interface
	mapper  meta.RESTMapper
	lru     *cache.LRUExpireCache
	flights singleflight.Group
	opts    Options
}

// New returns a Reader getting policies' metadata with client, their resources from mapper
// (the versions installed, whichever they are).
func New(client metadata.Interface, mapper meta.RESTMapper, opts Options) *Reader {
	if opts.TTL <= 0 {
		opts.TTL = time.Minute
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = 1024
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	return &Reader{meta: client, mapper: mapper, lru: cache.NewLRUExpireCache(opts.MaxEntries), opts: opts}
}

// Get returns what the policy a result names says about itself; nil when no such policy can
// be read: not a Kyverno policy's name, its kind not installed, not found, or forbidden. An
// error (the API server failing) is not remembered.
func (r *Reader) Get(ctx context.Context, policy string) (*Info, error) {
	if v, ok := r.lru.Get(policy); ok {
		return v.(*Info), nil
	}
	ch := r.flights.DoChan(policy, func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.opts.Timeout)
		defer cancel()
		info, err := r.lookup(ctx, policy)
		if err != nil {
			return nil, err
		}
		r.lru.Add(policy, info, r.opts.TTL)
		return info, nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*Info), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// lookup tries each kind the name may be of, in order.
func (r *Reader) lookup(ctx context.Context, policy string) (*Info, error) {
	namespace, name, kinds := "", policy, ClusterKinds
	if ns, n, ok := strings.Cut(policy, "/"); ok {
		namespace, name, kinds = ns, n, NamespacedKinds
		if len(validation.IsDNS1123Label(namespace)) > 0 {
			return nil, nil
		}
	}
	if len(validation.IsDNS1123Subdomain(name)) > 0 {
		return nil, nil // Trivy's and kube-bench's policies are sentences, not objects
	}
	var errs []error
	for _, gk := range kinds {
		info, err := r.get(ctx, gk, namespace, name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if info != nil {
			return info, nil
		}
	}
	return nil, errors.Join(errs...)
}

// get reads one kind's object; nil, nil when the kind is not installed or the object cannot
// be read for good.
func (r *Reader) get(ctx context.Context, gk schema.GroupKind, namespace, name string) (*Info, error) {
	m, err := r.mapper.RESTMapping(gk)
	if meta.IsNoMatchError(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("finding %s: %w", gk, err)
	}
	o, err := r.meta.Resource(m.Resource).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err) || apierrors.IsForbidden(err) || apierrors.IsMethodNotSupported(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("reading %s %s: %w", gk.Kind, name, err)
	}
	a := o.GetAnnotations()
	return &Info{
		APIVersion: m.GroupVersionKind.GroupVersion().String(), Kind: gk.Kind, Namespace: namespace, Name: name,
		Title: a[annTitle], Description: a[annDescription], Category: a[annCategory], Severity: a[annSeverity], Subject: a[annSubject],
	}, nil
}
