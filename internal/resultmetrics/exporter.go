// Package resultmetrics exports the policy results of the report store as the Prometheus gauges
// policy_report_result (PolicyReport, Report) and cluster_policy_report_result
// (ClusterPolicyReport, ClusterReport), shaped by the MetricsProfiles of the cluster.
//
// Every series carries the label profile ("<namespace>/<name>", or "default" for the implicit
// default profile), so several profiles never produce duplicate series. Every series of both
// families carries the union of the label names of the profiles in effect: a profile's series
// have "" for the labels only other profiles use. Prometheus treats an empty label as absent, so
// a series keeps its identity when another profile comes or goes, and the family keeps one set
// of label names, as client_golang and strict consumers expect.
//
// A source is one series whatever its letter case ("Kyverno", "kyverno"): series are told apart
// by the source's group (report.SourceKey) and labelled with its name, the store's most common
// spelling. When that name flips, the series are relabelled at the next scrape: the same series,
// never a second one.
//
// The exporter is incremental: it subscribes to the store, and a report change replaces that
// report's contribution to each profile (subtract the old, add the new). A scrape only walks
// the series. Only the leader runs the store and so the exporter: other replicas export no
// result gauges.
package resultmetrics

import (
	"context"
	"slices"
	"sort"
	"sync"

	"github.com/go-logr/logr"
	dto "github.com/prometheus/client_model/go"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/policyherald/policy-herald/internal/report"
)

// Family names.
const (
	ResultFamily        = "policy_report_result"
	ClusterResultFamily = "cluster_policy_report_result"
)

// Source is what the exporter reads: the report store.
type Source interface {
	Get(key string) *report.Report
	Keys() []string
	NamespaceLabels(ns string) (labels.Set, bool)
	WaitForSync(ctx context.Context) bool
	// SourceNames names the sources of every result of the store.
	SourceNames() *report.SourceNames
}

// Stats is what the exporter tells about one profile.
type Stats struct {
	// Running says the exporter exports (it runs on the leader and the store is synced).
	Running bool
	// Known says the profile is registered.
	Known bool
	// Series is the number of series the profile exports.
	Series int
	// Refused counts the results the profile does not count because of its maxSeries.
	Refused int
}

// Exporter is the result metrics collector. Create it with New, subscribe it to the store,
// add it to the manager (leader only) and register it with a Prometheus registry.
type Exporter struct {
	src        Source
	names      *report.SourceNames
	platformNS string
	log        logr.Logger

	mu       sync.Mutex
	running  bool
	profiles map[string]*state // registered profiles by key
	def      *state            // the implicit default profile; nil while a platform profile exists
	gen      int               // generation of union: series rebuild their label pairs when it changes
	union    []string          // sorted label names of every family, profile included
	empty    []*dto.LabelPair  // union[i] with value "", shared by every series
	namesGen uint64            // generation of names the source labels were looked up at

	dirtyMu sync.Mutex
	dirty   map[string]struct{}
	wake    chan struct{}
}

// New returns an exporter of the reports of src; profiles in platformNamespace see every
// namespace and the cluster reports.
func New(src Source, platformNamespace string, log logr.Logger) *Exporter {
	e := &Exporter{
		src: src, names: src.SourceNames(), platformNS: platformNamespace, log: log,
		profiles: map[string]*state{},
		dirty:    map[string]struct{}{},
		wake:     make(chan struct{}, 1),
	}
	def, err := Compile("", DefaultProfile, DefaultSpec(), platformNamespace)
	if err != nil {
		panic(err) // the default spec is a constant
	}
	e.def = newState(def, e.names)
	e.def.active = true // until a platform profile replaces it
	e.relabel()
	return e
}

// NeedLeaderElection makes the exporter run on the leader only, where the store runs.
func (e *Exporter) NeedLeaderElection() bool { return true }

