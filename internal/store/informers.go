package store

import (
	"context"
	"fmt"
	"sync"
	"time"

	openreportsv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/discovery"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	wgpolicyv1alpha2 "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
	"github.com/policyherald/policy-herald/internal/report"
)

// +kubebuilder:rbac:groups=wgpolicyk8s.io,resources=policyreports;clusterpolicyreports,verbs=get;list;watch
// +kubebuilder:rbac:groups=openreports.io,resources=reports;clusterreports,verbs=get;list;watch
// +kubebuilder:rbac:groups=apiextensions.k8s.io,resources=customresourcedefinitions,verbs=get;list;watch

// reportKind is one report API the store can read.
type reportKind struct {
	kind    string // the report model's Kind
	crd     string // name of its CustomResourceDefinition
	newList func() client.ObjectList
	example runtime.Object // the informer's item type
	convert func(runtime.Object) (*report.Report, bool)
}

var reportKinds = []reportKind{
	{"PolicyReport", "policyreports.wgpolicyk8s.io", func() client.ObjectList { return &wgpolicyv1alpha2.PolicyReportList{} },
		&wgpolicyv1alpha2.PolicyReport{}, converter(report.FromPolicyReport)},
	{"ClusterPolicyReport", "clusterpolicyreports.wgpolicyk8s.io", func() client.ObjectList { return &wgpolicyv1alpha2.ClusterPolicyReportList{} },
		&wgpolicyv1alpha2.ClusterPolicyReport{}, converter(report.FromClusterPolicyReport)},
	{"Report", "reports.openreports.io", func() client.ObjectList { return &openreportsv1alpha1.ReportList{} },
		&openreportsv1alpha1.Report{}, converter(report.FromReport)},
	{"ClusterReport", "clusterreports.openreports.io", func() client.ObjectList { return &openreportsv1alpha1.ClusterReportList{} },
		&openreportsv1alpha1.ClusterReport{}, converter(report.FromClusterReport)},
}

func converter[T any](f func(*T) *report.Report) func(runtime.Object) (*report.Report, bool) {
	return func(o runtime.Object) (*report.Report, bool) {
		r, ok := any(o).(*T)
		if !ok || r == nil {
			return nil, false
		}
		return f(r), true
	}
}

// compact is what the informers keep of a report: the metadata the informer machinery needs
// and the report's compact model. The raw object is dropped as soon as it is converted, so the
// watch costs memory per result of the compact model only.
type compact struct {
	metav1.ObjectMeta
	rep *report.Report // nil when the report could not be read
}

func (c *compact) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }
func (c *compact) DeepCopyObject() runtime.Object   { cp := *c; return &cp }

// watchReports starts informers for the report APIs installed now and waits until they are
// listed; APIs installed later are watched as soon as their CRD appears.
func (s *Store) watchReports(ctx context.Context) error {
	w := &reportWatcher{s: s, c: s.client, started: map[string]bool{}}
	var wg sync.WaitGroup
	for _, k := range reportKinds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.tryStart(ctx, k); err != nil {
				s.logNotStarted(ctx, k, err)
			}
		}()
	}
	wg.Wait()
	crds := &metav1.PartialObjectMetadata{}
	crds.SetGroupVersionKind(apiextensionsv1.SchemeGroupVersion.WithKind("CustomResourceDefinition"))
	// Only CRDs that appear later matter here: no need to wait for the list of every CRD.
	inf, err := s.cache.GetInformer(ctx, crds, cache.BlockUntilSynced(false))
	if err != nil {
		return fmt.Errorf("watching CustomResourceDefinitions: %w", err)
	}
	_, err = inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { w.crdChanged(ctx, o) },
		UpdateFunc: func(_, o any) { w.crdChanged(ctx, o) },
	})
	return err
}

// logNotStarted says why the informer of k did not start; nothing when the store is stopping,
// which fails every request and means nothing is missing.
func (s *Store) logNotStarted(ctx context.Context, k reportKind, err error) {
	switch {
	case ctx.Err() != nil:
	case meta.IsNoMatchError(err) || apierrors.IsNotFound(err) || discovery.IsGroupDiscoveryFailedError(err):
		s.log.V(1).Info("report API not installed yet", "crd", k.crd, "error", err.Error())
	default:
		s.log.Error(err, "cannot watch a report API; trying again when its CRD changes", "crd", k.crd)
	}
}

