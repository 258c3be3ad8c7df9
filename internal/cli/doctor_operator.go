package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// What config/default installs: the namespace, and the labels of the operator's Deployment
// (config/manager with the labels config/default adds).
const (
	defaultOperatorNS = "policy-herald-system"
	// leaseName is the operator's LeaderElectionID (main.go).
	leaseName = "policy-herald.reporting.policyherald.io"
	// managerContainer is the operator's container in its Deployment.
	managerContainer = "manager"
)

var operatorLabels = client.MatchingLabels{"control-plane": "controller-manager", "app.kubernetes.io/name": "policy-herald"}

// checkOperator checks the operator's Deployment and, through it, its leader Lease.
func (d *doctor) checkOperator(ctx context.Context) error {
	deps, err := d.findDeployments(ctx, operatorLabels)
	if err != nil {
		return d.cannot(err, "operator", "list", "deployments.apps", d.operatorNS)
	}
	if len(deps) == 0 {
		d.add("operator", checkFail, fmt.Sprintf("no operator Deployment (labels %s) in %s", labelsOf(operatorLabels), d.searched()),
			"install it: kubectl apply -f dist/install.yaml; or name its namespace with --operator-namespace")
		return nil
	}
	dep := &deps[0]
	d.operatorNS = dep.Namespace
	d.add(deploymentCheck("operator", dep))
	return d.checkLease(ctx, dep)
}

// findDeployments lists the Deployments with labels in the operator's namespace: the flag's,
// else config/default's and, if there are none there, any namespace the caller may list.
func (d *doctor) findDeployments(ctx context.Context, labels client.MatchingLabels) ([]appsv1.Deployment, error) {
	ns := d.operatorNS
	if ns == "" {
		ns = defaultOperatorNS
	}
	var list appsv1.DeploymentList
	err := d.cl.c.List(ctx, &list, client.InNamespace(ns), labels)
	if err == nil && len(list.Items) == 0 && !d.explicitNS && d.operatorNS == "" {
		if d.cl.c.List(ctx, &list, labels) != nil { // not allowed cluster-wide: the default is the answer
			list.Items = nil
		}
	}
	if d.operatorNS == "" {
		d.operatorNS = ns
	}
	return list.Items, err
}

// searched names where findDeployments looked.
func (d *doctor) searched() string {
	if d.explicitNS {
		return fmt.Sprintf("namespace %q", d.operatorNS)
	}
	return fmt.Sprintf("namespace %q or any namespace you may list", d.operatorNS)
}

// deploymentCheck is the line of a Deployment: its replicas available, and its image.
func deploymentCheck(name string, dep *appsv1.Deployment) (string, string, string, string) {
	want := replicas(dep)
	ref := dep.Namespace + "/" + dep.Name
	describe := fmt.Sprintf("kubectl describe deployment -n %s %s; kubectl logs -n %s deployment/%s", dep.Namespace, dep.Name, dep.Namespace, dep.Name)
	st := dep.Status
	detail := fmt.Sprintf("%s: %d/%d replicas available, image %s", ref, st.AvailableReplicas, want, image(dep))
	switch {
	case want == 0:
		return name, checkFail, ref + " is scaled to 0 replicas",
			fmt.Sprintf("kubectl scale deployment -n %s %s --replicas=1", dep.Namespace, dep.Name)
	case st.AvailableReplicas == 0:
		return name, checkFail, detail, describe
	case st.AvailableReplicas < want || st.UpdatedReplicas < want || st.ObservedGeneration < dep.Generation:
		return name, checkWarn, detail + fmt.Sprintf(" (%d updated: a rollout is under way or stuck)", st.UpdatedReplicas), describe
	}
	return name, checkOK, detail, ""
}

// replicas is how many replicas dep asks for (1 when unset, as the API server defaults it).
func replicas(dep *appsv1.Deployment) int32 {
	if dep.Spec.Replicas == nil {
		return 1
	}
	return *dep.Spec.Replicas
}

// image is the image of the Deployment's manager container, else of its first.
func image(dep *appsv1.Deployment) string {
	cs := dep.Spec.Template.Spec.Containers
	for _, c := range cs {
		if c.Name == managerContainer {
			return c.Image
		}
	}
	if len(cs) > 0 {
		return cs[0].Image
	}
	return "(none)"
}

