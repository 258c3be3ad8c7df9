package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
)

type statusFlags struct {
	allNamespaces bool
	output        string
}

func newStatusCmd(o *Options) *cobra.Command {
	f := &statusFlags{}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show whether Policy Herald's objects are Ready and how their deliveries go",
		Long: `Show every NotificationTarget, TargetChannel, EmailReportSchedule, MetricsProfile and
BlockReportPolicy you may list, in the namespace (-n, else the kubeconfig's) or in every
namespace (-A): its Ready condition and reason; for targets and channels, how results become
messages (the mode: each, or a digest, a rate limit, resolved notices); the results sent,
failed for good and pending, those skipped (about a resource a controller owns) and muted (by
a silence); and the last failure. Wide output adds the results delivered in digests and in
rate-limit summaries (parts of sent) and the silences. A kind you may not list is named on
stderr and skipped.`,
		Example: `  # everything in the cluster
  kubectl herald status -A

  # the targets of one namespace, with their destinations and Ready messages
  kubectl herald status -n platform -o wide`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.runStatus(cmd.Context(), f) },
	}
	cmd.Flags().BoolVarP(&f.allNamespaces, "all-namespaces", "A", false, "every namespace")
	cmd.Flags().StringVarP(&f.output, "output", "o", outTable, "output format: table|wide|json|yaml")
	_ = cmd.RegisterFlagCompletionFunc("output", fixedCompletion(outTable, outWide, outJSON, outYAML))
	return cmd
}

// statusRow is one object as status shows it. Like the console's health page it reads the
// Ready condition (Unknown until the operator sets it) and the delivery counts of the status,
// which holds no secret.
type statusRow struct {
	Kind        string                   `json:"kind"`
	Namespace   string                   `json:"namespace"`
	Name        string                   `json:"name"`
	Ready       metav1.ConditionStatus   `json:"ready"`
	Reason      string                   `json:"reason,omitempty"`
	Message     string                   `json:"message,omitempty"`
	Destination string                   `json:"destination,omitempty"`
	Mode        string                   `json:"mode,omitempty"`
	Delivery    *v1alpha1.DeliveryStatus `json:"delivery,omitempty"`
	Silences    []v1alpha1.SilenceStatus `json:"silences,omitempty"`
}

// statusKind is one of the kinds status shows, in its order.
type statusKind struct {
	kind, resource string
	newList        func() client.ObjectList
	rows           func(client.ObjectList) []statusRow
}

var statusKinds = []statusKind{
	{"NotificationTarget", "notificationtargets", func() client.ObjectList { return &v1alpha1.NotificationTargetList{} },
		func(l client.ObjectList) (out []statusRow) {
			for _, t := range l.(*v1alpha1.NotificationTargetList).Items {
				r := newStatusRow("NotificationTarget", t.ObjectMeta, t.Status.Conditions, string(t.Status.Destination), t.Status.Delivery)
				r.Mode, r.Silences = t.Status.Mode, t.Status.Silences
				out = append(out, r)
			}
			return out
		}},
	{"TargetChannel", "targetchannels", func() client.ObjectList { return &v1alpha1.TargetChannelList{} },
		func(l client.ObjectList) (out []statusRow) {
			for _, c := range l.(*v1alpha1.TargetChannelList).Items {
				r := newStatusRow("TargetChannel", c.ObjectMeta, c.Status.Conditions, string(c.Status.Destination), c.Status.Delivery)
				r.Mode, r.Silences = c.Status.Mode, c.Status.Silences
				out = append(out, r)
			}
			return out
		}},
	{"EmailReportSchedule", "emailreportschedules", func() client.ObjectList { return &v1alpha1.EmailReportScheduleList{} },
		func(l client.ObjectList) (out []statusRow) {
			for _, s := range l.(*v1alpha1.EmailReportScheduleList).Items {
				out = append(out, newStatusRow("EmailReportSchedule", s.ObjectMeta, s.Status.Conditions, "", s.Status.Delivery))
			}
			return out
		}},
	{"MetricsProfile", "metricsprofiles", func() client.ObjectList { return &v1alpha1.MetricsProfileList{} },
		func(l client.ObjectList) (out []statusRow) {
			for _, p := range l.(*v1alpha1.MetricsProfileList).Items {
				out = append(out, newStatusRow("MetricsProfile", p.ObjectMeta, p.Status.Conditions, "", nil))
			}
			return out
		}},
	{"BlockReportPolicy", "blockreportpolicies", func() client.ObjectList { return &v1alpha1.BlockReportPolicyList{} },
		func(l client.ObjectList) (out []statusRow) {
			for _, p := range l.(*v1alpha1.BlockReportPolicyList).Items {
				out = append(out, newStatusRow("BlockReportPolicy", p.ObjectMeta, p.Status.Conditions, "", nil))
			}
			return out
		}},
}

func newStatusRow(kind string, m metav1.ObjectMeta, conds []metav1.Condition, dest string, d *v1alpha1.DeliveryStatus) statusRow {
	r := statusRow{Kind: kind, Namespace: m.Namespace, Name: m.Name, Ready: metav1.ConditionUnknown, Destination: dest, Delivery: d}
	if c := apimeta.FindStatusCondition(conds, "Ready"); c != nil {
		r.Ready, r.Reason, r.Message = c.Status, c.Reason, c.Message
	}
	return r
}

