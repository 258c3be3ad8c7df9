// Package v1alpha2 holds Go types for the wgpolicyk8s.io/v1alpha2 PolicyReport and
// ClusterPolicyReport APIs written by Kyverno, Trivy, Falco, kube-bench and others. Policy Herald
// only reads them; their CRDs are owned by the policy engines.
// +kubebuilder:object:generate=true
// +kubebuilder:skip
// +groupName=wgpolicyk8s.io
package v1alpha2

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion of the Policy WG report API.
	GroupVersion = schema.GroupVersion{Group: "wgpolicyk8s.io", Version: "v1alpha2"}

	// SchemeBuilder registers the report kinds with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the report kinds to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
