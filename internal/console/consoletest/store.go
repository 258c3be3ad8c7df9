package consoletest

import (
	"context"
	"fmt"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/policyherald/policy-herald/internal/scheme"
	"github.com/policyherald/policy-herald/internal/store"
	"github.com/policyherald/policy-herald/internal/testing/wait"
)

// StartStore runs the operator's report store on the cluster until ctx ends, and returns once
// it holds every report and result created.
func (w *World) StartStore(ctx context.Context) error {
	sch := scheme.New()
	ca, err := cache.New(w.Cfg, cache.Options{Scheme: sch})
	if err != nil {
		return err
	}
	w.Cache = ca
	go func() { _ = ca.Start(ctx) }()
	wc, err := client.NewWithWatch(w.Cfg, client.Options{Scheme: sch})
	if err != nil {
		return err
	}
	w.Store = store.New(wc, ca, zap.New(zap.UseDevMode(true)))
	go func() { _ = w.Store.Start(ctx) }()
	if !wait.Until(30*time.Second, func() bool { return w.Store.Results() == w.Total() && w.Store.Len() == len(w.Reports) }) {
		return fmt.Errorf("the store holds %d reports, %d results; want %d, %d", w.Store.Len(), w.Store.Results(), len(w.Reports), w.Total())
	}
	return nil
}