// operatorGV is Policy Herald's API.
var operatorGV = v1alpha1.GroupVersion.String()

// errNoOperator says what is missing when Policy Herald's CRDs are not installed.
var errNoOperator = errors.New("Policy Herald is not installed in this cluster: " + operatorGV +
	" is not served (install it: kubectl apply -f dist/install.yaml, or see README.md, Install)")

// connectOperator connects to the cluster and fails with errNoOperator when Policy Herald's API
// is not served there: what status and test need before they read or write its objects.
func (o *Options) connectOperator() (*cluster, error) {
	cl, err := o.connect()
	if err != nil {
		return nil, err
	}
	ok, err := cl.served(operatorGV)
	if err == nil && !ok {
		err = errNoOperator
	}
	if err != nil {
		return nil, err
	}
	return cl, nil
}

func (o *Options) runStatus(ctx context.Context, f *statusFlags) error {
	if f.output == outCSV {
		return fmt.Errorf("status prints table, wide, json or yaml")
	}
	if err := checkOutput(f.output); err != nil {
		return err
	}
	sc, err := (&readFlags{allNamespaces: f.allNamespaces}).scope(o)
	if err != nil {
		return err
	}
	cl, err := o.connectOperator()
	if err != nil {
		return err
	}
	rows := []statusRow{}
	for _, k := range statusKinds {
		list := k.newList()
		err := cl.c.List(ctx, list, sc.listOptions()...)
		if apierrors.IsForbidden(err) {
			fmt.Fprintf(o.stderr(), "warning: %v (skipped)\n", cl.explain(err, "list", k.resource+"."+v1alpha1.GroupVersion.Group, sc.namespace))
			continue
		}
		if err != nil {
			return cl.explain(err, "list", k.resource+"."+v1alpha1.GroupVersion.Group, sc.namespace)
		}
		rows = append(rows, k.rows(list)...)
	}
	return printStatus(o, f, rows)
}

func printStatus(o *Options, f *statusFlags, rows []statusRow) error {
	if f.output == outJSON || f.output == outYAML {
		return printCounts(o.Streams.Out, f.output, nil, nil, rows)
	}
	var header []string
	if f.allNamespaces {
		header = append(header, "NAMESPACE")
	}
	header = append(header, "NAME", "READY", "REASON", "MODE", "SENT", "FAILED", "PENDING", "SKIPPED", "MUTED", "LAST FAILURE")
	if f.output == outWide {
		header = append(header, "DIGESTED", "SUMMARISED", "SILENCES", "DESTINATION", "MESSAGE")
	}
	cells := make([][]string, len(rows))
	for i, r := range rows {
		if f.allNamespaces {
			cells[i] = append(cells[i], r.Namespace)
		}
		cells[i] = append(cells[i], strings.ToLower(r.Kind)+"/"+r.Name, string(r.Ready), r.Reason, r.Mode)
		cells[i] = append(cells[i], deliveryCells(r.Delivery, o)...)
		if f.output == outWide {
			cells[i] = append(cells[i], deliveredAsCells(r.Delivery)...)
			cells[i] = append(cells[i], silencesCell(r.Silences), r.Destination, oneLine(r.Message))
		}
	}
	if len(rows) == 0 {
		fmt.Fprintln(o.stderr(), "No Policy Herald objects found.")
		return nil
	}
	return printCounts(o.Streams.Out, outTable, header, cells, nil)
}

// deliveryCells are SENT, FAILED, PENDING, SKIPPED, MUTED and LAST FAILURE: how long ago, and
// why.
func deliveryCells(d *v1alpha1.DeliveryStatus, o *Options) []string {
	if d == nil {
		return []string{"", "", "", "", "", ""}
	}
	last := ""
	if d.LastFailureTime != nil {
		last = age(d.LastFailureTime.Time, o.Now()) + " ago"
		if d.LastFailureReason != "" {
			last += ": " + oneLine(d.LastFailureReason)
		}
	}
	return []string{count(d.Sent), count(d.Failed), count(d.Pending), count(d.Skipped), count(d.Muted), last}
}

// deliveredAsCells are DIGESTED and SUMMARISED: the parts of sent delivered in digests and in
// rate-limit summaries.
func deliveredAsCells(d *v1alpha1.DeliveryStatus) []string {
	if d == nil {
		return []string{"", ""}
	}
	return []string{count(d.Digested), count(d.Summarised)}
}

// silencesCell says how many silences are active and expired.
func silencesCell(l []v1alpha1.SilenceStatus) string {
	var active, expired int
	for _, s := range l {
		if s.State == v1alpha1.SilenceActive {
			active++
		} else {
			expired++
		}
	}
	var parts []string
	if active > 0 {
		parts = append(parts, fmt.Sprintf("%d active", active))
	}
	if expired > 0 {
		parts = append(parts, fmt.Sprintf("%d expired", expired))
	}
	return strings.Join(parts, ", ")
}

func count(n int64) string { return strconv.FormatInt(n, 10) }
