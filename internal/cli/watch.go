package cli

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/policyherald/policy-herald/internal/console/query"
	"github.com/policyherald/policy-herald/internal/report"
)

// watch prints the results of sel that appear after the list, until ctx ends: every kind is
// watched from the version it was listed at, and a result is printed when a report is created
// or changed with a result not printed before (seen, by result identity).
func (r *reader) watch(ctx context.Context, sel query.Selection, seen map[string]bool, row func(query.Row) error, p rowPrinter) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	reps := make(chan *report.Report)
	errs := make(chan error, len(r.kinds))
	for _, k := range r.kinds {
		go func() { errs <- r.watchKind(ctx, k, reps) }()
	}
	fresh := func(q query.Row) error {
		if seen[q.ID] {
			return nil
		}
		return row(q)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errs:
			return err
		case rep := <-reps:
			if err := printSource(newSource([]*report.Report{rep}, r.names), sel, fresh, p); err != nil {
				return err
			}
		}
	}
}

// watchKind sends every report of k created or changed after the list, watching again from the
// last version seen when the server ends a watch (it does every few minutes).
func (r *reader) watchKind(ctx context.Context, k reportKind, out chan<- *report.Report) error {
	rv := r.versions[k.kind]
	for ctx.Err() == nil {
		opts := append(r.sc.listOptions(), &client.ListOptions{Raw: watchOptions(rv)})
		w, err := r.cl.c.Watch(ctx, k.newList(), opts...)
		if err != nil {
			return r.cl.explain(err, "watch", k.resource, r.sc.namespace)
		}
		if rv, err = forward(ctx, w, k, rv, out); err != nil {
			return err
		}
	}
	return nil
}

// forward sends the reports of w's events and returns the last version seen.
func forward(ctx context.Context, w watch.Interface, k reportKind, rv string, out chan<- *report.Report) (string, error) {
	defer w.Stop()
	for ev := range w.ResultChan() {
		switch ev.Type {
		case watch.Error:
			err := apierrors.FromObject(ev.Object)
			if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
				// The version is compacted away: watch from the current state, whose reports
				// come as added; results already printed are not printed again.
				return "", nil
			}
			return rv, fmt.Errorf("watching %s: %w", k.resource, err)
		case watch.Added, watch.Modified:
			o, ok := ev.Object.(client.Object)
			if !ok {
				continue
			}
			rv = o.GetResourceVersion()
			if rep := k.convertOne(o); rep != nil {
				select {
				case out <- rep:
				case <-ctx.Done():
					return rv, nil
				}
			}
		}
	}
	return rv, nil
}

// watchOptions start a watch after version rv (the list's, then the last event's).
func watchOptions(rv string) *metav1.ListOptions {
	return &metav1.ListOptions{ResourceVersion: rv}
}
