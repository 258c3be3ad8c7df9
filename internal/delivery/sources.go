package delivery

import (
	"context"
	"fmt"
	"sync"
	"time"

	openreportsv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	wgpolicyv1alpha2 "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
	"github.com/policyherald/policy-herald/internal/report"
)

// +kubebuilder:rbac:groups=wgpolicyk8s.io,resources=policyreports;clusterpolicyreports,verbs=get;list;watch
// +kubebuilder:rbac:groups=openreports.io,resources=reports;clusterreports,verbs=get;list;watch
// +kubebuilder:rbac:groups=apiextensions.k8s.io,resources=customresourcedefinitions,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;create;update

// reportKind is one report API the engine can read.
type reportKind struct {
	kind    string // the report model's Kind
	crd     string // name of its CustomResourceDefinition
	newObj  func() client.Object
	convert func(client.Object) (*report.Report, bool)
}

var reportKinds = []reportKind{
	{"PolicyReport", "policyreports.wgpolicyk8s.io", func() client.Object { return &wgpolicyv1alpha2.PolicyReport{} },
		func(o client.Object) (*report.Report, bool) {
			r, ok := o.(*wgpolicyv1alpha2.PolicyReport)
			return convertOK(r, ok, report.FromPolicyReport)
		}},
	{"ClusterPolicyReport", "clusterpolicyreports.wgpolicyk8s.io", func() client.Object { return &wgpolicyv1alpha2.ClusterPolicyReport{} },
		func(o client.Object) (*report.Report, bool) {
			r, ok := o.(*wgpolicyv1alpha2.ClusterPolicyReport)
			return convertOK(r, ok, report.FromClusterPolicyReport)
		}},
	{"Report", "reports.openreports.io", func() client.Object { return &openreportsv1alpha1.Report{} },
		func(o client.Object) (*report.Report, bool) {
			r, ok := o.(*openreportsv1alpha1.Report)
			return convertOK(r, ok, report.FromReport)
		}},
	{"ClusterReport", "clusterreports.openreports.io", func() client.Object { return &openreportsv1alpha1.ClusterReport{} },
		func(o client.Object) (*report.Report, bool) {
			r, ok := o.(*openreportsv1alpha1.ClusterReport)
			return convertOK(r, ok, report.FromClusterReport)
		}},
}

func convertOK[T any](r *T, ok bool, f func(*T) *report.Report) (*report.Report, bool) {
	if !ok || r == nil {
		return nil, false
	}
	return f(r), true
}

// watchReports starts informers for the report APIs installed now and waits until they are
// listed; APIs installed later are watched as soon as their CRD appears.
func (e *Engine) watchReports(ctx context.Context) error {
	w := &reportWatcher{e: e, started: map[string]bool{}}
	var wg sync.WaitGroup
	for _, k := range reportKinds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.tryStart(ctx, k); err != nil {
				e.log.V(1).Info("report API not installed yet", "crd", k.crd)
			}
		}()
	}
	wg.Wait()
	crds := &metav1.PartialObjectMetadata{}
	crds.SetGroupVersionKind(apiextensionsv1.SchemeGroupVersion.WithKind("CustomResourceDefinition"))
	inf, err := e.cache.GetInformer(ctx, crds)
	if err != nil {
		return fmt.Errorf("watching CustomResourceDefinitions: %w", err)
	}
	_, err = inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { w.crdChanged(ctx, o) },
		UpdateFunc: func(_, o any) { w.crdChanged(ctx, o) },
	})
	return err
}

type reportWatcher struct {
	e       *Engine
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
	inf, err := w.e.cache.GetInformer(ctx, k.newObj())
	if err != nil {
		return err
	}
	h := reportHandler{e: w.e, kind: k}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    h.upsert,
		UpdateFunc: func(_, o any) { h.upsert(o) },
		DeleteFunc: h.remove,
	}); err != nil {
		return err
	}
	if !toolscache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return ctx.Err()
	}
	w.e.log.Info("watching reports", "crd", k.crd)
	return nil
}

type reportHandler struct {
	e    *Engine
	kind reportKind
}

// upsert converts a report and hands it to the engine. A report that cannot be converted is
// logged and skipped; it never stops the operator.
func (h reportHandler) upsert(o any) {
	obj, ok := o.(client.Object)
	if !ok {
		return
	}
	defer func() {
		if r := recover(); r != nil {
			h.e.log.Error(fmt.Errorf("%v", r), "skipping a report that cannot be read",
				"crd", h.kind.crd, "namespace", obj.GetNamespace(), "name", obj.GetName())
		}
	}()
	rep, ok := h.kind.convert(obj)
	if !ok {
		return
	}
	h.e.upsertReport(rep)
}

func (h reportHandler) remove(o any) {
	if d, ok := o.(toolscache.DeletedFinalStateUnknown); ok {
		o = d.Obj
	}
	if obj, ok := o.(client.Object); ok {
		h.e.deleteReport(report.Key(h.kind.kind, obj.GetNamespace(), obj.GetName()))
	}
}

// watchNamespaces keeps the labels of every namespace for namespace selectors.
func (e *Engine) watchNamespaces(ctx context.Context) error {
	ns := &metav1.PartialObjectMetadata{}
	ns.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	inf, err := e.cache.GetInformer(ctx, ns)
	if err != nil {
		return fmt.Errorf("watching namespaces: %w", err)
	}
	set := func(o any) {
		if m, ok := o.(client.Object); ok {
			e.mu.Lock()
			e.nsLabels[m.GetName()] = labels.Set(m.GetLabels())
			e.mu.Unlock()
		}
	}
	_, err = inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    set,
		UpdateFunc: func(_, o any) { set(o) },
		DeleteFunc: func(o any) {
			if d, ok := o.(toolscache.DeletedFinalStateUnknown); ok {
				o = d.Obj
			}
			if m, ok := o.(client.Object); ok {
				e.mu.Lock()
				delete(e.nsLabels, m.GetName())
				e.mu.Unlock()
			}
		},
	})
	if err != nil {
		return err
	}
	if !toolscache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return ctx.Err()
	}
	return nil
}