type reportWatcher struct {
	s       *Store
	c       client.WithWatch
	mu      sync.Mutex
	started map[string]bool
}

func (w *reportWatcher) crdChanged(ctx context.Context, o any) {
	m, ok := o.(client.Object)
	if !ok {
		return
	}
	for _, k := range reportKinds {
		if k.crd != m.GetName() {
			continue
		}
		// The CRD may not be established yet: keep trying for a while in the background.
		go func() {
			for i := 0; i < 30 && ctx.Err() == nil; i++ {
				if w.tryStart(ctx, k) == nil {
					return
				}
				time.Sleep(time.Second)
			}
		}()
	}
}

// tryStart starts the informer of one report API once, and waits until it listed everything.
func (w *reportWatcher) tryStart(ctx context.Context, k reportKind) error {
	w.mu.Lock()
	if w.started[k.crd] {
		w.mu.Unlock()
		return nil
	}
	w.started[k.crd] = true // claimed; released again below if starting fails
	w.mu.Unlock()
	if err := w.start(ctx, k); err != nil {
		w.mu.Lock()
		w.started[k.crd] = false
		w.mu.Unlock()
		return err
	}
	return nil
}

func (w *reportWatcher) start(ctx context.Context, k reportKind) error {
	// Probe first: an informer of an API that is not installed would retry forever.
	probe := k.newList()
	if err := w.c.List(ctx, probe, client.Limit(1)); err != nil {
		return err
	}
	lw := &toolscache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			list := k.newList()
			return list, w.c.List(ctx, list, &client.ListOptions{Raw: &opts})
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			return w.c.Watch(ctx, k.newList(), &client.ListOptions{Raw: &opts})
		},
	}
	inf := toolscache.NewSharedIndexInformer(lw, k.example, 0, toolscache.Indexers{})
	h := &reportHandler{s: w.s, kind: k}
	if err := inf.SetTransform(h.transform); err != nil {
		return err
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    h.upsert,
		UpdateFunc: func(_, o any) { h.upsert(o) },
		DeleteFunc: h.remove,
	}); err != nil {
		return err
	}
	go inf.RunWithContext(ctx)
	if !toolscache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return ctx.Err()
	}
	w.s.log.Info("watching reports", "crd", k.crd)
	return nil
}

type reportHandler struct {
	s    *Store
	kind reportKind
	lost lostOutcomes
}

// transform converts a report into its compact model as it arrives, so the informer never
// keeps the raw object. A report that cannot be converted is logged and kept without results;
// it never stops the operator.
func (h *reportHandler) transform(o any) (out any, err error) {
	if c, ok := o.(*compact); ok {
		return c, nil // already transformed (informers may hand an object over twice)
	}
	obj, ok := o.(client.Object)
	if !ok {
		return o, nil
	}
	c := &compact{ObjectMeta: metav1.ObjectMeta{
		Name: obj.GetName(), Namespace: obj.GetNamespace(), ResourceVersion: obj.GetResourceVersion(), UID: obj.GetUID(),
	}}
	defer func() {
		if r := recover(); r != nil {
			h.s.log.Error(fmt.Errorf("%v", r), "skipping a report that cannot be read",
				"crd", h.kind.crd, "namespace", obj.GetNamespace(), "name", obj.GetName())
			out, err = c, nil
		}
	}()
	c.rep, _ = h.kind.convert(obj)
	h.lost.check(h, obj, c.rep)
	return c, nil
}

func (h *reportHandler) upsert(o any) {
	c, ok := o.(*compact)
	if !ok || c.rep == nil {
		return
	}
	h.s.Put(c.rep)
}

func (h *reportHandler) remove(o any) {
	if d, ok := o.(toolscache.DeletedFinalStateUnknown); ok {
		o = d.Obj
	}
	if c, ok := o.(*compact); ok {
		key := report.Key(h.kind.kind, c.Namespace, c.Name)
		h.lost.forget(key)
		h.s.Delete(key)
	}
}
