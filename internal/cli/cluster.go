package cli

import (
	"errors"
	"fmt"
	"net"
	"net/url"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/policyherald/policy-herald/internal/scheme"
)

// cluster is a connection to the cluster of the person's kubeconfig.
type cluster struct {
	cfg  *rest.Config
	c    client.WithWatch
	disc discovery.DiscoveryInterface
	// context is the kubeconfig context used, for errors.
	context string
}

// connect builds the clients from the kubeconfig flags. Nothing is sent to the cluster yet.
func (o *Options) connect() (*cluster, error) {
	cfg, err := o.Flags.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("reading the kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = 50, 100
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		return nil, err
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	cl := &cluster{cfg: cfg, c: c, disc: disc}
	if raw, err := o.Flags.ToRawKubeConfigLoader().RawConfig(); err == nil {
		cl.context = raw.CurrentContext
		if o.Flags.Context != nil && *o.Flags.Context != "" {
			cl.context = *o.Flags.Context
		}
	}
	return cl, nil
}

// served reports whether the cluster serves groupVersion. An unreachable cluster is an error
// that says so.
func (cl *cluster) served(groupVersion string) (bool, error) {
	_, err := cl.disc.ServerResourcesForGroupVersion(groupVersion)
	switch {
	case err == nil:
		return true, nil
	case apierrors.IsNotFound(err):
		return false, nil
	}
	return false, cl.explain(err, "discover", groupVersion, "")
}

// explain turns err into what a person can act on: no permission names the verb and the
// resource, an unreachable cluster names the context and the server.
func (cl *cluster) explain(err error, verb, resource, namespace string) error {
	var status apierrors.APIStatus
	switch {
	case apierrors.IsForbidden(err):
		where := "cluster-wide"
		if namespace != "" {
			where = fmt.Sprintf("in namespace %q", namespace)
		}
		msg := err.Error()
		if errors.As(err, &status) {
			msg = status.Status().Message
		}
		return fmt.Errorf("no permission to %s %s %s: %s", verb, resource, where, msg)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("the cluster of context %q does not accept your credentials (%s %s): %w", cl.context, verb, resource, err)
	case unreachable(err):
		return fmt.Errorf("cannot reach the cluster of context %q at %s: %w", cl.context, cl.cfg.Host, err)
	}
	return fmt.Errorf("%s %s: %w", verb, resource, err)
}

// unreachable reports whether err is a network failure rather than an answer of the server.
func unreachable(err error) bool {
	var ne net.Error
	var ue *url.Error
	return errors.As(err, &ne) || errors.As(err, &ue)
}
