// Package v1alpha2 holds Go types for the wgpolicyk8s.io/v1alpha2 PolicyReport and
// ClusterPolicyReport APIs written by Kyverno, Trivy, Falco, kube-bench and others. Policy Herald
// only reads them; their CRDs are owned by the policy engines.
// +kubebuilder:object:generate=true
// +kubebuilder:skip
// +groupName=wgpolicyk8s.io
package v1alpha2

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion of the Policy WG report API.
	GroupVersion = schema.GroupVersion{Group: "wgpolicyk8s.io", Version: "v1alpha2"}

	// SchemeBuilder registers the report kinds with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(func(s *runtime.Scheme) error {
		metav1.AddToGroupVersion(s, GroupVersion)
		return nil
	})

	// AddToScheme adds the report kinds to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// register adds kinds to SchemeBuilder; each types file calls it from init. (apimachinery's
// builder, not controller-runtime's deprecated scheme.Builder, keeps this package's imports to
// apimachinery.)
func register(objs ...runtime.Object) {
	SchemeBuilder.Register(func(s *runtime.Scheme) error {
		s.AddKnownTypes(GroupVersion, objs...)
		return nil
	})
}
