package main

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	wgpolicy "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
)

// startFloor runs the floor: a bare client-go informer on PolicyReports (typed, no cache
// transforms, no work per event but hashing each result), in the harness process. The time it
// needs to see a result is what any watcher of the API server needs, so the operator is judged
// against it rather than against the clock.
func startFloor(ctx context.Context, cfg *rest.Config, t *tracker) (synced func() bool, err error) {
	s := runtime.NewScheme()
	if err := wgpolicy.AddToScheme(s); err != nil {
		return nil, err
	}
	c := rest.CopyConfig(cfg)
	c.GroupVersion = &wgpolicy.GroupVersion
	c.APIPath = "/apis"
	c.NegotiatedSerializer = serializer.NewCodecFactory(s).WithoutConversion()
	rc, err := rest.RESTClientFor(c)
	if err != nil {
		return nil, fmt.Errorf("floor client: %w", err)
	}
	lw := cache.NewListWatchFromClient(rc, "policyreports", metav1.NamespaceAll, fields.Everything())
	inf := cache.NewSharedIndexInformer(lw, &wgpolicy.PolicyReport{}, 0, cache.Indexers{})
	see := func(obj any) {
		now := time.Now()
		r, ok := obj.(*wgpolicy.PolicyReport)
		if !ok {
			return
		}
		for i := range r.Results {
			t.saw(hashOf(r, &r.Results[i]), now)
		}
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    see,
		UpdateFunc: func(_, obj any) { see(obj) },
	}); err != nil {
		return nil, err
	}
	go inf.Run(ctx.Done())
	return inf.HasSynced, nil
}
