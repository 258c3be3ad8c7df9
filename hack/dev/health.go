package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/conditions"
)

// watchHealth prints a table of every Policy Herald object whenever their health changes.
func watchHealth(ctx context.Context, c client.Client) {
	last := ""
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		if table, err := healthTable(ctx, c); err == nil && table != last {
			fmt.Printf("\n%s\n%s", time.Now().Format(time.TimeOnly), table)
			last = table
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func healthTable(ctx context.Context, c client.Client) (string, error) {
	lists := map[string]client.ObjectList{
		"NotificationTarget":  &v1alpha1.NotificationTargetList{},
		"TargetChannel":       &v1alpha1.TargetChannelList{},
		"EmailReportSchedule": &v1alpha1.EmailReportScheduleList{},
		"MetricsProfile":      &v1alpha1.MetricsProfileList{},
		"BlockReportPolicy":   &v1alpha1.BlockReportPolicyList{},
	}
	var rows []string
	for kind, list := range lists {
		if err := c.List(ctx, list); err != nil {
			return "", err
		}
		err := meta.EachListItem(list, func(o runtime.Object) error {
			obj := o.(conditions.Object)
			ready, reason, message := "-", "", ""
			if cond := conditions.Ready(obj); cond != nil {
				ready, reason, message = string(cond.Status), cond.Reason, cond.Message
			}
			delivered := deliveryCounts(obj)
			rows = append(rows, fmt.Sprintf("%s\t%s/%s\t%s\t%s\t%s\t%s", kind, obj.GetNamespace(), obj.GetName(), ready, reason, delivered, message))
			return nil
		})
		if err != nil {
			return "", err
		}
	}
	sort.Strings(rows)
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "KIND\tNAME\tREADY\tREASON\tSENT/FAILED/PENDING\tMESSAGE")
	for _, r := range rows {
		fmt.Fprintln(w, r)
	}
	_ = w.Flush()
	return b.String(), nil
}

// deliveryCounts is "sent/failed/pending" of a target's or channel's results, or of a
// schedule's report runs.
func deliveryCounts(obj conditions.Object) string {
	var d *v1alpha1.DeliveryStatus
	switch o := obj.(type) {
	case *v1alpha1.NotificationTarget:
		d = o.Status.Delivery
	case *v1alpha1.TargetChannel:
		d = o.Status.Delivery
	case *v1alpha1.EmailReportSchedule:
		d = o.Status.Delivery
	}
	if d == nil {
		return ""
	}
	return fmt.Sprintf("%d/%d/%d", d.Sent, d.Failed, d.Pending)
}