// checkLease checks that a replica leads and renews its Lease: stale when renewTime +
// leaseDurationSeconds is past, as a candidate deciding to take over would judge it.
func (d *doctor) checkLease(ctx context.Context, dep *appsv1.Deployment) error {
	args := managerArgs(dep)
	if !hasFlag(args, "leader-elect") {
		if n := replicas(dep); n > 1 {
			d.add("leader lease", checkWarn, fmt.Sprintf("%d replicas without --leader-elect: each delivers every result", n),
				"add --leader-elect to the manager's args (config/manager does)")
		} else {
			d.add("leader lease", checkOK, "leader election is off (one replica)", "")
		}
		return nil
	}
	ns := flagValue(args, "leader-election-namespace", dep.Namespace)
	lease := &coordinationv1.Lease{}
	err := d.cl.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: leaseName}, lease)
	logs := fmt.Sprintf("kubectl logs -n %s deployment/%s", dep.Namespace, dep.Name)
	if apierrors.IsNotFound(err) {
		d.add("leader lease", checkFail, fmt.Sprintf("no Lease %s/%s: no replica has become leader, nothing is delivered", ns, leaseName), logs)
		return nil
	}
	if err != nil {
		return d.cannot(err, "leader lease", "get", "leases.coordination.k8s.io", ns)
	}
	d.add(leaseCheck(lease, d.o.Now(), logs))
	return nil
}

func leaseCheck(l *coordinationv1.Lease, now time.Time, logs string) (string, string, string, string) {
	ref := l.Namespace + "/" + l.Name
	holder := ""
	if l.Spec.HolderIdentity != nil {
		holder = *l.Spec.HolderIdentity
	}
	if holder == "" || l.Spec.RenewTime == nil {
		return "leader lease", checkFail, ref + " is not held: no replica leads, nothing is delivered", logs
	}
	dur := time.Duration(15) * time.Second
	if l.Spec.LeaseDurationSeconds != nil {
		dur = time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second
	}
	renewed := l.Spec.RenewTime.Time
	detail := fmt.Sprintf("%s held by %s, renewed %s ago (lease %s)", ref, holder, age(renewed, now), dur)
	if renewed.Add(dur).Before(now) {
		return "leader lease", checkFail, detail + ": the leader stopped renewing, nothing is delivered",
			logs + "; if its pod is gone, the next replica takes over once the lease expires"
	}
	return "leader lease", checkOK, detail, ""
}

// managerArgs are the args of the manager container.
func managerArgs(dep *appsv1.Deployment) []string {
	for _, c := range dep.Spec.Template.Spec.Containers {
		if c.Name == managerContainer {
			return append(append([]string{}, c.Command...), c.Args...)
		}
	}
	return nil
}

// hasFlag reports whether args turn the boolean flag name on (--name or --name=true).
func hasFlag(args []string, name string) bool {
	for _, a := range args {
		switch strings.TrimLeft(a, "-") {
		case name, name + "=true":
			return true
		}
	}
	return false
}

// flagValue is the value of --name=value or --name value in args, else def.
func flagValue(args []string, name, def string) string {
	for i, a := range args {
		a = strings.TrimLeft(a, "-")
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return def
}

func labelsOf(l client.MatchingLabels) string {
	var parts []string
	for _, k := range []string{"control-plane", "app.kubernetes.io/name", "app.kubernetes.io/component"} {
		if v, ok := l[k]; ok {
			parts = append(parts, k+"="+v)
		}
	}
	return strings.Join(parts, ",")
}

// cannot turns a failed read into a WARN naming the verb and the resource the caller lacks;
// other errors (an unreachable cluster) stop doctor.
func (d *doctor) cannot(err error, name, verb, resource, ns string) error {
	if !apierrors.IsForbidden(err) {
		return d.cl.explain(err, verb, resource, ns)
	}
	where := "cluster-wide"
	if ns != "" {
		where = "in namespace " + ns
	}
	d.add(name, checkWarn, fmt.Sprintf("not checked: you may not %s %s %s", verb, resource, where),
		fmt.Sprintf("ask for %s on %s %s (or run doctor as someone who may)", verb, resource, where))
	return nil
}
