package delivery

import (
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/sender"
)

// skipControlled skips the results of it that repeat a result about their resource's controller
// (reportsOnOwners, autogenControllers), when the target or channel skips controlled
// resources; it returns false when none is left. The lookups run outside p.mu: they may ask
// the API server.
func (p *pipeline) skipControlled(it *item) bool {
	if !p.config().Notify.SkipControlled || p.opts.Owners == nil {
		return len(it.hashes) > 0
	}
	ctx := p.workers.ctx
	var owner *report.Resource
	ownerRead := false
	controlled := make([]bool, len(it.hashes))
	skipped := 0
	var last *report.Resource // a batch's results mostly share one Resource
	var lastControlled bool
	for i := range it.batch.Results {
		res := &it.batch.Results[i]
		if !reportsOnOwners(res) {
			continue
		}
		if res.Resource == nil && !ownerRead {
			owner, ownerRead = p.reportOwner(it.batch.Report), true
		}
		r := resourceOf(res, owner)
		if r == nil {
			continue
		}
		if r != last {
			c, ok := p.opts.Owners.Controller(ctx, r)
			last, lastControlled = r, ok && autogenControllers[c]
		}
		if controlled[i] = lastControlled; lastControlled {
			skipped++
		}
	}
	if ctx.Err() != nil {
		// Stopping while looking up: nothing recorded, so the results are offered again by
		// whichever replica leads next (as deliver does).
		p.release(it, outcomeNone)
		return false
	}
	if skipped == 0 {
		return len(it.hashes) > 0
	}
	return p.take(it, outcomeSkipped, func(i int) bool { return controlled[i] })
}

// prefetchOwners starts looking up the resources of new results as they are queued, so their
// answers are there when a worker takes them off the queue.
func (p *pipeline) prefetchOwners(rep *report.Report, results []report.Result, d *Config) {
	if !d.Notify.SkipControlled || p.opts.Owners == nil {
		return
	}
	var last *report.Resource
	for i := range results {
		if !reportsOnOwners(&results[i]) {
			continue
		}
		r := resourceOf(&results[i], rep.Owner)
		if r != nil && r != last {
			p.opts.Owners.Prefetch(r)
			last = r
		}
	}
}

// autogenControllers are the kinds Kyverno's autogen rules report a Pod policy on (and CronJob,
// the Job policies): a result about an object one of them controls repeats a result about the
// controller. An object another kind controls (a Pod of a Node or of a Tekton TaskRun, a
// ReplicaSet of an Argo Rollout) may be the only one its problem is reported on: it is sent.
var autogenControllers = map[schema.GroupKind]bool{
	{Group: "apps", Kind: "Deployment"}: true, {Group: "apps", Kind: "DaemonSet"}: true,
	{Group: "apps", Kind: "StatefulSet"}: true, {Group: "apps", Kind: "ReplicaSet"}: true,
	{Group: "batch", Kind: "Job"}: true, {Group: "batch", Kind: "CronJob"}: true,
	{Kind: "ReplicationController"}: true,
}

// reportsOnOwners says whether res comes from a producer that reports a workload's policies on
// its controller too, so a result about the controlled object repeats one about its owner:
// Kyverno (its autogen rules), whatever the letter case of its source. Other producers' results
// about controlled objects are their only word on them (the Trivy adapter reports on
// ReplicaSets, not on their Deployments): skipping them would lose them. Policy Reporter
// likewise applies uncontrolledOnly to source kyverno only.
func reportsOnOwners(res *report.Result) bool {
	return res.Check != nil && strings.EqualFold(res.Source, "kyverno")
}

// reportOwner returns the owner of the report ref names, nil when it has none or is gone.
func (p *pipeline) reportOwner(ref sender.ReportRef) *report.Resource {
	if rep := p.store.Get(report.Key(ref.Kind, ref.Namespace, ref.Name)); rep != nil {
		return rep.Owner
	}
	return nil
}

// resourceOf is what a result is about, for controlledResources: its resource, else its
// report's owner (a report without scope whose results name none).
func resourceOf(res *report.Result, owner *report.Resource) *report.Resource {
	if res.Resource != nil {
		return res.Resource
	}
	return owner
}
