// Package store is the one report store of the operator: it watches every installed report API
// (wgpolicyk8s.io PolicyReport/ClusterPolicyReport, openreports.io Report/ClusterReport) and
// namespace labels, and keeps only what the operator needs of each report: the compact model of
// package report, not the raw object. Delivery (and every later reader: metrics, email, block
// reports) reads this snapshot and subscribes to its changes; nothing else lists reports.
//
// The store also counts the spellings of every source (SourceNames), so every reader groups and
// shows a source one way whatever its letter case.
package store

import (
	"context"
	"sync"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/policyherald/policy-herald/internal/report"
)

// Subscriber is told about changes of the snapshot. Its methods are called from the watch
// goroutines and must not block: a subscriber notes what changed and reads it later.
type Subscriber interface {
	// ReportChanged says the report with key was added, changed or deleted.
	ReportChanged(key string)
}

// Store holds the compact snapshot of every report and the labels of every namespace.
type Store struct {
	client client.WithWatch // lists and watches reports
	cache  cache.Cache      // the manager's cache, for metadata-only watches (CRDs, namespaces)
	log    logr.Logger
	events events.EventRecorder // optional: Warnings on reports a person should know about

	mu       sync.RWMutex
	reports  map[string]*report.Report
	byNS     map[string]map[string]struct{} // namespace → keys of its reports
	results  int
	nsLabels map[string]labels.Set
	names    *report.SourceNames // counted as reports come and go
	subs     []Subscriber
	synced   chan struct{}
}

// New returns a store that lists and watches reports with c (the manager's HTTP client and
// REST mapper keep its start fast); start it with a manager (it runs on the leader only, like
// delivery).
func New(c client.WithWatch, ca cache.Cache, log logr.Logger) *Store {
	return &Store{
		client: c, cache: ca, log: log,
		reports:  map[string]*report.Report{},
		byNS:     map[string]map[string]struct{}{},
		nsLabels: map[string]labels.Set{},
		names:    report.NewSourceNames(),
		synced:   make(chan struct{}),
	}
}

// RecordTo makes the store record Warning Events on reports it finds damaged (see
// lostOutcomes), where `kubectl describe` shows them next to the report. Call it before Start.
func (s *Store) RecordTo(r events.EventRecorder) { s.events = r }

// NeedLeaderElection makes only the leader watch reports.
func (s *Store) NeedLeaderElection() bool { return true }

// Start watches namespaces and reports until ctx ends. The snapshot is synced once every
// report API installed now is listed; APIs installed later join when their CRD appears.
func (s *Store) Start(ctx context.Context) error {
	// Namespaces and reports are listed at the same time: a start waits for the longer only.
	nsErr := make(chan error, 1)
	go func() { nsErr <- s.watchNamespaces(ctx) }()
	err := s.watchReports(ctx)
	if nsE := <-nsErr; err == nil {
		err = nsE
	}
	if ctx.Err() != nil {
		return nil // stopped while starting: whatever failed failed because of that
	}
	if err != nil {
		return err
	}
	close(s.synced)
	s.log.Info("report store synced", "reports", s.Len(), "results", s.Results())
	<-ctx.Done()
	return nil
}

// WaitForSync blocks until the snapshot holds every installed report API, or ctx ends.
func (s *Store) WaitForSync(ctx context.Context) bool {
	select {
	case <-s.synced:
		return true
	case <-ctx.Done():
		return false
	}
}

// Subscribe registers sub for changes; call it before Start.
func (s *Store) Subscribe(sub Subscriber) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.subs = append(s.subs, sub)
}

// Get returns the report with key, nil if there is none. Reports are never modified: a change
// replaces the report, so callers may read it without a lock.
func (s *Store) Get(key string) *report.Report {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.reports[key]
}

// Keys returns the keys of every report.
func (s *Store) Keys() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, 0, len(s.reports))
	for k := range s.reports {
		out = append(out, k)
	}
	return out
}

// Snapshot returns every report.
func (s *Store) Snapshot() []*report.Report {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*report.Report, 0, len(s.reports))
	for _, r := range s.reports {
		out = append(out, r)
	}
	return out
}

// Len returns the number of reports.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.reports)
}

// Results returns the number of results of every report.
func (s *Store) Results() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.results
}

// SourceNames returns the names of the sources of every stored result: group and show a
// result's source as SourceNames().Name(result.Source).
func (s *Store) SourceNames() *report.SourceNames { return s.names }

// NamespaceLabels returns the labels of namespace ns, and whether it is known.
func (s *Store) NamespaceLabels(ns string) (labels.Set, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	l, ok := s.nsLabels[ns]
	return l, ok
}

// Put stores rep, replacing the report of the same key, and tells the subscribers.
func (s *Store) Put(rep *report.Report) {
	key := rep.Key()
	s.mu.Lock()
	old, ok := s.reports[key]
	if ok {
		s.results -= len(old.Results)
	}
	s.names.Replace(old, rep)
	s.reports[key] = rep
	s.results += len(rep.Results)
	keys := s.byNS[rep.Namespace]
	if keys == nil {
		keys = map[string]struct{}{}
		s.byNS[rep.Namespace] = keys
	}
	keys[key] = struct{}{}
	subs := s.subs
	s.mu.Unlock()
	for _, sub := range subs {
		sub.ReportChanged(key)
	}
}

// Delete removes the report with key and tells the subscribers.
func (s *Store) Delete(key string) {
	s.mu.Lock()
	old, ok := s.reports[key]
	if ok {
		s.results -= len(old.Results)
		s.names.Replace(old, nil)
		delete(s.reports, key)
		delete(s.byNS[old.Namespace], key)
		if len(s.byNS[old.Namespace]) == 0 {
			delete(s.byNS, old.Namespace)
		}
	}
	subs := s.subs
	s.mu.Unlock()
	if !ok {
		return
	}
	for _, sub := range subs {
		sub.ReportChanged(key)
	}
}

// setNamespaceLabels records a namespace's labels; when they changed, the reports of that
// namespace count as changed (a namespace selector may now match them).
func (s *Store) setNamespaceLabels(ns string, l labels.Set, deleted bool) {
	s.mu.Lock()
	old, known := s.nsLabels[ns]
	if deleted {
		delete(s.nsLabels, ns)
	} else {
		s.nsLabels[ns] = l
	}
	changed := !deleted && known && !labels.Equals(old, l)
	var keys []string
	if changed {
		for k := range s.byNS[ns] {
			keys = append(keys, k)
		}
	}
	subs := s.subs
	s.mu.Unlock()
	for _, k := range keys {
		for _, sub := range subs {
			sub.ReportChanged(k)
		}
	}
}
