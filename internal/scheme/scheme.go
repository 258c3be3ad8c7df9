// Package scheme builds the runtime.Scheme of every API the operator reads or writes.
package scheme

import (
	openreportsv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	wgpolicyv1alpha2 "github.com/policyherald/policy-herald/api/wgpolicyk8s/v1alpha2"
)

// New returns a scheme with the Kubernetes built-in kinds, Policy Herald's kinds, and the
// report kinds of wgpolicyk8s.io/v1alpha2 and openreports.io/v1alpha1.
func New() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(v1alpha1.AddToScheme(s))
	utilruntime.Must(wgpolicyv1alpha2.AddToScheme(s))
	utilruntime.Must(openreportsv1alpha1.Install(s))
	return s
}
