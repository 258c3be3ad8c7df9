// Package v1alpha1 contains the Policy Herald API: where policy results are delivered
// (NotificationTarget, TargetChannel), scheduled e-mail reports (EmailReportSchedule), metrics
// shape (MetricsProfile) and blocked-admission reporting (BlockReportPolicy).
// +kubebuilder:object:generate=true
// +groupName=reporting.policyherald.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of every Policy Herald kind.
	GroupVersion = schema.GroupVersion{Group: "reporting.policyherald.io", Version: "v1alpha1"}

	// SchemeBuilder registers the Policy Herald kinds with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the Policy Herald kinds to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