// ReportChanged notes a changed report; the exporter's goroutine recomputes it.
func (e *Exporter) ReportChanged(key string) {
	e.dirtyMu.Lock()
	e.dirty[key] = struct{}{}
	e.dirtyMu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Start waits for the store, counts every report and then follows the changes until ctx ends,
// when it drops every series (a replica that is no longer the leader exports none).
func (e *Exporter) Start(ctx context.Context) error {
	if !e.src.WaitForSync(ctx) {
		return nil
	}
	e.mu.Lock()
	e.running = true
	keys := e.src.Keys()
	for _, st := range e.states() {
		e.rebuild(st, keys)
	}
	e.mu.Unlock()
	e.log.Info("exporting result metrics", "reports", len(keys))
	defer func() {
		e.mu.Lock()
		e.running = false
		for _, st := range e.states() {
			st.reset()
		}
		e.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-e.wake:
		}
		e.flush()
	}
}

// flush recomputes the reports that changed.
func (e *Exporter) flush() {
	e.dirtyMu.Lock()
	dirty := e.dirty
	e.dirty = map[string]struct{}{}
	e.dirtyMu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	states := e.states()
	for key := range dirty {
		rep := e.src.Get(key)
		for _, st := range states {
			st.apply(key, rep, e.src.NamespaceLabels)
		}
	}
}

// Set registers or updates a profile. A profile that counts what it already counts is left
// alone, so a resync costs nothing.
func (e *Exporter) Set(p *Profile) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if old := e.profiles[p.Key]; old != nil && old.p.same(p) {
		return
	}
	st := newState(p, e.names)
	e.profiles[p.Key] = st
	e.changed()
	if e.running {
		e.rebuild(st, e.src.Keys())
	}
}

// Remove unregisters the profile with key; its series go away.
func (e *Exporter) Remove(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.profiles[key]; !ok {
		return
	}
	delete(e.profiles, key)
	e.changed()
}

// Stats returns what the exporter tells about the profile with key.
func (e *Exporter) Stats(key string) Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.profiles[key]
	if key == DefaultProfile {
		st = e.def
	}
	if st == nil {
		return Stats{Running: e.running}
	}
	return Stats{Running: e.running, Known: true, Series: len(st.series), Refused: st.refused}
}

// changed re-decides the default profile and the label union after profiles changed.
func (e *Exporter) changed() {
	platform := false
	for _, st := range e.profiles {
		platform = platform || !st.p.tenant
	}
	switch {
	case platform && e.def.active:
		e.def.reset()
		e.def.active = false
	case !platform && !e.def.active:
		e.def.active = true
		if e.running {
			e.rebuild(e.def, e.src.Keys())
		}
	}
	e.relabel()
}

// relabel recomputes the label union; series rebuild their label pairs at the next scrape.
func (e *Exporter) relabel() {
	set := map[string]struct{}{"profile": {}}
	for _, st := range e.states() {
		for _, n := range st.p.Names {
			set[n] = struct{}{}
		}
	}
	union := make([]string, 0, len(set))
	for n := range set {
		union = append(union, n)
	}
	sort.Strings(union)
	if !slices.Equal(union, e.union) {
		e.union, e.gen = union, e.gen+1
		e.empty = make([]*dto.LabelPair, len(union))
		empty := ""
		for i := range union {
			e.empty[i] = &dto.LabelPair{Name: &union[i], Value: &empty}
		}
	}
	for _, st := range e.states() {
		if st.gen != e.gen {
			st.layout(e.union, e.empty, e.gen)
		}
	}
}

// states returns the profiles in effect: the registered ones and the active default.
func (e *Exporter) states() []*state {
	out := make([]*state, 0, len(e.profiles)+1)
	for _, st := range e.profiles {
		out = append(out, st)
	}
	if e.def.active {
		out = append(out, e.def)
	}
	return out
}

// rebuild recounts every report for st.
func (e *Exporter) rebuild(st *state, keys []string) {
	st.reset()
	for _, k := range keys {
		st.apply(k, e.src.Get(k), e.src.NamespaceLabels)
	}
}
