package controllers

import (
	"context"

	ctrl "sigs.k8s.io/controller-runtime"
)

// SetupAll registers every reconciler with the manager.
func SetupAll(ctx context.Context, mgr ctrl.Manager) error {
	deps := Deps{
		Client:       mgr.GetClient(),
		SecretReader: mgr.GetAPIReader(),
		Recorder:     mgr.GetEventRecorder("policy-herald"),
	}
	for _, r := range []interface {
		SetupWithManager(context.Context, ctrl.Manager) error
	}{
		&NotificationTargetReconciler{Deps: deps},
		&TargetChannelReconciler{Deps: deps},
		&EmailReportScheduleReconciler{Deps: deps},
		&MetricsProfileReconciler{Deps: deps},
		&BlockReportPolicyReconciler{Deps: deps},
	} {
		if err := r.SetupWithManager(ctx, mgr); err != nil {
			return err
		}
	}
	return nil
}
