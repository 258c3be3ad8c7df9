// Package v1alpha1 contains the Policy Herald API: where policy results are delivered
// (NotificationTarget, TargetChannel), scheduled e-mail reports (EmailReportSchedule), metrics
// shape (MetricsProfile) and blocked-admission reporting (BlockReportPolicy).
// +kubebuilder:object:generate=true
// +groupName=reporting.policyherald.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of every Policy Herald kind.
	GroupVersion = schema.GroupVersion{Group: "reporting.policyherald.io", Version: "v1alpha1"}

	// SchemeBuilder registers the Policy Herald kinds with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(func(s *runtime.Scheme) error {
		metav1.AddToGroupVersion(s, GroupVersion)
		return nil
	})

	// AddToScheme adds the Policy Herald kinds to a runtime.Scheme.
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
