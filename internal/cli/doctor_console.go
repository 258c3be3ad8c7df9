package cli

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// consoleLabels are the labels of the console's Deployment and Service (config/console with
// the labels config/default adds).
var consoleLabels = client.MatchingLabels{"app.kubernetes.io/component": "console", "app.kubernetes.io/name": "policy-herald"}

// checkConsole checks the console, if installed next to the operator: its Deployment available
// and its Service with ready endpoints. The EndpointSlices say whether it can be reached; doctor
// does not connect to it.
func (d *doctor) checkConsole(ctx context.Context) error {
	deps, err := d.findDeployments(ctx, consoleLabels)
	if err != nil {
		return d.cannot(err, "console", "list", "deployments.apps", d.operatorNS)
	}
	if len(deps) == 0 {
		d.add("console", checkOK, "not installed (optional: config/console)", "")
		return nil
	}
	dep := &deps[0]
	name, status, detail, next := deploymentCheck("console", dep)
	if status != checkOK {
		d.add(name, status, detail, next)
		return nil
	}
	var svcs corev1.ServiceList
	if err := d.cl.c.List(ctx, &svcs, client.InNamespace(dep.Namespace), consoleLabels); err != nil {
		return d.cannot(err, "console", "list", "services", dep.Namespace)
	}
	if len(svcs.Items) == 0 {
		d.add("console", checkFail, detail+"; no Service of it (labels "+labelsOf(consoleLabels)+")", "kubectl apply -k config/console")
		return nil
	}
	svc := &svcs.Items[0]
	ready, err := d.readyEndpoints(ctx, svc)
	if err != nil {
		return d.cannot(err, "console", "list", "endpointslices.discovery.k8s.io", svc.Namespace)
	}
	if ready == 0 {
		d.add("console", checkFail, fmt.Sprintf("%s; Service %s has no ready endpoints", detail, svc.Name),
			fmt.Sprintf("kubectl describe service -n %s %s (its selector must match the console's pods)", svc.Namespace, svc.Name))
		return nil
	}
	d.add("console", checkOK, fmt.Sprintf("%s; Service %s has %d ready endpoints", detail, svc.Name, ready), "")
	return nil
}

// readyEndpoints counts the ready endpoints of svc's EndpointSlices (no condition is ready).
func (d *doctor) readyEndpoints(ctx context.Context, svc *corev1.Service) (int, error) {
	var slices discoveryv1.EndpointSliceList
	err := d.cl.c.List(ctx, &slices, client.InNamespace(svc.Namespace), client.MatchingLabels{discoveryv1.LabelServiceName: svc.Name})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range slices.Items {
		for _, e := range s.Endpoints {
			if e.Conditions.Ready == nil || *e.Conditions.Ready {
				n++
			}
		}
	}
	return n, nil
}
